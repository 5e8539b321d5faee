"""`aha sample` (stage `sample`): k completions per prompt of a prompt set, from any model or checkpoint,
into a run directory; the first step of rejection sampling and distillation.

Prompts come from the prompt-set registry (`aha.tasks.sets`: a shipped set's split, the arithmetic
generator, or a JSONL file of {prompt, answer}), in their order. They are sampled in chunks through a
generation backend (`aha.types.GenerationBackend`; the native engine here), and each chunk's completions
are appended to `completions.jsonl` as soon as it finishes, one line per completion:

  {"prompt_id", "prompt_index", "sample_index", "prompt", "answer", "meta", "completion", "response",
   "tokens", "finish_reason", "sampling": {"n", "temperature", "top_p", "top_k", "max_new_tokens", "seed"}}

Samples are seeded per (seed, prompt index, sample index), and a resumed run samples the same chunks as
an uninterrupted one (the number of rows decoded together decides which matmul kernels run, and so the
last bits of the logits): `--resume` keeps the complete chunks, drops what a kill cut short, and samples
the rest, ending with the file an uninterrupted run writes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aha.data.jsonl import write_record
from aha.defaults import DEFAULT_MODEL
from aha.devices import keep_freed_memory
from aha.errors import AhaError, ConfigError
from aha.files import write_text_atomically
from aha.ranges import COUNT, NON_NEGATIVE_INT, POSITIVE, SEED, TEMPERATURE, TOP_P, out_of_range, raise_problems
from aha.run.prompts import PromptConfig, Prompter
from aha.tasks.sets import PROMPT_SETS, get_set, user_set
from aha.track.run_dir import COMPLETIONS, RunDir
from aha.types import GenerationBackend, Sample, SamplingParams

log = logging.getLogger(__name__)
SAMPLE_RANGES = {
    "limit": COUNT,
    "n": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "top_k": NON_NEGATIVE_INT,
    "max_new_tokens": COUNT,
    "seed": SEED,
    "chunk": COUNT,
    "max_rows": COUNT,
    "timeout": POSITIVE,
    "concurrency": COUNT,
}


@dataclass(frozen=True, kw_only=True)
class SampleConfig:
    stage: str = "sample"
    name: str = "sample"
    model: str = DEFAULT_MODEL  # shipped name, Hugging Face directory, .gguf file or checkpoint
    prompts: str = "arithmetic"  # a prompt set's name, or a JSONL file of {prompt, answer}
    split: str = "train"
    limit: int | None = None  # the first N prompts (generated sets: how many to generate)
    instruction: bool = True  # append the set's answer-format instruction to each prompt
    prompt: PromptConfig = field(default_factory=PromptConfig)  # template, system message, stop strings
    n: int = 4  # completions per prompt (k)
    temperature: float = 0.6  # DeepSeek-R1's evaluation and sampling settings
    top_p: float = 0.95
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 256
    seed: int = 0
    chunk: int = 8  # prompts sampled together: what a kill can cost (a resumed run keeps it)
    max_rows: int = 64  # rows decoded together
    device: str = "cpu"
    dtype: str | None = None
    url: str | None = None  # an OpenAI-compatible chat endpoint to sample from; `model` then names its model
    api_key_env: str | None = None  # the environment variable holding the endpoint's API key, if it needs one
    timeout: float = 600.0  # seconds one endpoint request may take
    concurrency: int = 4  # endpoint requests in flight

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, SAMPLE_RANGES, optional=("limit",))]
        if self.stage != "sample":
            problems.append(("stage", f"stage={self.stage!r}: this config is the sample stage's"))
        if self.url is not None:
            from aha.serve.client import base_url

            try:
                base_url(self.url)
            except ConfigError as error:
                problems.append(("url", f"url: {error}"))
            if self.prompt.template != "chat" or self.prompt.think:
                problems.append(("prompt.template", "an endpoint is sent chat messages: prompt.template must be chat, "
                                 "without think (a chat API cannot pre-fill the response)"))  # fmt: skip
        raise_problems(problems)

    def sampling(self) -> SamplingParams:
        return SamplingParams(n=self.n, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              max_new_tokens=self.max_new_tokens, seed=self.seed, stop=self.prompt.stop)  # fmt: skip


def read_prompts(cfg: SampleConfig) -> list[Sample]:
    """The configured prompts, in order; ConfigError for an unknown set, split or file."""
    try:
        if cfg.prompts.endswith(".jsonl") and cfg.prompts not in PROMPT_SETS:
            prompt_set = user_set(cfg.prompts)  # a user's file: {prompt, answer} records
            if not Path(cfg.prompts).is_file():
                raise ConfigError(f"{cfg.prompts}: no such file")
        else:
            prompt_set = get_set(cfg.prompts)
        if prompt_set.generate is None:
            prompt_set.path(cfg.split)  # the split exists
    except ConfigError as error:
        raise ConfigError(f"prompts: {error}") from None
    samples = prompt_set.load(cfg.split, cfg.limit, instruction=cfg.instruction)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"prompts: {cfg.prompts} ({cfg.split}) repeats a prompt id")
    return samples


def preflight(cfg: SampleConfig) -> SampleConfig:
    """Check the model's files and context and read the prompts, before any model loads."""
    from aha.options import check_model

    if cfg.url is None:  # an endpoint's model is the server's to check
        check_model("model", cfg.model, cfg.device, {"max_new_tokens": cfg.max_new_tokens})
    read_prompts(cfg)
    return cfg


def complete_groups(run_dir: RunDir, n: int, chunk: int = 1, total: int | None = None) -> int:
    """How many prompts, from the first and in whole chunks, have all n completions in the run's file; the
    file is cut back to them (a chunk a kill interrupted is sampled again, whole; all `total` prompts done
    count as done, however the last chunk ends)."""
    records = run_dir.read(COMPLETIONS)  # stops at a line a kill cut short
    done = 0
    while len(records) >= (done + 1) * n and all(
        isinstance(r, dict) and r.get("prompt_index") == done for r in records[done * n : (done + 1) * n]
    ):
        done += 1
    if done != total:
        done -= done % chunk
    kept = records[: done * n]
    if (run_dir.path / COMPLETIONS).is_file():  # rewritten: a line a kill cut short goes too
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
        write_text_atomically(run_dir.path / COMPLETIONS, text)
    return done


def record(cfg: SampleConfig, sample: Sample, index: int, completion: Any, response: str) -> dict[str, Any]:
    """One line of completions.jsonl; `completion` is the native engine's or an endpoint's."""
    tokens = completion.tokens if hasattr(completion, "tokens") else len(completion.token_ids)
    params = {"n": cfg.n, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k,
              "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed}  # fmt: skip
    return {
        "prompt_id": sample.id,
        "prompt_index": index,
        "sample_index": completion.sample_index,
        "prompt": sample.prompt,
        "answer": sample.answer,
        "meta": dict(sample.meta),  # what the set's reward needs besides the answer (tests, numbers)
        "completion": completion.text,
        "response": response,
        "tokens": tokens,  # None: the endpoint reported no usage
        "finish_reason": completion.finish_reason,
        "sampling": params,
    }


Chunk = Callable[[range], list[list[dict[str, Any]]]]  # prompt indices -> each one's completion records


def native_chunk(cfg: SampleConfig, samples: list[Sample], backend: GenerationBackend, prompter: Prompter) -> Chunk:
    """Completion records of a chunk of prompts from a local model (the native engine)."""

    def chunk(indices: range) -> list[list[dict[str, Any]]]:
        prompts = [prompter.encode(samples[i]) for i in indices]
        groups = backend.generate(prompts, cfg.sampling(), prompt_keys=list(indices))
        return [[record(cfg, samples[i], i, c, prompter.response(c.text)) for c in group]
                for i, group in zip(indices, groups, strict=True)]  # fmt: skip

    return chunk


def endpoint_chunk(cfg: SampleConfig, samples: list[Sample]) -> Chunk:
    """Completion records of a chunk of prompts from an OpenAI-compatible chat endpoint."""
    from aha.data.templates import get_template
    from aha.rollout.remote import EndpointSampler
    from aha.serve.client import ChatEndpoint

    assert cfg.url is not None
    endpoint = ChatEndpoint(cfg.url, model=cfg.model or None, timeout=cfg.timeout, api_key_env=cfg.api_key_env)
    sampler = EndpointSampler(endpoint, cfg.concurrency)
    template = get_template("chat", system=cfg.prompt.system, examples=tuple(map(tuple, cfg.prompt.examples)))

    def chunk(indices: range) -> list[list[dict[str, Any]]]:
        conversations = [template.messages(samples[i].prompt + cfg.prompt.suffix) for i in indices]
        groups = sampler.generate(conversations, cfg.sampling(), list(indices))
        pairs = zip(indices, groups, strict=True)
        return [[record(cfg, samples[i], i, c, c.text) for c in group] for i, group in pairs]

    return chunk


def sample_into(
    cfg: SampleConfig,
    run_dir: RunDir,
    sample_chunk: Chunk,
    samples: list[Sample],
    start: int,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Sample prompts start.. in chunks, appending each chunk's completions to the run's file."""
    for first in range(start, len(samples), cfg.chunk):
        chunk = range(first, min(first + cfg.chunk, len(samples)))
        began = time.perf_counter()
        rows = [row for group in sample_chunk(chunk) for row in group]
        with open(run_dir.path / COMPLETIONS, "a", encoding="utf-8") as handle:
            for row in rows:
                write_record(handle, row)
        if progress is not None:
            tokens = sum(r["tokens"] or 0 for r in rows)
            seconds = time.perf_counter() - began
            progress({"prompts": len(chunk), "done": chunk.stop, "total": len(samples), "tokens": tokens,
                      "seconds": seconds})  # fmt: skip


def run(
    cfg: SampleConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sample every prompt's n completions into run_dir/completions.jsonl; counts of what it holds."""
    from aha.config import to_dict
    from aha.models import load
    from aha.rollout.engine import Engine

    samples = read_prompts(cfg)
    directory = RunDir(run_dir)
    if resume:
        if not directory.is_run():
            raise AhaError(f"{directory.path}: not a run directory (no config.yaml)")
        start = complete_groups(directory, cfg.n, cfg.chunk, len(samples))
    else:
        directory.claim(to_dict(cfg))
        start = 0
    if start < len(samples) and cfg.url is not None:
        sample_into(cfg, directory, endpoint_chunk(cfg, samples), samples, start, progress)
    elif start < len(samples):
        keep_freed_memory()
        loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
        engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.max_rows,
                        frozen_weights=True)  # fmt: skip
        chunk = native_chunk(cfg, samples, engine, Prompter(cfg.prompt, loaded.tokenizer))
        sample_into(cfg, directory, chunk, samples, start, progress)
    rows = directory.read(COMPLETIONS)
    summary = {
        "prompts": len(samples),
        "completions": len(rows),
        "resumed_at": start,
        "tokens": sum(int(r.get("tokens") or 0) for r in rows),
        "truncated": sum(r.get("finish_reason") == "length" for r in rows),
    }
    return {"first": None, "last": None, "run_dir": str(directory.path), "summary": summary}
