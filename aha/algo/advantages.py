"""Group-relative advantages (no value network).

Each estimator maps rewards [P,G] (G samples of each of P prompts) to advantages [P,G] and is registered
by name; a recipe picks one. Shapes: P prompts, G samples per prompt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aha.registry import Registry

AdvantageFn = Callable[[torch.Tensor, float], torch.Tensor]
ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator")
register, get = ADVANTAGES.register, ADVANTAGES.get


def _centered(reward: torch.Tensor) -> torch.Tensor:
    return reward - reward.mean(dim=1, keepdim=True)  # [P,G]


@register("group")
def group_normalized(reward: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """A_i = (r_i - mean(r)) / (std(r) + eps) within each group: DeepSeekMath eq. 4 / DeepSeek-R1 eq. 3.

    reward [P,G] -> [P,G]. std is the sample standard deviation (Bessel-corrected, as TRL and verl compute
    it); a group of one sample, or of equal rewards, gets zero advantage.
    """
    if reward.shape[1] < 2:
        return torch.zeros_like(reward)
    return _centered(reward) / (reward.std(dim=1, keepdim=True) + eps)


@register("batch_std")
def batch_normalized(reward: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Group-centred, scaled by the standard deviation of all B rewards (TRL's scale_rewards="batch").

    reward [P,G] -> [P,G]. Keeps easy and hard prompts on one scale instead of inflating near-solved groups.
    """
    if reward.numel() < 2:
        return torch.zeros_like(reward)
    return _centered(reward) / (reward.std() + eps)


@register("none")
def centered(reward: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Dr.GRPO (Liu et al. 2025, "Understanding R1-Zero-like training"): r_i - mean(r), no std division.

    reward [P,G] -> [P,G]; eps is unused and kept for the shared signature.
    """
    return _centered(reward)


def zero_variance_groups(reward: torch.Tensor) -> torch.Tensor:
    """[P] bool: groups whose rewards are all equal, which give no learning signal."""
    return (reward == reward[:, :1]).all(dim=1)
