"""`aha bench sample`: tokens/s of `aha sample` and of transformers' `generate` on the same prompts.

aha's side is the sample stage's own loop (`aha.stages.sample.sample_into`: chunks of prompts through the
engine, completions appended to a JSONL file) with the stage's defaults; transformers' side generates the
same prompt tokens (the stage's template and the set's instruction), n samples each, at the same
temperature, top-p and length limit, all prompts in one batch. Tokens are counted alike: every generated
token up to and including the EOS that ends a completion. One untimed call of each side first (the engine
prepares its weights once, transformers allocates), then one timed run of each, back to back.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import torch

from aha.bench.configs import SampleBenchConfig
from aha.bench.generate import count_generated, reference_model
from aha.devices import keep_freed_memory
from aha.models import load
from aha.rollout.engine import Engine
from aha.run.prompts import Prompter
from aha.stages.sample import SampleConfig, native_chunk, read_prompts, sample_into
from aha.track.run_dir import COMPLETIONS, RunDir


def stage_config(cfg: SampleBenchConfig) -> SampleConfig:
    return SampleConfig(model=cfg.model, prompts=cfg.prompts, split=cfg.split, limit=cfg.limit, n=cfg.n,
                        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                        seed=cfg.seed)  # fmt: skip


def run(cfg: SampleBenchConfig) -> dict[str, Any]:
    keep_freed_memory()  # as `aha sample` sets it; process-wide, so before either side
    stage = stage_config(cfg)
    samples = read_prompts(stage)
    loaded = load(cfg.model)
    prompter = Prompter(stage.prompt, loaded.tokenizer)
    prompts = [prompter.encode(s) for s in samples]
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=stage.max_rows, frozen_weights=True)
    hf = reference_model(loaded)
    eos = list(loaded.eos_token_ids)
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else eos[0]

    def run_aha(count: int) -> int:
        with tempfile.TemporaryDirectory(prefix="aha-bench-sample-") as tmp:
            directory = RunDir(tmp)
            chosen = samples[:count]
            sample_into(stage, directory, native_chunk(stage, chosen, engine, prompter), chosen, 0)
            return sum(r["tokens"] for r in directory.read(COMPLETIONS))

    def run_hf(count: int) -> int:
        chosen = prompts[:count]
        width = max(len(p) for p in chosen)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in chosen])
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chosen])
        torch.manual_seed(cfg.seed)
        with torch.no_grad():
            out = hf.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=True,
                              temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, max_new_tokens=cfg.max_new_tokens,
                              num_return_sequences=cfg.n, pad_token_id=pad, eos_token_id=eos)  # fmt: skip
        return count_generated(out[:, width:], set(eos), ignore_eos=False)

    figures: dict[str, Any] = {}
    for name, fn in (("transformers", run_hf), ("aha", run_aha)):
        fn(1)  # warm-up
        start = time.perf_counter()
        tokens = fn(len(samples))
        seconds = time.perf_counter() - start
        figures.update({f"{name}_tokens": tokens, f"{name}_seconds": round(seconds, 2),
                        f"{name}_tokens_per_s": round(tokens / seconds, 1)})  # fmt: skip
    return {
        "model": cfg.model,
        "prompts": f"{cfg.prompts}:{cfg.split}",
        "count": len(samples),
        "n": cfg.n,
        "max_new_tokens": cfg.max_new_tokens,
        "threads": torch.get_num_threads(),
        **figures,
        "ratio": round(figures["aha_tokens_per_s"] / figures["transformers_tokens_per_s"], 2),
    }


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"aha sample vs transformers generate: {result['count']} prompts of {result['prompts']} x {result['n']} "
        f"samples, at most {result['max_new_tokens']} new tokens, {result['threads']} threads"
    ]
    for name in ("transformers", "aha"):
        lines.append(f"  {name:<13} {result[name + '_tokens']:>6} tokens in {result[name + '_seconds']:>7.2f} s = "
                     f"{result[name + '_tokens_per_s']:>7.1f} tokens/s")  # fmt: skip
    lines.append(f"  ratio aha / transformers: {result['ratio']:.2f}x")
    return "\n".join(lines)
