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
