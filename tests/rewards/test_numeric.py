"""Equality decided by evaluation: sample points, exact values at rational points, constants to 40 digits."""

from __future__ import annotations

import pytest
import sympy

from aha.rewards.numeric import constants_equal, real_roots, sampled_verdict
from tests.rewards.shared import grade

x, y = sympy.symbols("x y")


def test_sample_points_compare_where_both_values_are_real():
    assert sampled_verdict(sympy.sqrt(x**2), sympy.Abs(x)) is True
    assert sampled_verdict(sympy.sqrt(x**2), x) is False  # both real at x < 0, and different
    assert sampled_verdict(sympy.log((1 + x) / (1 - x)), -sympy.log((1 - x) / (1 + x))) is True  # branches apart
    assert sampled_verdict(sympy.Integer(2), sympy.Integer(2)) is None  # no unknowns: not this test's to say
    big = sympy.expand((2 * x + 5) ** 7 * (5 * x - 1) ** 5)  # coefficients near 10^10: floats would lose them
    assert sampled_verdict(big, (2 * x + 5) ** 7 * (5 * x - 1) ** 5) is True


def test_a_point_where_a_root_or_logarithm_is_not_real_says_nothing():
    p, q = sympy.symbols("p q")
    assert sampled_verdict(sympy.sqrt(p) * sympy.sqrt(q), sympy.sqrt(p * q)) is True  # where both roots exist
    assert sampled_verdict(sympy.sqrt(p / q) * sympy.sqrt(q / p), sympy.Integer(1)) is True  # -1 only where p/q < 0
    assert sampled_verdict(sympy.sqrt(x**2), x) is False  # real all the way at x < 0, and different
    assert sampled_verdict(sympy.sqrt(x - 3), sympy.sqrt(3 - x)) is None  # never both real: no verdict here
    assert sampled_verdict(sympy.sqrt(p) * sympy.sqrt(q), -sympy.sqrt(p * q)) is False


def test_points_far_from_the_origin_too():
    assert sampled_verdict(sympy.Abs(x + 20) - 20, sympy.Abs(x + 21) - 21) is False  # equal for every x > -20
    assert sampled_verdict(sympy.Max(x, 100), sympy.Max(x, 101)) is False
    assert sampled_verdict(sympy.Abs(x + 20) - 20, x) is False
    taylor = sum(x**k / sympy.factorial(k) for k in range(9))
    assert sampled_verdict(taylor, sympy.expand(taylor * 40320) / 40320) is True  # large values, 30 digits


def test_constants_and_real_roots():
    assert constants_equal(sympy.sqrt(8 + 2 * sympy.sqrt(15)), sympy.sqrt(3) + sympy.sqrt(5))
    assert not constants_equal(
        sympy.sqrt(8 + 2 * sympy.sqrt(15)), sympy.sqrt(3) + sympy.sqrt(6) - sympy.Rational(1, 10**30)
    )
    assert real_roots(sympy.Pow(-27, sympy.Rational(1, 3), evaluate=False)) == -3


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{\\sqrt{8+2\\sqrt{15}}}", "\\sqrt{3}+\\sqrt{5}", True),  # a nested radical
        ("\\boxed{\\sqrt{8+2\\sqrt{15}}}", "\\sqrt{3}+\\sqrt{6}", False),
        ("\\boxed{(p^2)^{1/2}}", "p", False),
        ("\\boxed{\\sqrt{2u}\\sqrt{3v}}", "\\sqrt{6uv}", True),  # equal wherever both sides are real
        ("\\boxed{\\sqrt{2u}\\sqrt{3v}}", "-\\sqrt{6uv}", False),
        ("\\boxed{\\sqrt{u-1}}", "\\sqrt{1-u}", False),
        ("\\boxed{\\log\\frac{1+u}{1-u}}", "-\\log\\frac{1-u}{1+u}", True),
        ("\\boxed{(-8)^{2/3}}", "4", True),  # odd roots of negative numbers are real
        ("\\boxed{(-27)^{1/3}}", "-3", True),
        ("\\boxed{(-27)^{1/3}}", "3", False),
        ("\\boxed{\\frac{(w+1)^2 - 1}{w}}", "w + 2", True),
        ("\\boxed{\\frac{(w+1)^2 - 1}{w}}", "w + 1", False),
    ],
)
def test_equal_by_evaluation(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{(q-r)^{900}}", "(r-q)^{900}", True),
        ("\\boxed{(q-r)^{901}}", "(r-q)^{901}", False),
        ("\\boxed{y = (t-1)^{500}}", "y - (1-t)^{500} = 0", True),
        ("\\boxed{y = (t-1)^{501}}", "y - (1-t)^{501} = 0", False),
    ],
)
def test_huge_powers_are_compared_without_expanding_them(response, reference, correct):
    result = grade(response, reference)
    assert result.status != "timeout" and result.correct is correct
