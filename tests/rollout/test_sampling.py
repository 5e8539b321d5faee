"""Next-token choice: greedy, temperature, top-k, top-p, inverse-CDF draws and per-row seeds."""

from __future__ import annotations

import math

import pytest
import torch

from aha.rollout.sampling import _block_probe, _inverse_cdf, log_probs, row_seed, sample, truncate, uniform


def test_temperature_zero_is_argmax_with_untempered_logprob():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 3.5, 0.0]])
    tokens, logp = sample(logits, torch.rand(2, dtype=torch.float64), temperature=0)
    assert tokens.tolist() == [1, 1]
    assert torch.allclose(logp, torch.log_softmax(logits, -1)[[0, 1], [1, 1]])


def test_inverse_cdf_follows_the_tempered_distribution():
    """Hand-computed: logits log([1,2,3,4]) at T=1 give p = [.1,.2,.3,.4]; u picks the bucket it falls in."""
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).repeat(5, 1)
    u = torch.tensor([0.05, 0.15, 0.35, 0.65, 0.999], dtype=torch.float64)
    tokens, logp = sample(logits, u, temperature=1.0)
    assert tokens.tolist() == [0, 1, 2, 3, 3]
    assert torch.allclose(logp, torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.4])))


def test_temperature_sharpens_the_logprob():
    logits = torch.tensor([[1.0, 2.0, 4.0]])
    expected = torch.log_softmax(logits / 0.5, -1)
    assert torch.allclose(log_probs(logits, 0.5), expected)


def test_top_k_keeps_the_k_most_likely():
    logits = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3]]))
    u = torch.linspace(0, 0.999, 50, dtype=torch.float64)
    tokens, _ = sample(logits.repeat(50, 1), u, temperature=1.0, top_k=2)
    assert set(tokens.tolist()) == {1, 3}
    # renormalised over {0.4, 0.3}: u < 4/7 picks token 1
    assert all(t == (1 if x < 4 / 7 else 3) for t, x in zip(tokens.tolist(), u.tolist(), strict=True))


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    probs = torch.tensor([[0.5, 0.25, 0.15, 0.1]])
    kept, ids = truncate(torch.log(probs), 0, 0.7)
    assert ids[0, :2].tolist() == [0, 1] and kept[0, 2:].sum() == 0  # 0.5 < 0.7 <= 0.75
    kept, _ = truncate(torch.log(probs), 0, 0.75)
    assert (kept[0] > 0).sum() == 2  # exactly reaching p keeps no more
    kept, _ = truncate(torch.log(probs), 0, 0.76)
    assert (kept[0] > 0).sum() == 3


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.999])
def test_top_p_probe_shortcut_equals_full_sort(top_p):
    torch.manual_seed(0)
    logp = torch.log_softmax(torch.randn(4, 5000) * 3, -1)
    fast = truncate(logp, 0, top_p, probes=(8, 64))
    slow = truncate(logp, 0, top_p, probes=())
    kept_fast = {(r, int(i)) for r in range(4) for p, i in zip(fast[0][r], fast[1][r], strict=True) if p > 0}
    kept_slow = {(r, int(i)) for r in range(4) for p, i in zip(slow[0][r], slow[1][r], strict=True) if p > 0}
    assert kept_fast == kept_slow


def _kept_sets(kept, ids):
    return [{int(i) for p, i in zip(kept[r], ids[r], strict=True) if p > 0} for r in range(len(kept))]


def test_block_probe_equals_full_sort_row_by_row():
    # Peaked rows close their nucleus inside the top blocks; flat rows do not and must take the sort path.
    torch.manual_seed(1)
    scales = torch.tensor([8.0, 6.0, 0.3, 4.0, 0.1, 5.0, 2.0, 7.0])[:, None]
    logp = torch.log_softmax(torch.randn(8, 128 * 64) * scales, -1)
    _, _, exact = _block_probe(logp, torch.logsumexp(logp, -1, keepdim=True), 0.9, 64, 128, 4)
    assert exact.any() and not exact.all()  # both paths are exercised
    fast = truncate(logp, 0, 0.9, probes=(64, 512), block=128, blocks=4)
    slow = truncate(logp, 0, 0.9, probes=())
    assert _kept_sets(*fast) == _kept_sets(*slow)
    u = torch.rand(8)
    pick = lambda kept, ids: ids.gather(-1, _inverse_cdf(kept, u)[:, None]).squeeze(-1)  # noqa: E731
    assert torch.equal(pick(*fast), pick(*slow))


def test_block_probe_never_trusts_a_probe_that_skipped_a_stronger_block():
    # Block 0 holds eight strong tokens, blocks 1-3 one each; block 4's maximum ranks fifth, so the four
    # chosen blocks leave it out although it is stronger than block 0's weaker tokens. The probe's
    # nucleus closes (its mass reaches top_p) but would miss block 4: the row must take the full sort.
    logits = torch.full((1, 128 * 16), -20.0)
    logits[0, :8] = -0.05 * torch.arange(8.0)
    logits[0, [128, 256, 384, 512]] = torch.tensor([-0.21, -0.22, -0.23, -0.24])
    lse = torch.logsumexp(logits, -1, keepdim=True)
    _, _, exact = _block_probe(logits, lse, 0.8, 16, 128, 4)
    assert not exact.any()
    fast = truncate(logits, 0, 0.8, probes=(16, 64), block=128, blocks=4)
    assert 512 in _kept_sets(*fast)[0]
    assert _kept_sets(*fast) == _kept_sets(*truncate(logits, 0, 0.8, probes=()))


def test_empirical_frequencies_match_probabilities():
    probs = torch.tensor([0.05, 0.6, 0.1, 0.25])
    draws = 20000
    u = torch.tensor([uniform(row_seed(7, 0), i) for i in range(draws)], dtype=torch.float64)
    tokens, _ = sample(torch.log(probs).repeat(draws, 1), u, temperature=1.0)
    counts = torch.bincount(tokens, minlength=4).double() / draws
    sigma = torch.sqrt(probs.double() * (1 - probs.double()) / draws)
    assert ((counts - probs.double()).abs() < 5 * sigma).all()


def test_zero_probability_tokens_are_never_drawn():
    logits = torch.tensor([[0.0, -math.inf, 0.0, -math.inf]]).repeat(3, 1)
    u = torch.tensor([0.0, 0.5, 1 - 2**-53], dtype=torch.float64)
    tokens, _ = sample(logits, u, temperature=1.0)
    assert set(tokens.tolist()) <= {0, 2}
    tokens, _ = sample(logits, u, temperature=1.0, top_p=0.9)
    assert set(tokens.tolist()) <= {0, 2}


def test_seeds_are_deterministic_and_distinct():
    assert row_seed(1, 2, 3) == row_seed(1, 2, 3)
    seeds = {row_seed(0, p, g) for p in range(50) for g in range(16)}
    assert len(seeds) == 800
    values = [uniform(row_seed(0, 0, 0), t) for t in range(1000)]
    assert all(0 <= v < 1 for v in values) and abs(sum(values) / 1000 - 0.5) < 0.05


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (0.7, 0.95)])
def test_a_row_that_is_no_distribution_is_named_in_a_clear_error(bad, temperature, top_p):
    logits = torch.randn(4, 8192)
    logits[2, 17] = bad
    with pytest.raises(ValueError, match=r"row\(s\) \[2\] are not a distribution"):
        sample(logits, torch.rand(4, dtype=torch.float64), temperature=temperature, top_p=top_p)
