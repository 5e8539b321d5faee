"""The speed benches' settings, in a module light enough for the command line to read their defaults
from (`aha.bench.command`), so that each default is said once, here."""

from __future__ import annotations

from dataclasses import dataclass

from aha.defaults import DEFAULT_MODEL, GRPO_RECIPE, RM_RECIPE, SFT_RECIPE
from aha.ranges import (
    COUNT,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    SEED,
    TEMPERATURE,
    TOP_P,
    Range,
    check,
    out_of_range,
    raise_problems,
)


@dataclass(frozen=True, kw_only=True)
class GenerateBenchConfig:
    model: str = DEFAULT_MODEL
    prompts: int = 4  # taken from PROMPTS, cycled
    n: int = 8  # samples per prompt
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    ignore_eos: bool = False
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None
    repeat: int = 1  # timed rounds, each transformers, aha (then vLLM) back to back; the median round is reported
    vllm: bool = True  # a third column, vLLM in this process, where it is installed (on the CPU); False leaves it out

    def __post_init__(self) -> None:
        check(self, RANGES)


RANGES = {  # GenerateBenchConfig's numeric fields
    "prompts": COUNT,
    "n": COUNT,
    "max_new_tokens": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "seed": SEED,
    "repeat": COUNT,
}


@dataclass(frozen=True, kw_only=True)
class GRPOStepBenchConfig:
    recipe: str = GRPO_RECIPE
    overrides: tuple[str, ...] = ()  # key=value for the recipe
    betas: tuple[float, ...] = (0.0, 0.04)
    steps: int = 3  # measured steps per side, after one warm-up step
    keep_stop_strings: bool = False  # True lets aha stop at the recipe's stop strings (TRL cannot: unequal work)
    trl: bool = True  # False times aha alone

    def __post_init__(self) -> None:
        problems = out_of_range(self, {"steps": COUNT})
        problems += [("betas", f"betas: {b!r} must be {NON_NEGATIVE}") for b in self.betas if not NON_NEGATIVE.holds(b)]
        if not self.betas:
            problems.append(("betas", "betas: give at least one KL coefficient"))
        raise_problems(problems)


@dataclass(frozen=True, kw_only=True)
class ScalingBenchConfig:
    recipe: str = GRPO_RECIPE
    overrides: tuple[str, ...] = ()
    group_sizes: tuple[int, ...] = (4, 8, 16)  # at the base length
    lengths: tuple[int, ...] = (128, 256, 512)  # at the base group size
    base_group_size: int = 8
    base_length: int = 256
    steps: int = 2  # measured steps per setting

    def __post_init__(self) -> None:
        counts = ("base_group_size", "base_length", "steps")
        raise_problems(
            [
                *out_of_range(self, dict.fromkeys(counts, COUNT)),
                *[("group_sizes", f"group_sizes: {g!r} must be >= 2") for g in self.group_sizes if g < 2],
                *[("lengths", f"lengths: {n!r} must be >= 1") for n in self.lengths if n < 1],
            ]
        )


@dataclass(frozen=True, kw_only=True)
class SFTBenchConfig:
    recipe: str = SFT_RECIPE
    overrides: tuple[str, ...] = ()  # key=value for the recipe
    steps: int = 50  # optimiser steps per side (the schedule spans them)
    trl: bool = True  # False times aha alone
    trl_default_malloc: bool = False  # True: TRL under glibc's malloc defaults, as a TRL user gets it

    def __post_init__(self) -> None:
        raise_problems(out_of_range(self, {"steps": COUNT}))


@dataclass(frozen=True, kw_only=True)
class RMBenchConfig:
    recipe: str = RM_RECIPE
    overrides: tuple[str, ...] = ()  # key=value for the recipe
    steps: int = 0  # optimiser steps per side; 0 = the recipe's
    trl: bool = True  # False runs aha alone

    def __post_init__(self) -> None:
        raise_problems(out_of_range(self, {"steps": NON_NEGATIVE_INT}))


@dataclass(frozen=True, kw_only=True)
class TrainBenchConfig:
    model: str = DEFAULT_MODEL
    prompts: int = 2  # P
    group_size: int = 8  # G
    completion_tokens: int = 64  # each completion's length
    repeats: int = 5  # timed forward+backward passes (median), after one warm-up
    packing: bool = True
    dtype: str | None = None  # the weights: float32 (default) or bfloat16
    autocast: str | None = None  # bfloat16: fp32 weights, matmuls in bf16 (as update.autocast in a recipe)
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        counts = ("prompts", "completion_tokens", "repeats")
        check(self, {**dict.fromkeys(counts, COUNT), "group_size": Range(int, 2), "seed": SEED})


@dataclass(frozen=True, kw_only=True)
class SampleBenchConfig:
    model: str = DEFAULT_MODEL
    prompts: str = "gsm8k"  # a prompt set's name or a JSONL file, as `aha sample` takes it
    split: str = "test"
    limit: int = 8  # prompts
    n: int = 4  # completions per prompt
    max_new_tokens: int = 128
    temperature: float = 0.6  # `aha sample`'s defaults (DeepSeek-R1's)
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        counts = ("limit", "n", "max_new_tokens")
        check(self, {**dict.fromkeys(counts, COUNT), "temperature": TEMPERATURE, "top_p": TOP_P, "seed": SEED})
