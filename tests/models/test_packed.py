"""Decode-ready weight copies (oneDNN-reordered, MKL-packed, transposed) give F.linear's results."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aha.models import packed as packed_module
from aha.models.packed import KERNELS, PackedLinears, can_pack, choose_kernel

needs_packing = pytest.mark.skipif(not can_pack(torch.zeros(1)), reason="this torch build has no oneDNN prepacking")


@needs_packing
@pytest.mark.parametrize("kernel", [*KERNELS, None])
@pytest.mark.parametrize("rows", [1, 7, 32, 45])
def test_packed_linear_equals_f_linear(kernel, rows):
    torch.manual_seed(0)
    layer = nn.Linear(96, 200, bias=True)
    head = torch.randn(500, 96)
    packed = PackedLinears.pack([layer], {id(head): head}, rows=32, kernel=kernel)
    assert packed
    x = torch.randn(rows, 1, 96)
    # The prepared copies are packed for 32 rows and used at other counts too (rows leave the batch).
    assert torch.allclose(packed(layer, x), layer(x), atol=1e-5)
    assert torch.allclose(packed.apply(id(head), head, None, x), F.linear(x, head), atol=1e-5)


@needs_packing
def test_the_chosen_kernel_is_remembered_per_shape_and_row_count(monkeypatch):
    monkeypatch.setattr(packed_module, "_chosen", {})
    weights = [torch.randn(64, 32) for _ in range(3)]
    choice = choose_kernel(weights, 8)
    assert choice in KERNELS
    assert list(packed_module._chosen.values()) == [choice]
    monkeypatch.setattr(packed_module, "_multiply", None)  # a second choice must not measure again
    assert choose_kernel(weights, 8) == choice


@needs_packing
def test_bf16_weights_never_take_the_fp32_only_kernel(monkeypatch):
    monkeypatch.setattr(packed_module, "_chosen", {})
    layer = nn.Linear(64, 48).to(torch.bfloat16)
    with pytest.raises(ValueError, match="fp32"):
        PackedLinears.pack([layer], rows=4, kernel="mkl")
    packed = PackedLinears.pack([layer], rows=4)
    assert next(iter(packed._weights.values()))[0] != "mkl"
    x = torch.randn(4, 64, dtype=torch.bfloat16)
    assert torch.allclose(packed(layer, x).float(), layer(x).float(), atol=2e-2)


@needs_packing
def test_a_kernel_that_disagrees_with_f_linear_is_not_chosen(monkeypatch):
    monkeypatch.setattr(packed_module, "_chosen", {})
    real = packed_module._multiply

    def wrong_mm(kernel, flat, prepared, bias, weight):
        out = real(kernel, flat, prepared, bias, weight)
        return out + 1.0 if kernel == "mm" else out

    monkeypatch.setattr(packed_module, "_multiply", wrong_mm)
    assert choose_kernel([torch.randn(64, 32)], 8) != "mm"


def test_unpacked_layers_fall_through_to_f_linear():
    layer = nn.Linear(8, 4)
    x = torch.randn(3, 8)
    assert torch.equal(PackedLinears({})(layer, x), F.linear(x, layer.weight, layer.bias))
    assert not PackedLinears({})
