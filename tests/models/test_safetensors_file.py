"""aha.models.safetensors_file: what it writes is what safetensors reads, byte for byte in the tensors,
through O_DIRECT and through the page cache alike."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from aha.models import safetensors_file
from aha.models.safetensors_file import save_tensors


def sample_tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "embed.weight": torch.randn(37, 11, generator=generator),  # sizes that fill no block evenly
        "norm.bias": torch.randn(5, generator=generator, dtype=torch.float64),
        "half": torch.randn(3, 7, generator=generator).to(torch.bfloat16),
        "steps": torch.tensor(7, dtype=torch.int64),  # a 0-d tensor
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
        "transposed": torch.randn(6, 4, generator=generator).t(),  # not contiguous
    }


def assert_same(path, tensors):
    loaded = load_file(path)
    assert sorted(loaded) == sorted(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and loaded[name].shape == tensor.shape, name
        assert torch.equal(loaded[name], tensor), name


@pytest.mark.parametrize("direct", [True, False])
def test_safetensors_reads_back_every_tensor_and_the_metadata(tmp_path, direct):
    tensors = sample_tensors()
    path = tmp_path / "t.safetensors"
    save_tensors(tensors, path, {"format": "pt"}, direct=direct)
    assert_same(path, tensors)
    with safe_open(path, "pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    # the data starts on a block boundary, and the file ends where the last tensor does
    header = int.from_bytes(path.read_bytes()[:8], "little")
    assert (8 + header) % 4096 == 0
    assert path.stat().st_size == 8 + header + sum(t.numel() * t.element_size() for t in tensors.values())


def test_tensors_crossing_the_staging_buffer_survive(tmp_path, monkeypatch):
    monkeypatch.setattr(safetensors_file, "CHUNK", 2 * 4096)  # most tensors straddle a buffer boundary
    generator = torch.Generator().manual_seed(1)
    tensors = {f"w{i}": torch.randn(100 + 37 * i, generator=generator) for i in range(12)}
    path = tmp_path / "t.safetensors"
    save_tensors(tensors, path)
    assert_same(path, tensors)


def test_o_direct_refused_by_the_file_system_falls_back_to_the_page_cache(tmp_path, monkeypatch):
    def refuse(path, pieces):
        raise OSError(errno.EINVAL, "O_DIRECT not supported")

    monkeypatch.setattr(safetensors_file, "_write_direct", refuse)
    tensors = sample_tensors()
    save_tensors(tensors, tmp_path / "t.safetensors")
    assert_same(tmp_path / "t.safetensors", tensors)


def test_another_os_error_is_raised(tmp_path, monkeypatch):
    def full(path, pieces):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors_file, "_write_direct", full)
    with pytest.raises(OSError, match="No space left"):
        save_tensors(sample_tensors(), tmp_path / "t.safetensors")


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")
def test_the_direct_path_is_taken_where_the_file_system_allows_it(tmp_path, monkeypatch):
    taken = []
    original = safetensors_file._write_direct
    monkeypatch.setattr(safetensors_file, "_write_direct", lambda *a: taken.append(1) or original(*a))
    probe = tmp_path / "probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT))
    except OSError:
        pytest.skip("this file system refuses O_DIRECT")
    tensors = sample_tensors()
    save_tensors(tensors, tmp_path / "t.safetensors")
    assert taken == [1]
    assert_same(tmp_path / "t.safetensors", tensors)


def test_a_tensor_off_the_cpu_or_of_an_unnamed_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="complex64"):
        save_tensors({"z": torch.zeros(2, dtype=torch.complex64)}, tmp_path / "t.safetensors")
    with pytest.raises(ValueError, match="meta"):
        save_tensors({"m": torch.zeros(2, device="meta")}, tmp_path / "t.safetensors")
