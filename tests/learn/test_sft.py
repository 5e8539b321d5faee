"""The SFT update: packed log-likelihood and its gradient equal each example's own forward (fp32, 1e-5), a
shared opening computed once included, untrained tokens take no part, micro-batches accumulate to the full
batch's gradient."""

from __future__ import annotations

import pytest
import torch

from aha.data.sft import Example
from aha.learn.sft import bins, pack_examples, packed_length, sft_update, trained_logprobs
from aha.models import load


def example(tokens, trained, name="e"):
    return Example(name, tuple(tokens), tuple(trained), name)


@pytest.fixture(scope="module")
def model(tiny_llama_dir):
    return load(str(tiny_llama_dir)).model


@pytest.fixture(scope="module")
def examples():
    generator = torch.Generator().manual_seed(0)
    out = []
    for length, first_trained in ((12, 5), (7, 3), (20, 10), (9, 1)):
        tokens = torch.randint(5, 1000, (length,), generator=generator).tolist()
        out.append(example(tokens, [t >= first_trained for t in range(length)], f"e{length}"))
    return out


@pytest.fixture(scope="module")
def sharing():
    """Examples that open alike (as a chat template's system prompt makes them), then differ."""
    generator = torch.Generator().manual_seed(1)
    opening = torch.randint(5, 1000, (6,), generator=generator).tolist()
    out = []
    for length, first_trained in ((10, 3), (8, 2), (14, 6)):
        tokens = opening + torch.randint(5, 1000, (length,), generator=generator).tolist()
        trained = [t >= len(opening) + first_trained for t in range(len(tokens))]
        out.append(example(tokens, trained, f"s{length}"))
    return out


def grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_packed_loss_and_gradient_equal_each_examples_own_forward(model, examples):
    tokens = sum(e.trained_count for e in examples)
    model.zero_grad(set_to_none=True)
    packed = trained_logprobs(model, examples, packing=True)
    (-packed.sum() / tokens).backward()
    packed_grads = grads(model)
    model.zero_grad(set_to_none=True)
    alone = torch.cat([trained_logprobs(model, [e], packing=False) for e in examples])
    (-alone.sum() / tokens).backward()
    assert packed.shape == alone.shape == (tokens,)
    assert torch.allclose(packed, alone, atol=1e-5, rtol=0)
    for a, b in zip(packed_grads, grads(model), strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_a_shared_opening_is_computed_once_with_the_same_loss_and_gradient(model, sharing):
    packed = pack_examples(sharing)
    assert packed.prefix.tolist() == list(sharing[0].tokens[:6])  # the 6 shared tokens
    assert packed.tokens.numel() == sum(len(e.tokens) - 6 - 1 for e in sharing)  # the last tokens left out
    assert pack_examples(sharing[:1]).prefix.numel() == 0  # nothing to share
    twice = sharing[1:2] * 2  # the same example twice: shared up to the output predicting its first trained token
    assert pack_examples(twice).prefix.numel() == sharing[1].trained.index(True) - 1
    tokens = sum(e.trained_count for e in sharing)
    model.zero_grad(set_to_none=True)
    shared = trained_logprobs(model, sharing, packing=True)
    (-shared.sum() / tokens).backward()
    shared_grads = grads(model)
    model.zero_grad(set_to_none=True)
    alone = torch.cat([trained_logprobs(model, [e], packing=False) for e in sharing])
    (-alone.sum() / tokens).backward()
    assert torch.allclose(shared, alone, atol=1e-5, rtol=0)
    for a, b in zip(shared_grads, grads(model), strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_untrained_tokens_get_exactly_zero_gradient(model, examples):
    """In the padded forward every position's logits exist: those that predict no trained token get a
    gradient of exactly zero."""
    captured = {}
    forward = model.forward

    def keep_logits(*args, **kwargs):
        logits = forward(*args, **kwargs)
        logits.retain_grad()
        captured["logits"] = logits
        return logits

    model.forward = keep_logits
    try:
        model.zero_grad(set_to_none=True)
        (-trained_logprobs(model, examples, packing=False).sum()).backward()
    finally:
        del model.forward
    grad = captured["logits"].grad  # [B,L,V]
    for row, e in enumerate(examples):
        predicts = [t - 1 for t, trained in enumerate(e.trained) if trained]
        silent = [t for t in range(grad.shape[1]) if t not in predicts]
        assert torch.count_nonzero(grad[row, silent]) == 0
        assert all(torch.count_nonzero(grad[row, t]) > 0 for t in predicts)
    assert pack_examples(examples).targets.numel() == sum(e.trained_count for e in examples)


def test_micro_batches_accumulate_to_the_full_batch(model, examples):
    start = [p.detach().clone() for p in model.parameters()]

    def step(micro):
        with torch.no_grad():
            for p, s in zip(model.parameters(), start, strict=True):
                p.copy_(s)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        stats = sft_update(model, optimizer, micro, max_grad_norm=1e9)
        return stats, [p.detach().clone() for p in model.parameters()]

    whole, after_whole = step([examples])
    split, after_split = step([examples[:1], examples[1:3], examples[3:]])
    assert whole["loss"] == pytest.approx(split["loss"], abs=1e-6)
    assert whole["tokens"] == split["tokens"] == sum(e.trained_count for e in examples)
    for a, b in zip(after_whole, after_split, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_bins_keep_order_and_capacity():
    # nothing shared (every example trains from its second token): a sequence computes all but each last token
    items = [example([1] * n, [False] + [True] * (n - 1), str(n)) for n in (5, 4, 3, 9, 2)]
    assert [[e.id for e in group] for group in bins(items, 8)] == [["5", "4"], ["3"], ["9"], ["2"]]
    assert [[e.id for e in group] for group in bins(items, 9)] == [["5", "4", "3"], ["9", "2"]]
    assert [[e.id for e in group] for group in bins(items, 3)] == [["5"], ["4"], ["3"], ["9"], ["2"]]
    # a shared opening of 3 tokens counts once: 3 + (6 - 3 - 1) x 3 = 9
    opening = [example([7, 7, 7, n, n, n], [False] * 4 + [True] * 2, str(n)) for n in (1, 2, 3)]
    assert packed_length(opening) == 9 and len(bins(opening, 9)) == 1 and len(bins(opening, 8)) == 2


def test_past_the_keep_limit_the_projection_is_recomputed_with_the_same_result(model, sharing, monkeypatch):
    import aha.learn.sft

    kept = trained_logprobs(model, sharing)
    monkeypatch.setattr(aha.learn.sft, "KEEP_LIMIT", 0)
    assert torch.allclose(trained_logprobs(model, sharing), kept, atol=1e-5, rtol=0)
