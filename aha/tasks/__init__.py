"""Tasks: prompt sets with reference answers, generated (arithmetic) or read from JSONL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import field, read_jsonl
from aha.errors import ConfigError, DataError
from aha.ranges import COUNT, SEED, out_of_range, raise_problems
from aha.types import Sample

TASKS = ("arithmetic", "countdown", "gsm8k", "jsonl")
SETS = Path(__file__).resolve().parent.parent / "data" / "sets"
COUNTDOWN_PROMPT = (
    "Using the numbers {nums}, create an equation that equals {target}. You can use +, -, * and / and each "
    "number exactly once. Give the equation alone inside <answer> </answer>, for example <answer> (1 + 2) * 3 "
    "</answer>."
)


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    name: str = "arithmetic"  # arithmetic (generated) | countdown | gsm8k (shipped splits) | jsonl (files)
    difficulty: int = 2  # arithmetic: level in aha.tasks.arithmetic.DIFFICULTY
    train_size: int = 5000  # arithmetic: training prompts generated; shipped sets: at most this many
    path: str | None = None  # jsonl: training prompts
    held_out_path: str | None = None  # jsonl: held-out prompts
    prompt_field: str = "prompt"
    answer_field: str = "answer"
    held_out: int = 200  # held-out prompts evaluated (the first ones of the held-out set)
    held_out_seed: int = 1_000_003  # arithmetic: the held-out set is the same for every run seed

    def __post_init__(self) -> None:
        from aha.tasks.arithmetic import DIFFICULTY

        if self.name not in TASKS:
            raise ConfigError(f"task {self.name!r} is not one of {', '.join(TASKS)}")
        if self.name == "jsonl" and (self.path is None or self.held_out_path is None):
            raise ConfigError("task jsonl needs path and held_out_path")
        problems: list[tuple[str, str] | None] = [*out_of_range(self, TASK_RANGES)]
        if self.name == "arithmetic" and self.difficulty not in DIFFICULTY:
            levels = ", ".join(map(str, DIFFICULTY))
            problems.append(("difficulty", f"difficulty={self.difficulty!r} is not one of {levels}"))
        raise_problems(problems)


TASK_RANGES = {"train_size": COUNT, "held_out": COUNT, "held_out_seed": SEED}  # TaskConfig's numeric fields


def build_task(cfg: TaskConfig, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(training samples, held-out samples); held-out prompts never appear in training."""
    if cfg.name == "arithmetic":
        from aha.tasks import arithmetic

        held = arithmetic.generate(
            cfg.held_out, seed=cfg.held_out_seed, difficulty=cfg.difficulty, prefix="arith-held-out"
        )
        train = arithmetic.generate(
            cfg.train_size, seed=seed, difficulty=cfg.difficulty, exclude=frozenset(s.prompt for s in held)
        )
        return train, held
    if cfg.name == "countdown":
        train = countdown_samples(SETS / "countdown_train.jsonl")[: cfg.train_size]
        held = countdown_samples(SETS / "countdown_test.jsonl")[: cfg.held_out]
        return train, held
    if cfg.name == "gsm8k":
        train = load_samples(SETS / "gsm8k_train.jsonl", prompt_field="question")[: cfg.train_size]
        held = load_samples(SETS / "gsm8k_test.jsonl", prompt_field="question")[: cfg.held_out]
        return train, held
    assert cfg.path is not None and cfg.held_out_path is not None
    fields = {"prompt_field": cfg.prompt_field, "answer_field": cfg.answer_field}
    train = load_samples(cfg.path, **fields)
    held = load_samples(cfg.held_out_path, **fields)[: cfg.held_out]
    overlap = {s.prompt for s in train} & {s.prompt for s in held}
    if overlap:
        raise DataError(f"{cfg.held_out_path}: {len(overlap)} held-out prompts also appear in {cfg.path}")
    return train, held


def load_samples(
    path: str | Path, *, prompt_field: str = "prompt", answer_field: str = "answer", id_field: str = "id"
) -> list[Sample]:
    """Samples from a JSONL file; every other field of a record goes to `meta`.

    Errors name the file, the line and the field: a missing or non-string prompt or answer, a duplicate id.
    Records without an id get "<file stem>/<line>".
    """
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line, record in read_jsonl(path):
        prompt = field(record, prompt_field, str, path, line)
        answer = record.get(answer_field)
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise DataError(f"{path}:{line}: field {answer_field!r} must be a non-empty string or number")
        sample_id = str(record.get(id_field, f"{Path(path).stem}/{line}"))
        if sample_id in seen:
            raise DataError(f"{path}:{line}: duplicate {id_field} {sample_id!r} (first on line {seen[sample_id]})")
        seen[sample_id] = line
        meta = {k: v for k, v in record.items() if k not in (prompt_field, answer_field, id_field)}
        samples.append(Sample(id=sample_id, prompt=prompt, answer=answer, meta=meta))
    if not samples:
        raise DataError(f"{path}: no records")
    return samples


def countdown_sample(record: dict[str, Any], path: str | Path, line: int) -> Sample:
    """One Countdown task (nums, target) as a sample whose prompt states the rules; meta keeps the numbers,
    the target and the reference solution. The one reader of Countdown records: training and the shipped
    benchmark both use it."""
    nums = field(record, "nums", list, path, line)
    target = field(record, "target", int, path, line)
    if not nums or not all(type(n) is int for n in nums):
        raise DataError(f"{path}:{line}: field 'nums' must be a non-empty list of integers")
    return Sample(
        id=str(record.get("id", f"countdown/{line}")),
        prompt=COUNTDOWN_PROMPT.format(nums=nums, target=target),
        answer=str(target),
        meta={"nums": nums, "target": target, "solution": record.get("solution")},
    )


def countdown_samples(path: str | Path) -> list[Sample]:
    """Every Countdown task of a JSONL file (`countdown_sample`)."""
    return [countdown_sample(record, path, line) for line, record in read_jsonl(path)]
