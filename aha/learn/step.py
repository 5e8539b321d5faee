"""One policy update over a rollout batch: micro-batched forward/backward, clipping, optimiser step.

Micro-batches are weighted so that the accumulated gradient equals that of the whole mini-batch at
once: each micro-batch's aggregated loss is scaled by its share of the aggregation's unit (tokens for
token_mean, sequences otherwise).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from aha.algo import aggregate
from aha.algo.kl import KL_ESTIMATORS
from aha.algo.logprobs import linear_logprobs, token_entropy, token_logprobs
from aha.algo.loss import grpo_token_loss
from aha.devices import DTYPES, resolve_dtype
from aha.learn.batch import RolloutBatch
from aha.learn.packing import pack_rows, rows_of, unpack
from aha.ranges import COUNT, NON_NEGATIVE, POSITIVE, Range, one_of, out_of_range, raise_problems
from aha.rollout.sampling import row_seed


@dataclass(frozen=True, kw_only=True)
class UpdateConfig:
    eps_low: float = 0.2  # clip range below 1 (DeepSeek-R1: 0.2 ... 10 in later stages)
    eps_high: float = 0.2  # clip range above 1 (DAPO clip-higher: 0.28)
    dual_clip: float | None = None
    beta: float = 0.0  # KL coefficient; 0 loads no reference model
    kl_estimator: str = "k3"
    aggregation: str = "seq_mean_token_mean"
    max_tokens: int = 0  # Dr.GRPO's constant normaliser (the max completion length)
    micro_rows: int = 8  # rows per forward/backward
    packing: bool = True  # one packed sequence per micro-batch (prompts once, no padding); False = padded rows
    autocast: str | None = None  # bfloat16: the training pass's matmuls in bf16 (fp32 weights, fp32 softmax)
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, UPDATE_RANGES, optional=("dual_clip",))]
        problems.append(one_of("kl_estimator", self.kl_estimator, KL_ESTIMATORS))
        problems.append(one_of("aggregation", self.aggregation, aggregate.AGGREGATIONS))
        if self.aggregation == "seq_mean_token_sum_norm" and self.max_tokens < 1:
            problems.append(("max_tokens", f"max_tokens={self.max_tokens} must be >= 1 for seq_mean_token_sum_norm"))
        if self.autocast is not None:
            problems.append(one_of("autocast", self.autocast, DTYPES))
        raise_problems(problems)


UPDATE_RANGES = {  # UpdateConfig's numeric fields
    "eps_low": NON_NEGATIVE,
    "eps_high": NON_NEGATIVE,
    "dual_clip": Range(float, 1, low_open=True, note="Ye et al. 2020's c"),
    "beta": NON_NEGATIVE,
    "max_tokens": Range(int, 0, note="0 unless the aggregation is seq_mean_token_sum_norm"),
    "micro_rows": COUNT,
    "max_grad_norm": POSITIVE,
}


def precision(cfg: UpdateConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of the training pass (a no-op without autocast)."""
    if cfg.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=resolve_dtype(cfg.autocast, device))


def micro_weight(name: str, micro_mask: torch.Tensor, total_mask: torch.Tensor) -> float:
    """Share of a micro-batch in the aggregation's unit: tokens for token_mean, sequences otherwise."""
    if name == "token_mean":
        return float(micro_mask.sum()) / max(float(total_mask.sum()), 1.0)
    return micro_mask.shape[0] / total_mask.shape[0]


def padded_logprobs(model: Any, batch: RolloutBatch, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs [B,Tc] (with grad) and entropies [B,Tc] (no grad) of the completion tokens, from a padded
    forward: every row computes its own prompt, every completion is padded to the longest."""
    logits = model.completion_logits(batch.input_ids, batch.attention_mask, batch.prompt_width, batch.prefix)
    return token_logprobs(logits, batch.completion_ids, temperature), token_entropy(logits, temperature)


def packed_logprobs(model: Any, batch: RolloutBatch, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """As `padded_logprobs`, from one packed sequence: each distinct prompt once, no padding (equal within
    float rounding, tested). Zero at padding slots."""
    prompts, completions = rows_of(batch.input_ids, batch.attention_mask, batch.mask, batch.prompt_width)
    offset = 0 if batch.prefix is None else batch.prefix.shape[0]
    packed = pack_rows(prompts, completions, batch.mask.shape[1], offset).to(batch.input_ids.device)
    hidden = model.packed_hidden(packed.tokens, packed.positions, packed.segments, packed.predict, batch.prefix)
    logp, entropy = linear_logprobs(hidden, model.output_weight, packed.targets, temperature)  # [N] each
    return unpack(logp, packed), unpack(entropy, packed)


def policy_logprobs(
    model: Any, batch: RolloutBatch, temperature: float, packing: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs [B,Tc] (with grad) and entropies [B,Tc] (no grad) of the completion tokens; packed where the
    model supports it."""
    if packing and hasattr(model, "packed_hidden"):
        return packed_logprobs(model, batch, temperature)
    return padded_logprobs(model, batch, temperature)


@torch.no_grad()
def old_logprobs(model: Any, batch: RolloutBatch, cfg: UpdateConfig, temperature: float) -> torch.Tensor:
    """Log-probs [B,Tc] of the batch's completions under the current policy, computed as the training pass
    computes them (for several updates per rollout batch when the sampler's numbers differ)."""
    parts = []
    for start in range(0, batch.rows, cfg.micro_rows):
        micro = batch.select(slice(start, start + cfg.micro_rows))
        with precision(cfg, micro.input_ids.device):
            logp = policy_logprobs(model, micro, temperature, cfg.packing)[0]
        parts.append(torch.nn.functional.pad(logp.float(), (0, batch.mask.shape[1] - logp.shape[1])))
    return torch.cat(parts) * batch.mask


def update(
    model: Any,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    cfg: UpdateConfig,
    ref_model: Any | None = None,
    temperature: float = 1.0,
    old_from_current: bool = False,
) -> dict[str, float]:
    """Accumulate the gradient of the GRPO loss over micro-batches, clip it, step; return the statistics.

    temperature is the sampling temperature: log-probs are those of softmax(logits / temperature).
    old_from_current takes the old policy's log-probs from this forward (detached) instead of the batch:
    right for a single update per rollout batch when the sampler's numbers differ from the trainer's (a
    bf16 sampler), as the sampler's log-probs would then put rounding noise into the ratio.
    """
    reduce = aggregate.get(cfg.aggregation)
    model.train()
    # Dropped, not zeroed: the first micro-batch's gradients are then taken as they are (no fill, no add);
    # with glibc keeping freed memory (keep_freed_memory) their allocation reuses last step's pages.
    optimizer.zero_grad(set_to_none=True)
    sums = {"loss": 0.0, "clipped": 0.0, "kl": 0.0, "entropy": 0.0, "ratio_max": 0.0, "ratio_mean": 0.0}
    tokens = float(batch.mask.sum())
    for start in range(0, batch.rows, cfg.micro_rows):
        micro = batch.select(slice(start, start + cfg.micro_rows))
        if float(micro.mask.sum()) == 0:
            continue
        with precision(cfg, micro.input_ids.device):
            logp, entropy = policy_logprobs(model, micro, temperature, cfg.packing)
            ref_logp = None
            if cfg.beta > 0:
                if ref_model is None:
                    raise ValueError("beta > 0 needs a reference model")
                with torch.no_grad():
                    ref_logp = policy_logprobs(ref_model, micro, temperature, cfg.packing)[0]
        per_token, stats = grpo_token_loss(
            logp,
            logp.detach() if old_from_current else micro.old_logp,
            micro.adv,
            eps_low=cfg.eps_low,
            eps_high=cfg.eps_high,
            dual_clip=cfg.dual_clip,
            ref_logp=ref_logp,
            beta=cfg.beta,
            kl_estimator=cfg.kl_estimator,
        )
        loss = reduce(per_token, micro.mask, cfg.max_tokens) * micro_weight(cfg.aggregation, micro.mask, batch.mask)
        loss.backward()
        sums["loss"] += float(loss.detach())
        mask = micro.mask
        sums["clipped"] += float((stats["clipped"] * mask).sum())
        sums["kl"] += float((stats["kl"] * mask).sum()) if "kl" in stats else 0.0
        sums["entropy"] += float((entropy * mask).sum())
        sums["ratio_mean"] += float((stats["ratio"] * mask).sum())
        sums["ratio_max"] = max(sums["ratio_max"], float((stats["ratio"] * mask).max()))
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # freed now: evaluation and sampling reuse the memory
    model.eval()
    per_token = {k: sums[k] / max(tokens, 1.0) for k in ("clipped", "kl", "entropy", "ratio_mean")}
    return {
        "loss": sums["loss"],
        "grad_norm": float(grad_norm),
        "ratio_max": sums["ratio_max"],
        "clip_fraction": per_token["clipped"],
        "kl": per_token["kl"],
        "entropy": per_token["entropy"],
        "ratio_mean": per_token["ratio_mean"],
    }


def update_passes(
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batch: RolloutBatch,
    cfg: UpdateConfig,
    *,
    mu: int,
    minibatches: int,
    seed: int,
    step: int,
    ref_model: Any | None = None,
    temperature: float = 1.0,
    old_from_current: bool = False,
) -> dict[str, float]:
    """DeepSeekMath's mu passes over one rollout batch, each in `minibatches` optimiser steps over a shuffle
    of its rows seeded by (seed, step, pass); the scheduler steps with the optimiser. The mean of each
    statistic of `update`."""
    stats: list[dict[str, float]] = []
    for epoch in range(mu):
        generator = torch.Generator().manual_seed(row_seed(seed, step, epoch))
        order = torch.randperm(batch.rows, generator=generator)
        for part in order.chunk(minibatches):
            rows = batch.select(part.sort().values)
            stats.append(update(model, optimizer, rows, cfg, ref_model, temperature, old_from_current=old_from_current))
            scheduler.step()
    return {k: sum(s[k] for s in stats) / len(stats) for k in stats[0]}
