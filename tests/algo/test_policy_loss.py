"""Clipped surrogate, KL estimators and aggregations against hand-computed values; gradient properties."""

from __future__ import annotations

import math

import pytest
import torch

from aha.algo import aggregate, kl
from aha.algo.logprobs import token_entropy, token_logprobs
from aha.algo.policy_loss import clipped_surrogate


def test_clip_hand_computed():
    logp = torch.log(torch.tensor([[1.5, 1.5, 0.5, 1.1]]))
    adv = torch.tensor([1.0])
    loss, clipped = clipped_surrogate(logp, torch.zeros_like(logp), adv, eps_low=0.2, eps_high=0.2)
    # ratios 1.5, 1.5, 0.5, 1.1 with A = +1: min(r, clip(r)) = 1.2, 1.2, 0.5, 1.1
    assert torch.allclose(loss, -torch.tensor([[1.2, 1.2, 0.5, 1.1]]))
    assert clipped.tolist() == [[True, True, False, False]]
    loss, clipped = clipped_surrogate(logp, torch.zeros_like(logp), -adv, eps_low=0.2, eps_high=0.2)
    # A = -1: min(-r, -clip(r)) = -1.5, -1.5, -0.8, -1.1
    assert torch.allclose(loss, torch.tensor([[1.5, 1.5, 0.8, 1.1]]))
    assert clipped.tolist() == [[False, False, True, False]]


def test_clip_higher_is_asymmetric():
    logp = torch.log(torch.tensor([[1.25, 0.75]]))
    loss, _ = clipped_surrogate(logp, torch.zeros_like(logp), torch.tensor([1.0]), eps_low=0.2, eps_high=0.28)
    assert torch.allclose(loss, -torch.tensor([[1.25, 0.75]]))  # 1.25 < 1.28: not clipped


def test_dual_clip_bounds_negative_advantage_loss():
    logp = torch.log(torch.tensor([[5.0, 1.5]]))
    loss, clipped = clipped_surrogate(logp, torch.zeros_like(logp), torch.tensor([-1.0]), dual_clip=3.0)
    assert torch.allclose(loss, torch.tensor([[3.0, 1.5]])) and clipped.tolist() == [[True, False]]
    with pytest.raises(ValueError, match="dual_clip"):
        clipped_surrogate(logp, logp, torch.tensor([1.0]), dual_clip=0.5)


def test_kl_estimators_hand_computed():
    logp, ref = torch.tensor([[math.log(0.5)]]), torch.tensor([[math.log(0.25)]])
    assert kl.k1(logp, ref).item() == pytest.approx(math.log(2))
    assert kl.k2(logp, ref).item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl.k3(logp, ref).item() == pytest.approx(0.5 - 1 + math.log(2))


def test_kl_estimators_are_unbiased_where_claimed():
    """Sampling x ~ p, the means of k1 and k3 estimate KL(p||q); k3 is never negative."""
    p, q = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.2, 0.5, 0.3])
    exact = (p * (p / q).log()).sum().item()
    x = torch.multinomial(p, 200000, replacement=True, generator=torch.Generator().manual_seed(0))
    logp, ref = p.log()[x][None], q.log()[x][None]
    assert kl.k1(logp, ref).mean().item() == pytest.approx(exact, abs=0.01)
    assert kl.k3(logp, ref).mean().item() == pytest.approx(exact, abs=0.01)
    assert (kl.k3(logp, ref) >= 0).all()


VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 0, 0]])


def test_aggregations_hand_computed():
    assert aggregate.seq_mean_token_mean(VALUES, MASK).item() == pytest.approx((6 / 3 + 4 / 1) / 2)
    assert aggregate.token_mean(VALUES, MASK).item() == pytest.approx(10 / 4)
    assert aggregate.seq_mean_token_sum_norm(VALUES, MASK, 3).item() == pytest.approx(10 / (2 * 3))
    with pytest.raises(ValueError, match="max_tokens"):
        aggregate.seq_mean_token_sum_norm(VALUES, MASK, 0)


def _logits_and_targets(seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 6, 11, generator=generator, requires_grad=True)
    targets = torch.randint(0, 11, (4, 6), generator=generator)
    return logits, targets


@pytest.mark.parametrize("name", sorted(aggregate.AGGREGATIONS))
def test_at_ratio_one_the_gradient_is_the_policy_gradient(name):
    reduce = aggregate.get(name)
    adv = torch.tensor([1.0, -0.5, 2.0, 0.0])
    mask = torch.ones(4, 6)
    mask[1, 4:] = 0
    grads = []
    for surrogate in (True, False):
        logits, targets = _logits_and_targets()
        logp = token_logprobs(logits, targets)
        per_token = clipped_surrogate(logp, logp.detach(), adv)[0] if surrogate else -adv[:, None] * logp
        reduce(per_token, mask, 6).backward()
        grads.append(logits.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_equal_rewards_give_zero_gradient():
    logits, targets = _logits_and_targets()
    logp = token_logprobs(logits, targets)
    loss, _ = clipped_surrogate(logp, logp.detach() + 0.1, torch.zeros(4))
    aggregate.token_mean(loss, torch.ones(4, 6)).backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_chunked_logprobs_and_entropy_equal_the_direct_computation():
    logits, targets = _logits_and_targets(1)
    direct = torch.log_softmax(logits / 0.7, -1).gather(-1, targets[..., None]).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, targets, 0.7, chunk=5), direct, atol=1e-6)
    logp = torch.log_softmax(logits, -1)
    assert torch.allclose(token_entropy(logits, chunk=7), -(logp.exp() * logp).sum(-1), atol=1e-6)
