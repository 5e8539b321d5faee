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

from aha import dist
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


def micro_weight(name: str, micro_mask: torch.Tensor, tokens: float, rows: float) -> float:
    """Share of a micro-batch in the aggregation's unit over the whole (global) mini-batch of `tokens`
    completion tokens in `rows` rows: tokens for token_mean, sequences otherwise."""
    if name == "token_mean":
        return float(micro_mask.sum()) / max(tokens, 1.0)
    return micro_mask.shape[0] / rows


def null_micro(batch: RolloutBatch) -> RolloutBatch:
    """A one-row micro-batch whose loss is multiplied by 0: a rank with fewer micro-batches than another takes
    it so that every rank runs as many forwards and backwards (their collectives pair up)."""
    mask = torch.zeros_like(batch.mask[:1])
    mask[:, :1] = 1.0
    attention = batch.attention_mask[:1].clone()
    attention[:, batch.prompt_width] = True
    sampler = None if batch.sampler_logp is None else batch.sampler_logp[:1]
    null = RolloutBatch(batch.input_ids[:1], attention, mask, batch.old_logp[:1], batch.adv[:1] * 0,
                        batch.prompt_width, batch.prefix, sampler)  # fmt: skip
    return null.select(slice(0, 1))


def micro_batches(batch: RolloutBatch, rows: int, empty: bool = False) -> list[tuple[RolloutBatch, bool]]:
    """The batch in micro-batches of `rows` rows, as (micro-batch, counts): those without completion tokens
    are left out (all of them when `empty`), and under several ranks null ones (counts False) are added until
    every rank has as many."""
    micros = [] if empty else [batch.select(slice(s, s + rows)) for s in range(0, batch.rows, rows)]
    found = [(m, True) for m in micros if float(m.mask.sum()) > 0]
    if dist.world().size > 1:
        found += [(null_micro(batch), False)] * (dist.pad_turns(len(found)) - len(found))
    return found


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
    if dist.world().size > 1:  # as many forwards on every rank: a sharded model gathers its weights in each
        for _ in range(dist.pad_turns(len(parts)) - len(parts)):
            with precision(cfg, batch.input_ids.device):
                policy_logprobs(model, null_micro(batch), temperature, cfg.packing)
    return torch.cat(parts) * batch.mask


def update(
    model: Any,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    cfg: UpdateConfig,
    ref_model: Any | None = None,
    temperature: float = 1.0,
    old_from_current: bool = False,
    empty: bool = False,
    tis_cap: float = 0.0,
) -> dict[str, float]:
    """Accumulate the gradient of the GRPO loss over micro-batches, clip it, step; return the statistics.

    temperature is the sampling temperature: log-probs are those of softmax(logits / temperature).
    old_from_current takes the old policy's log-probs from this forward (detached) instead of the batch:
    right for a single update per rollout batch when the sampler's numbers differ from the trainer's (a
    bf16 sampler), as the sampler's log-probs would then put rounding noise into the ratio.
    empty: this rank has no rows in the mini-batch (under several ranks; `batch` is then only a shape for
    the null micro-batches that keep it in step with the others).
    tis_cap > 0 with a batch that carries another sampler's log-probs (`sampler_logp`): truncated importance
    sampling, each token's loss weighted by min(pi_old / pi_sampler, tis_cap), pi_old the trainer's numbers.
    """
    reduce = aggregate.get(cfg.aggregation)
    model.train()
    # Dropped, not zeroed: the first micro-batch's gradients are then taken as they are (no fill, no add);
    # with glibc keeping freed memory (keep_freed_memory) their allocation reuses last step's pages.
    optimizer.zero_grad(set_to_none=True)
    sums = {"loss": 0.0, "clipped": 0.0, "kl": 0.0, "entropy": 0.0, "ratio_mean": 0.0, "tokens": 0.0,
            "tis": 0.0, "tis_capped": 0.0, "sampler_gap": 0.0}  # fmt: skip
    corrected = tis_cap > 0 and batch.sampler_logp is not None
    tokens, rows = (0.0, 0.0) if empty else (float(batch.mask.sum()), float(batch.rows))
    if dist.world().size > 1:  # the aggregation's unit counts the whole mini-batch, every rank's rows
        tokens, rows = dist.all_reduce([tokens, rows])
    scale = dist.loss_scale()
    micros = micro_batches(batch, cfg.micro_rows, empty)
    ratio_max = 0.0
    for turn, (micro, counts) in enumerate(micros):
        with precision(cfg, micro.input_ids.device), dist.accumulating(model, last=turn == len(micros) - 1):
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
            if corrected:  # the sampler is not the trainer: weight by their ratio, truncated
                old = logp.detach() if old_from_current else micro.old_logp
                raw = torch.exp(old.float() - micro.sampler_logp)
                tis = raw.clamp(max=tis_cap)
                per_token = per_token * tis
            share = micro_weight(cfg.aggregation, micro.mask, tokens, rows)
            loss = reduce(per_token, micro.mask, cfg.max_tokens) * share
            (loss * (scale if counts else 0.0)).backward()
        if not counts:
            continue
        sums["loss"] += float(loss.detach())
        mask = micro.mask
        sums["tokens"] += float(mask.sum())
        sums["clipped"] += float((stats["clipped"] * mask).sum())
        sums["kl"] += float((stats["kl"] * mask).sum()) if "kl" in stats else 0.0
        sums["entropy"] += float((entropy * mask).sum())
        sums["ratio_mean"] += float((stats["ratio"] * mask).sum())
        if corrected:
            sums["tis"] += float((tis * mask).sum())
            sums["tis_capped"] += float(((raw > tis_cap).float() * mask).sum())
            sums["sampler_gap"] += float(((old.float() - micro.sampler_logp).abs() * mask).sum())
        ratio_max = max(ratio_max, float((stats["ratio"] * mask).max()))
    grad_norm = dist.full(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # freed now: evaluation and sampling reuse the memory
    model.eval()
    if dist.world().size > 1:  # the statistics of the global mini-batch
        sums = dict(zip(sums, dist.all_reduce(list(sums.values())), strict=True))
        ratio_max = dist.all_reduce([ratio_max], "max")[0]
    names = ("clipped", "kl", "entropy", "ratio_mean", "tis", "tis_capped", "sampler_gap")
    per_token = {k: sums[k] / max(sums["tokens"], 1.0) for k in names}
    found = {
        "loss": sums["loss"],
        "grad_norm": float(grad_norm),
        "ratio_max": ratio_max,
        "clip_fraction": per_token["clipped"],
        "kl": per_token["kl"],
        "entropy": per_token["entropy"],
        "ratio_mean": per_token["ratio_mean"],
    }
    if corrected:  # the mean weight, the share of tokens capped, the mean |log pi_trainer - log pi_sampler|
        found |= {"tis_mean": per_token["tis"], "tis_capped": per_token["tis_capped"],
                  "sampler_logp_gap": per_token["sampler_gap"]}  # fmt: skip
    return found


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
    empty: bool = False,
    tis_cap: float = 0.0,
) -> dict[str, float]:
    """DeepSeekMath's mu passes over one rollout batch, each in `minibatches` optimiser steps over a shuffle
    of its rows seeded by (seed, step, pass); the scheduler steps with the optimiser. The mean of each
    statistic of `update`.

    Under several ranks each rank shuffles and splits its own rows, so a mini-batch is every rank's part i;
    every rank takes exactly `minibatches` optimiser steps, with an empty part where it has too few rows
    (`empty`: none at all this step)."""
    stats: list[dict[str, float]] = []
    several = dist.world().size > 1
    for epoch in range(mu):
        generator = torch.Generator().manual_seed(row_seed(seed, step, epoch))
        order = torch.randperm(batch.rows, generator=generator)
        parts = order.tensor_split(minibatches) if several else order.chunk(minibatches)
        for part in parts:
            none = empty or part.numel() == 0
            rows = batch.select(order[:1] if none else part.sort().values)
            stats.append(update(model, optimizer, rows, cfg, ref_model, temperature,
                                old_from_current=old_from_current, empty=none, tis_cap=tis_cap))  # fmt: skip
            scheduler.step()
    return {k: sum(s[k] for s in stats) / len(stats) for k in stats[0]}
