"""The metrics.jsonl record of a rollout step: rewards (total and each component, unweighted), accuracy,
format, lengths, health signals, the update's statistics and timing."""

from __future__ import annotations

import math
from typing import Any

import torch

from aha.algo.advantages import zero_variance_groups
from aha.run.scoring import Scored
from aha.track.health import repetition_share
from aha.track.reflection import reflection_rate


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def rollout_metrics(
    step: int,
    groups: list[Scored],
    sampled: list[Scored],
    train: dict[str, float],
    timing: dict[str, Any],
    lr: float,
    reflection_words: tuple[str, ...],
) -> dict[str, Any]:
    """One record: `groups` trained on, every group `sampled` (more with dynamic sampling)."""
    rewards = [r for g in sampled for r in g.rewards]
    completions = [c for g in sampled for c in g.completions]
    lengths = [len(c.token_ids) for c in completions]
    components: dict[str, list[float]] = {}
    unchecked = 0  # reward values a verifier could not decide (time limit, internal error, bad reference)
    for g in sampled:
        for parts in g.components:
            for name, value in parts.items():
                if value is not None:
                    components.setdefault(name, []).append(value)
                else:
                    unchecked += 1
    mean = sum(rewards) / len(rewards)
    zero_var = zero_variance_groups(torch.tensor([g.rewards for g in sampled])) if sampled else torch.zeros(0)
    total_time = timing["sampling"] + timing["scoring"] + timing["training"]
    return {
        "step": step,
        "reward_mean": mean,
        "reward_std": math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards)),
        **{f"reward/{name}": sum(v) / len(v) for name, v in components.items()},
        "accuracy": _mean([a for g in sampled for a in g.accuracy if a is not None]),
        "rewards_unchecked": unchecked,
        "format_rate": sum(f for g in sampled for f in g.formatted) / len(completions),
        "length_mean": sum(lengths) / len(lengths),
        "length_max": max(lengths),
        "truncated_share": sum(c.finish_reason == "length" for c in completions) / len(completions),
        "zero_variance_share": float(zero_var.float().mean()) if len(zero_var) else 0.0,
        "groups_trained": len(groups),
        "groups_sampled": len(sampled),
        "sampling_rounds": timing["rounds"],
        "reflection_rate": reflection_rate([c.text for c in completions], reflection_words),
        "repetition_share": repetition_share([c.text for c in completions]),
        **train,
        "lr": lr,
        "time_sampling": round(timing["sampling"], 3),
        "time_scoring": round(timing["scoring"], 3),
        "time_training": round(timing["training"], 3),
        "tokens_per_s": sum(lengths) / total_time if total_time > 0 else 0.0,
    }
