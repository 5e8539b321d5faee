"""The GRPO objective per token: clipped surrogate plus beta times a KL estimate (DeepSeek-R1 eq. 1).

Shapes: B sequences, T completion tokens.
"""

from __future__ import annotations

import torch

from aha.algo import kl as kl_estimators
from aha.algo.policy_loss import clipped_surrogate


def grpo_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    *,
    eps_low: float,
    eps_high: float,
    dual_clip: float | None = None,
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.0,
    kl_estimator: str = "k3",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token loss [B,T] and per-token statistics {"clipped", "kl", "ratio"} [B,T] (no grad).

    logp [B,T] carries the gradient; old_logp [B,T] comes from the sampling policy; adv [B]; ref_logp [B,T]
    from the frozen reference, needed only when beta > 0.
    """
    loss, clipped = clipped_surrogate(logp, old_logp, adv, eps_low=eps_low, eps_high=eps_high, dual_clip=dual_clip)
    stats = {"clipped": clipped.float(), "ratio": torch.exp(logp - old_logp).detach()}
    if beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs ref_logp")
        kl = kl_estimators.get(kl_estimator)(logp, ref_logp)
        loss = loss + beta * kl
        stats["kl"] = kl.detach()
    return loss, stats
