"""Tasks: the training and held-out prompts of a run, from the prompt-set registry (`aha.tasks.sets`): the
arithmetic generator, a shipped set with train and test splits, or the user's JSONL files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aha.data.jsonl import read_jsonl
from aha.errors import ConfigError, DataError
from aha.ranges import COUNT, SEED, out_of_range, raise_problems
from aha.tasks.arithmetic import HELD_OUT_PREFIX, HELD_OUT_SEED
from aha.types import Sample


def task_names() -> list[str]:
    """arithmetic (generated), jsonl (the user's files), and every registered set with train and test splits."""
    from aha.tasks.sets import PROMPT_SETS, get_set

    shipped = [n for n in PROMPT_SETS if {"train", "test"} <= set(get_set(n).splits)]
    return ["arithmetic", *shipped, "jsonl"]


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    name: str = "arithmetic"  # arithmetic (generated) | a shipped set with splits (countdown, gsm8k) | jsonl
    difficulty: int = 2  # arithmetic: level in aha.tasks.arithmetic.DIFFICULTY
    train_size: int = 5000  # arithmetic: training prompts generated; shipped sets: at most this many
    path: str | None = None  # jsonl: training prompts
    held_out_path: str | None = None  # jsonl: held-out prompts
    prompt_field: str = "prompt"
    answer_field: str = "answer"
    held_out: int = 200  # held-out prompts evaluated (the first ones of the held-out set)
    held_out_seed: int = HELD_OUT_SEED  # arithmetic: the held-out set is the same for every run seed

    def __post_init__(self) -> None:
        from aha.tasks.arithmetic import DIFFICULTY

        if self.name not in task_names():
            raise ConfigError(f"task {self.name!r} is not one of {', '.join(task_names())}")
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
            cfg.held_out, seed=cfg.held_out_seed, difficulty=cfg.difficulty, prefix=HELD_OUT_PREFIX
        )
        train = arithmetic.generate(
            cfg.train_size, seed=seed, difficulty=cfg.difficulty, exclude=frozenset(s.prompt for s in held)
        )
        return train, held
    if cfg.name != "jsonl":  # a shipped set: its own prompts (the recipe's template states the format)
        from aha.tasks.sets import get_set

        prompt_set = get_set(cfg.name)
        train = prompt_set.load("train", cfg.train_size, instruction=False)
        return train, prompt_set.load("test", cfg.held_out, instruction=False)
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
    from aha.tasks.sets import plain_sample

    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line, record in read_jsonl(path):
        sample = plain_sample(record, Path(path), line, prompt_field=prompt_field, answer_field=answer_field)
        sample_id = str(record.get(id_field, f"{Path(path).stem}/{line}"))
        if sample_id in seen:
            raise DataError(f"{path}:{line}: duplicate {id_field} {sample_id!r} (first on line {seen[sample_id]})")
        seen[sample_id] = line
        meta = {k: v for k, v in record.items() if k not in (prompt_field, answer_field, id_field)}
        samples.append(Sample(id=sample_id, prompt=sample.prompt, answer=sample.answer, meta=meta))
    if not samples:
        raise DataError(f"{path}: no records")
    return samples
