"""A frozen copy of the policy in another dtype for sampling (bf16: half the weight traffic of fp32
decoding), refreshed from the policy after every update."""

from __future__ import annotations

from copy import deepcopy

import torch

from aha.devices import resolve_dtype


def sampler_copy(model: torch.nn.Module, dtype: str | None) -> torch.nn.Module | None:
    """A frozen copy of the policy in `dtype` for sampling, or None when that is the policy's own dtype."""
    if dtype is None or resolve_dtype(dtype, model.device) == model.dtype:
        return None
    copy = deepcopy(model).to(resolve_dtype(dtype, model.device)).eval()
    copy.requires_grad_(False)
    return copy


@torch.no_grad()
def sync_sampler(sampler: torch.nn.Module, model: torch.nn.Module) -> None:
    """Copy the policy's weights into the sampler's (cast to its dtype)."""
    for target, source in zip(sampler.parameters(), model.parameters(), strict=True):
        target.copy_(source)
