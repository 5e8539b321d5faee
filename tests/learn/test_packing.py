"""Packed training forward: the layout by hand, and log-probs and gradients equal to the padded forward."""

from __future__ import annotations

import pytest
import torch

from aha.learn.batch import build_batch
from aha.learn.packing import pack_rows, rows_of, unpack
from aha.learn.step import UpdateConfig, packed_logprobs, padded_logprobs, update
from aha.models import load


def test_layout_by_hand():
    packed = pack_rows([[1, 2], [1, 2], [3]], [[7, 8], [9], [4, 5, 6]], width=3, offset=10)
    assert packed.tokens.tolist() == [1, 2, 7, 8, 9, 3, 4, 5, 6]  # the shared prompt [1, 2] appears once
    assert packed.positions.tolist() == [10, 11, 12, 13, 12, 10, 11, 12, 13]
    assert packed.predict.tolist() == [1, 2, 1, 5, 6, 7]  # the prompt's last token predicts each first token
    assert packed.targets.tolist() == [7, 8, 9, 4, 5, 6]
    assert packed.row.tolist() == [0, 0, 1, 2, 2, 2] and packed.col.tolist() == [0, 1, 0, 0, 1, 2]
    m = packed.dense_mask().int().tolist()
    assert m[4] == [1, 1, 0, 0, 1, 0, 0, 0, 0]  # token 9 sees its prompt and itself, not the other completion
    assert m[3] == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert m[8] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert m[1] == [1, 1, 0, 0, 0, 0, 0, 0, 0]
    # prompt [1, 2] causal 3; [7, 8]: 2 x 2 prompt + 3; [9]: 2 + 1; prompt [3]: 1; [4, 5, 6]: 3 x 1 + 6
    assert packed.attended_pairs() == 3 + (4 + 3) + (2 + 1) + 1 + (3 + 6) == 23
    assert packed.attended_pairs(4) == 23 + 4 * 9  # every token also sees a 4-token prefix
    out = unpack(torch.arange(1.0, 7.0), packed)
    assert out.tolist() == [[1.0, 2.0, 0.0], [3.0, 0.0, 0.0], [4.0, 5.0, 6.0]]


def test_empty_completions_are_left_out():
    packed = pack_rows([[1, 2], [3, 4]], [[], [5]], width=1)
    assert packed.tokens.tolist() == [3, 4, 5] and packed.row.tolist() == [1]


def _grouped_batch(shared_prefix: bool):
    generator = torch.Generator().manual_seed(0)
    head = torch.randint(3, 300, (9,), generator=generator).tolist() if shared_prefix else []
    questions = [torch.randint(3, 300, (n,), generator=generator).tolist() for n in (4, 7)]
    prompts = [head + questions[row // 3] for row in range(6)]  # two groups of three
    completions = [torch.randint(3, 300, (n,), generator=generator).tolist() for n in (5, 1, 3, 6, 2, 4)]
    old = [[-1.0] * len(c) for c in completions]
    return build_batch(prompts, completions, old, [1.0, -1.0, 0.5, -0.5, 0.25, 2.0], pad_id=2)


def test_rows_of_recovers_the_rows():
    batch = _grouped_batch(shared_prefix=False)
    prompts, completions = rows_of(batch.input_ids, batch.attention_mask, batch.mask, batch.prompt_width)
    assert [len(p) for p in prompts] == [4, 4, 4, 7, 7, 7] and [len(c) for c in completions] == [5, 1, 3, 6, 2, 4]


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_packed_logprobs_and_gradient_equal_the_padded_forward(tiny_llama_dir, shared_prefix):
    batch = _grouped_batch(shared_prefix)
    assert (batch.prefix is not None) == shared_prefix
    loaded = load(tiny_llama_dir)
    results = []
    for fn in (padded_logprobs, packed_logprobs):
        loaded.model.zero_grad()
        logp, entropy = fn(loaded.model, batch, 0.7)
        (logp * batch.mask * torch.linspace(-1, 1, logp.numel()).view_as(logp)).sum().backward()
        grads = {n: p.grad.clone() for n, p in loaded.model.named_parameters()}
        results.append((logp * batch.mask, entropy * batch.mask, grads))
    (a_logp, a_ent, a_grad), (b_logp, b_ent, b_grad) = results
    assert torch.allclose(a_logp, b_logp, atol=1e-5)
    assert torch.allclose(a_ent, b_ent, atol=1e-5)
    for name, grad in a_grad.items():
        assert torch.allclose(grad, b_grad[name], atol=1e-6, rtol=1e-4), name


def test_packed_update_takes_the_padded_update_step(tiny_llama_dir):
    batch = _grouped_batch(shared_prefix=True)
    weights = []
    for packing in (False, True):
        loaded = load(tiny_llama_dir)
        optimizer = torch.optim.SGD(loaded.model.parameters(), lr=1.0)
        update(loaded.model, optimizer, batch, UpdateConfig(packing=packing, micro_rows=3, max_grad_norm=1e9))
        weights.append({n: p.detach().clone() for n, p in loaded.model.named_parameters()})
    for name, value in weights[0].items():
        assert torch.allclose(value, weights[1][name], atol=1e-6, rtol=1e-4), name
