"""Command-line option types and the checks that run before any model loads, shared by `aha.cli` and the
speed benchmarks' commands (`aha.bench.command`): a value out of range, an output location that
cannot be written, a model whose files are cut short or whose context is too small for the token budget,
each one `aha: error:` line, seconds after the command starts."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aha.defaults import DEFAULT_MODEL
from aha.errors import AhaError, ConfigError, ModelLoadError
from aha.ranges import COUNT, NON_NEGATIVE_INT, SEED, TEMPERATURE, TOP_P, Range

DTYPE_NAMES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")  # aha.devices.DTYPES and auto


def nonempty(text: str) -> str:
    """argparse type of a value that must not be empty (a field name, a stop string, a prompt)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def device_name(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not cpu, cuda or cuda:N")
    return text


def http_url(text: str) -> str:
    """argparse type of an http:// or https:// URL (an OpenAI-compatible endpoint)."""
    from aha.serve.client import base_url

    try:
        base_url(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def host_name(text: str) -> str:
    """argparse type of an address to listen on: a host name or IP address, no spaces or scheme."""
    if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or IP address")
    return text


def input_file(text: str) -> str:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file")
    return text


def number_list(allowed: Range) -> Callable[[str], tuple[Any, ...]]:
    """argparse type of a comma-separated list, each item in `allowed` (at least one)."""

    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(allowed.parse(item.strip()) for item in text.split(",") if item.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least one value, each {allowed}")
        return values

    return parse


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"shipped name ({DEFAULT_MODEL}, the default), Hugging Face model directory, .gguf file or checkpoint",
    )
    parser.add_argument("--device", type=device_name, default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--dtype",
        choices=DTYPE_NAMES,
        default=None,
        help="float32 | bfloat16 | float16 (default: float32 on CPU, bfloat16 on CUDA)",
    )


def add_sampling_options(
    parser: argparse.ArgumentParser, *, n: int, temperature: float, top_p: float, max_new_tokens: int
) -> None:
    parser.add_argument("--n", type=COUNT.parse, default=n, help=f"samples per prompt (default {n})")
    parser.add_argument("--temperature", type=TEMPERATURE.parse, default=temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=TOP_P.parse, default=top_p, help="in (0, 1]; 1 keeps every token")
    parser.add_argument("--top-k", type=NON_NEGATIVE_INT.parse, default=0, help="0 disables")
    parser.add_argument(
        "--max-new-tokens", type=COUNT.parse, default=max_new_tokens, help="at most the model's context length"
    )
    parser.add_argument("--seed", type=SEED.parse, default=0)


# Checks that need more than one option or the file system; each runs before any model loads.


def check_output_file(option: str, path: str) -> None:
    """--out FILE: not a directory, in an existing directory where a file can be created."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    if target.parent.exists() and not target.parent.is_dir():
        raise ConfigError(f"{option} {path}: {target.parent} is a file, not a directory")
    if not target.parent.is_dir():
        raise ConfigError(f"{option} {path}: directory {target.parent} does not exist")
    probe_writable(option, path, target.parent)


def check_output_dir(option: str, path: str) -> None:
    """--out DIR: not a file; its nearest existing ancestor a directory where files can be created."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{option} {path}: is a file; give a directory")
    ancestor = target
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, not a directory")
    probe_writable(option, path, ancestor)


def probe_writable(option: str, path: str, directory: Path) -> None:
    """Create and remove a file in `directory`: the one test of writability that holds for root too."""
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".aha-write-test-")
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot write in {directory} ({error.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def check_template(template: str, system: str | None) -> None:
    if system is not None and template != "chat":
        raise ConfigError(f"--system: template {template!r} takes no system message (only 'chat' does)")


def check_model(option: str, spec: str, device: str, new_tokens: dict[str, int]) -> None:
    """The model resolves and its files are whole (metadata only, no weights read), the device exists,
    and each token budget in `new_tokens` ({option: value}) fits the model's context."""
    from aha.devices import resolve_device
    from aha.models.load import context_length

    resolve_device(device)  # its errors name the device: "device 'cuda' asked for, but torch sees no CUDA GPU"
    try:
        context = context_length(spec)
    except ModelLoadError as error:
        raise ModelLoadError(f"{option}: {error}") from None
    for name, value in new_tokens.items():
        if context is not None and value > context:
            raise ConfigError(f"{name} {value}: more than the {context} positions of the model {spec}")


def check_recipe(cfg: Any) -> None:
    """A GRPO recipe's model, token budgets and task data, checked before a run directory or a model exists."""
    from aha.tasks import build_task

    budgets = {"max_new_tokens": cfg.max_new_tokens}
    if cfg.benchmarks.names:
        budgets["benchmarks.max_new_tokens"] = cfg.benchmarks.max_new_tokens
    check_model("model", cfg.model, cfg.device, budgets)
    build_task(cfg.task, cfg.seed)  # the prompts are read again by the run, in a fraction of a second
    if cfg.general.share > 0:  # all-scenario RL's general prompts, read the same way
        from aha.tasks.general import read_general

        read_general(cfg.general.data, cfg.general.held_out)


def recipe_and_overrides(recipe: str, overrides: list[str], default: str) -> tuple[str, tuple[str, ...]]:
    """`aha bench grpo-step steps=5` means the default recipe with an override."""
    if "=" in recipe:
        return default, (recipe, *overrides)
    return recipe, tuple(overrides)


def sampling_params(args: argparse.Namespace, **extra: object) -> Any:
    from aha.types import SamplingParams

    try:
        return SamplingParams(
            n=args.n,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            **extra,
        )
    except ValueError as error:
        raise AhaError(str(error)) from error
