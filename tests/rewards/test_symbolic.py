"""Symbolic comparison: inequalities by their solutions, equations with denominators cleared, letters' case,
and math-verify's parse without its unit removal."""

from __future__ import annotations

import pytest

from tests.rewards.shared import grade


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{t^2 > 9}", "t^4 > 81", True),  # the same solutions (|t| > 3), not proportional
        ("\\boxed{u^2 \\leq 1}", "-1 \\leq u \\leq 1", True),
        ("\\boxed{u^2 < 1}", "u < 1", False),
        ("\\boxed{b > 2}", "c > 2", False),  # another unknown
    ],
)
def test_inequalities_in_one_unknown_by_their_solutions(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{\\frac{4}{m} = 2 + \\frac{1}{m}}", "2m = 3", True),  # multiplied through by m
        ("\\boxed{\\frac{s}{t} = 4}", "s = 4t", True),
        ("\\boxed{2m^2 = 3m}", "2m = 3", False),  # m is in no denominator: m = 0 is a new solution
    ],
)
def test_equations_with_denominators_cleared(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{3N}", "3n", False),  # the parser folds the case of single letters
        ("\\boxed{R^2\\pi}", "\\pi r^2", False),
        ("\\boxed{3t}", "t + 2t", True),  # t is an unknown, not tonnes
        ("\\boxed{3t}", "3", False),
        ("\\boxed{mn}", "nm", True),  # two letters are a product, not a word
    ],
)
def test_letters_are_unknowns(response, reference, correct):
    assert grade(response, reference).correct is correct
