"""Decode-ready weight copies (oneDNN-reordered, MKL-packed, transposed) give F.linear's results."""

from __future__ import annotations

import json

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


@pytest.fixture(autouse=True)
def fresh_choices(monkeypatch, tmp_path):
    """Each test starts as a new process on a machine that has measured nothing: empty in-process choices
    and an empty table under a private $AHA_CACHE."""
    monkeypatch.setattr(packed_module, "_chosen", {})
    monkeypatch.setenv("AHA_CACHE", str(tmp_path / "cache"))


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


@needs_packing
def test_a_choice_is_measured_once_per_machine_and_reused_by_later_processes(monkeypatch, tmp_path):
    weights = [torch.randn(64, 32) for _ in range(3)]
    first = choose_kernel(weights, 8)
    table = json.loads((tmp_path / "cache" / "decode_kernels.json").read_text())
    assert table == {packed_module.machine_key(): {f"64,32,float32,8,{torch.get_num_threads()}": first}}
    other = next(k for k in packed_module._candidates(weights[0]) if k != first)
    monkeypatch.setattr(packed_module, "_chosen", {})  # a new process, whose timing would choose otherwise
    monkeypatch.setattr(packed_module, "_measure", lambda weights, rows: other)
    assert choose_kernel(weights, 8) == first
    assert packed_module.chosen_kernels() == {f"64,32,float32,8,{torch.get_num_threads()}": first}
    monkeypatch.setattr(packed_module, "_chosen", {})
    monkeypatch.setattr(packed_module, "machine_key", lambda: "another CPU")  # a different machine measures
    assert choose_kernel(weights, 8) == other


@needs_packing
def test_a_damaged_table_is_measured_again_and_rewritten(monkeypatch, tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decode_kernels.json").write_text("{not json")
    choice = choose_kernel([torch.randn(64, 32)], 4)
    assert list(json.loads((tmp_path / "cache" / "decode_kernels.json").read_text()).values()) == [
        {f"64,32,float32,4,{torch.get_num_threads()}": choice}
    ]


@needs_packing
def test_pinned_choices_win_over_the_table_and_are_never_measured(monkeypatch):
    weights = [torch.randn(64, 32)]
    measured = choose_kernel(weights, 8)
    pinned = next(k for k in packed_module._candidates(weights[0]) if k != measured)
    monkeypatch.setattr(packed_module, "_chosen", {})
    monkeypatch.setattr(packed_module, "_measure", None)  # measuring now would fail the test
    key = f"64,32,float32,8,{torch.get_num_threads()}"
    packed_module.pin_kernels({key: pinned, "1,1,float32,1,1": "not-a-kernel"})
    assert choose_kernel(weights, 8) == pinned
    assert packed_module.chosen_kernels() == {key: pinned}
