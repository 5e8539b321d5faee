"""The GRPO stage's config: every recipe key of `stage: grpo`, with its unit, its allowed values and, for
paper values, where they come from; checked as a whole when the config is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aha.algo.advantages import get as get_advantage
from aha.devices import DTYPES
from aha.learn.optim import OptimConfig
from aha.learn.step import UpdateConfig
from aha.models import DEFAULT_MODEL
from aha.ranges import (
    COUNT,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    SEED,
    TEMPERATURE,
    TOP_P,
    Range,
    one_of,
    out_of_range,
    raise_problems,
    registered,
)
from aha.rewards import problems as reward_problems
from aha.run.benchmarks import BenchmarkEvalConfig
from aha.run.prompts import PromptConfig
from aha.tasks import TaskConfig
from aha.track.reflection import DEFAULT_WORDS


@dataclass(frozen=True, kw_only=True)
class RolloutConfig:
    """Who samples the rollouts: aha's engine, or vLLM in this process (`pip install -e ".[vllm]"`)."""

    backend: str = "native"  # native | vllm
    # vLLM's kernels differ from the trainer's, so its log-probs of a sample differ a little from the
    # trainer's: each token's loss is weighted by min(pi_trainer / pi_sampler, tis_cap), truncated importance
    # sampling (Yao et al. 2025); 0 turns the correction off. The native engine's numbers are the trainer's
    # own up to rounding, and take no correction.
    tis_cap: float = 2.0
    kv_cache_gib: float = 2.0  # vLLM's KV cache (its CPU guide's VLLM_CPU_KVCACHE_SPACE)

    def __post_init__(self) -> None:
        problems = [one_of("backend", self.backend, ROLLOUT_BACKENDS), *out_of_range(self, ROLLOUT_RANGES)]
        raise_problems(problems)


ROLLOUT_BACKENDS = ("native", "vllm")
ROLLOUT_RANGES = {"tis_cap": NON_NEGATIVE, "kv_cache_gib": Range(float, 0.0, low_open=True)}

GRPO_RANGES = {  # GRPOConfig's numeric fields
    "advantage_eps": NON_NEGATIVE,
    "group_size": Range(int, 2, note="a group of one has no relative advantage"),
    "prompts_per_step": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "top_k": Range(int, 0, note="0 disables"),
    "max_new_tokens": COUNT,
    "max_refill_rounds": COUNT,
    "overlong_buffer": NON_NEGATIVE_INT,
    "overlong_penalty": NON_NEGATIVE,
    "mu": COUNT,
    "minibatches": COUNT,
    "steps": COUNT,
    "eval_every": Range(int, 0, note="0 = at the start and the end only"),
    "save_every": COUNT,
    "keep_checkpoints": COUNT,
    "log_samples": NON_NEGATIVE_INT,
    "truncation_warning": FRACTION,
    "collapse_window": COUNT,
    "max_rows": COUNT,
    "eval_max_rows": COUNT,
    "seed": SEED,
}


@dataclass(frozen=True, kw_only=True)
class GeneralConfig:
    """All-scenario RL (DeepSeek-R1's last stage): general prompts mixed into every step beside the task's
    reasoning prompts, each scored by its own source's rewards: the task's by the recipe's `rewards`
    (rules), these by `general.rewards` (reward models: helpfulness on the summary, harmlessness on the
    whole response, `aha.rewards.model`). `share` 0 (the default) trains on reasoning prompts only."""

    share: float = 0.0  # of each step's prompts: round(prompts_per_step * share), at least 1 when > 0
    data: str = "set:general_instructions"  # JSONL (aha.tasks.general), or set:NAME[:SPLIT] of a shipped one
    held_out: int = 20  # the data's last N prompts: scored greedily at each evaluation, never trained on
    prompt: PromptConfig = field(default_factory=PromptConfig)  # their template (the reasoning one is `prompt`)
    rewards: dict[str, float | dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        share = Range(float, 0.0, 1.0, high_open=True, note="every step keeps reasoning prompts")
        problems: list[tuple[str, str] | None] = [*out_of_range(self, {"share": share, "held_out": COUNT})]
        if self.share > 0 and not self.rewards:
            problems.append(("rewards", "rewards: general prompts need rewards of their own (reward models)"))
        problems.extend(reward_problems(self.rewards))
        raise_problems(problems)


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    stage: str = "grpo"  # recipes name their stage; this config is the grpo stage's
    name: str = "grpo"  # the recipe's name, shown in reports
    model: str = DEFAULT_MODEL
    task: TaskConfig = field(default_factory=TaskConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    # {name: weight} or {name: {weight: w, setting: value}} (e.g. accuracy_math: {weight: 1, workers: 2})
    rewards: dict[str, float | dict[str, Any]] = field(default_factory=lambda: {"accuracy_numeric": 1.0, "format": 0.5})
    accuracy_reward: str = "accuracy_numeric"  # reported as accuracy (also when its weight is 0)
    format_reward: str = "format"  # the format whose rate is reported: format (R1-Zero's) | format_readable (R1's)
    general: GeneralConfig = field(default_factory=GeneralConfig)  # all-scenario RL's general prompts
    advantage: str = "group"  # group (paper) | batch_std | none (Dr.GRPO)
    advantage_eps: float = 1e-4
    group_size: int = 8  # G: completions per prompt
    prompts_per_step: int = 2  # P: prompts per rollout batch
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    dynamic_sampling: bool = False  # DAPO: drop groups with equal rewards and sample more prompts
    max_refill_rounds: int = 4  # sampling rounds per step with dynamic sampling
    overlong_filter: bool = False  # DAPO: truncated completions are left out of the loss
    overlong_buffer: int = 0  # DAPO soft punishment: the last N tokens before the limit are penalised
    overlong_penalty: float = 1.0  # reward lost at the limit when overlong_buffer > 0
    mu: int = 1  # policy updates per rollout batch (DeepSeekMath's mu)
    minibatches: int = 1  # optimiser steps per update pass
    update: UpdateConfig = field(default_factory=UpdateConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 60  # rollout batches
    eval_every: int = 10  # steps between held-out evaluations (greedy); 0 = only at the start and end
    benchmarks: BenchmarkEvalConfig = field(default_factory=BenchmarkEvalConfig)  # shipped benchmarks too
    save_every: int = 20  # steps between checkpoints; the last step is always saved
    keep_checkpoints: int = 2
    log_samples: int = 4  # completions written to samples.jsonl per step
    reflection_words: tuple[str, ...] = DEFAULT_WORDS
    truncation_warning: float = 0.5  # warn when this share of completions hits max_new_tokens
    collapse_window: int = 10  # warn when 90% of groups had equal rewards for this many steps in a row
    stop_on_collapse: bool = False  # and then stop the run (its last checkpoint stays)
    max_rows: int = 64  # rows the sampler decodes together
    eval_max_rows: int = 256  # rows decoded together in held-out evaluations (greedy, one row per prompt)
    ignore_eos: bool = False  # benchmarks only: every completion runs to max_new_tokens
    # Sample from a copy of the policy in this dtype (e.g. bfloat16: half the weight traffic of fp32
    # decoding), refreshed after every update; the trainer then takes the old log-probs from its own pass.
    # Held-out evaluations and checkpoints use the policy itself.
    sampler_dtype: str | None = None
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, GRPO_RANGES)]
        if self.stage != "grpo":
            problems.append(("stage", f"stage={self.stage!r}: this config is the grpo stage's"))
        problems.extend(reward_problems(self.rewards, self.accuracy_reward))
        problems.append(one_of("format_reward", self.format_reward, ["format", "format_readable", "format_tags"]))
        problems.append(registered("advantage", self.advantage, get_advantage))
        if self.sampler_dtype is not None:
            problems.append(one_of("sampler_dtype", self.sampler_dtype, DTYPES))
        if self.dtype is not None:
            problems.append(one_of("dtype", self.dtype, [*DTYPES, "auto"]))
        if self.overlong_buffer > self.max_new_tokens:
            limit = f"<= max_new_tokens ({self.max_new_tokens})"
            problems.append(("overlong_buffer", f"overlong_buffer={self.overlong_buffer} must be {limit}"))
        raise_problems(problems)
