"""`aha bench generate`: tokens/s of aha's engine and of transformers' `generate`, side by side.

Both run in the same process on the same weights, prompts, batch, sampling settings and lengths. Tokens
are counted the same way for both: every generated token up to and including the EOS that ends a
completion (transformers keeps padding finished rows until the whole batch is done; those pads are not
counted). With ignore_eos every completion runs to max_new_tokens, which measures pure decoding.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
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


def run(cfg: GenerateBenchConfig) -> dict[str, Any]:
    """Time both engines `repeat` times each (after an untimed call of the same size); return the figures
    of the median round (by ratio; the lower middle one for an even count) and every round's ratio.

    Both sides run with glibc keeping freed memory for reuse (`keep_freed_memory`), as `aha eval` and
    `aha generate` set it; it is process-wide, so it is set before either side runs.
    """
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

    runs = (("transformers", run_hf), ("aha", run_native))
    for _, fn in runs:
        # Warm-up: one untimed call of the same size, so that neither side's timed call pays first-call
        # allocations, lazy initialisation or (on a VM that backs memory lazily) first touches of its pages.
        fn(cfg.max_new_tokens)
    # On a shared VM the speed drifts between fast and slow phases; each round times both sides back to
    # back, so a round's ratio compares them in the same phase, and the median round is reported.
    rounds: list[tuple[Timing, Timing]] = []
    for _ in range(cfg.repeat):
        timed = []
        for name, fn in runs:
            _sync(cfg.device)
            start = time.perf_counter()
            tokens = fn(cfg.max_new_tokens)
            _sync(cfg.device)
            timed.append(Timing(name, tokens, time.perf_counter() - start))
        rounds.append((timed[0], timed[1]))
    ratios = [ours.tokens_per_second / base.tokens_per_second for base, ours in rounds]
    base, ours = rounds[ratios.index(statistics.median_low(ratios))]
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
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
