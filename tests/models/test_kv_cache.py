"""KV cache bookkeeping: positions under left padding, and dropping or repeating rows."""

from __future__ import annotations

import torch

from aha.models.kv_cache import KVCache


def _cache(batch=3, slots=8):
    cache = KVCache.empty(2, (batch, 1, slots, 2), dtype=torch.float32, device=torch.device("cpu"))
    mask = torch.tensor([[0, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=torch.bool)[:batch]
    for layer in range(2):
        k = torch.arange(batch * 3 * 2, dtype=torch.float32).view(batch, 1, 3, 2) + 100 * layer
        cache.write_prefix(layer, k, -k)
    cache.start(mask)
    return cache


def test_positions_count_real_tokens_only():
    cache = _cache()
    assert cache.next_positions().tolist() == [1, 3, 2]
    assert cache.key_mask().tolist() == [[False, False, True, True], [True] * 4, [False, True, True, True]]


def test_keep_drops_rows_in_place_and_preserves_their_contents():
    cache = _cache()
    before = [k.clone() for k in cache.keys]
    buffer = cache.keys[0].data_ptr()
    cache.keep(torch.tensor([0, 2]))
    assert cache.batch == 2 and cache.keys[0].data_ptr() == buffer  # no new allocation
    for layer in range(2):
        assert torch.equal(cache.keys[layer][..., :3], before[layer][[0, 2], ..., :3])
        # keys are stored transposed ([B,K,D,S]), values not ([B,K,S,D]); they were written as k and -k
        assert torch.equal(cache.values[layer][:, :, :3], -before[layer][[0, 2], ..., :3].transpose(-1, -2))
    assert cache.next_positions().tolist() == [1, 2]


def test_select_repeats_rows_for_a_group():
    cache = _cache(batch=2)
    cache.select(torch.tensor([0, 0, 1, 1]))
    assert cache.batch == 4 and torch.equal(cache.keys[1][0, ..., :3], cache.keys[1][1, ..., :3])
    assert cache.pad.tolist() == [2, 2, 0, 0]


def test_key_bias_masks_padding_for_every_key_head():
    cache = _cache()
    bias = cache.key_bias(heads=2)  # [B*2,1,length+1]: the slot being appended is attended to
    assert bias.shape == (6, 1, 4)
    expected = torch.zeros(3, 4).masked_fill(~cache.key_mask(), -torch.inf)
    assert torch.equal(bias[0::2, 0], expected) and torch.equal(bias[1::2, 0], expected)
    cache.keep(torch.tensor([1]))
    assert torch.equal(cache.key_bias(heads=1)[0, 0], torch.zeros(4))
