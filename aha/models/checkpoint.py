"""Checkpoints in the Hugging Face layout, written atomically.

A checkpoint directory holds config.json, model.safetensors, generation_config.json and the tokenizer
files, so transformers and vLLM load it as they load any model. It is written under a temporary name
in the same parent directory and renamed into place only when every file is on disk: a run killed at
any moment leaves either the previous checkpoint or the new one, never a half-written one under the
final name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import GenerationConfig

from aha.models.convert import hf_from_native
from aha.models.llama import NativeDecoder
from aha.models.load import LoadedModel

TMP_MARK = ".tmp-"


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


def hf_state_dict(loaded: LoadedModel) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face names, on the CPU."""
    model = loaded.model
    if isinstance(model, NativeDecoder):
        state = hf_from_native(model.state_dict(), model.spec)
    else:
        state = dict(model.hf.state_dict())
        if getattr(loaded.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
    return {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}


def _write_model(loaded: LoadedModel, directory: Path) -> None:
    state = hf_state_dict(loaded)
    dtype = next(iter(state.values())).dtype
    config = loaded.config
    config.dtype = str(dtype).removeprefix("torch.")
    config.save_pretrained(directory)
    save_file(state, directory / "model.safetensors", metadata={"format": "pt"})
    eos = list(loaded.eos_token_ids)
    GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=getattr(config, "pad_token_id", None),
    ).save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)


def save_checkpoint(loaded: LoadedModel, path: str | Path, extra: Callable[[Path], None] | None = None) -> Path:
    """Save model, config, generation config and tokenizer to path atomically.

    `extra(tmp_dir)` may add files (optimizer and RNG state for exact resume) inside the same atomic write.
    """

    def write(directory: Path) -> None:
        _write_model(loaded, directory)
        if extra is not None:
            extra(directory)

    return write_atomically(path, write)
