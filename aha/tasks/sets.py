"""Prompt sets: the one registry of what aha trains and evaluates on.

A prompt set has splits (`train`, `test`), a reader that turns a record into a `Sample`, the instruction on
the answer format that evaluation appends to each prompt (training recipes bring their own template), and
the reward that decides correctness. Shipped sets live in `aha/data/sets` (provenance in SOURCES.md); the
arithmetic set is generated from a seed; any other JSONL file is a set of its own (`user_set(path)`).
Training (`aha.tasks.build_task`), held-out evaluation during a run, `aha eval` and the SFT stage's
`set:NAME:SPLIT` data all read through `get_set`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aha.data.jsonl import field as record_field
from aha.data.jsonl import read_jsonl
from aha.errors import ConfigError, DataError
from aha.registry import Registry
from aha.types import Sample

SETS_DIR = Path(__file__).resolve().parent.parent / "data" / "sets"
MATH_INSTRUCTION = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."
ZH_MATH_INSTRUCTION = "\n\n请一步一步地推理，并把最终答案写在 \\boxed{} 中。"  # the same, in Chinese
CODE_INSTRUCTION = "\n\nWrite the complete Python function in one ```python code block."
COUNTDOWN_PROMPT = (
    "Using the numbers {nums}, create an equation that equals {target}. You can use +, -, * and / and each "
    "number exactly once. Give the equation alone inside <answer> </answer>, for example <answer> (1 + 2) * 3 "
    "</answer>."
)
Reader = Callable[[dict[str, Any], Path, int], Sample]  # (record, file, line) -> Sample


@dataclass(frozen=True)
class PromptSet:
    """A named set of prompts with reference answers or tests."""

    name: str
    reward: str  # the registered reward that decides correctness
    read: Reader | None = None  # record -> Sample (shipped and user files)
    splits: dict[str, Path] = field(default_factory=dict)  # split -> JSONL file
    instruction: str = ""  # appended to each prompt in evaluation
    keep: Callable[[dict[str, Any]], bool] = lambda record: True
    generate: Callable[[str, int], list[Sample]] | None = None  # (split, count) -> samples, for generated sets
    description: str = ""

    def load(self, split: str = "test", limit: int | None = None, *, instruction: bool = True) -> list[Sample]:
        """The split's samples in file order (the first `limit`), the answer-format instruction appended to
        each prompt unless `instruction` is False (training templates state the format themselves)."""
        if self.generate is not None:
            samples = self.generate(split, limit or DEFAULT_GENERATED)
        else:
            path = self.path(split)
            assert self.read is not None
            samples = [self.read(record, path, line) for line, record in read_jsonl(path) if self.keep(record)]
            if not samples:
                raise DataError(f"{path}: no records")
            samples = samples[:limit] if limit is not None else samples
        if instruction and self.instruction:
            samples = [replace(s, prompt=s.prompt + self.instruction) for s in samples]
        return samples

    def path(self, split: str) -> Path:
        """The split's file; ConfigError naming the splits the set has when it has no such split."""
        if split not in self.splits:
            known = ", ".join(self.splits) or "none (it is generated)"
            raise ConfigError(f"prompt set {self.name!r} has no split {split!r}; its splits: {known}")
        return self.splits[split]


DEFAULT_GENERATED = 200  # samples drawn from a generated set when no limit is given
PROMPT_SETS: Registry[PromptSet] = Registry("prompt set")


def add(prompt_set: PromptSet) -> PromptSet:
    PROMPT_SETS.register(prompt_set.name)(prompt_set)  # type: ignore[arg-type]
    return prompt_set


def get_set(name: str) -> PromptSet:
    """The registered set `name`; ConfigError naming the known sets when there is none."""
    try:
        return PROMPT_SETS.get(name)
    except KeyError as error:
        raise ConfigError(error.args[0]) from None


def user_set(
    path: str | Path, *, reward: str = "accuracy_math", prompt_field: str = "prompt", answer_field: str = "answer"
) -> PromptSet:
    """A JSONL file of the user's as a one-split (`test`, also `train`) set: records with a prompt and an
    answer; every other field goes to the sample's meta."""
    path = Path(path)

    def read(record: dict[str, Any], file: Path, line: int) -> Sample:
        return plain_sample(record, file, line, prompt_field=prompt_field, answer_field=answer_field)

    return PromptSet(name=path.stem, reward=reward, read=read, splits={"test": path, "train": path})


def _with_language(sample: Sample, language: str) -> Sample:
    """The sample with the language its reasoning should be in (the `language` reward's target)."""
    return replace(sample, meta={**sample.meta, "language": language})


def plain_sample(
    record: dict[str, Any], path: Path, line: int, *, prompt_field: str = "prompt", answer_field: str = "answer"
) -> Sample:
    """A record with a prompt and a non-empty answer (string or number); the other fields go to meta."""
    prompt = record_field(record, prompt_field, str, path, line)
    answer = record.get(answer_field)
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"{path}:{line}: field {answer_field!r} must be a non-empty string or number")
    sample_id = str(record.get("id", f"{path.stem}/{line}"))
    meta = {k: v for k, v in record.items() if k not in (prompt_field, answer_field, "id")}
    return Sample(id=sample_id, prompt=prompt, answer=answer, meta=meta)


def countdown_sample(record: dict[str, Any], path: Path, line: int) -> Sample:
    """One Countdown task (nums, target) as a sample whose prompt states the rules; meta keeps the numbers,
    the target and the reference solution. The one reader of Countdown records."""
    nums = record_field(record, "nums", list, path, line)
    target = record_field(record, "target", int, path, line)
    if not nums or not all(type(n) is int for n in nums):
        raise DataError(f"{path}:{line}: field 'nums' must be a non-empty list of integers")
    return Sample(
        id=str(record.get("id", f"countdown/{line}")),
        prompt=COUNTDOWN_PROMPT.format(nums=nums, target=target),
        answer=str(target),
        meta={"nums": nums, "target": target, "solution": record.get("solution")},
    )


def _gsm8k(record: dict[str, Any], path: Path, line: int) -> Sample:
    return plain_sample(record, path, line, prompt_field="question")


def _math(record: dict[str, Any], path: Path, line: int) -> Sample:
    problem = record_field(record, "problem", str, path, line)
    answer = record_field(record, "answer", str, path, line)
    return Sample(id=record["id"], prompt=problem, answer=answer)


def _humaneval(record: dict[str, Any], path: Path, line: int) -> Sample:
    prompt = record_field(record, "prompt", str, path, line)
    meta = {
        "test": record_field(record, "test", str, path, line),
        "entry_point": record_field(record, "entry_point", str, path, line),
        "prompt_code": prompt,  # trusted helpers the tests may use (HumanEval/32's poly), run beside them
    }
    text = f"Complete this Python function.\n\n```python\n{prompt}```"
    return Sample(id=record["id"], prompt=text, answer="", meta=meta)


def _mbpp(record: dict[str, Any], path: Path, line: int) -> Sample:
    text = record_field(record, "text", str, path, line)
    tests = record_field(record, "test_list", list, path, line)
    meta = {"test_list": tests, "test_setup_code": record.get("test_setup_code", "")}
    prompt = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests)
    return Sample(id=record["id"], prompt=prompt, answer="", meta=meta)


def _arithmetic(split: str, count: int) -> list[Sample]:
    """Sums at the default level: `test` is the held-out set of every GRPO run on the arithmetic task (its
    first `count` prompts), `train` the prompts a run of seed 0 draws (none of them held out)."""
    from aha.tasks.arithmetic import HELD_OUT_PREFIX, HELD_OUT_SEED, generate

    held_out = generate(max(count, 200), seed=HELD_OUT_SEED, prefix=HELD_OUT_PREFIX)
    if split == "test":
        return held_out[:count]
    if split == "train":
        return generate(count, seed=0, exclude=frozenset(s.prompt for s in held_out))
    raise ConfigError(f"prompt set 'arithmetic' has no split {split!r}; its splits: train, test")


add(PromptSet("arithmetic", "accuracy_numeric", generate=_arithmetic, description="generated sums (difficulty 2)"))
add(
    PromptSet(
        "gsm8k",
        "accuracy_math",
        _gsm8k,
        {"train": SETS_DIR / "gsm8k_train.jsonl", "test": SETS_DIR / "gsm8k_test.jsonl"},
        MATH_INSTRUCTION,
        description="grade-school word problems",
    )
)
add(
    PromptSet(
        "zh_math",
        "accuracy_math",
        lambda record, path, line: _with_language(plain_sample(record, path, line, prompt_field="question"), "zh"),
        {"train": SETS_DIR / "zh_math_train.jsonl", "test": SETS_DIR / "zh_math_test.jsonl"},
        ZH_MATH_INSTRUCTION,
        description="CMATH: Chinese grade-school word problems (450 train, 150 test), meta language zh",
    )
)
add(PromptSet("math500", "accuracy_math", _math, {"test": SETS_DIR / "math500.jsonl"}, MATH_INSTRUCTION))
add(PromptSet("aime24", "accuracy_math", _math, {"test": SETS_DIR / "aime24.jsonl"}, MATH_INSTRUCTION))
add(
    PromptSet(
        "countdown",
        "countdown",
        countdown_sample,
        {"train": SETS_DIR / "countdown_train.jsonl", "test": SETS_DIR / "countdown_test.jsonl"},
    )
)
add(PromptSet("humaneval", "code", _humaneval, {"test": SETS_DIR / "humaneval.jsonl"}, CODE_INSTRUCTION))
add(
    PromptSet(
        "mbpp",
        "code",
        _mbpp,
        {"test": SETS_DIR / "mbpp.jsonl"},
        CODE_INSTRUCTION,
        keep=lambda record: 11 <= int(record["task_id"]) <= 510,  # the usual test split
    )
)
add(
    PromptSet(
        "sft_think_arith",
        "accuracy_numeric",
        plain_sample,
        {"train": SETS_DIR / "sft_think_arith_train.jsonl", "test": SETS_DIR / "sft_think_arith_test.jsonl"},
        description="sums with a worked <think> response (SFT records: prompt, response, answer)",
    )
)
