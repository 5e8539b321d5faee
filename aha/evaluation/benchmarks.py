"""Benchmarks for `aha eval`: the test split of a prompt set (`aha.tasks.sets`, the one registry of prompt
sets), its prompts with the set's answer-format instruction, graded by the set's reward. A path to a JSONL
file of {prompt, answer} records is a benchmark too, graded by the math grader.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aha.errors import ConfigError
from aha.tasks.sets import PROMPT_SETS, PromptSet, get_set, user_set
from aha.types import Sample


def benchmark_names() -> list[str]:
    """The registered sets that have a test split."""
    return [name for name in PROMPT_SETS if "test" in get_set(name).splits or get_set(name).generate is not None]


def get_benchmark(name: str) -> PromptSet:
    """The set `name` (or the JSONL file at path `name`), checked to have a test split."""
    if name.endswith(".jsonl") and name not in PROMPT_SETS:
        if not Path(name).is_file():
            raise ConfigError(f"benchmark {name!r}: no such file")
        return user_set(name)
    if name not in PROMPT_SETS or name not in benchmark_names():
        raise ConfigError(f"unknown benchmark {name!r}; shipped: {', '.join(benchmark_names())}, or a .jsonl file")
    return get_set(name)


def load_benchmark(name: str, limit: int | None = None) -> list[Sample]:
    """The benchmark's samples in file order (the first `limit` of them), instruction appended."""
    return get_benchmark(name).load("test", limit)


def set_fingerprint(name: str) -> str:
    """sha256 of what the benchmark's prompts are made from: its test file, or the generated samples."""
    from aha.evaluation.fingerprint import sha256_of

    bench = get_benchmark(name)
    if bench.generate is None:
        return sha256_of([bench.path("test")])
    digest = hashlib.sha256()
    for sample in bench.load("test"):
        digest.update(json.dumps([sample.id, sample.prompt, sample.answer]).encode())
    return digest.hexdigest()
