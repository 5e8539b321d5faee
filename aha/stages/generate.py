"""`aha generate`: sample completions from any model or checkpoint for one prompt or a JSONL file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aha.data.jsonl import field as record_field
from aha.data.jsonl import read_jsonl, write_record
from aha.data.templates import get_template
from aha.devices import keep_freed_memory
from aha.errors import ConfigError
from aha.models import DEFAULT_MODEL, load
from aha.ranges import COUNT, check
from aha.rollout.engine import Engine
from aha.types import SamplingParams

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    model: str = DEFAULT_MODEL  # shipped name, Hugging Face directory, .gguf file or checkpoint
    prompt: str | None = None  # one prompt ...
    prompts: str | None = None  # ... or a JSONL file with one object per line
    prompt_field: str = "prompt"  # the field of each JSONL object that holds the prompt
    out: str | None = None  # JSONL output; stdout when None
    template: str = "chat"  # chat | r1zero | raw
    system: str | None = None  # chat only
    think: bool = False  # pre-fill "<think>" as the start of every response
    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_rows: int = 64  # rows decoded together
    device: str = "cpu"
    dtype: str | None = None  # default: float32 on CPU, bfloat16 on CUDA

    def __post_init__(self) -> None:
        check(self, {"max_rows": COUNT})


def read_prompts(cfg: GenerateConfig) -> list[tuple[str, dict[str, Any]]]:
    """(prompt, original record) pairs from --prompt or --prompts."""
    if (cfg.prompt is None) == (cfg.prompts is None):
        raise ConfigError("give exactly one of --prompt TEXT or --prompts FILE.jsonl")
    if cfg.prompt is not None:
        return [(cfg.prompt, {"prompt": cfg.prompt})]
    assert cfg.prompts is not None
    return [
        (record_field(record, cfg.prompt_field, str, cfg.prompts, line), record)
        for line, record in read_jsonl(cfg.prompts)
    ]


def run(cfg: GenerateConfig, progress: Callable[[int, int], None] | None = None) -> int:
    """Write one JSON line per completion; return the number written."""
    items = read_prompts(cfg)
    keep_freed_memory()  # every micro-batch allocates a fresh key/value cache of the same size
    loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    template = get_template(cfg.template, system=cfg.system, think=cfg.think)
    token_ids = [template.encode(prompt, loaded.tokenizer) for prompt, _ in items]
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.max_rows, frozen_weights=True)
    out: TextIO = sys.stdout if cfg.out is None else open(Path(cfg.out), "w", encoding="utf-8")  # noqa: SIM115
    written = 0
    try:
        for group in engine.iter_generate(token_ids, cfg.sampling, progress=progress):
            for completion in group:
                prompt, record = items[completion.prompt_index]
                write_record(
                    out,
                    {
                        "prompt_index": completion.prompt_index,
                        "sample_index": completion.sample_index,
                        "prompt": prompt,
                        "response": template.response(completion.text),
                        "completion": completion.text,
                        "finish_reason": completion.finish_reason,
                        "num_tokens": len(completion.token_ids),
                        "token_ids": completion.token_ids,
                        "logprobs": [round(lp, 6) for lp in completion.logprobs],
                        "record": {k: v for k, v in record.items() if k != cfg.prompt_field},
                    },
                )
                written += 1
    finally:
        if out is not sys.stdout:
            out.close()
    return written
