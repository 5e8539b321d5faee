"""Normalisation and cheap equivalence: numbers, notation written in plain text, percent words."""

from __future__ import annotations

from fractions import Fraction

import pytest

from aha.rewards.equivalence import normalize, rounded_from
from tests.rewards.shared import grade


def test_a_decimal_reads_as_the_exact_value_rounded_or_cut_toward_zero():
    third = Fraction(1, 3)
    assert rounded_from(Fraction("0.3333"), third, Fraction(1, 10**4))  # cut
    assert rounded_from(Fraction("0.6667"), 2 * third, Fraction(1, 10**4))  # rounded
    assert not rounded_from(Fraction("0.3334"), third, Fraction(1, 10**4))
    assert not rounded_from(Fraction("7.001"), Fraction(7), Fraction(1, 10**3))  # 7 rounds to 7.000
    assert rounded_from(Fraction("-1.4142"), Fraction("-1.41421356"), Fraction(1, 10**4))


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{1.4142}", "\\sqrt{2}", True),
        ("\\boxed{3.1415}", "\\pi", True),  # cut, not rounded
        ("\\boxed{(1.4142, 1)}", "(\\sqrt{2}, 1)", True),
        ("\\boxed{7.001}", "7", False),
        ("\\boxed{2.0001}", "2", False),
        ("\\boxed{1.4143}", "\\sqrt{2}", False),
        ("\\boxed{(1.4143, 1)}", "(\\sqrt{2}, 1)", False),
    ],
)
def test_rounded_decimals_must_round_to_the_reference(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{1000000001}", "1000000000", False),
        ("\\boxed{123456789012345678}", "123456789012345679", False),
        ("\\boxed{1000000000.0}", "1000000000", True),
        ("\\boxed{1,000,000,000}", "1000000000", True),
    ],
)
def test_whole_numbers_compare_exactly(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ("2 + sqrt(5)", "2 + \\sqrt{5}"),
        ("sin(x) + \\cos(x)", "\\sin(x) + \\cos(x)"),
        ("3**4", "3^{4}"),
        ("**12**", "12"),  # markdown bold
        ("2**3 + 3**2", "2^{3} + 3^{2}"),  # two powers, not bold text
    ],
)
def test_plain_text_functions_and_python_powers(answer, text):
    assert normalize(answer).text == text


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{2 + sqrt(5)}", "\\sqrt{5}+2", True),
        ("\\boxed{log(8)/log(2)}", "3", True),
        ("\\boxed{2**3 + 3**2}", "17", True),
        ("\\boxed{2 + sqrt(6)}", "\\sqrt{5}+2", False),
        ("\\boxed{12.5\\text{ percent}}", "0.125", True),  # a percent word in \\text is a percent sign
        ("\\boxed{3\\text{ percent}}", "0.3", False),
    ],
)
def test_plain_text_notation_and_percent_words(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ("(k+2)!", "(k+2)!"),  # a factorial sign closing an answer is kept
        ("7!", "7!"),
        ("12.", "12"),  # a full stop is not
        ("12 !", "12"),  # nor an exclamation apart from it
    ],
)
def test_a_closing_factorial_sign_is_kept(answer, text):
    assert normalize(answer).text == text


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{(k+2)!}", "(k+2)(k+1)k!", True),
        ("\\boxed{(k+2)!}", "k+2", False),
        ("\\boxed{6!}", "720", True),
        ("So the answer is 720!", "720", True),  # in prose, an exclamation
    ],
)
def test_factorials_and_exclamations(response, reference, correct):
    assert grade(response, reference).correct is correct
