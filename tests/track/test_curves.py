"""Accuracy against work: points computed by hand from small run directories."""

from __future__ import annotations

import json

import pytest
import yaml

from aha.track.curves import Point, distill_curve, rl_curve


def write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_rl_points_count_sampling_scoring_and_update_but_not_evaluation(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"group_size": 4}))
    step = {"time_sampling": 2.0, "time_scoring": 0.5, "time_training": 1.5, "groups_trained": 2}
    write(tmp_path / "metrics.jsonl", [{"step": 1, **step, "length_mean": 10.0},
                                       {"step": 2, **step, "groups_trained": 1, "length_mean": 20.0}])  # fmt: skip
    write(tmp_path / "eval.jsonl", [{"step": 0, "accuracy": 0.25, "seconds": 99.0},
                                    {"step": 2, "accuracy": 0.5, "seconds": 99.0}])  # fmt: skip
    assert rl_curve(tmp_path) == [Point(0, 0.0, 0.0, 0.25), Point(2, 8.0, 2 * 4 * 10.0 + 1 * 4 * 20.0, 0.5)]


def test_distill_points_start_after_the_teachers_sampling(tmp_path):
    write_steps = {"sample": {"seconds": 60.0}, "reject": {"seconds": 1.0}, "data": {"seconds": 0.5}, "sft": {}}
    (tmp_path / "steps.json").write_text(json.dumps(write_steps))
    write(tmp_path / "sft" / "metrics.jsonl", [{"step": s, "time_training": 3.0, "tokens": 100.0} for s in (1, 2, 3)])
    write(tmp_path / "sft" / "eval.jsonl", [{"step": 0, "accuracy": 0.2, "loss": 1.0},
                                            {"step": 3, "accuracy": 0.6}])  # fmt: skip
    points = distill_curve(tmp_path)
    assert points == [Point(0, 61.5, 0.0, 0.2), Point(3, 61.5 + 9.0, 300.0, 0.6)]
    assert points[1].seconds == pytest.approx(70.5)
