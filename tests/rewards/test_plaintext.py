"""Math typed as plain text, read as LaTeX."""

from __future__ import annotations

import pytest

from aha.rewards.plaintext import closing, latex_from_plain
from tests.rewards.shared import grade


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("sqrt((x+1)/4)", "\\sqrt{(x+1)/4}"),  # nested brackets inside a call
        ("abs(2-5)", "|2-5|"),
        ("tan^2(t)+1", "\\tan^{2}(t)+1"),
        ("sec t", "\\sec t"),  # a function applied without brackets
        ("2^-n", "2^{-n}"),  # the one operand after ^
        ("y^ln(z)", "y^{\\ln(z)}"),
        ("e^\\frac{1}{2}", "e^{\\frac{1}{2}}"),  # LaTeX arguments go along
        ("2/5q", "\\frac{2}{5}q"),  # read left to right
        ("sech t", "\\frac{1}{\\cosh(t)}"),
        ("x^{0.25}", "x^{\\frac{1}{4}}"),
        ("\\frac{d}{3}+1", "\\frac{d_{v}}{3}+1"),  # d is an unknown here, not a differential
        ("x^{2} + \\sqrt{y}", "x^{2} + \\sqrt{y}"),  # LaTeX passes unchanged
        ("atan(u)", "\\arctan(u)"),  # calculator names of the inverse functions
        ("2acosh(v)", "2\\arccosh(v)"),
        ("sin^(-1)(w)", "\\arcsin(w)"),  # f^(-1) is the inverse function, not a reciprocal
        ("\\tan^{-1} w", "\\arctan w"),
        ("coth^2(s)", "\\left(\\frac{1}{\\tanh((s))}\\right)^{2}"),  # a power of a reciprocal function
        ("log(2q)", "\\ln(2q)"),  # plain-text log is natural, as in CAS input and programs
        ("\\log(2q)", "\\log(2q)"),  # LaTeX's \\log is left to the parser
    ],
)
def test_plain_text_is_read_as_latex(text, latex):
    assert latex_from_plain(text) == latex


def test_unbalanced_brackets_are_left_alone():
    assert closing("(a(b)", 0) is None
    assert latex_from_plain("sqrt((x+1)") == "\\sqrt((x+1)"
    assert latex_from_plain("3^(") == "3^("


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{sqrt((x+1)/4)}", "\\frac{\\sqrt{x+1}}{2}", True),
        ("\\boxed{abs(2-5)}", "3", True),
        ("\\boxed{2^-n}", "\\frac{1}{2^n}", True),
        ("\\boxed{2/5q}", "\\frac{2q}{5}", True),
        ("\\boxed{2/5q}", "\\frac{2}{5q}", False),
        ("\\boxed{sech t}", "\\frac{1}{\\cosh t}", True),
        ("\\boxed{sech t}", "\\frac{1}{\\sinh t}", False),
        ("\\boxed{x^{0.25}}", "\\sqrt[4]{x}", True),
        ("\\boxed{\\frac{d}{3}+1}", "1+\\frac{d}{3}", True),
        ("\\boxed{2da}", "2ad", True),
        ("\\boxed{acos(t)}", "\\arccos t", True),
        ("\\boxed{cos^(-1)(t)}", "\\arccos t", True),
        ("\\boxed{cos^(-1)(t)}", "\\sec t", False),
        ("\\boxed{sech^2(t)}", "1 - \\tanh^2 t", True),
        ("\\boxed{sech^2(t)}", "\\frac{1}{\\cosh t}", False),
        ("\\boxed{log(e^{3k})}", "3k", True),
    ],
)
def test_plain_text_answers(response, reference, correct):
    assert grade(response, reference).correct is correct
