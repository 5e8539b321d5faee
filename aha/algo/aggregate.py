"""Reductions of per-token losses [B,T] to one scalar; where the length normalisation sits is the choice.

Each takes values [B,T], mask [B,T] (1 on completion tokens) and max_tokens (the constant normaliser of
Dr.GRPO; the others ignore it) and returns a scalar. B sequences, T tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aha.registry import Registry

AggregateFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def seq_mean_token_mean(values: torch.Tensor, mask: torch.Tensor, max_tokens: int = 0) -> torch.Tensor:
    """(1/B) sum_i (1/|o_i|) sum_t x_it: GRPO as in DeepSeekMath eq. 3 and DeepSeek-R1 eq. 1.

    Long completions weigh less per token, which biases toward long wrong answers (Dr.GRPO sec. 3.1).
    """
    mask = mask.to(values.dtype)
    per_sequence = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # [B]
    return per_sequence.mean()


def token_mean(values: torch.Tensor, mask: torch.Tensor, max_tokens: int = 0) -> torch.Tensor:
    """sum_it x_it / sum_it m_it over the whole batch: DAPO (Yu et al. 2025) eq. 8, token-level loss."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def seq_mean_token_sum_norm(values: torch.Tensor, mask: torch.Tensor, max_tokens: int) -> torch.Tensor:
    """(1/B) sum_it x_it / max_tokens: Dr.GRPO's constant normaliser, free of the length bias."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens} must be >= 1 for seq_mean_token_sum_norm")
    mask = mask.to(values.dtype)
    return (values * mask).sum() / (values.shape[0] * max_tokens)


AGGREGATIONS: Registry[AggregateFn] = Registry("loss aggregation")
for _fn in (seq_mean_token_mean, token_mean, seq_mean_token_sum_norm):
    AGGREGATIONS.register(_fn.__name__)(_fn)
get = AGGREGATIONS.get
