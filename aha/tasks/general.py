"""General prompts: the non-reasoning half of DeepSeek-R1's all-scenario RL, scored by reward models
(helpfulness, harmlessness) instead of rules. A record gives its prompt as `prompt_messages` (a
conversation ending with the user's turn: HH's pairs files qualify), `prompt`, or `instruction` with an
optional `input` (the shipped self-instruct `general_instructions` set); any reference (`output`,
`chosen`) is kept in meta and never used as a reward. Samples carry `meta["source"] = "general"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aha.data.jsonl import read_jsonl
from aha.data.pairs import read_messages
from aha.errors import ConfigError, DataError
from aha.types import Sample

SOURCE = "general"


def general_path(spec: str) -> Path:
    """`set:NAME` (or `set:NAME:SPLIT`) is a shipped file in aha/data/sets, anything else a path."""
    if not spec.startswith("set:"):
        return Path(spec)
    from aha.tasks.sets import SETS_DIR

    name, _, split = spec.removeprefix("set:").partition(":")
    path = SETS_DIR / (f"{name}_{split}.jsonl" if split else f"{name}.jsonl")
    if not path.is_file():
        raise ConfigError(f"no shipped file for {spec!r} ({path.name})")
    return path


def general_sample(record: dict[str, Any], path: Path, line: int) -> Sample:
    where = f"{path}:{line}"
    meta: dict[str, Any] = {"source": SOURCE}
    if "prompt_messages" in record:
        messages = read_messages(record["prompt_messages"], "prompt_messages", where)
        if messages[-1]["role"] != "user":
            raise DataError(f"{where}: prompt_messages must end with the user's turn")
        prompt, meta["messages"] = messages[-1]["content"], messages
    elif isinstance(record.get("prompt"), str):
        prompt = record["prompt"]
    elif isinstance(record.get("instruction"), str):
        extra = record.get("input") or ""
        if not isinstance(extra, str):
            raise DataError(f"{where}: input must be a string")
        prompt = record["instruction"] + (f"\n\n{extra}" if extra.strip() else "")
    else:
        raise DataError(f"{where}: a general prompt needs prompt_messages, prompt, or instruction")
    if not prompt.strip():
        raise DataError(f"{where}: the prompt is empty")
    reference = record.get("output", record.get("chosen", ""))
    sample_id = str(record.get("id", f"{path.stem}/{line}"))
    return Sample(id=sample_id, prompt=prompt, answer=reference if isinstance(reference, str) else "", meta=meta)


def read_general(spec: str, held_out: int) -> tuple[list[Sample], list[Sample]]:
    """(training prompts, held-out prompts): the file's last `held_out` records are held out."""
    path = general_path(spec)
    if not path.is_file():
        raise ConfigError(f"general.data: {path}: no such file")
    samples = [general_sample(record, path, line) for line, record in read_jsonl(path)]
    if len(samples) <= held_out:
        raise DataError(f"{path}: {len(samples)} prompts, not more than general.held_out={held_out}")
    return samples[: len(samples) - held_out], samples[len(samples) - held_out :]
