"""Writing safetensors files past the page cache.

A checkpoint is written once and read rarely, and every write is followed by an fsync, so its bytes gain
nothing from the page cache on the way out, and they cost: the kernel must find ~1.6 GB of page cache for
the default model's weights and optimizer state. Where those pages have not been touched for a while, as
in this project's VMs (whose free memory goes back to the host), finding them dominates the save: 1 GB
took 7 s through the page cache and 0.7 s with O_DIRECT (`dd`, same disk), and a 20-step SFT run's final
save took 10 s of which 9 s were kernel time. So tensors are written with O_DIRECT from an aligned buffer
where the file system allows it, and through the page cache where it does not (tmpfs, macOS).

The file is a standard safetensors file (`safetensors.safe_open`, transformers and vLLM read it): the
8-byte header length, the JSON header padded with spaces so that the data starts on a 4096-byte
boundary, then every tensor's bytes back to back, largest element size first (each tensor stays aligned
to its element size), then by name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mmap
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

BLOCK = 4096  # O_DIRECT needs offsets, lengths and buffer addresses aligned to the device's block size
CHUNK = 16 * 2**20  # the aligned staging buffer

DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _order(tensors: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    for name, tensor in tensors.items():
        if tensor.dtype not in DTYPE_NAMES:
            raise ValueError(f"{name}: dtype {tensor.dtype} has no safetensors name here")
        if tensor.device.type != "cpu":
            raise ValueError(f"{name}: on {tensor.device}; move it to the CPU first")
    return sorted(tensors.items(), key=lambda item: (-item[1].element_size(), item[0]))


def _header(ordered: list[tuple[str, torch.Tensor]], metadata: Mapping[str, str] | None) -> bytes:
    entries: dict[str, object] = {}
    if metadata:
        entries["__metadata__"] = {str(key): str(value) for key, value in metadata.items()}
    offset = 0
    for name, tensor in ordered:
        size = tensor.numel() * tensor.element_size()
        entries[name] = {
            "dtype": DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(entries, separators=(",", ":")).encode()
    padded = -(-(8 + len(text)) // BLOCK) * BLOCK - 8  # the data starts on a block boundary
    return struct.pack("<Q", padded) + text + b" " * (padded - len(text))


def _pieces(header: bytes, ordered: list[tuple[str, torch.Tensor]]) -> Iterator[memoryview]:
    yield memoryview(header)
    for _, tensor in ordered:
        if tensor.numel():
            flat = tensor.detach().contiguous().reshape(-1).view(torch.uint8)
            yield memoryview(flat.numpy()).cast("B")


def _write_all(descriptor: int, data: memoryview) -> None:
    while len(data):
        written = os.write(descriptor, data)
        data = data[written:]


def _write_direct(path: Path, pieces: Iterator[memoryview]) -> None:
    """The pieces through an aligned buffer with O_DIRECT; OSError(EINVAL) where the file system refuses."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    try:
        with contextlib.closing(mmap.mmap(-1, CHUNK)) as buffer:  # page-aligned
            view, filled, total = memoryview(buffer), 0, 0
            try:
                for piece in pieces:
                    while len(piece):
                        take = min(len(piece), CHUNK - filled)
                        view[filled : filled + take] = piece[:take]
                        filled, piece = filled + take, piece[take:]
                        if filled == CHUNK:
                            _write_all(descriptor, view)
                            total, filled = total + CHUNK, 0
                if filled:
                    tail = -(-filled // BLOCK) * BLOCK
                    view[filled:tail] = bytes(tail - filled)
                    _write_all(descriptor, view[:tail])
                    total += filled
                os.ftruncate(descriptor, total)  # the zero padding of the last block goes
            finally:
                view.release()
    finally:
        os.close(descriptor)


def save_tensors(
    tensors: Mapping[str, torch.Tensor],
    path: str | Path,
    metadata: Mapping[str, str] | None = None,
    *,
    direct: bool = True,
) -> None:
    """Write tensors (on the CPU) as a safetensors file at path; O_DIRECT where the file system allows it
    (direct=False: always through the page cache). The caller syncs and renames (aha.models.checkpoint)."""
    path = Path(path)
    ordered = _order(tensors)
    header = _header(ordered, metadata)
    if direct and hasattr(os, "O_DIRECT"):
        try:
            _write_direct(path, _pieces(header, ordered))
            return
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
    with open(path, "wb") as handle:
        for piece in _pieces(header, ordered):
            handle.write(piece)
