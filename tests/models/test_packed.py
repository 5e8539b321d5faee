"""oneDNN-prepacked linear layers give F.linear's results."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aha.models.packed import PackedLinears, can_pack


@pytest.mark.skipif(not can_pack(torch.zeros(1)), reason="this torch build has no oneDNN prepacking")
@pytest.mark.parametrize("rows", [1, 7, 32])
def test_packed_linear_equals_f_linear(rows):
    torch.manual_seed(0)
    layer = nn.Linear(96, 200, bias=True)
    head = torch.randn(500, 96)
    packed = PackedLinears.pack([layer], {id(head): head}, rows=32)
    assert packed
    x = torch.randn(rows, 1, 96)
    assert torch.allclose(packed(layer, x), layer(x), atol=1e-5)
    assert torch.allclose(packed.apply(id(head), head, None, x), F.linear(x, head), atol=1e-5)


def test_unpacked_layers_fall_through_to_f_linear():
    layer = nn.Linear(8, 4)
    x = torch.randn(3, 8)
    assert torch.equal(PackedLinears({})(layer, x), F.linear(x, layer.weight, layer.bias))
    assert not PackedLinears({})
