"""Data-parallel training on torch.distributed: which process this is, FSDP2 sharding of the policy, and the
few collectives the stages need. One process is the default path and the reference: every function here is
the identity (or a no-op) there, so a stage reads the same with and without ranks.

Processes are started by torchrun (`torchrun --nproc-per-node N -m aha train ...`, or `aha train --nproc N`,
which calls it), which sets RANK, WORLD_SIZE and the rendezvous; `init` joins the group: gloo on the CPU,
NCCL for CUDA tensors with gloo beside it for the small CPU-side exchanges (JSON of completions and scores).

How the stages divide the work (each stage says more):
- the same data cursor runs on every rank, so every rank knows the global batch; each rank takes a
  contiguous share of it (a GRPO group is never split);
- parameters, gradients and optimiser moments are sharded with FSDP2 (`shard`); each rank's loss is its
  rows' share of the global batch's loss times the world size, because FSDP averages gradients over ranks
  (gloo has no pre-multiplied sum), so the averaged gradient is the gradient of the global loss;
- sampling and evaluation run on a full copy of the weights (`FullCopy`), refreshed after every update, as a
  colocated rollout engine holds its own weights;
- only rank 0 writes the run directory; checkpoints hold the consolidated weights (Hugging Face layout) and
  the consolidated optimiser state, so a run resumes exactly under the same world size (and loads into
  transformers or vLLM as any checkpoint does).

Every rank must call a collective the same number of times in the same order; where the ranks' shares
differ in size (micro-batches, say), the smaller ones take empty turns (`pad_turns`).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist

TIMEOUT = datetime.timedelta(minutes=60)  # a rank waits this long for the others (rank 0 evaluates alone)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes the run directory and logs progress."""
        return self.rank == 0

    def share(self, count: int) -> slice:
        """This rank's contiguous share of `count` items (the first ranks take one more when it does not divide)."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


def world() -> World:
    """This process's place among the ranks; World() (rank 0 of 1) outside torch.distributed."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return World()
    return World(tdist.get_rank(), tdist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched() -> bool:
    """Whether torchrun (or another launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str) -> World:
    """Join the process group torchrun described (once); the world. A no-op in a single process."""
    if not launched() or tdist.is_initialized():
        return world()
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    tdist.init_process_group(backend=backend, timeout=TIMEOUT)
    return world()


def shutdown() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def barrier() -> None:
    if world().size > 1:
        tdist.barrier()


# --- sharding ---------------------------------------------------------------------------------------------


def shard(model: torch.nn.Module) -> torch.nn.Module:
    """Shard the parameters with FSDP2 across the ranks (in place); the model.

    The native decoder is called through methods other than `forward` (`packed_hidden`, its attention's
    `forward_packed`), which are registered so FSDP gathers and frees parameters around them too. Each
    attention and MLP is a unit of its own, the embeddings and norms are the root's. On the CPU a unit keeps
    its gathered parameters from forward to backward (one gather per step instead of two: memory is not
    what is short there); on GPUs they are freed after the forward (ZeRO-3).
    """
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    if world().size == 1:
        return model
    free = model.device.type != "cpu"
    if hasattr(model, "packed_hidden"):  # the native decoder
        for block in model.layers:
            fully_shard(block.attn, reshard_after_forward=free)
            register_fsdp_forward_method(block.attn, "forward_packed")
            fully_shard(block.mlp, reshard_after_forward=free)
        fully_shard(model)
        for method in ("packed_hidden", "completion_logits"):
            register_fsdp_forward_method(model, method)
    else:  # transformers' model inside aha's wrapper: its own forward runs every layer
        inner = model.hf
        for layer in getattr(getattr(inner, "model", None), "layers", []):
            fully_shard(layer, reshard_after_forward=free)
        fully_shard(inner)
    return model


def shard_like(value: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A whole tensor (an optimiser moment read from a checkpoint) sharded as `param` is; as it is where the
    parameter is not sharded. Each rank keeps its own part: no communication."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(param, DTensor) or value.dim() == 0:
        return value
    return distribute_tensor(value.to(param.device), param.device_mesh, param.placements, src_data_rank=None)


def sharded_root(model: torch.nn.Module) -> Any:
    """The module `shard` made the FSDP root: the model, or transformers' model inside aha's wrapper."""
    return model if hasattr(model, "packed_hidden") else model.hf


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a sharded one (a collective: every rank calls it), else the tensor."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and persistent buffer whole, on every rank (a collective), under the unsharded names."""
    return {name: full(value.detach()) for name, value in model.state_dict().items()}


@contextmanager
def accumulating(model: torch.nn.Module, last: bool) -> Iterator[None]:
    """Around one micro-batch's forward and backward: the gradients are reduced across ranks only on the
    step's last micro-batch (the others accumulate locally)."""
    root = sharded_root(model)
    if world().size == 1 or not hasattr(root, "set_requires_gradient_sync"):
        yield
        return
    root.set_requires_gradient_sync(last)
    try:
        yield
    finally:
        root.set_requires_gradient_sync(True)


def loss_scale() -> float:
    """What a rank's share of the global loss is multiplied by, since FSDP averages gradients over ranks."""
    return float(world().size)


class FullCopy:
    """A frozen copy of a model's whole weights on every rank, for sampling and evaluation: built before the
    model is sharded, refreshed (`refresh`, a collective) after the weights change."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype | None = None) -> None:
        from copy import deepcopy

        self.model = deepcopy(model)
        if dtype is not None:
            self.model = self.model.to(dtype)
        self.model.eval().requires_grad_(False)

    @torch.no_grad()
    def refresh(self, source: torch.nn.Module) -> None:
        for target, param in zip(self.model.parameters(), source.parameters(), strict=True):
            target.copy_(full(param.detach()))


# --- collectives on small values -----------------------------------------------------------------------------


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """Element-wise sum or max of `values` over the ranks (float64)."""
    if world().size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM if op == "sum" else tdist.ReduceOp.MAX)
    return tensor.tolist()


def all_gather_json(value: Any) -> list[Any]:
    """Every rank's `value` (JSON: numbers, strings, lists, dicts, None), in rank order. JSON, not pickle:
    the values carry model output."""
    if world().size == 1:
        return [value]
    data = torch.frombuffer(bytearray(json.dumps(value).encode()), dtype=torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world().size)]
    tdist.all_gather(sizes, torch.tensor([data.numel()], dtype=torch.int64))
    longest = max(int(s) for s in sizes)
    padded = torch.zeros(longest, dtype=torch.uint8)
    padded[: data.numel()] = data
    parts = [torch.zeros(longest, dtype=torch.uint8) for _ in sizes]
    tdist.all_gather(parts, padded)
    return [json.loads(bytes(p[: int(s)].tolist()).decode()) for p, s in zip(parts, sizes, strict=True)]


def broadcast_json(value: Any, src: int = 0) -> Any:
    """Rank `src`'s `value` (JSON) on every rank."""
    if world().size == 1:
        return value
    return all_gather_json(value if world().rank == src else None)[src]


def pad_turns(count: int) -> int:
    """The most turns (micro-batches) any rank takes: every rank takes that many, the extra ones empty."""
    return int(all_reduce([float(count)], "max")[0])
