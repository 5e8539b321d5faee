"""Math accuracy (first version, on math-verify): equivalence, the answer after the reasoning, bad input."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import get
from aha.rewards import math as math_rewards
from aha.types import Sample


def _sample(answer):
    return Sample(id="m", prompt="", answer=answer)


@pytest.mark.parametrize(
    ("response", "answer", "score"),
    [
        ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
        ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", 1.0),
        ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", 1.0),
        ("<answer> 12 </answer>", "12", 1.0),
        ("\\boxed{13}", "12", 0.0),
        ("<think> \\boxed{12} </think> I am not sure.", "12", 0.0),  # a draft inside the reasoning is no answer
        ("no answer at all", "12", 0.0),
    ],
)
def test_math_accuracy(response, answer, score):
    assert get("accuracy_math")(response, _sample(answer)) == score


def test_unparseable_reference_is_none():
    assert get("accuracy_math")("\\boxed{1}", _sample("\\")) is None


def test_docstring_example():
    assert doctest.testmod(math_rewards, extraglobs={"Sample": Sample}).failed == 0


@settings(max_examples=100, deadline=5000)
@given(st.text(alphabet=st.sampled_from(list("\\{}boxedfracsqrt^_0123456789.+-=()<>/answer $,")), max_size=80))
def test_math_accuracy_never_raises(text):
    assert get("accuracy_math")(f"<answer>{text}</answer>", _sample("\\frac{1}{2}")) in (0.0, 1.0)
    assert get("accuracy_math")(f"\\boxed{{{text}}}", _sample("12")) in (0.0, 1.0)
