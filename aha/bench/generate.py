"""`aha bench generate`: tokens/s of aha's engine and of transformers' `generate`, side by side, and of vLLM
where it is installed (`aha.rollout.vllm`, in its own venv).

All run in the same process on the same weights, prompts, batch, sampling settings and lengths. Tokens
are counted the same way for all: every generated token up to and including the EOS that ends a
completion (transformers keeps padding finished rows until the whole batch is done; those pads are not
counted). With ignore_eos every completion runs to max_new_tokens, which measures pure decoding.

vLLM runs as `VLLMBackend` runs it for training: in this process, fp32 (the bench's dtype), eager, with its
KV cache sized explicitly; it is built before the others warm up, since building it changes the process
(vLLM's CPU worker binds memory to a NUMA node and freezes torch's thread count), so every column is timed
in the same process state. Its CPU guide's preloads (tcmalloc, Intel OpenMP) would change the whole
process, the other columns included, so they are left to the caller (`LD_PRELOAD`) and the figures say
which are missing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aha.bench.configs import GenerateBenchConfig
from aha.data.templates import get_template
from aha.devices import keep_freed_memory
from aha.models import LoadedModel, load
from aha.models.checkpoint import hf_state_dict
from aha.rollout.engine import Engine
from aha.types import SamplingParams

PROMPTS = (
    "What is 12 + 35? Explain step by step.",
    "Write a short poem about the sea.",
    "Explain why the sky is blue.",
    "List three prime numbers and explain why each is prime.",
)


@dataclass
class Timing:
    name: str
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


def reference_model(loaded: LoadedModel) -> Any:
    """transformers' own implementation with the same weights as `loaded`."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_config(loaded.config, dtype=loaded.model.dtype)
    hf.load_state_dict(hf_state_dict(loaded), strict=False)
    if getattr(loaded.config, "tie_word_embeddings", False):
        hf.tie_weights()
    return hf.to(loaded.model.device).eval()


def count_generated(generated: torch.Tensor, eos_ids: set[int], ignore_eos: bool) -> int:
    if ignore_eos:
        return generated.numel()
    total = 0
    for row in generated.tolist():
        end = next((i + 1 for i, token in enumerate(row) if token in eos_ids), len(row))
        total += end
    return total


def vllm_skip_reason(cfg: GenerateBenchConfig) -> str | None:
    """Why the vLLM column is left out, or None when it runs."""
    if not cfg.vllm:
        return "left out (--no-vllm)"
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed in this environment (it has its own venv: see aha/rollout/vllm.py)"
    if cfg.device != "cpu":
        return f"the vLLM column runs on the CPU only, not on {cfg.device}"
    return None


def vllm_side(
    loaded: LoadedModel, directory: Path, prompts: list[list[int]], params: SamplingParams, stack: ExitStack
) -> Callable[[int], int]:
    """A function generating with vLLM on `loaded`'s weights (saved to `directory`) that returns its token
    count; the engine is shut down when `stack` closes."""
    from aha.rollout.vllm import VLLMBackend

    dtype = str(loaded.model.dtype).removeprefix("torch.")
    backend = stack.enter_context(VLLMBackend.from_loaded(loaded, directory, dtype=dtype))

    def run_vllm(max_new_tokens: int) -> int:
        sized = dataclasses.replace(params, max_new_tokens=max_new_tokens)
        return sum(len(c.token_ids) for group in backend.generate(prompts, sized) for c in group)

    return run_vllm


def run(cfg: GenerateBenchConfig) -> dict[str, Any]:
    """Time the engines `repeat` times each (after an untimed call of the same size); return the figures
    of the median round (by the ratio aha / transformers; the lower middle one for an even count) and every
    round's ratio.

    All sides run with glibc keeping freed memory for reuse (`keep_freed_memory`), as `aha eval` and
    `aha generate` set it; it is process-wide, so it is set before any side runs.
    """
    with ExitStack() as stack:
        return _run(cfg, stack)


def _run(cfg: GenerateBenchConfig, stack: ExitStack) -> dict[str, Any]:
    keep_freed_memory()
    loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    template = get_template("chat" if getattr(loaded.tokenizer, "chat_template", None) else "raw")
    prompts = [template.encode(PROMPTS[i % len(PROMPTS)], loaded.tokenizer) for i in range(cfg.prompts)]
    params = SamplingParams(
        n=cfg.n,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
        seed=cfg.seed,
        ignore_eos=cfg.ignore_eos,
    )
    # The weights are frozen, as in evaluation: the engine prepares its decode-ready copies of them once (in
    # the warm-up call) and keeps them, as an inference engine does at load time.
    engine = Engine(
        loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.prompts * cfg.n, frozen_weights=True
    )
    skipped = vllm_skip_reason(cfg)
    run_vllm = None
    if skipped is None:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aha-bench-vllm-")))
        run_vllm = vllm_side(loaded, directory / "model", prompts, params, stack)
    hf = reference_model(loaded)
    eos = list(loaded.eos_token_ids)
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else eos[0]
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=hf.device)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=hf.device)

    def run_native(max_new_tokens: int) -> int:
        sized = dataclasses.replace(params, max_new_tokens=max_new_tokens)
        return sum(len(c.token_ids) for group in engine.generate(prompts, sized) for c in group)

    def run_hf(max_new_tokens: int) -> int:
        torch.manual_seed(cfg.seed)
        extra = {"min_new_tokens": max_new_tokens} if cfg.ignore_eos else {}
        with torch.no_grad():
            out = hf.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=True,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                top_k=0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=cfg.n,
                pad_token_id=pad,
                eos_token_id=eos,
                **extra,
            )
        return count_generated(out[:, width:], set(eos), cfg.ignore_eos)

    runs: tuple[tuple[str, Callable[[int], int]], ...] = (("transformers", run_hf), ("aha", run_native))
    if run_vllm is not None:
        runs += (("vllm", run_vllm),)
    for _, fn in runs:
        # Warm-up: one untimed call of the same size, so that no side's timed call pays first-call
        # allocations, lazy initialisation or (on a VM that backs memory lazily) first touches of its pages.
        fn(cfg.max_new_tokens)
    # On a shared VM the speed drifts between fast and slow phases; each round times every side back to
    # back, so a round's ratio compares them in the same phase, and the median round is reported.
    rounds: list[list[Timing]] = []
    for _ in range(cfg.repeat):
        timed = []
        for name, fn in runs:
            _sync(cfg.device)
            start = time.perf_counter()
            tokens = fn(cfg.max_new_tokens)
            _sync(cfg.device)
            timed.append(Timing(name, tokens, time.perf_counter() - start))
        rounds.append(timed)
    ratios = [ours.tokens_per_second / base.tokens_per_second for base, ours, *_ in rounds]
    base, ours, *others = rounds[ratios.index(statistics.median_low(ratios))]
    return {
        "model": cfg.model,
        "device": cfg.device,
        "dtype": str(loaded.model.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "prompts": cfg.prompts,
        "n": cfg.n,
        "max_new_tokens": cfg.max_new_tokens,
        "ignore_eos": cfg.ignore_eos,
        "transformers_tokens": base.tokens,
        "transformers_seconds": round(base.seconds, 2),
        "transformers_tokens_per_s": round(base.tokens_per_second, 1),
        "aha_tokens": ours.tokens,
        "aha_seconds": round(ours.seconds, 2),
        "aha_tokens_per_s": round(ours.tokens_per_second, 1),
        "ratio": round(ours.tokens_per_second / base.tokens_per_second, 2),
        "round_ratios": [round(r, 2) for r in ratios],
        **_vllm_figures(others[0] if others else None, ours, skipped),
    }


def _vllm_figures(timing: Timing | None, ours: Timing, skipped: str | None) -> dict[str, Any]:
    """The vLLM column of the median round, or why there is none."""
    if timing is None:
        return {"vllm_skipped": skipped}
    from aha.rollout.vllm import preload_hint

    return {
        "vllm_skipped": None,
        "vllm_tokens": timing.tokens,
        "vllm_seconds": round(timing.seconds, 2),
        "vllm_tokens_per_s": round(timing.tokens_per_second, 1),
        "aha_vllm_ratio": round(ours.tokens_per_second / timing.tokens_per_second, 2),
        "vllm_preload": preload_hint(),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
