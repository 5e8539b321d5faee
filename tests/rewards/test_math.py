"""Math accuracy: equivalence, the answer after the reasoning, bad input, the reward's settings and lifecycle."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import math as math_rewards
from aha.types import Sample
from tests.rewards.shared import MATH


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
    assert MATH(response, _sample(answer)) == score


def test_unparseable_reference_is_none():
    assert MATH("\\boxed{1}", _sample("\\")) is None


def test_docstring_example():
    assert doctest.testmod(math_rewards, extraglobs={"Sample": Sample}).failed == 0


@settings(max_examples=100, deadline=5000)
@given(st.text(alphabet=st.sampled_from(list("\\{}boxedfracsqrt^_0123456789.+-=()<>/answer $,")), max_size=80))
def test_math_accuracy_never_raises(text):
    assert MATH(f"<answer>{text}</answer>", _sample("\\frac{1}{2}")) in (0.0, 1.0)
    assert MATH(f"\\boxed{{{text}}}", _sample("12")) in (0.0, 1.0)


def test_settings_are_checked_and_the_pool_lives_with_the_reward():
    from aha.errors import ConfigError
    from aha.rewards import build

    with pytest.raises(ValueError, match="has no setting 'threads'; its settings: workers, timeout_s"):
        build("accuracy_math", threads=2)
    with pytest.raises(ConfigError, match="workers=0"):
        build("accuracy_math", workers=0)
    reward = build("accuracy_math", workers=2, timeout_s=3.0)
    assert reward.pool is None  # built, not opened: configuring costs nothing
    with reward:
        assert reward.score(["\\boxed{\\sqrt{8}}", "\\boxed{3}"], [_sample("2\\sqrt{2}")] * 2) == [1.0, 0.0]
        pool = reward.pool
        assert pool is not None and pool.size == 2 and pool.timeout_s == 3.0
        reward.score(["\\boxed{x^2}"], [_sample("x \\cdot x")])
        assert reward.pool is pool  # one pool for every batch
        workers = [w.process for w in pool._idle]
        assert workers and all(p.poll() is None for p in workers)
    assert reward.pool is None and all(p.wait(timeout=10) is not None for p in workers)  # closed: workers gone
