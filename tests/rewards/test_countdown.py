"""Countdown reward: AST whitelist, each number once, exact arithmetic, no evaluation of arbitrary code."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import get
from aha.rewards.countdown import evaluate
from aha.types import Sample

TASK = Sample(id="c", prompt="", answer="40", meta={"nums": [13, 99, 46]})


@pytest.mark.parametrize(
    ("expression", "score"),
    [
        ("(99 - 46) - 13", 1.0),
        ("99 - 46 - 13", 1.0),
        ("99 - (46 + 13)", 1.0),
        ("99 - 46 - 13 = 40", 1.0),
        ("99 - 46 - 13 = 40.0", 1.0),
        ("99 - 46 - 13 = 41", 0.0),  # the stated result is wrong, though the expression reaches the target
        ("99 - 46 - 13 = 40 = 41", 0.0),
        ("99 - 46 - 13 = 4O", 0.0),  # not a number
        ("99 - 46 - 13 = 53 - 13", 0.0),  # not one number: a chain of expressions is not a stated result
        ("99 - 46 = 53", 0.0),  # a true statement that misses the target and leaves 13 unused
        ("99 - 59", 0.0),  # a number not given
        ("99 - 46 - 13 + 0", 0.0),  # an extra number
        ("(99 - 46) - 13 - 13 + 13", 0.0),  # 13 used three times
        ("99 - 46", 0.0),  # 13 unused
        ("__import__('os').system('true')", 0.0),
        ("99 ** 46", 0.0),
        ("(99 - 46) / 0 + 13", 0.0),
    ],
)
def test_countdown_scores(expression, score):
    assert get("countdown")(f"<think> x </think> <answer> {expression} </answer>", TASK) == score


def test_exact_fractions_not_floats():
    sample = Sample(id="f", prompt="", answer="24", meta={"nums": [3, 3, 8, 8]})
    assert get("countdown")("<answer> 8 / (3 - 8 / 3) </answer>", sample) == 1.0  # 8 / (1/3) = 24 exactly
    assert evaluate("1 / 3 + 1 / 3 + 1 / 3") == (Fraction(1), [1, 3, 1, 3, 1, 3])


def test_missing_answer_and_bad_reference():
    assert get("countdown")("(99 - 46) - 13", TASK) == 0.0
    assert get("countdown")("<answer> 1 </answer>", Sample(id="x", prompt="", answer="n/a", meta={"nums": [1]})) is None


def test_long_and_deep_inputs_are_refused_quickly():
    assert evaluate("1+" * 5000 + "1") is None
    assert evaluate("(" * 90 + "1" + ")" * 90) == (Fraction(1), [1])
    assert evaluate("-" * 150 + "1") in (None, (Fraction(1), [1]))  # deep unary chains: refused or exact


@settings(max_examples=300, deadline=1000)
@given(st.text(alphabet=st.sampled_from(list("0123456789+-*/() =<>answer.e_x")), max_size=120))
def test_countdown_never_raises(text):
    value = get("countdown")(f"<answer>{text}</answer>", TASK)
    assert value in (0.0, 1.0)
