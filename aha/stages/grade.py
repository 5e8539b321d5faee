"""`aha grade`: score a JSONL file of responses with registered rewards and write the scores.

Each input line holds a response and what the reward needs to check it: the reference `answer` (math,
arithmetic), `meta` (Countdown numbers, code tests) and optionally `id` and `prompt`. Every output line
is the input record plus `rewards: {name: value}` (None where the reward could not check the sample)
and, for `accuracy_math`, the grader's `grade: {status, answer}`. The output file is written to a
temporary name and renamed when complete, so a killed run never leaves a half-written result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import field, read_jsonl, write_record
from aha.errors import ConfigError, DataError
from aha.ranges import COUNT, check
from aha.rewards import Reward, build, settings_of
from aha.rewards.code import require_sandbox
from aha.rewards.math import VALUES, MathAccuracy
from aha.types import Sample


@dataclass(frozen=True, kw_only=True)
class GradeConfig:
    path: str  # input JSONL
    rewards: tuple[str, ...]  # registered reward names
    out: str | None = None  # default: <input stem>.graded.jsonl next to the input
    response_field: str = "response"
    answer_field: str = "answer"
    workers: int = 2  # worker processes for the math grader's symbolic stage and the code sandbox

    def __post_init__(self) -> None:
        check(self, {"workers": COUNT})


def read_items(cfg: GradeConfig) -> list[tuple[str, Sample, dict[str, Any]]]:
    """(response, sample, original record) for each line of the input."""
    items = []
    for line, record in read_jsonl(cfg.path):
        response = field(record, cfg.response_field, str, cfg.path, line)
        answer = record.get(cfg.answer_field, "")
        if not isinstance(answer, str | int | float):
            raise DataError(f"{cfg.path}:{line}: field {cfg.answer_field!r} must be a string or a number")
        meta = record.get("meta", {})
        if not isinstance(meta, dict):
            raise DataError(f"{cfg.path}:{line}: field 'meta' must be an object")
        sample = Sample(
            id=str(record.get("id", line)), prompt=str(record.get("prompt", "")), answer=str(answer), meta=meta
        )
        items.append((response, sample, record))
    return items


def configured(name: str, workers: int) -> Reward:
    """Reward `name` with `workers` processes where it takes that setting (math grader, code sandbox)."""
    return build(name, workers=workers) if "workers" in settings_of(name) else build(name)


def score(reward: Reward, responses: Sequence[str], samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """{"value": ..., and extra detail} per response for one reward, batched."""
    if isinstance(reward, MathAccuracy):  # the grader's verdict too: status, extracted answer, detail
        return [
            {"value": VALUES[g.correct], "grade": {"status": g.status, "answer": g.answer, "detail": g.detail}}
            for g in reward.grades(responses, samples)
        ]
    return [{"value": value} for value in reward.score(responses, samples)]


def run(cfg: GradeConfig) -> dict[str, Any]:
    """Grade the file; return {"out": path, "count": n, "rewards": {name: {"mean", "unchecked"}}}.

    The output's temporary file is opened before any grading, so an unwritable --out fails at once rather
    than after the work, and it is removed again if anything fails.
    """
    if not cfg.rewards:
        raise ConfigError("give at least one --reward NAME")
    try:  # unknown names fail here, before any work
        rewards = {name: configured(name, cfg.workers) for name in cfg.rewards}
    except KeyError as error:
        raise ConfigError(f"--reward: {error.args[0]}") from error
    require_sandbox(cfg.rewards)
    source = Path(cfg.path)
    out = Path(cfg.out) if cfg.out else source.with_name(source.stem + ".graded.jsonl")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory; give a file name")
    items = read_items(cfg)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        handle = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 (closed below, after grading)
    except OSError as error:
        raise ConfigError(f"--out {out}: cannot write there ({error.strerror})") from None
    try:
        with handle:
            responses, samples = [r for r, _, _ in items], [s for _, s, _ in items]
            scored = {}
            for name, reward in rewards.items():
                with reward:
                    scored[name] = score(reward, responses, samples)
            for index, (_, _, record) in enumerate(items):
                rewards = {name: _finite(scored[name][index]["value"]) for name in cfg.rewards}
                extra = {k: v for name in cfg.rewards for k, v in scored[name][index].items() if k != "value"}
                write_record(handle, {**record, "rewards": rewards, **extra})
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    summary = {}
    for name in cfg.rewards:
        values = [v for row in scored[name] if (v := _finite(row["value"])) is not None]
        summary[name] = {
            "mean": sum(values) / len(values) if values else None,
            "unchecked": len(items) - len(values),
        }
    return {"out": str(out), "count": len(items), "rewards": summary}


def _finite(value: float | None) -> float | None:
    """A reward value as written: NaN or infinity (no verdict) becomes None, as JSON has no such numbers."""
    return None if value is None or not math.isfinite(value) else value
