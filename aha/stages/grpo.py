"""GRPO with rule rewards (DeepSeek-R1-Zero): sample -> score -> advantages -> update -> log -> evaluate.

The loop below composes the pieces; the math lives in `aha.algo`, the sampler in `aha.rollout`, the
update in `aha.learn.step`. Every random choice derives from (seed, step, ...), so a run resumed from a
checkpoint repeats exactly the steps an uninterrupted run would have taken. The trainer state beside the
weights (optimizer, scheduler, RNG, cursor) is safetensors and JSON, never a pickle.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aha.algo.advantages import get as get_advantage
from aha.algo.advantages import zero_variance_groups
from aha.config import to_dict
from aha.data.templates import Template, get_template
from aha.devices import DTYPES, keep_freed_memory, native_bf16, resolve_dtype
from aha.errors import AhaError, CheckpointError, ConfigError
from aha.learn.batch import build_batch
from aha.learn.optim import OptimConfig, make_optimizer
from aha.learn.step import UpdateConfig, old_logprobs, update
from aha.models import DEFAULT_MODEL, LoadedModel, load, save_checkpoint
from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state
from aha.models.packed import pin_kernels
from aha.ranges import (
    COUNT,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    SEED,
    TEMPERATURE,
    TOP_P,
    Range,
    check,
    one_of,
    out_of_range,
    raise_problems,
)
from aha.rewards import combine, get_batch
from aha.rewards import get as get_reward
from aha.rewards.code import require_sandbox
from aha.rollout.engine import Engine
from aha.rollout.sampling import row_seed
from aha.tasks import TaskConfig, build_task
from aha.track.health import is_collapse, repetition_share, step_warnings
from aha.track.plots import plot_run
from aha.track.reflection import DEFAULT_WORDS, reflection_rate
from aha.track.report import write_report
from aha.track.run_dir import RunDir, step_of
from aha.types import Completion, Sample, SamplingParams

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PromptConfig:
    template: str = "chat"  # chat | r1zero | raw
    system: str | None = None  # chat only
    think: bool = False  # pre-fill "<think>" (it counts as part of the response for format rewards)
    examples: tuple[tuple[str, ...], ...] = ()  # chat only: solved (question, response) turns
    suffix: str = ""  # appended to every question
    stop: tuple[str, ...] = ()  # stop strings for sampling

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = []
        if any(len(turn) != 2 for turn in self.examples):
            problems.append(("examples", "examples must be [question, response] pairs"))
        else:
            try:
                get_template(self.template, system=self.system, think=self.think, examples=self.examples)
            except ConfigError as error:
                problems.append(("template", f"template: {error}"))
        if not all(self.stop):
            problems.append(("stop", "stop strings must not be empty"))
        raise_problems(problems)


BENCHMARK_RANGES = {  # BenchmarkEvalConfig's numeric fields
    "every": Range(int, 0, note="0 = at the start and the end only"),
    "limit": COUNT,
    "samples": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_new_tokens": COUNT,
}


@dataclass(frozen=True, kw_only=True)
class BenchmarkEvalConfig:
    """Shipped benchmarks (`aha eval`'s metrics) evaluated on the policy during training, in its own prompt
    template, with samples and summaries under run/bench/step-N/ and one record per benchmark in bench.jsonl."""

    names: tuple[str, ...] = ()  # e.g. [gsm8k, math500]; empty = none
    every: int = 0  # steps between evaluations; 0 = at the start and the end only
    limit: int | None = 50  # first n prompts of each benchmark
    samples: int = 1  # k samples per prompt for pass@1 (and cons@k when k > 1)
    temperature: float = 0.6  # the paper's evaluation setting
    top_p: float = 0.95
    max_new_tokens: int = 256
    greedy: bool = True  # also one greedy completion per prompt

    def __post_init__(self) -> None:
        from aha.evaluation.benchmarks import get_benchmark

        for name in self.names:
            get_benchmark(name)
        check(self, BENCHMARK_RANGES, optional=("limit",))


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
WEIGHT = Range(float)  # a reward's weight: any finite number


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    name: str = "grpo"  # the recipe's name, shown in reports
    model: str = DEFAULT_MODEL
    task: TaskConfig = field(default_factory=TaskConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    rewards: dict[str, float] = field(default_factory=lambda: {"accuracy_numeric": 1.0, "format": 0.5})
    accuracy_reward: str = "accuracy_numeric"  # reported as accuracy (also when its weight is 0)
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
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, GRPO_RANGES)]
        for name, weight in self.rewards.items():
            problems.append(_registered(f"rewards.{name}", name, get_reward))
            if not WEIGHT.holds(weight):
                problems.append((f"rewards.{name}", f"rewards.{name}={weight!r} must be {WEIGHT}"))
        problems.append(_registered("accuracy_reward", self.accuracy_reward, get_reward))
        problems.append(_registered("advantage", self.advantage, get_advantage))
        if self.sampler_dtype is not None:
            problems.append(one_of("sampler_dtype", self.sampler_dtype, DTYPES))
        if self.dtype is not None:
            problems.append(one_of("dtype", self.dtype, [*DTYPES, "auto"]))
        if self.overlong_buffer > self.max_new_tokens:
            limit = f"<= max_new_tokens ({self.max_new_tokens})"
            problems.append(("overlong_buffer", f"overlong_buffer={self.overlong_buffer} must be {limit}"))
        raise_problems(problems)


def _registered(field: str, name: str, get: Callable[[str], Any]) -> tuple[str, str] | None:
    """A (field, message) problem when `name` is not in the registry behind `get` (its error lists the known)."""
    try:
        get(name)
    except KeyError as error:
        return field, f"{field}: {error.args[0]}"
    return None


def sampler_copy(model: torch.nn.Module, dtype: str | None) -> torch.nn.Module | None:
    """A frozen copy of the policy in `dtype` for sampling, or None when that is the policy's own dtype."""
    if dtype is None or resolve_dtype(dtype, model.device) == model.dtype:
        return None
    copy = deepcopy(model).to(resolve_dtype(dtype, model.device)).eval()
    copy.requires_grad_(False)
    return copy


@torch.no_grad()
def sync_sampler(sampler: torch.nn.Module, model: torch.nn.Module) -> None:
    """Copy the policy's weights into the sampler's (cast to its dtype)."""
    for target, source in zip(sampler.parameters(), model.parameters(), strict=True):
        target.copy_(source)


def soft_overlong_penalty(length: int, limit: int, buffer: int, weight: float) -> float:
    """DAPO eq. 13: 0 up to limit - buffer tokens, then falling linearly to -weight at the limit."""
    if buffer <= 0 or length <= limit - buffer:
        return 0.0
    return -weight * min(length - (limit - buffer), buffer) / buffer


@dataclass
class Scored:
    sample: Sample
    completions: list[Completion]
    rewards: list[float]
    components: list[dict[str, float | None]]
    accuracy: list[float | None]  # None: the reference answer itself could not be checked
    formatted: list[float]


class Trainer:
    """State of one GRPO run: model, sampler, optimiser, data cursor and the run directory."""

    def __init__(self, cfg: GRPOConfig, run_dir: RunDir, loaded: LoadedModel, ref: LoadedModel | None) -> None:
        self.cfg, self.run_dir, self.loaded, self.ref = cfg, run_dir, loaded, ref
        prompt = cfg.prompt
        self.template: Template = get_template(
            prompt.template,
            system=prompt.system,
            think=prompt.think,
            examples=tuple((q, a) for q, a in prompt.examples),
        )
        self.train, self.held_out = build_task(cfg.task, cfg.seed)
        self.scorer = combine(cfg.rewards)
        self.format_fn = get_reward("format")
        get_reward(cfg.accuracy_reward)  # an unknown name fails here, before the model loads
        device = loaded.model.device
        asked = (("sampler_dtype", cfg.sampler_dtype), ("update.autocast", cfg.update.autocast))
        bf16 = [name for name, value in asked if value and resolve_dtype(value, device) == torch.bfloat16]
        if bf16 and not native_bf16(device):
            # Emulated bf16 is slower than fp32, and oneDNN cannot prepack bf16 weights for decoding at all
            # without AVX-512 or AVX-NE-CONVERT (it raises), so the run falls back to fp32 throughout.
            names = " and ".join(bf16)
            log.warning("%s ask for bf16, which this CPU only emulates: running in fp32 instead", names)
            update = dataclasses.replace(cfg.update, autocast=None)
            cfg = self.cfg = dataclasses.replace(cfg, sampler_dtype=None, update=update)
        self.sampler = sampler_copy(loaded.model, cfg.sampler_dtype)
        self.engine = Engine(
            self.sampler or loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.max_rows
        )
        self.eval_engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.eval_max_rows)
        updates = cfg.steps * cfg.mu * cfg.minibatches
        self.optimizer, self.scheduler = make_optimizer(loaded.model, cfg.optim, updates)
        self.advantage = get_advantage(cfg.advantage)
        self.cursor = 0
        self._order: tuple[int, list[int]] = (-1, [])
        self._encoded: dict[str, list[int]] = {}

    def encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._encoded:
            self._encoded[sample.id] = self.template.encode(
                sample.prompt + self.cfg.prompt.suffix, self.loaded.tokenizer
            )
        return self._encoded[sample.id]

    def next_samples(self, count: int) -> list[tuple[int, Sample]]:
        """The next prompts in a seeded per-epoch shuffle of the training set, with their pool index."""
        out = []
        for _ in range(count):
            epoch, offset = divmod(self.cursor, len(self.train))
            index = self._epoch_order(epoch)[offset]
            out.append((index, self.train[index]))
            self.cursor += 1
        return out

    def _epoch_order(self, epoch: int) -> list[int]:
        """The seeded shuffle of the training set for one epoch, computed once per epoch."""
        if self._order[0] != epoch:
            order = list(range(len(self.train)))
            random.Random(f"{self.cfg.seed}/epoch/{epoch}").shuffle(order)
            self._order = (epoch, order)
        return self._order[1]

    def score(self, samples: list[Sample], groups: list[list[Completion]]) -> list[Scored]:
        """Score every completion of every group in one batch (rewards with a worker pool run once)."""
        cfg = self.cfg
        flat = [(sample, c) for sample, group in zip(samples, groups, strict=True) for c in group]
        responses = [self.template.response(c.text) for _, c in flat]
        flat_samples = [sample for sample, _ in flat]
        results = self.scorer.many(responses, flat_samples)
        if cfg.accuracy_reward in cfg.rewards:  # already computed (the code sandbox runs once, not twice)
            accuracy = [r.components[cfg.accuracy_reward] for r in results]
        else:
            accuracy = get_batch(cfg.accuracy_reward)(responses, flat_samples)
        formatted = [self.format_fn(r, s) or 0.0 for r, s in zip(responses, flat_samples, strict=True)]
        scored, offset = [], 0
        for sample, group in zip(samples, groups, strict=True):
            part = slice(offset, offset + len(group))
            offset += len(group)
            rewards = [
                r.total
                + soft_overlong_penalty(len(c.token_ids), cfg.max_new_tokens, cfg.overlong_buffer, cfg.overlong_penalty)
                for r, c in zip(results[part], group, strict=True)
            ]
            components = [r.components for r in results[part]]
            scored.append(Scored(sample, group, rewards, components, accuracy[part], formatted[part]))
        return scored

    def sampling_params(self, step: int, round_: int) -> SamplingParams:
        cfg = self.cfg
        return SamplingParams(
            n=cfg.group_size,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            max_new_tokens=cfg.max_new_tokens,
            stop=cfg.prompt.stop,
            seed=row_seed(cfg.seed, step, round_),
            ignore_eos=cfg.ignore_eos,
        )

    def collect(self, step: int) -> tuple[list[Scored], list[Scored], dict[str, float]]:
        """Sample and score P groups (with dynamic sampling: only groups whose rewards differ).

        Returns (groups to train on, every group sampled, timing and counts)."""
        cfg = self.cfg
        kept: list[Scored] = []
        seen: list[Scored] = []
        rounds = cfg.max_refill_rounds if cfg.dynamic_sampling else 1
        timing = {"sampling": 0.0, "scoring": 0.0}
        for round_ in range(rounds):
            need = cfg.prompts_per_step - len(kept)
            if need <= 0:
                break
            chosen = self.next_samples(need)
            start = time.perf_counter()
            groups = self.engine.generate(
                [self.encode(s) for _, s in chosen],
                self.sampling_params(step, round_),
                prompt_keys=[index for index, _ in chosen],
            )
            timing["sampling"] += time.perf_counter() - start
            start = time.perf_counter()
            for scored in self.score([sample for _, sample in chosen], groups):
                seen.append(scored)
                if not cfg.dynamic_sampling or len(set(scored.rewards)) > 1:
                    kept.append(scored)
            timing["scoring"] += time.perf_counter() - start
        return kept, seen, {**timing, "groups_sampled": len(seen), "rounds": round_ + 1}

    def train_on(self, groups: list[Scored], step: int) -> dict[str, float]:
        cfg = self.cfg
        rewards = torch.tensor([g.rewards for g in groups], dtype=torch.float32)  # [P,G]
        adv = self.advantage(rewards, cfg.advantage_eps)  # [P,G]
        rows = [
            (g, c, float(a))
            for g, adv_row in zip(groups, adv, strict=True)
            for c, a in zip(g.completions, adv_row, strict=True)
        ]
        completions = [
            c.token_ids if not (cfg.overlong_filter and c.finish_reason == "length") else [] for _, c, _ in rows
        ]
        if not any(completions):
            return {"loss": 0.0, "skipped": 1.0}
        batch = build_batch(
            [self.encode(g.sample) for g, _, _ in rows],
            completions,
            [c.logprobs for _, c, _ in rows],
            [a for _, _, a in rows],
            self.engine.pad_id,
        ).to(self.loaded.model.device)
        # A sampler in another dtype: old log-probs from the trainer's own numbers, from the update's forward
        # when there is one update, else from one extra forward before the first.
        single = cfg.mu * cfg.minibatches == 1
        if self.sampler is not None and not single:
            batch.old_logp = old_logprobs(self.loaded.model, batch, cfg.update, cfg.temperature)
        stats: list[dict[str, float]] = []
        for epoch in range(cfg.mu):
            generator = torch.Generator().manual_seed(row_seed(cfg.seed, step, epoch))
            order = torch.randperm(batch.rows, generator=generator)
            for part in order.chunk(cfg.minibatches):
                stats.append(
                    update(
                        self.loaded.model,
                        self.optimizer,
                        batch.select(part.sort().values),
                        cfg.update,
                        None if self.ref is None else self.ref.model,
                        cfg.temperature,
                        old_from_current=self.sampler is not None and single,
                    )
                )
                self.scheduler.step()
        if self.sampler is not None:
            sync_sampler(self.sampler, self.loaded.model)
        return {k: sum(s[k] for s in stats) / len(stats) for k in stats[0]}

    def evaluate(self, step: int) -> dict[str, Any]:
        """Greedy held-out accuracy, format rate, length and reflection rate."""
        start = time.perf_counter()
        params = SamplingParams(temperature=0, max_new_tokens=self.cfg.max_new_tokens, stop=self.cfg.prompt.stop)
        groups = self.eval_engine.generate([self.encode(s) for s in self.held_out], params)
        scored = self.score(self.held_out, groups)
        texts = [self.template.response(g.completions[0].text) for g in scored]
        checked = [g.accuracy[0] for g in scored if g.accuracy[0] is not None]
        record = {
            "step": step,
            "accuracy": sum(checked) / len(checked) if checked else 0.0,
            "unverifiable": len(scored) - len(checked),
            "format_rate": sum(g.formatted[0] for g in scored) / len(scored),
            "length_mean": sum(len(g.completions[0].token_ids) for g in scored) / len(scored),
            "reflection_rate": reflection_rate(texts, self.cfg.reflection_words),
            "prompts": len(scored),
            "seconds": round(time.perf_counter() - start, 2),
        }
        self.run_dir.append("eval.jsonl", record)
        for sample, group in zip(self.held_out, scored, strict=True):
            completion = group.completions[0]
            self.run_dir.append(
                "eval_samples.jsonl",
                {
                    "step": step,
                    "id": sample.id,
                    "answer": sample.answer,
                    "completion": completion.text,
                    "correct": group.accuracy[0],
                    "formatted": group.formatted[0],
                    "length": len(completion.token_ids),
                    "finish_reason": completion.finish_reason,
                },
            )
        return record

    def evaluate_benchmarks(self, step: int) -> list[dict[str, Any]]:
        """pass@1 (and greedy accuracy) of the policy on the configured shipped benchmarks; bench.jsonl records."""
        from aha.stages.evaluate import EvalConfig, evaluate_with

        spec = self.cfg.benchmarks
        start = time.perf_counter()
        eval_cfg = EvalConfig(
            model=self.cfg.model,
            benchmarks=spec.names,
            samples=spec.samples,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_new_tokens=spec.max_new_tokens,
            greedy=spec.greedy,
            limit=spec.limit,
            out=str(self.run_dir.bench_path(step)),
            seed=self.cfg.seed,
        )
        summaries = evaluate_with(eval_cfg, self.eval_engine, self.template, self.loaded.tokenizer)
        seconds = round((time.perf_counter() - start) / max(1, len(summaries)), 2)
        records = []
        for summary in summaries:
            record = {
                "step": step,
                "benchmark": summary["benchmark"],
                "problems": summary["problems"],
                **{key: m["value"] for key, m in summary["metrics"].items()},
                **{f"{key}_stderr": m["stderr"] for key, m in summary["metrics"].items()},
                "unchecked": summary["unchecked"],
                "seconds": seconds,
            }
            self.run_dir.append("bench.jsonl", record)
            records.append(record)
        return records

    def save(self, step: int) -> None:
        state = TrainerState.capture(step, self.cursor, self.optimizer, self.scheduler)
        path = self.run_dir.checkpoint_path(step)
        save_checkpoint(self.loaded, path, extra=lambda directory: write_trainer_state(directory, state))
        for old in self.run_dir.complete_checkpoints()[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old)

    def restore(self, state: TrainerState) -> int:
        """Load optimizer, scheduler, RNG, cursor and decode kernels (a CheckpointError when they do not fit);
        the step."""
        state.apply(self.optimizer, self.scheduler)
        pin_kernels(state.kernels)  # sample with the kernels the run chose, whatever this machine would measure
        self.cursor = state.cursor
        return state.step


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def step_metrics(
    step: int,
    groups: list[Scored],
    sampled: list[Scored],
    train: dict[str, float],
    timing: dict[str, Any],
    cfg: GRPOConfig,
    lr: float,
) -> dict[str, Any]:
    """One metrics.jsonl record: rewards (total and per component, unweighted), lengths, health, timing."""
    rewards = [r for g in sampled for r in g.rewards]
    completions = [c for g in sampled for c in g.completions]
    lengths = [len(c.token_ids) for c in completions]
    components: dict[str, list[float]] = {}
    unchecked = 0  # reward values a verifier could not decide (time limit, internal error, bad reference)
    for g in sampled:
        for parts in g.components:
            for name, value in parts.items():
                if value is not None:
                    components.setdefault(name, []).append(value)
                else:
                    unchecked += 1
    mean = sum(rewards) / len(rewards)
    zero_var = zero_variance_groups(torch.tensor([g.rewards for g in sampled])) if sampled else torch.zeros(0)
    total_time = timing["sampling"] + timing["scoring"] + timing["training"]
    return {
        "step": step,
        "reward_mean": mean,
        "reward_std": math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards)),
        **{f"reward/{name}": sum(v) / len(v) for name, v in components.items()},
        "accuracy": _mean([a for g in sampled for a in g.accuracy if a is not None]),
        "rewards_unchecked": unchecked,
        "format_rate": sum(f for g in sampled for f in g.formatted) / len(completions),
        "length_mean": sum(lengths) / len(lengths),
        "length_max": max(lengths),
        "truncated_share": sum(c.finish_reason == "length" for c in completions) / len(completions),
        "zero_variance_share": float(zero_var.float().mean()) if len(zero_var) else 0.0,
        "groups_trained": len(groups),
        "groups_sampled": len(sampled),
        "sampling_rounds": timing["rounds"],
        "reflection_rate": reflection_rate([c.text for c in completions], cfg.reflection_words),
        "repetition_share": repetition_share([c.text for c in completions]),
        **train,
        "lr": lr,
        "time_sampling": round(timing["sampling"], 3),
        "time_scoring": round(timing["scoring"], 3),
        "time_training": round(timing["training"], 3),
        "tokens_per_s": sum(lengths) / total_time if total_time > 0 else 0.0,
    }


def _reference(cfg: GRPOConfig) -> LoadedModel | None:
    """The frozen reference policy of the KL term, when there is one."""
    if cfg.update.beta <= 0:
        return None
    ref = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    ref.model.requires_grad_(False)
    return ref


def _resumed(cfg: GRPOConfig, directory: RunDir, ref: LoadedModel | None) -> tuple[Trainer, int] | None:
    """A trainer restored from the newest checkpoint whose weights and state read and fit, and its step;
    None when the run has no checkpoint yet."""

    def open_checkpoint(path: Path) -> tuple[Trainer, int]:
        state = read_trainer_state(path)
        if state.step != step_of(path):
            raise CheckpointError(f"its trainer state is of step {state.step}")
        trainer = Trainer(cfg, directory, load(path, device=cfg.device, dtype=cfg.dtype), ref)
        return trainer, trainer.restore(state)

    point = directory.resume_point(open_checkpoint)
    return None if point is None else point[1]


def run(
    cfg: GRPOConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train; return the first and last held-out evaluations.

    resume continues from the newest checkpoint that reads (unreadable ones are skipped with a warning), or
    from the start, with a warning, when the run has no checkpoint yet. Without resume the directory may be
    new, or hold a run that failed before its first step; one that got further is refused.
    """
    directory = RunDir(run_dir)
    if resume and not directory.is_run():
        raise AhaError(f"{directory.path}: not a run directory (no config.yaml)")
    require_sandbox([*cfg.rewards, cfg.accuracy_reward])  # before the model loads: a refusal costs nothing
    if not resume:
        directory.claim(to_dict(cfg))
    torch.manual_seed(cfg.seed)
    if cfg.device == "cpu":
        keep_freed_memory()
    ref = _reference(cfg)
    resumed = _resumed(cfg, directory, ref) if resume else None
    if resumed is not None:
        trainer, start = resumed
        directory.truncate_after(start)
    else:
        if resume:
            log.warning("%s has no checkpoint yet: starting from step 1", directory.path)
            directory.create(to_dict(cfg))
        trainer = Trainer(cfg, directory, load(cfg.model, device=cfg.device, dtype=cfg.dtype), ref)
        start = 0
        trainer.evaluate(0)
        if cfg.benchmarks.names:
            trainer.evaluate_benchmarks(0)
    recent = directory.read("metrics.jsonl")[-cfg.collapse_window :]
    for step in range(start + 1, cfg.steps + 1):
        groups, sampled, timing = trainer.collect(step)
        begin = time.perf_counter()
        train = trainer.train_on(groups, step) if groups else {"loss": 0.0, "skipped": 1.0}
        timing["training"] = time.perf_counter() - begin
        metrics = step_metrics(step, groups, sampled, train, timing, cfg, trainer.scheduler.get_last_lr()[0])
        metrics["warnings"] = step_warnings(
            metrics,
            recent,
            max_new_tokens=cfg.max_new_tokens,
            truncation_warning=cfg.truncation_warning,
            collapse_window=cfg.collapse_window,
        )
        recent = [*recent, metrics][-cfg.collapse_window :]
        for note in metrics["warnings"]:
            log.warning("step %d: %s", step, note)
        directory.append("metrics.jsonl", metrics)
        for g in sampled[:1]:
            for c, r in list(zip(g.completions, g.rewards, strict=True))[: cfg.log_samples]:
                directory.append(
                    "samples.jsonl",
                    {
                        "step": step,
                        "prompt": g.sample.prompt,
                        "answer": g.sample.answer,
                        "response": trainer.template.response(c.text),
                        "reward": r,
                        "finish_reason": c.finish_reason,
                    },
                )
        if any(not math.isfinite(metrics.get(k, 0.0)) for k in ("loss", "grad_norm")):
            raise AhaError(f"step {step}: training diverged ({'; '.join(metrics['warnings'])})")
        collapsed = [note for note in metrics["warnings"] if is_collapse(note)]
        if cfg.stop_on_collapse and collapsed:
            trainer.save(step)
            raise AhaError(f"step {step}: stopped (stop_on_collapse): {collapsed[0]}")
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            metrics["eval"] = trainer.evaluate(step)
        every = cfg.benchmarks.every
        if cfg.benchmarks.names and ((every and step % every == 0) or step == cfg.steps):
            metrics["bench"] = trainer.evaluate_benchmarks(step)
        if step % cfg.save_every == 0 or step == cfg.steps:
            trainer.save(step)
        if progress is not None:
            progress(metrics)
    evals, metrics = directory.read("eval.jsonl"), directory.read("metrics.jsonl")
    benches = directory.read("bench.jsonl")
    plot_run(metrics, evals, directory.plots, benches)
    wall = sum(m["time_sampling"] + m["time_scoring"] + m["time_training"] for m in metrics)
    wall += sum(e["seconds"] for e in evals) + sum(b["seconds"] for b in benches)
    write_report(directory.path / "report.md", directory.config(), metrics, evals, wall, benches)
    return {"first": evals[0] if evals else None, "last": evals[-1] if evals else None, "run_dir": str(directory.path)}
