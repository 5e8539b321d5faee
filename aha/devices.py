"""Device and dtype choice: CPU in fp32 by default, CUDA in bf16."""

from __future__ import annotations

import torch

from aha.errors import ConfigError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(name: str | torch.device) -> torch.device:
    """torch.device for 'cpu', 'cuda' or 'cuda:N'; a clear error when CUDA is asked for but absent."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"device {name!r} is not a torch device (use cpu or cuda)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA GPU (torch {torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported (use cpu or cuda)")
    return device


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The dtype named, or the device default: float32 on CPU, bfloat16 on CUDA."""
    if isinstance(name, torch.dtype):
        return name
    if name is None or name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ConfigError(f"dtype {name!r} is not one of {sorted(DTYPES)} or 'auto'")
    return DTYPES[name]


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively here (any CUDA GPU aha supports; a CPU with AVX512-BF16 or AMX),
    rather than emulated, which is slower than fp32."""
    if device.type == "cuda":
        return True
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel; True if done.

    A training step allocates and frees tensors of tens to hundreds of megabytes (logits chunks, gradient
    buffers, casts), and a `generate` call its weight pack and key/value cache (about 1 GB for the default
    model at 32 rows). glibc serves blocks that large with mmap and unmaps them on free, so every step pays
    page faults on fresh memory again; in this project's 2-core VM those cost more than the arithmetic of
    the ops they feed (a 113 MB zero fill took 134 ms; repacking the default model's weights took 0.1 s
    from reused memory and 2.5-3.5 s from fresh pages). With mmap off and trimming off, freed blocks
    return to the heap and are reused; with one arena, blocks freed by any thread serve the next
    allocation wherever it comes from (per-thread arenas unmap their heaps whenever one empties).
    Process-wide: the resident size stays at the peak of the run. Called by the training, evaluation and
    benchmark entry points, never at import; a no-op off glibc.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = ((m_mmap_max, 0), (m_trim_threshold, 2**31 - 1), (m_arena_max, 1))
    return all([bool(mallopt(option, value)) for option, value in settings])  # a list: every one is applied
