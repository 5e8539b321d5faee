"""Checkpoints in the Hugging Face layout, written atomically.

A checkpoint directory holds config.json, model.safetensors, generation_config.json and the tokenizer
files, so transformers and vLLM load it as they load any model. It is written under a temporary name
in the same parent directory and renamed into place only when every file is on disk: a run killed at
any moment leaves either the previous checkpoint or the new one, never a half-written one under the
final name.

Exact resume needs more than the weights: the optimizer's moments, the learning-rate schedule, the RNG
state and the data cursor. They go inside the same atomic write as two files, never as a pickle
(unpickling a crafted file runs arbitrary code):

  trainer_state.safetensors  every tensor: optimizer moments and step counts, RNG states as uint8
  trainer_state.json         everything else (step, cursor, scheduler, optimizer hyper-parameters) and the
                             names of the tensors, so that a file which lost one is caught when it is read
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import GenerationConfig

from aha import dist
from aha.errors import CheckpointError
from aha.models.convert import hf_from_native
from aha.models.llama import NativeDecoder
from aha.models.loaded import LoadedModel
from aha.models.safetensors_file import save_tensors

TMP_MARK = ".tmp-"
STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
LEGACY_STATE = "trainer_state.pt"  # the pickle earlier versions wrote: refused, never loaded
STATE_FORMAT = 1


def is_partial(path: Path) -> bool:
    """True for the temporary directory of an unfinished write."""
    return TMP_MARK in path.name


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    descriptor = os.open(root, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_dir) then rename tmp_dir to path, replacing any older directory there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TMP_MARK}{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.parent / f".{path.name}{TMP_MARK}old-{os.getpid()}"
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)
    return path


def hf_state_dict(loaded: LoadedModel, whole: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face names, on the CPU; `whole`: its state_dict() gathered whole
    (`aha.dist.full_state_dict`) where the model itself holds only this rank's shards."""
    model = loaded.model
    if isinstance(model, NativeDecoder):
        state = hf_from_native(whole if whole is not None else model.state_dict(), model.spec)
    else:
        state = {k.removeprefix("hf."): v for k, v in whole.items()} if whole is not None else model.hf.state_dict()
        state = dict(state)
        if getattr(loaded.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
    return {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}


def _write_model(loaded: LoadedModel, directory: Path, whole: dict[str, torch.Tensor] | None = None) -> None:
    state = hf_state_dict(loaded, whole)
    dtype = next(iter(state.values())).dtype
    config = loaded.config
    config.dtype = str(dtype).removeprefix("torch.")
    if "score.weight" in state:  # a reward model: transformers loads it as a sequence classifier of one label
        config.architectures = [f"{type(config).__name__.removesuffix('Config')}ForSequenceClassification"]
        config.num_labels = 1
    config.save_pretrained(directory)
    save_tensors(state, directory / "model.safetensors", metadata={"format": "pt"})
    eos = list(loaded.eos_token_ids)
    GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=getattr(config, "pad_token_id", None),
    ).save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)


def save_checkpoint(
    loaded: LoadedModel,
    path: str | Path,
    extra: Callable[[Path], None] | None = None,
    whole: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save model, config, generation config and tokenizer to path atomically.

    `extra(tmp_dir)` may add files (optimizer and RNG state for exact resume) inside the same atomic write;
    `whole` is the model's state_dict() gathered whole, for a model sharded across ranks.
    """

    def write(directory: Path) -> None:
        _write_model(loaded, directory, whole)
        if extra is not None:
            extra(directory)

    return write_atomically(path, write)


@dataclass
class TrainerState:
    """What exact resume needs besides the weights."""

    step: int  # the last finished step
    cursor: int  # prompts drawn so far (each epoch's order derives from the seed and the epoch number)
    optimizer: dict[str, Any]  # torch's Optimizer.state_dict(): per-parameter tensors and param_groups
    scheduler: dict[str, Any]  # the learning-rate scheduler's state_dict(): plain numbers
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # "torch", "cuda:0", ...: uint8 RNG states
    kernels: dict[str, str] = field(default_factory=dict)  # decode kernels chosen (aha.models.packed): they round
    stage: dict[str, Any] = field(default_factory=dict)  # the stage's own state, JSON (e.g. reward normalisers)

    @classmethod
    def capture(
        cls, step: int, cursor: int, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler
    ) -> TrainerState:
        from aha.models.packed import chosen_kernels

        optim = optimizer.state_dict()  # under several ranks its moments are shards: gathered whole (a collective)
        optim["state"] = {i: {k: dist.full(v) for k, v in values.items()} for i, values in optim["state"].items()}
        return cls(step, cursor, optim, scheduler.state_dict(), rng_state(), chosen_kernels())

    def apply(self, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        """Load into optimizer, scheduler and the global RNG; a CheckpointError, with nothing changed, when the
        state does not fit them."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        check_fits(self, params, scheduler.state_dict())
        ids = [index for group in self.optimizer["param_groups"] for index in group["params"]]
        by_id = dict(zip(ids, params, strict=True))  # a sharded parameter's moments are sharded as it is
        state = {
            i: {k: dist.shard_like(v, by_id[i]) for k, v in values.items()}
            for i, values in self.optimizer["state"].items()
        }
        optimizer.load_state_dict({**self.optimizer, "state": state})
        scheduler.load_state_dict(self.scheduler)
        set_rng_state(self.rng)


def rng_state() -> dict[str, torch.Tensor]:
    """The global RNG states: the CPU generator's, and each CUDA device's once CUDA is in use."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states.update({f"cuda:{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    return states


def set_rng_state(states: dict[str, torch.Tensor]) -> None:
    for name, state in states.items():
        if name == "torch":
            torch.set_rng_state(state)
        elif torch.cuda.is_available() and int(name.removeprefix("cuda:")) < torch.cuda.device_count():
            torch.cuda.set_rng_state(state, int(name.removeprefix("cuda:")))


def write_trainer_state(directory: Path, state: TrainerState) -> None:
    """Write trainer_state.safetensors and trainer_state.json into directory (inside an atomic write)."""
    tensors: dict[str, torch.Tensor] = {}
    for index, values in state.optimizer["state"].items():
        for name, value in values.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"optimizer state {index}/{name} is a {type(value).__name__}, not a tensor")
            tensors[f"optimizer/{index}/{name}"] = value
    tensors.update({f"rng/{name}": value for name, value in state.rng.items()})
    save_tensors({name: t.detach().to("cpu") for name, t in tensors.items()}, directory / STATE_TENSORS)
    scalars = {
        "format": STATE_FORMAT,
        "step": state.step,
        "cursor": state.cursor,
        "scheduler": state.scheduler,
        "param_groups": state.optimizer["param_groups"],
        "tensors": sorted(tensors),
        "kernels": state.kernels,
        "stage": state.stage,
    }
    (directory / STATE_JSON).write_text(json.dumps(scalars, indent=1), encoding="utf-8")


def _read_scalars(directory: Path) -> dict[str, Any]:
    if not (directory / STATE_JSON).is_file():
        if (directory / LEGACY_STATE).is_file():
            raise CheckpointError(
                f"{LEGACY_STATE} is the pickle format of older versions, which aha never loads (unpickling a "
                "crafted file runs arbitrary code); resume from a checkpoint this version wrote"
            )
        raise CheckpointError(f"{STATE_JSON} is missing")
    try:
        scalars = json.loads((directory / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{STATE_JSON} is not readable JSON ({error})") from error
    if not isinstance(scalars, dict) or scalars.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{STATE_JSON} is not trainer state of format {STATE_FORMAT}")
    kinds = {"step": int, "cursor": int, "scheduler": dict, "param_groups": list, "tensors": list}
    wrong = [name for name, kind in kinds.items() if not isinstance(scalars.get(name), kind)]
    if wrong:
        raise CheckpointError(f"{STATE_JSON} lacks or mistypes {', '.join(wrong)}")
    return scalars


def _read_tensors(directory: Path, names: list[str]) -> dict[str, torch.Tensor]:
    if not (directory / STATE_TENSORS).is_file():
        raise CheckpointError(f"{STATE_TENSORS} is missing")
    try:
        tensors = load_file(directory / STATE_TENSORS)
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{STATE_TENSORS} is truncated or corrupt ({error})") from error
    if sorted(tensors) != sorted(names):
        missing = sorted(set(names) - set(tensors)) or sorted(set(tensors) - set(names))
        raise CheckpointError(f"{STATE_TENSORS} and {STATE_JSON} disagree on the tensors (first: {missing[0]})")
    return tensors


def read_trainer_state(directory: Path) -> TrainerState:
    """The trainer state of a checkpoint, never unpickled; a CheckpointError names the file that is missing,
    cut short or malformed."""
    scalars = _read_scalars(directory)
    tensors = _read_tensors(directory, scalars["tensors"])
    per_parameter: dict[int, dict[str, torch.Tensor]] = {}
    rng: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        kind, _, rest = name.partition("/")
        index, _, key = rest.partition("/")
        if kind == "optimizer" and index.isdigit() and key:
            per_parameter.setdefault(int(index), {})[key] = tensor
        elif kind == "rng" and tensor.dtype == torch.uint8 and tensor.dim() == 1:
            rng[rest] = tensor
        else:
            raise CheckpointError(f"{STATE_TENSORS}: unexpected tensor {name!r}")
    try:
        # JSON has no tuples: a list in a parameter group other than its parameter ids was one (betas)
        groups = [{k: v if k == "params" else tuple(v) if isinstance(v, list) else v for k, v in g.items()}
                  for g in scalars["param_groups"]]  # fmt: skip
    except AttributeError as error:
        raise CheckpointError(f"{STATE_JSON}: param_groups must be objects") from error
    optimizer = {"state": per_parameter, "param_groups": groups}
    kernels = scalars.get("kernels", {})  # absent in checkpoints written before kernels were recorded
    if not isinstance(kernels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in kernels.items()):
        raise CheckpointError(f"{STATE_JSON}: kernels must map shapes to kernel names")
    stage = scalars.get("stage", {})  # absent in checkpoints written before stages kept state of their own
    if not isinstance(stage, dict):
        raise CheckpointError(f"{STATE_JSON}: stage must be an object")
    return TrainerState(
        step=scalars["step"], cursor=scalars["cursor"], optimizer=optimizer, scheduler=scalars["scheduler"], rng=rng,
        kernels=kernels, stage=stage,
    )  # fmt: skip


def check_fits(state: TrainerState, params: list[torch.Tensor], scheduler: dict[str, Any]) -> None:
    """Raise a CheckpointError unless the state belongs to these parameters (count and shapes) and to a
    scheduler whose state_dict() is `scheduler` (same keys, same kinds of value)."""
    if {k: type(v) for k, v in state.scheduler.items()} != {k: type(v) for k, v in scheduler.items()}:
        raise CheckpointError(f"{STATE_JSON}: the scheduler state is not that of this run's scheduler")
    try:
        ids = [index for group in state.optimizer["param_groups"] for index in group["params"]]
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{STATE_JSON}: param_groups without parameter ids") from error
    if len(ids) != len(params) or len(set(ids)) != len(ids):
        raise CheckpointError(f"optimizer state for {len(ids)} parameters, the model has {len(params)}")
    by_id = dict(zip(ids, params, strict=True))
    for index, values in state.optimizer["state"].items():
        if index not in by_id:
            raise CheckpointError(f"optimizer state of parameter {index}, which no parameter group names")
        for name, value in values.items():
            if value.dim() > 0 and value.shape != by_id[index].shape:
                raise CheckpointError(
                    f"optimizer {name} of parameter {index} has shape {tuple(value.shape)}, "
                    f"the model's is {tuple(by_id[index].shape)}"
                )
