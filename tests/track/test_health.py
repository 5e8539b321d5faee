"""Run-health warnings, reflection words and the run directory's log handling."""

from __future__ import annotations

import doctest

from aha.track import health, reflection
from aha.track.run_dir import RunDir

BASE = {"truncated_share": 0.0, "groups_trained": 2, "zero_variance_share": 0.0, "loss": 0.1, "grad_norm": 1.0}


def _warnings(metrics, recent=(), window=3):
    return health.step_warnings(
        {**BASE, **metrics}, list(recent), max_new_tokens=64, truncation_warning=0.5, collapse_window=window
    )


def test_a_healthy_step_has_no_warnings():
    assert _warnings({}) == []


def test_truncation_zero_loss_nan_and_repetition_are_explained():
    assert "hit max_new_tokens=64" in _warnings({"truncated_share": 0.8})[0]
    assert "loss are exactly 0" in _warnings({"zero_variance_share": 1.0})[0]
    assert "diverged" in _warnings({"loss": float("nan")})[0]
    assert "repeat themselves" in _warnings({"repetition_share": 0.75})[0]


def test_collapse_needs_a_whole_window_of_equal_rewards():
    flat = {**BASE, "zero_variance_share": 0.95, "entropy": 0.01}
    assert not any(health.is_collapse(n) for n in _warnings(flat, [flat]))
    notes = _warnings(flat, [flat, flat])
    assert any(health.is_collapse(n) for n in notes) and "entropy 0.010" in notes[-1]
    assert not any(health.is_collapse(n) for n in _warnings(flat, [flat, BASE]))


def test_doctests():
    assert doctest.testmod(health).failed == 0 and doctest.testmod(reflection).failed == 0


def test_reflection_rate_matches_whole_phrases_only():
    words = ["wait", "let me verify"]
    texts = ["Wait, that is wrong.", "Let me verify: 7", "He awaited.", "waiting room", "no"]
    assert reflection.reflection_rate(texts, words) == 2 / 5


def test_a_log_line_cut_by_a_kill_is_ignored(tmp_path):
    directory = RunDir(tmp_path)
    directory.create({"name": "x"})
    directory.append("metrics.jsonl", {"step": 1})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 2, "rew')
    assert directory.read("metrics.jsonl") == [{"step": 1}]
    directory.truncate_after(0)
    assert directory.read("metrics.jsonl") == []


def test_undecided_rewards_are_reported_not_hidden():
    from aha.track.health import step_warnings

    base = {"truncated_share": 0.0, "groups_trained": 2, "zero_variance_share": 0.0}
    quiet = step_warnings(base, [], max_new_tokens=64, truncation_warning=0.5, collapse_window=5)
    noisy = step_warnings(
        {**base, "rewards_unchecked": 3}, [], max_new_tokens=64, truncation_warning=0.5, collapse_window=5
    )
    assert not any("could not be decided" in n for n in quiet)
    assert any(n.startswith("3 reward values could not be decided") for n in noisy)
