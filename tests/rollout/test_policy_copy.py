"""The sampler's copy of the policy: another dtype, frozen, and equal to the policy after a sync."""

from __future__ import annotations

import torch

from aha.rollout.policy_copy import sampler_copy, sync_sampler


class Policy(torch.nn.Linear):
    """A stand-in with the device and dtype properties aha's models have."""

    @property
    def device(self) -> torch.device:
        return self.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype


def test_a_copy_in_another_dtype_follows_the_policy():
    policy = Policy(8, 4)
    assert sampler_copy(policy, None) is None and sampler_copy(policy, "float32") is None
    copy = sampler_copy(policy, "bfloat16")
    assert copy.weight.dtype == torch.bfloat16 and not copy.weight.requires_grad
    with torch.no_grad():
        policy.weight.add_(1.0)
    assert not torch.equal(copy.weight.float(), policy.weight.to(torch.bfloat16).float())
    sync_sampler(copy, policy)
    assert torch.equal(copy.weight, policy.weight.to(torch.bfloat16))
