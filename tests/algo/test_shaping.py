"""Reward shaping, hand-computed."""

from __future__ import annotations

import doctest

from aha.algo import shaping
from aha.algo.shaping import soft_overlong_penalty


def test_soft_overlong_penalty_hand_computed():
    assert [soft_overlong_penalty(n, 64, 16, 1.0) for n in (40, 48, 56, 64)] == [0.0, 0.0, -0.5, -1.0]
    assert soft_overlong_penalty(64, 64, 0, 1.0) == 0.0


def test_docstring_example_runs():
    assert doctest.testmod(shaping).failed == 0
