"""Device and dtype choice."""

from __future__ import annotations

import sys

import pytest
import torch

from aha.devices import resolve_device, resolve_dtype
from aha.errors import ConfigError


def test_defaults_are_fp32_on_cpu_and_bf16_on_cuda():
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_bad_names_are_config_errors():
    with pytest.raises(ConfigError, match="dtype 'float8'"):
        resolve_dtype("float8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="not a torch device"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_takes_effect_and_allocations_still_work():
    from aha.devices import keep_freed_memory

    assert keep_freed_memory() is True
    big = torch.ones(64, 1 << 20)  # 256 MB, from the heap now instead of mmap
    assert float(big.sum()) == 64 * (1 << 20)
