"""Shipped benchmarks: which file, how a record becomes a prompt and a reference, which reward grades it.

Each benchmark turns its records into `Sample`s whose prompt is the question plus an instruction on the
answer format, and names the reward that decides correctness (the math grader, numeric accuracy,
Countdown or the code sandbox). MBPP uses its usual test split (task ids 11-510).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import field, read_jsonl
from aha.errors import ConfigError
from aha.types import Sample

SETS = Path(__file__).resolve().parent.parent / "data" / "sets"
MATH_SUFFIX = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."
CODE_SUFFIX = "\n\nWrite the complete Python function in one ```python code block."


@dataclass(frozen=True)
class Benchmark:
    name: str
    file: str
    reward: str  # registered reward deciding correctness
    build: Callable[[dict[str, Any], Path, int], Sample]  # (record, path, line) -> Sample
    keep: Callable[[dict[str, Any]], bool] = lambda record: True


def _math(record: dict[str, Any], path: Path, line: int) -> Sample:
    problem = field(record, "problem", str, path, line)
    answer = field(record, "answer", str, path, line)
    return Sample(id=record["id"], prompt=problem + MATH_SUFFIX, answer=answer)


def _gsm8k(record: dict[str, Any], path: Path, line: int) -> Sample:
    question = field(record, "question", str, path, line)
    answer = field(record, "answer", str, path, line)
    return Sample(id=record["id"], prompt=question + MATH_SUFFIX, answer=answer)


def _countdown(record: dict[str, Any], path: Path, line: int) -> Sample:
    from aha.tasks import countdown_sample

    return countdown_sample(record, path, line)


def _humaneval(record: dict[str, Any], path: Path, line: int) -> Sample:
    prompt = field(record, "prompt", str, path, line)
    meta = {
        "test": field(record, "test", str, path, line),
        "entry_point": field(record, "entry_point", str, path, line),
        "prompt_code": prompt,  # trusted helpers the tests may use (HumanEval/32's poly), run beside them
    }
    text = f"Complete this Python function.\n\n```python\n{prompt}```" + CODE_SUFFIX
    return Sample(id=record["id"], prompt=text, answer="", meta=meta)


def _mbpp(record: dict[str, Any], path: Path, line: int) -> Sample:
    text = field(record, "text", str, path, line)
    tests = field(record, "test_list", list, path, line)
    meta = {"test_list": tests, "test_setup_code": record.get("test_setup_code", "")}
    prompt = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests) + CODE_SUFFIX
    return Sample(id=record["id"], prompt=prompt, answer="", meta=meta)


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("gsm8k", "gsm8k_test.jsonl", "accuracy_math", _gsm8k),
        Benchmark("math500", "math500.jsonl", "accuracy_math", _math),
        Benchmark("aime24", "aime24.jsonl", "accuracy_math", _math),
        Benchmark("countdown", "countdown_test.jsonl", "countdown", _countdown),
        Benchmark("humaneval", "humaneval.jsonl", "code", _humaneval),
        Benchmark("mbpp", "mbpp.jsonl", "code", _mbpp, keep=lambda r: 11 <= int(r["task_id"]) <= 510),
    )
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; shipped: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def load_benchmark(name: str, limit: int | None = None) -> list[Sample]:
    """The benchmark's samples in file order (the first `limit` of them)."""
    bench = get_benchmark(name)
    path = SETS / bench.file
    samples = [bench.build(record, path, line) for line, record in read_jsonl(path) if bench.keep(record)]
    return samples[:limit] if limit is not None else samples
