"""Log-probs and entropies: the chunked vocabulary projection and the one that keeps its log-softmax equal the
plain one, gradient included."""

from __future__ import annotations

import pytest
import torch

from aha.algo.logprobs import kept_linear_logprobs, linear_logprobs, token_entropy, token_logprobs


def _reference(hidden, weight, targets, temperature):
    logits = hidden @ weight.T
    return token_logprobs(logits, targets, temperature), token_entropy(logits, temperature)


@pytest.mark.parametrize(("temperature", "chunk"), [(1.0, 4), (0.6, 128), (1.3, 3)])
def test_linear_logprobs_equal_the_logits_path_with_gradient(temperature, chunk):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(10, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (10,), generator=generator)
    upstream = torch.randn(10, generator=generator, dtype=torch.float64)

    logp, entropy = linear_logprobs(hidden, weight, targets, temperature, chunk)
    (logp.double() * upstream).sum().backward()
    ours = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref_logp, ref_entropy = _reference(hidden, weight, targets, temperature)
    (ref_logp.double() * upstream).sum().backward()

    assert torch.allclose(logp, ref_logp, atol=1e-5) and torch.allclose(entropy, ref_entropy, atol=1e-5)
    assert torch.allclose(ours[0], hidden.grad, atol=1e-5) and torch.allclose(ours[1], weight.grad, atol=1e-5)
    assert not entropy.requires_grad


def test_gradcheck_in_double_precision():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(7, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 6, 3, 3, 1])
    # forward runs in fp32 internally (as the training pass does), hence the loose tolerance
    assert torch.autograd.gradcheck(
        lambda h, w: linear_logprobs(h, w, targets, 0.8, 2)[0], (hidden, weight), eps=1e-3, atol=1e-3, rtol=1e-2
    )


def test_logprobs_are_log_probabilities():
    generator = torch.Generator().manual_seed(2)
    hidden, weight = torch.randn(3, 8, generator=generator), torch.randn(6, 8, generator=generator)
    every = torch.stack([linear_logprobs(hidden, weight, torch.full((3,), v))[0] for v in range(6)], -1)
    assert torch.allclose(every.exp().sum(-1), torch.ones(3), atol=1e-5)
    entropy = linear_logprobs(hidden, weight, torch.zeros(3, dtype=torch.long))[1]
    assert torch.allclose(entropy, -(every.exp() * every).sum(-1), atol=1e-5)


def test_kept_linear_logprobs_equal_the_logits_path_with_gradient():
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(10, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (10,), generator=generator)
    targets[3] = targets[4]  # a repeated target: its gradient adds up
    upstream = torch.randn(10, generator=generator, dtype=torch.float64)

    logp = kept_linear_logprobs(hidden, weight, targets)
    (logp.double() * upstream).sum().backward()
    ours = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref_logp, _ = _reference(hidden, weight, targets, 1.0)
    (ref_logp.double() * upstream).sum().backward()

    assert torch.allclose(logp, ref_logp, atol=1e-5)
    assert torch.allclose(ours[0], hidden.grad, atol=1e-5) and torch.allclose(ours[1], weight.grad, atol=1e-5)


def test_kept_linear_logprobs_refuse_a_second_backward():
    """The backward pass reuses the kept log-softmax in place: a second pass over the graph is an error, not
    a wrong gradient."""
    hidden = torch.randn(3, 4, requires_grad=True)
    logp = kept_linear_logprobs(hidden, torch.randn(6, 4), torch.tensor([0, 5, 2]))
    logp.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        logp.sum().backward()
