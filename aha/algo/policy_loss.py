"""Per-token clipped surrogate losses (PPO-style) for GRPO and its variants.

Each loss takes logp, old_logp [B,T] (log-probs of the sampled tokens under the policy being trained and
under the policy that sampled them), adv [B] (one advantage per sequence) and the clip settings, and
returns the per-token loss [B,T] (to be minimised) and the per-token clip indicator [B,T]. Reduction to a
scalar is `aha.algo.aggregate`'s job.
"""

from __future__ import annotations

import torch


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) per token, rho = exp(logp - old_logp).

    DeepSeek-R1 eq. 1 with eps_low = eps_high; DAPO's clip-higher raises eps_high (0.28 in the paper).
    dual_clip = c > 1 (Ye et al. 2020) also bounds the loss of negative-advantage tokens by -c A, so a huge
    ratio on a bad token cannot dominate the update. Returns (loss [B,T], clipped [B,T] bool), where
    clipped marks tokens whose gradient the clip removed.
    """
    adv = adv.unsqueeze(-1)  # [B,1]
    ratio = torch.exp(logp - old_logp)  # [B,T]
    unclipped = ratio * adv
    clipped_ratio = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    surrogate = torch.minimum(unclipped, clipped_ratio * adv)  # [B,T]
    clipped = clipped_ratio * adv < unclipped
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip={dual_clip} must be > 1")
        floor = dual_clip * adv
        dual = (adv < 0) & (surrogate < floor)
        surrogate = torch.where(dual, floor, surrogate)
        clipped = clipped | dual
    return -surrogate, clipped
