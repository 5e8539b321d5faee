"""Answers made of parts: groups of assignments, systems of equations, vectors as matrices or lists."""

from __future__ import annotations

import pytest

from aha.rewards.compound import assignment_groups, system_of_equations, vector_entries
from tests.rewards.shared import grade


def test_parts_are_found_only_in_answers_made_of_them():
    assert assignment_groups("m = 4, n = -1; m = 0, n = 2") == [{"m": "4", "n": "-1"}, {"m": "0", "n": "2"}]
    assert assignment_groups("m = 4, n = -1; m = 0") is None  # the groups name different unknowns
    assert assignment_groups("m = 4, m = 5") is None
    assert assignment_groups("2m + n = 7") is None
    assert system_of_equations("\\begin{cases} u + v = 4 \\\\ u - v = 0 \\end{cases}") == ["u + v = 4", "u - v = 0"]
    assert system_of_equations("\\begin{cases} 1 & u > 0 \\\\ 0 & u \\leq 0 \\end{cases}") is None  # a function
    assert vector_entries("\\begin{pmatrix} 5 \\\\ 6 \\end{pmatrix}") == ("matrix", ["5", "6"])
    assert vector_entries("\\begin{pmatrix} 5 & 6 \\\\ 7 & 8 \\end{pmatrix}") is None
    assert vector_entries("[5, 6]") == ("list", ["5", "6"])
    assert vector_entries("(5, 6), (7, 8)") is None


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{a=1, b=3; a=-2, b=0}", "a = -2, b = 0 \\text{ or } a = 1, b = 3", True),  # in any order
        ("\\boxed{x=2, y=5}", "y = 5, x = 2", True),
        ("\\boxed{a=1, b=3; a=-2, b=1}", "a = -2, b = 0 \\text{ or } a = 1, b = 3", False),
        ("\\boxed{a=3, b=1; a=0, b=-2}", "a = -2, b = 0 \\text{ or } a = 1, b = 3", False),  # values swapped
        ("\\boxed{x=2, y=5}", "y = 2, x = 5", False),
    ],
)
def test_groups_of_assignments_compare_as_sets_of_tuples(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{(2, -1, 0.25)}", "\\begin{pmatrix} 2 \\\\ -1 \\\\ \\frac14 \\end{pmatrix}", True),
        ("\\boxed{\\begin{pmatrix} 3 & 4 \\end{pmatrix}}", "(3, 4)", True),
        ("\\boxed{[-1, 2]}", "\\begin{bmatrix} 2 \\\\ -1 \\end{bmatrix}", False),  # the order counts
        ("\\boxed{(2, -1)}", "\\begin{pmatrix} 2 \\\\ -1 \\\\ 0 \\end{pmatrix}", False),
    ],
)
def test_a_one_column_matrix_and_a_list_compare_as_tuples(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        (  # in another order, one right side rounded
            "\\boxed{\\begin{cases} x - y = 2.449 \\\\ x + y = 3 \\end{cases}}",
            "\\begin{cases} x+y=3 \\\\ x-y=\\sqrt{6} \\end{cases}",
            True,
        ),
        ("\\boxed{\\begin{cases} 2x+2y=6 \\\\ x-y=1\\end{cases}}", "\\begin{cases} x+y=3\\\\ x-y=1\\end{cases}", True),
        (
            "\\boxed{\\begin{cases} x - y = 2.45 \\\\ x + y = 3 \\end{cases}}",  # too few digits to read as rounded
            "\\begin{cases} x+y=3 \\\\ x-y=\\sqrt{6} \\end{cases}",
            False,
        ),
        ("\\boxed{\\begin{cases} x + y = 3 \\end{cases}}", "\\begin{cases} x+y=3 \\\\ x-y=5 \\end{cases}", False),
        ("\\boxed{\\begin{cases} 2x+2y=6 \\\\ x-y=2\\end{cases}}", "\\begin{cases} x+y=3\\\\ x-y=1\\end{cases}", False),
    ],
)
def test_systems_of_equations_compare_equation_by_equation(response, reference, correct):
    assert grade(response, reference).correct is correct
