"""Policy update: micro-batching changes nothing, and the trainer's log-probs equal the sampler's."""

from __future__ import annotations

import pytest
import torch

from aha.algo import aggregate
from aha.learn.batch import build_batch
from aha.learn.step import UpdateConfig, policy_logprobs, update
from aha.models import load
from aha.rollout.engine import Engine, common_prefix
from aha.types import SamplingParams


def _tiny_batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, 300, (n,), generator=generator).tolist() for n in (5, 9, 7, 5, 6, 8)]
    completions = [torch.randint(3, 300, (n,), generator=generator).tolist() for n in (4, 1, 6, 3, 6, 2)]
    old = [[-1.0 - 0.1 * i for i in range(len(c))] for c in completions]
    adv = [1.0, -1.0, 0.5, -0.5, 0.0, 2.0]
    return build_batch(prompts, completions, old, adv, pad_id=2)


def _gradient(tiny_llama_dir, cfg, batch):
    loaded = load(tiny_llama_dir)
    captured = {}
    optimizer = torch.optim.SGD(loaded.model.parameters(), lr=0.0)

    def keep(_):
        captured.update({n: p.grad.clone() for n, p in loaded.model.named_parameters()})

    optimizer.register_step_pre_hook(lambda opt, args, kwargs: keep(opt))
    update(loaded.model, optimizer, batch, cfg)
    return captured


@pytest.mark.parametrize("aggregation", sorted(aggregate.AGGREGATIONS))
def test_micro_batches_give_the_full_batch_gradient(tiny_llama_dir, aggregation):
    batch = _tiny_batch()
    base = dict(aggregation=aggregation, max_tokens=6, max_grad_norm=1e9)
    whole = _gradient(tiny_llama_dir, UpdateConfig(micro_rows=6, **base), batch)
    pieces = _gradient(tiny_llama_dir, UpdateConfig(micro_rows=2, **base), batch)
    for name, grad in whole.items():
        assert torch.allclose(grad, pieces[name], atol=1e-6, rtol=1e-4), name


def test_batch_select_trims_padding_without_changing_logprobs(tiny_llama_dir):
    loaded = load(tiny_llama_dir)
    batch = _tiny_batch()
    with torch.no_grad():
        full = policy_logprobs(loaded.model, batch, 1.0)[0]
        part = policy_logprobs(loaded.model, batch.select(slice(3, 5)), 1.0)[0]
    width = part.shape[1]
    assert torch.allclose(full[3:5, :width] * batch.mask[3:5, :width], part * batch.mask[3:5, :width], atol=1e-5)


def test_trainer_logprobs_equal_sampler_logprobs_on_the_real_model(smollm, chat_prompts):
    """With mu = 1 the sampler's log-probs stand in for the old policy's: the ratio must start at 1."""
    engine = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids)
    groups = engine.generate(chat_prompts, SamplingParams(n=3, temperature=0.8, max_new_tokens=24, seed=2))
    completions = [c for g in groups for c in g]
    prompts = [chat_prompts[c.prompt_index] for c in completions]
    batch = build_batch(
        prompts,
        [c.token_ids for c in completions],
        [c.logprobs for c in completions],
        [0.0] * len(completions),
        pad_id=2,
    )
    with torch.no_grad():
        logp = policy_logprobs(smollm.model, batch, 0.8)[0]
    assert ((logp - batch.old_logp) * batch.mask).abs().max().item() <= 1e-4


def test_positive_advantage_makes_its_completion_more_likely(tiny_llama_dir):
    loaded = load(tiny_llama_dir)
    batch = build_batch([[5, 6, 7], [5, 6, 7]], [[40, 41], [50, 51]], [[0.0, 0.0], [0.0, 0.0]], [1.0, -1.0], 2)
    with torch.no_grad():
        before = policy_logprobs(loaded.model, batch, 1.0)[0]
    batch.old_logp = before.clone()
    optimizer = torch.optim.AdamW(loaded.model.parameters(), lr=1e-3)
    update(loaded.model, optimizer, batch, UpdateConfig())
    with torch.no_grad():
        after = policy_logprobs(loaded.model, batch, 1.0)[0]
    assert after[0].sum() > before[0].sum() and after[1].sum() < before[1].sum()


def test_shared_prefix_forward_gives_the_same_logprobs_and_gradient(smollm, chat_prompts):
    """Computing the common prompt prefix once must not change log-probs or the gradient (issue 7's
    shared-prompt forward): compare against the same rows with the prefix repeated in each."""
    model = smollm.model
    completions = [[28, 253, 1780], [441, 9531, 30, 216], [17, 2]]
    args = (chat_prompts, completions, [[0.0] * len(c) for c in completions], [1.0, -0.5, 0.25], 2)
    shared, plain = build_batch(*args, share_prefix=True), build_batch(*args, share_prefix=False)
    assert shared.prefix is not None and shared.prefix.shape[0] > 20 and plain.prefix is None
    grads = []
    for batch in (shared, plain):
        model.zero_grad(set_to_none=True)
        logp = policy_logprobs(model, batch, 1.0)[0]
        (logp * batch.mask * batch.adv[:, None]).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        if batch is shared:
            first = logp.detach()
    model.zero_grad(set_to_none=True)
    assert ((first - logp.detach()) * shared.mask).abs().max().item() <= 1e-4
    for name, grad in grads[0].items():
        relative = ((grad - grads[1][name]).norm() / grads[1][name].norm()).item()
        assert relative <= 1e-4, (name, relative)


def test_prefill_after_a_shared_prefix_equals_plain_prefill(smollm, chat_prompts):
    model = smollm.model
    shared = common_prefix(chat_prompts)
    results = []
    for prefix in (torch.tensor(chat_prompts[0][:shared]), None):
        rows = [p[shared:] if prefix is not None else p for p in chat_prompts]
        width = max(map(len, rows))
        ids = torch.tensor([[2] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]).bool()
        cache = model.new_cache(len(rows), width + (shared if prefix is not None else 0) + 4)
        first = model.prefill(ids, mask, cache, prefix)
        second = model.decode(torch.tensor([28, 28, 28]), cache)
        results.append((first, second, cache.next_positions()))
    assert (results[0][0] - results[1][0]).abs().max().item() <= 1e-4
    assert (results[0][1] - results[1][1]).abs().max().item() <= 1e-4
    assert torch.equal(results[0][2], results[1][2])


def test_old_logprobs_from_the_current_pass_equal_exact_old_logprobs(tiny_llama_dir):
    """With one update per batch, taking the old log-probs from the update's own forward equals passing them in."""
    from aha.learn.step import old_logprobs

    batch = _tiny_batch()
    weights = []
    for from_current in (False, True):
        loaded = load(tiny_llama_dir)
        cfg = UpdateConfig(micro_rows=2, max_grad_norm=1e9)
        if from_current:
            batch.old_logp = torch.full_like(batch.old_logp, -7.0)  # ignored
        else:
            batch.old_logp = old_logprobs(loaded.model, batch, cfg, 1.0)
            with torch.no_grad():
                exact = policy_logprobs(loaded.model, batch, 1.0)[0] * batch.mask
            assert torch.allclose(batch.old_logp, exact, atol=1e-6)
        optimizer = torch.optim.SGD(loaded.model.parameters(), lr=1.0)
        stats = update(loaded.model, optimizer, batch, cfg, old_from_current=from_current)
        assert stats["ratio_max"] == pytest.approx(1.0, abs=1e-5)
        weights.append({n: p.detach().clone() for n, p in loaded.model.named_parameters()})
    for name, value in weights[0].items():
        assert torch.allclose(value, weights[1][name], atol=1e-6), name


def test_bf16_autocast_pass_is_close_to_fp32(tiny_llama_dir):
    from aha.learn.step import precision

    loaded = load(tiny_llama_dir)
    batch = _tiny_batch()
    grads = []
    logps = []
    for autocast in (None, "bfloat16"):
        loaded.model.zero_grad()
        with precision(UpdateConfig(autocast=autocast), loaded.model.device):
            logp = policy_logprobs(loaded.model, batch, 1.0)[0]
        assert logp.dtype == torch.float32
        (logp * batch.mask * batch.adv[:, None]).sum().backward()
        logps.append(logp.detach() * batch.mask)
        grads.append(torch.cat([p.grad.flatten() for p in loaded.model.parameters()]))
    assert (logps[0] - logps[1]).abs().max() < 0.05  # bf16 rounding of the matmuls only
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.99
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())  # master weights stay fp32


def test_truncated_importance_sampling_weights_each_token_by_the_capped_trainer_to_sampler_ratio(tiny_llama_dir):
    """A sampler whose log-probs sit log(1.5) below the trainer's scales every token's loss, so the gradient,
    by 1.5; log(3) below is capped at tis_cap 2; no correction without sampler log-probs or with cap 0."""
    import math

    def run(shift, cap):
        loaded = load(tiny_llama_dir)
        batch = _tiny_batch()
        with torch.no_grad():
            trainer = policy_logprobs(loaded.model, batch, 1.0)[0]
        if shift is not None:
            batch.sampler_logp = (trainer - shift) * batch.mask
        captured = {}
        optimizer = torch.optim.SGD(loaded.model.parameters(), lr=0.0)
        optimizer.register_step_pre_hook(
            lambda opt, args, kwargs: captured.update({n: p.grad.clone() for n, p in loaded.model.named_parameters()})
        )
        cfg = UpdateConfig(micro_rows=3, max_grad_norm=1e9)
        stats = update(loaded.model, optimizer, batch, cfg, old_from_current=True, tis_cap=cap)
        return captured, stats

    plain, stats = run(None, 2.0)
    assert "tis_mean" not in stats
    for shift, cap, factor in ((math.log(1.5), 2.0, 1.5), (math.log(3.0), 2.0, 2.0), (math.log(3.0), 0.0, 1.0)):
        grads, stats = run(shift, cap)
        for name, grad in plain.items():
            scale = float(grad.abs().max())  # float noise of sums over many tokens: relative to the tensor's scale
            assert float((grads[name] - factor * grad).abs().max()) <= 1e-4 * scale + 1e-8, (shift, name)
        if cap:
            assert stats["tis_mean"] == pytest.approx(factor, rel=1e-5)
            assert stats["tis_capped"] == (1.0 if factor == cap else 0.0)
            assert stats["sampler_logp_gap"] == pytest.approx(shift, rel=1e-4)
