"""Held-out accuracy against cost, for comparing how runs of different stages get there (DeepSeek-R1's
distillation against RL on the same small model): each held-out evaluation of a run as a point of (wall
seconds of work before it, trained tokens before it, accuracy).

Work is what a run spends to learn, not to measure itself: for GRPO each step's sampling, scoring and
update; for distillation the teacher's sampling, the rejection and data steps, then each SFT update.
Held-out evaluations are left out on both sides. Trained tokens are the tokens that carry a loss: the
completion tokens of the groups a GRPO step trains on, the response tokens of the SFT examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from aha.track.run_dir import RunDir

RL_WORK = ("time_sampling", "time_scoring", "time_training")


@dataclass(frozen=True)
class Point:
    step: int
    seconds: float
    tokens: float
    accuracy: float


def _points(evals: list[dict[str, Any]], metrics: list[dict[str, Any]], seconds: list[float], tokens: list[float],
            offset: float) -> list[Point]:  # fmt: skip
    """One point per evaluation; seconds[i], tokens[i]: the work of metrics[i]'s step."""
    by_step = {m["step"]: i for i, m in enumerate(metrics)}
    spent, trained = [0.0, *accumulate(seconds)], [0.0, *accumulate(tokens)]
    found = []
    for record in evals:
        if record.get("accuracy") is None:
            continue
        done = 0 if record["step"] == 0 else by_step[record["step"]] + 1
        found.append(Point(record["step"], offset + spent[done], trained[done], record["accuracy"]))
    return found


def rl_curve(run_dir: str | Path) -> list[Point]:
    """A GRPO run's held-out points; a step trains groups_trained x group_size completions of length_mean."""
    run = RunDir(run_dir)
    metrics, group = run.read("metrics.jsonl"), run.config()["group_size"]
    seconds = [sum(m.get(key, 0.0) for key in RL_WORK) for m in metrics]
    tokens = [m["groups_trained"] * group * m["length_mean"] for m in metrics]
    return _points(run.read("eval.jsonl"), metrics, seconds, tokens, 0.0)


def distill_curve(run_dir: str | Path) -> list[Point]:
    """An `aha distill` run's held-out points: its SFT run's, after the teacher's sampling and rejection."""
    path = Path(run_dir)
    steps = json.loads((path / "steps.json").read_text(encoding="utf-8"))
    offset = sum(steps[name]["seconds"] for name in ("sample", "reject", "data"))
    sft = RunDir(path / "sft")
    metrics = sft.read("metrics.jsonl")
    seconds = [m["time_training"] for m in metrics]
    tokens = [m["tokens"] for m in metrics]
    return _points(sft.read("eval.jsonl"), metrics, seconds, tokens, offset)
