"""Decode-ready copies of the weights, in whichever layout multiplies fastest at small batch on this CPU.

Decoding multiplies a few rows by every weight matrix once per token, so it is bound by how fast the
weights stream through the cache, and the best kernel depends on the CPU and the matrix shape. Three are
tried: oneDNN with the weight reordered into its blocked layout (on the 2-core AVX-512 machine 2-3x
faster than MKL's sgemm on the [N,K] layout: lm_head 576x49152 at M=32, 28 ms -> 10 ms), MKL's packed
sgemm (fp32 only), and MKL's plain sgemm on a transposed [K,N] copy. On the 2-core AMX machine at M=32
the packed sgemm is 10-25% faster than oneDNN for gate/up and down, the transposed copy 10-40% faster for
q/k/v and o. For each weight shape, dtype and row count the fastest is measured once on the model's own
weights; a kernel whose product differs from F.linear's is never chosen. Building the copies costs one pass
over the weights, so it is done once per `generate` call, when the weights are frozen. Results equal
F.linear within float rounding (tested).

Kernels round differently, so the choice decides which tokens are sampled: a choice made by timing in
every process would make two runs of the same seed differ whenever the machine's load differed. So a
choice is measured once per machine (CPU, torch version, threads) and kept in `$AHA_CACHE/
decode_kernels.json`, every later process reuses it, and a run records the choices it used
(`chosen_kernels`) so that its resume uses them again (`pin_kernels`), even on a machine that would choose
otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from aha.devices import native_bf16
from aha.files import cache_root

log = logging.getLogger(__name__)

Kernel = Literal["onednn", "mkl", "mm"]
KERNELS: tuple[Kernel, ...] = ("onednn", "mkl", "mm")
_TUNE_WEIGHTS = 8  # weights of one shape timed when choosing its kernel (enough to stream past the L2)
_TUNE_ROUNDS = 3
_chosen: dict[str, Kernel] = {}  # "N,K,dtype,rows,threads" -> the kernel this process uses (a cache)


def plain_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, layer.weight, layer.bias)


def can_pack(weight: torch.Tensor) -> bool:
    """Whether this build and tensor support oneDNN prepacking (CPU, fp32 or bf16, mkldnn present)."""
    return (
        weight.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.bfloat16)
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


def _has_mkl_packing(weight: torch.Tensor) -> bool:
    return weight.dtype == torch.float32 and torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")


def _candidates(weight: torch.Tensor) -> tuple[Kernel, ...]:
    if _has_mkl_packing(weight):
        return KERNELS
    # oneDNN reorders bf16 weights only where the CPU does bf16 (AVX-512 or AVX-NE-CONVERT); else it raises
    return ("onednn", "mm") if weight.dtype != torch.bfloat16 or native_bf16(weight.device) else ("mm",)


def _prepare(kernel: Kernel, weight: torch.Tensor, rows: int) -> torch.Tensor:
    weight = weight.detach()
    if kernel == "onednn":
        return torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    if kernel == "mkl":
        return torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)
    return weight.t().contiguous()  # [K,N]


def _multiply(
    kernel: Kernel, flat: torch.Tensor, prepared: torch.Tensor, bias: torch.Tensor | None, weight: torch.Tensor
) -> torch.Tensor:
    if kernel == "onednn":
        return torch.ops.mkldnn._linear_pointwise(flat, prepared, bias, "none", [], "")
    if kernel == "mkl":
        # MKL's packed sgemm. PyTorch uses the packed copy only when the row count equals the one passed
        # here, so the actual count is passed: the packed layout does not depend on it (checked in
        # choose_kernel before this kernel is ever picked).
        return torch.ops.mkl._mkl_linear(flat, prepared, weight, bias, flat.shape[0])
    return torch.mm(flat, prepared) if bias is None else torch.addmm(bias, flat, prepared)


def _agrees(kernel: Kernel, weight: torch.Tensor, prepared: torch.Tensor, rows: int) -> bool:
    """Whether the prepared copy gives F.linear's product at `rows` and at other row counts."""
    for count in sorted({rows, 1, max(1, rows // 2 + 1), rows + 3}):
        x = torch.randn(count, weight.shape[1], dtype=weight.dtype)
        expected = F.linear(x, weight)
        scale = float(expected.abs().max()) + 1.0
        tolerance = 1e-5 * scale if weight.dtype == torch.float32 else 2e-2 * scale
        if not torch.allclose(_multiply(kernel, x, prepared, None, weight), expected, rtol=0, atol=tolerance):
            return False
    return True


def _shape_key(weight: torch.Tensor, rows: int) -> str:
    dtype = str(weight.dtype).removeprefix("torch.")
    return f"{weight.shape[0]},{weight.shape[1]},{dtype},{rows},{torch.get_num_threads()}"


def machine_key() -> str:
    """What a measured choice holds for: the CPU, what torch makes of it, and torch's version."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as file:
        model = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), model)
    return f"{model} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__}"


def _table_path() -> Path:
    return cache_root() / "decode_kernels.json"


@contextlib.contextmanager
def _locked_table() -> Iterator[dict]:
    """The machine's table of measured choices, read and written back under an exclusive lock."""
    path = _table_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            table = json.loads(path.read_text())
            table = table if isinstance(table, dict) else {}
        except (OSError, ValueError):
            table = {}
        before = json.dumps(table, sort_keys=True)
        yield table
        if json.dumps(table, sort_keys=True) != before:
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
            tmp.replace(path)


def chosen_kernels() -> dict[str, Kernel]:
    """The choices this process has used, by "N,K,dtype,rows,threads" (to record with a run)."""
    return dict(_chosen)


def pin_kernels(choices: dict[str, str]) -> None:
    """Use these choices (recorded with a run) in this process, whatever was measured here."""
    for key, kernel in choices.items():
        if kernel in KERNELS:
            _chosen[str(key)] = kernel  # type: ignore[assignment]


def choose_kernel(weights: list[torch.Tensor], rows: int) -> Kernel:
    """The kernel for `rows` rows times weights of this shape: pinned, else measured on this machine before
    (the table in $AHA_CACHE), else measured now on (some of) them, each candidate multiplying a batch of
    random rows by up to 8 of the weights, best of 3 rounds, and kept in the table."""
    key = _shape_key(weights[0], rows)
    if key in _chosen:
        return _chosen[key]
    machine = machine_key()
    with _locked_table() as table:  # held while measuring: a second process waits and then reuses it
        known = table.setdefault(machine, {})
        choice = known.get(key)
        if choice not in _candidates(weights[0]):
            choice = _measure(weights, rows)
            known[key] = choice
    _chosen[key] = choice
    return choice


def _measure(weights: list[torch.Tensor], rows: int) -> Kernel:
    first = weights[0]
    sample = weights[:_TUNE_WEIGHTS]
    x = torch.randn(rows, first.shape[1], dtype=first.dtype)
    with torch.no_grad():
        prepared = {kernel: [_prepare(kernel, w, rows) for w in sample] for kernel in _candidates(first)}
        prepared = {k: p for k, p in prepared.items() if _agrees(k, sample[0], p[0], rows)}
        best = dict.fromkeys(prepared, float("inf"))
        for _ in range(_TUNE_ROUNDS + 1):  # the first round warms up
            for kernel, copies in prepared.items():
                start = time.perf_counter()
                for w, prepared_w in zip(sample, copies, strict=True):
                    _multiply(kernel, x, prepared_w, None, w)
                best[kernel] = min(best[kernel], time.perf_counter() - start)
    choice: Kernel = min(best, key=lambda k: best[k]) if best else "mm"
    log.debug("decode kernel for %s x %s (%s): %s (%s)", rows, tuple(first.shape), first.dtype, choice, best)
    return choice


class PackedLinears:
    """Decode-ready copies of chosen weight matrices, applied by `__call__(layer, x)` in place of F.linear.

    A layer that was not packed falls through to F.linear, so the same code runs packed or not.
    """

    def __init__(self, weights: dict[int, tuple[Kernel, torch.Tensor, torch.Tensor | None, torch.Tensor]]) -> None:
        self._weights = weights

    @classmethod
    @torch.no_grad()
    def pack(
        cls,
        layers: list[nn.Linear],
        extra: dict[int, torch.Tensor] | None = None,
        rows: int = 32,
        kernel: Kernel | None = None,
    ) -> PackedLinears:
        """Prepare layers (and extra {key: weight} matrices, e.g. a tied lm_head) for about `rows` rows per
        call, each shape in the faster kernel for it (`choose_kernel`) unless `kernel` names one."""
        items = [(id(layer), layer.weight, layer.bias) for layer in layers]
        items += [(key, weight, None) for key, weight in (extra or {}).items()]
        if not all(can_pack(weight) for _, weight, _ in items):
            return cls({})
        shapes: dict[tuple[object, ...], list[torch.Tensor]] = {}
        for _, weight, _ in items:
            shapes.setdefault((*weight.shape, weight.dtype), []).append(weight)
        if kernel is not None and any(kernel not in _candidates(w) for _, w, _ in items):
            raise ValueError(f"kernel {kernel!r} cannot multiply these weights (it takes fp32 only)")
        kernels = {shape: kernel or choose_kernel(group, rows) for shape, group in shapes.items()}
        weights: dict[int, tuple[Kernel, torch.Tensor, torch.Tensor | None, torch.Tensor]] = {}
        for key, weight, bias in items:
            chosen = kernels[(*weight.shape, weight.dtype)]
            detached_bias = None if bias is None else bias.detach()
            weights[key] = (chosen, _prepare(chosen, weight, rows), detached_bias, weight.detach())
        return cls(weights)

    def __bool__(self) -> bool:
        return bool(self._weights)

    def apply(self, key: int, weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        """x [..., K] @ weight[N,K]^T (+ bias) -> [..., N], through the prepared copy when there is one."""
        entry = self._weights.get(key)
        if entry is None:
            return F.linear(x, weight, bias)
        kernel, prepared, prepared_bias, original = entry
        out = _multiply(kernel, x.reshape(-1, x.shape[-1]), prepared, prepared_bias, original)
        return out.view(*x.shape[:-1], out.shape[-1])

    def __call__(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return self.apply(id(layer), layer.weight, layer.bias, x)
