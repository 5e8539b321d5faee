"""The data cursor: every epoch a seeded permutation, the same from any position (exact resume)."""

from __future__ import annotations

import random

import pytest

from aha.run.cursor import Cursor


def test_each_epoch_is_a_seeded_permutation_as_grpo_always_drew_it():
    cursor = Cursor(7, seed=3)
    first, second = cursor.take(7), cursor.take(7)
    expected = [list(range(7)), list(range(7))]
    for epoch, order in enumerate(expected):
        random.Random(f"3/epoch/{epoch}").shuffle(order)
    assert (first, second) == (expected[0], expected[1])
    assert sorted(first) == list(range(7)) and first != second and cursor.epoch == 2


def test_a_cursor_restored_at_a_position_continues_exactly():
    whole = Cursor(5, seed=11).take(13)
    resumed = Cursor(5, seed=11, position=6)
    assert whole[:6] + resumed.take(7) == whole
    with pytest.raises(ValueError):
        Cursor(0, seed=1)
