"""Supervised fine-tuning (the R1 recipe's cold start, its SFT on curated samples, and distillation): the
mean negative log-likelihood of the trained tokens of chat-rendered examples, packed.

A step takes `batch_size` examples from a seeded per-epoch shuffle, packs them into sequences of at most
`pack_tokens` tokens (`aha.learn.sft`) and takes one optimiser step on their mean token loss. The shared
run (`aha.run.loop`) does the rest: held-out evaluation (loss, and where held-out records carry an answer,
greedy accuracy and format rate through the run's rewards), checkpoints in the Hugging Face layout, exact
resume, plots and a report.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aha import dist
from aha.data.jsonl import read_jsonl
from aha.data.sft import Example, answer_samples, read_examples, untrained_end_of_turn
from aha.devices import DTYPES, native_bf16, resolve_dtype
from aha.errors import ConfigError
from aha.learn.optim import OptimConfig, make_optimizer
from aha.learn.sft import bins, mean_nll, sft_update
from aha.models import DEFAULT_MODEL, LoadedModel
from aha.ranges import COUNT, NON_NEGATIVE_INT, POSITIVE, SEED, Range, one_of, out_of_range, raise_problems
from aha.rewards import factory as reward_factory
from aha.rewards import problems as reward_problems
from aha.rollout.engine import Engine
from aha.run.cursor import Cursor
from aha.run.heldout import evaluate_held_out
from aha.run.loop import Evaluation, run_stage, with_steps
from aha.run.prompts import PromptConfig, Prompter
from aha.run.scoring import Scorer
from aha.tasks.sets import get_set
from aha.track.plots import plot_run
from aha.track.report import write_sft_report
from aha.track.run_dir import RunDir

log = logging.getLogger(__name__)
SFT_RANGES = {  # SFTConfig's numeric fields
    "held_out": COUNT,
    "max_tokens": Range(int, 2),
    "pack_tokens": Range(int, 2),
    "batch_size": COUNT,
    "epochs": POSITIVE,
    "steps": NON_NEGATIVE_INT,
    "max_grad_norm": POSITIVE,
    "eval_every": Range(int, 0, note="0 = at the start and the end only"),
    "save_every": COUNT,
    "keep_checkpoints": COUNT,
    "max_new_tokens": COUNT,
    "eval_max_rows": COUNT,
    "seed": SEED,
}


def data_path(spec: str) -> Path:
    """A data file: `set:NAME:SPLIT` is a split of a shipped prompt set (`aha.tasks.sets`), anything else a
    path. ConfigError for a set or split that does not exist."""
    if not spec.startswith("set:"):
        return Path(spec)
    name, _, split = spec.removeprefix("set:").partition(":")
    return get_set(name).path(split or "train")


@dataclass(frozen=True, kw_only=True)
class SFTConfig:
    stage: str = "sft"  # recipes name their stage; this config is the sft stage's
    name: str = "sft"  # the recipe's name, shown in reports
    model: str = DEFAULT_MODEL
    data: str = ""  # training JSONL: {prompt, response} or {messages}; `set:NAME:SPLIT` for a shipped set
    held_out_data: str | None = None  # held-out JSONL: loss, and accuracy where records carry an "answer"
    held_out: int = 100  # its first N records
    max_tokens: int = 512  # an example is cut to this many tokens (reported, never silent)
    packing: bool = True  # pack examples into sequences (each attends to itself only); else padded rows
    pack_tokens: int = 2048  # tokens per packed sequence, one forward each
    batch_size: int = 16  # examples per optimiser step
    epochs: float = 2.0  # passes over the data (DeepSeek-R1: 2 epochs on the curated set); steps from it
    steps: int = 0  # optimiser steps; 0 = from epochs
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-5, warmup_steps=5, schedule="cosine"))
    max_grad_norm: float = 1.0
    autocast: str | None = None  # bfloat16: bf16 matmuls on fp32 weights, where the CPU does bf16 natively
    eval_every: int = 0  # steps between held-out evaluations; 0 = at the start and the end only
    save_every: int = 50  # steps between checkpoints; the last step is always saved
    keep_checkpoints: int = 2
    prompt: PromptConfig = field(default_factory=PromptConfig)  # held-out generation: the chat template
    rewards: dict[str, float | dict[str, Any]] = field(default_factory=lambda: {"format_readable": 1.0})  # held-out
    accuracy_reward: str = "accuracy_numeric"  # reported as held-out accuracy
    format_reward: str = "format_readable"  # reported as held-out format rate (R1's readable format by default)
    max_new_tokens: int = 128  # held-out generation budget
    eval_max_rows: int = 256
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, SFT_RANGES)]
        if self.stage != "sft":
            problems.append(("stage", f"stage={self.stage!r}: this config is the sft stage's"))
        if not self.data:
            problems.append(("data", "data: give the training JSONL (a path, or set:NAME:SPLIT for a shipped set)"))
        if self.pack_tokens < self.max_tokens:
            problems.append(
                ("pack_tokens", f"pack_tokens={self.pack_tokens} must be >= max_tokens ({self.max_tokens})")
            )
        problems.extend(reward_problems(self.rewards, self.accuracy_reward))
        try:
            reward_factory(self.format_reward)
        except KeyError as error:
            problems.append(("format_reward", f"format_reward: {error.args[0]}"))
        if self.autocast is not None:
            problems.append(one_of("autocast", self.autocast, DTYPES))
        if self.dtype is not None:
            problems.append(one_of("dtype", self.dtype, [*DTYPES, "auto"]))
        raise_problems(problems)


def preflight(cfg: SFTConfig) -> SFTConfig:
    """Check the model's files and context, and the data files, before any model loads; the config with
    `steps` worked out from `epochs`."""
    from aha.options import check_model

    check_model("model", cfg.model, cfg.device, {"max_tokens": cfg.max_tokens, "max_new_tokens": cfg.max_new_tokens})
    files = [("data", cfg.data)] + ([("held_out_data", cfg.held_out_data)] if cfg.held_out_data else [])
    for name, spec in files:
        try:
            path = data_path(spec)
        except ConfigError as error:
            raise ConfigError(f"{name}: {error}") from None
        if not path.is_file():
            raise ConfigError(f"{name}: {path}: no such file")
    return with_steps(cfg, sum(1 for _ in read_jsonl(data_path(cfg.data))))


class Trainer:
    """One SFT run's state around its model: data, cursor, optimiser and held-out evaluation."""

    def __init__(self, cfg: SFTConfig, run_dir: RunDir, loaded: LoadedModel) -> None:
        self.cfg, self.run_dir, self.loaded = cfg, run_dir, loaded
        tokenizer = loaded.tokenizer
        self.examples, truncation = read_examples(data_path(cfg.data), tokenizer, cfg.max_tokens)
        self.truncation = truncation
        silent = untrained_end_of_turn(self.examples, loaded.eos_token_ids)
        if silent:
            log.warning("%d of %d examples never train an end-of-turn token: the model may not learn to stop",
                        silent, len(self.examples))  # fmt: skip
        self.held_out: list[Example] = []
        self.questions = []
        if cfg.held_out_data:
            path = data_path(cfg.held_out_data)
            self.held_out = read_examples(path, tokenizer, cfg.max_tokens, questions=True)[0][: cfg.held_out]
            self.questions = answer_samples(path)[: cfg.held_out]
        self.precision = contextlib.nullcontext
        if cfg.autocast is not None:
            dtype = resolve_dtype(cfg.autocast, loaded.model.device)
            if dtype == torch.bfloat16 and not native_bf16(loaded.model.device):
                log.warning("autocast asks for bf16, which this CPU only emulates: training in fp32 instead")
            else:
                self.precision = lambda: torch.autocast(loaded.model.device.type, dtype=dtype)
        self.copy: dist.FullCopy | None = None  # under several ranks: whole weights for held-out generation
        if dist.world().size > 1:
            self.copy = dist.FullCopy(loaded.model) if self.questions else None
            dist.shard(loaded.model)
        self.optimizer, self.scheduler = make_optimizer(loaded.model, cfg.optim, cfg.steps)
        self.cursor = Cursor(len(self.examples), cfg.seed)
        self.prompter = Prompter(cfg.prompt, tokenizer)
        self.scorer = Scorer(cfg.rewards, cfg.accuracy_reward, self.prompter, format_reward=cfg.format_reward)
        policy = self.copy.model if self.copy else loaded.model
        self.engine = Engine(policy, tokenizer, loaded.eos_token_ids, max_rows=cfg.eval_max_rows)

    def step(self, step: int) -> dict[str, Any]:
        """One optimiser step on the next batch; its metrics record."""
        cfg = self.cfg
        start = time.perf_counter()
        batch = [self.examples[i] for i in self.cursor.take(cfg.batch_size)]
        micro = bins(batch, cfg.pack_tokens) if cfg.packing else [[e] for e in batch]
        # Under several ranks each takes a contiguous share of the step's sequences; the loss is over all.
        mine = micro[dist.world().share(len(micro))]
        trained = sum(e.trained_count for e in batch)
        stats = sft_update(self.loaded.model, self.optimizer, mine, max_grad_norm=cfg.max_grad_norm,
                           packing=cfg.packing, precision=self.precision(), tokens=trained, null=micro[0])  # fmt: skip
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        seconds = time.perf_counter() - start
        tokens = sum(len(e.tokens) for e in batch)
        return {
            "step": step,
            **stats,
            "sequences": float(len(micro)),
            "epoch": self.cursor.position / len(self.examples),
            "lr": lr,
            "time_training": round(seconds, 3),
            "tokens_per_s": tokens / seconds,
            "trained_tokens_per_s": stats["tokens"] / seconds,
        }

    def health(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
        if metrics["step"] == 1 and self.truncation.examples:
            return [f"truncation: {self.truncation}"]
        return []

    def stop_reason(self, metrics: dict[str, Any]) -> str | None:
        return None

    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out loss, and greedy accuracy, format rate and length where held-out records carry answers."""
        start = time.perf_counter()
        record: dict[str, Any] = {"step": step}
        if self.held_out:  # under several ranks: every rank computes a share (this evaluation is collective)
            record["loss"] = mean_nll(self.loaded.model, self.held_out, self.cfg.pack_tokens, self.cfg.packing)
        if self.copy is not None and self.questions:
            self.copy.refresh(self.loaded.model)  # a collective too; rank 0 then generates alone
        if not dist.world().main:
            return record
        if not self.questions:
            record["seconds"] = round(time.perf_counter() - start, 2)
            self.run_dir.append("eval.jsonl", record)
            return record
        extra = {**record, "loss_seconds": round(time.perf_counter() - start, 2)}
        return evaluate_held_out(
            step, self.questions, self.engine, self.scorer, self.run_dir, max_new_tokens=self.cfg.max_new_tokens,
            stop=self.cfg.prompt.stop, reflection_words=(), extra=extra,
        )  # fmt: skip

    def evaluations(self) -> list[Evaluation]:
        if not self.cfg.held_out_data:
            return []
        return [Evaluation("eval", self.cfg.eval_every, self.evaluate, collective=True)]

    def finish(self, run_dir: RunDir) -> None:
        metrics, evals = run_dir.read("metrics.jsonl"), run_dir.read("eval.jsonl")
        plot_run(metrics, evals, run_dir.plots, panels=PANELS)
        wall = sum(m["time_training"] for m in metrics) + sum(e["seconds"] + e.get("loss_seconds", 0.0) for e in evals)
        write_sft_report(run_dir.path / "report.md", run_dir.config(), metrics, evals, wall, str(self.truncation))

    def close(self) -> None:
        self.scorer.close()


PANELS = (
    ("metrics", "loss", "training loss (mean token NLL)"),
    ("eval", "loss", "held-out loss"),
    ("eval", "accuracy", "held-out accuracy (greedy)"),
    ("eval", "format_rate", "held-out format rate"),
    ("metrics", "trained_tokens_per_s", "trained tokens/s"),
    ("metrics", "lr", "learning rate"),
)


def run(
    cfg: SFTConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune; the first and last held-out evaluations (`aha.run.loop.run_stage` says how runs resume)."""
    cfg = preflight(cfg)
    return run_stage(cfg, run_dir, lambda: lambda loaded, d: Trainer(cfg, d, loaded), resume_run=resume,
                     progress=progress)  # fmt: skip
