"""`aha rm` (stage `reward_model`): a Bradley-Terry reward model trained on preference pairs (DeepSeek-R1's
helpfulness and harmlessness rewards for its all-scenario RL).

A causal LM gets a score head (`NativeDecoder.add_score_head`); a step takes `batch_size` pairs from a
seeded per-epoch shuffle, scores their chosen and rejected conversations in packed sequences of at most
`pack_tokens` tokens (`aha.learn.reward`), and takes one optimiser step on the mean pairwise loss (with
the pairs' margins and `center` reward centring). Held-out evaluation reports pair accuracy (the share of
pairs whose chosen response scores higher), the loss and the mean reward gap. The shared run
(`aha.run.loop`) does the rest: checkpoints in the Hugging Face layout with the head (transformers loads
them as `...ForSequenceClassification`), exact resume, plots and a report.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aha.data.pairs import Pair, read_pairs
from aha.defaults import DEFAULT_MODEL
from aha.devices import DTYPES
from aha.errors import ConfigError
from aha.learn.optim import OptimConfig, make_optimizer
from aha.learn.reward import bradley_terry_loss, common_prefix, sequence_rewards
from aha.models import LoadedModel
from aha.ranges import (
    COUNT,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    SEED,
    Range,
    one_of,
    out_of_range,
    raise_problems,
)
from aha.run.cursor import Cursor
from aha.run.loop import Evaluation, run_stage, with_steps
from aha.track.plots import plot_run
from aha.track.run_dir import RunDir

log = logging.getLogger(__name__)
RM_RANGES = {
    "held_out": COUNT,
    "max_tokens": Range(int, 2),
    "pack_tokens": Range(int, 2),
    "batch_size": COUNT,
    "train_layers": NON_NEGATIVE_INT,
    "epochs": POSITIVE,
    "steps": NON_NEGATIVE_INT,
    "max_grad_norm": POSITIVE,
    "center": NON_NEGATIVE,
    "eval_every": Range(int, 0, note="0 = at the start and the end only"),
    "save_every": COUNT,
    "keep_checkpoints": COUNT,
    "seed": SEED,
}


def pairs_path(spec: str) -> Path:
    """A pairs file: `set:NAME:SPLIT` is a shipped set (aha/data/sets/NAME_SPLIT.jsonl), anything else a path."""
    if not spec.startswith("set:"):
        return Path(spec)
    from aha.tasks.sets import SETS_DIR

    name, _, split = spec.removeprefix("set:").partition(":")
    path = SETS_DIR / f"{name}_{split or 'train'}.jsonl"
    if not path.is_file():
        shipped = sorted(p.stem for p in SETS_DIR.glob("*_pairs_*.jsonl"))
        raise ConfigError(f"no shipped pairs {spec!r}; shipped: {', '.join(shipped)} (as set:NAME:SPLIT)")
    return path


@dataclass(frozen=True, kw_only=True)
class RewardModelConfig:
    stage: str = "reward_model"
    name: str = "rm"
    model: str = DEFAULT_MODEL  # the LM the reward model starts from (a checkpoint with a head continues it)
    data: str = "set:hh_harmless_pairs:train"  # JSONL of preference pairs (aha.data.pairs), or set:NAME:SPLIT
    held_out_data: str | None = "set:hh_harmless_pairs:test"
    held_out: int = 300  # its first N pairs
    max_tokens: int = 512  # pairs with a longer conversation are dropped (counted)
    pack_tokens: int = 4096  # tokens per packed sequence, one forward each
    batch_size: int = 16  # pairs per optimiser step
    train_layers: int = 0  # 0 = every weight trains; N = the top N blocks, the final norm and the head only
    epochs: float = 1.0
    steps: int = 0  # 0 = from epochs
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5, warmup_steps=5, schedule="cosine"))
    max_grad_norm: float = 1.0
    center: float = 0.0  # reward centring coefficient (TRL's center_rewards_coefficient; 0.01 is usual)
    eval_every: int = 0
    save_every: int = 50
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, RM_RANGES)]
        if self.stage != "reward_model":
            problems.append(("stage", f"stage={self.stage!r}: this config is the reward_model stage's"))
        if self.pack_tokens < self.max_tokens:
            problems.append(
                ("pack_tokens", f"pack_tokens={self.pack_tokens} must be >= max_tokens ({self.max_tokens})")
            )
        if self.dtype is not None:
            problems.append(one_of("dtype", self.dtype, [*DTYPES, "auto"]))
        raise_problems(problems)


def preflight(cfg: RewardModelConfig) -> RewardModelConfig:
    """Model files, data files and the step count (from epochs), before any model loads."""
    from aha.data.jsonl import read_jsonl
    from aha.models.load import layer_count
    from aha.options import check_model

    check_model("model", cfg.model, cfg.device, {"max_tokens": cfg.max_tokens})
    layers = layer_count(cfg.model)
    if layers is not None and cfg.train_layers > layers:
        raise ConfigError(f"train_layers={cfg.train_layers}: the model has {layers} blocks")
    for name, spec in [("data", cfg.data)] + ([("held_out_data", cfg.held_out_data)] if cfg.held_out_data else []):
        try:
            path = pairs_path(spec)
        except ConfigError as error:
            raise ConfigError(f"{name}: {error}") from None
        if not path.is_file():
            raise ConfigError(f"{name}: {path}: no such file")
    return cfg if cfg.steps else with_steps(cfg, sum(1 for _ in read_jsonl(pairs_path(cfg.data))))


def pack_bins(pairs: Sequence[Pair], capacity: int) -> list[list[Pair]]:
    """Consecutive pairs grouped so that each group's packed tokens (a pair's shared context once, then its
    two responses) fit `capacity`."""
    groups: list[list[Pair]] = []
    used = capacity + 1
    for pair in pairs:
        size = len(pair.chosen) + len(pair.rejected) - common_prefix((pair.chosen, pair.rejected))
        if groups and used + size <= capacity:
            groups[-1].append(pair)
            used += size
        else:
            groups.append([pair])
            used = size
    return groups


def freeze_below(model: Any, top: int) -> None:
    """Only the top `top` decoder blocks, the final norm and the score head train: the embedding and the
    blocks below take no gradient, so the backward pass stops at the first block that trains."""
    if top > len(model.layers):
        raise ConfigError(f"train_layers={top}: the model has {len(model.layers)} blocks")
    trained = {id(p) for block in model.layers[-top:] for p in block.parameters()}
    trained |= {id(p) for module in (model.norm, model.score) for p in module.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trained)


def pair_rewards(model: Any, pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of the chosen [P] and the rejected [P] conversations, from one packed forward."""
    rewards = sequence_rewards(model, [(p.chosen, p.rejected) for p in pairs])
    return rewards[0::2], rewards[1::2]


def margins(pairs: Sequence[Pair], device: torch.device) -> torch.Tensor | None:
    if all(p.margin is None for p in pairs):
        return None
    return torch.tensor([p.margin or 0.0 for p in pairs], device=device)


def held_out_metrics(model: Any, pairs: Sequence[Pair], pack_tokens: int) -> dict[str, Any]:
    """Pair accuracy (a tie, as an untrained head gives, counts half), the loss and the mean reward gap."""
    start = time.perf_counter()
    losses, gaps = [], []
    with torch.no_grad():
        for group in pack_bins(pairs, pack_tokens):
            chosen, rejected = pair_rewards(model, group)
            losses.append(bradley_terry_loss(chosen, rejected).item() * len(group))
            gaps += (chosen - rejected).tolist()
    return {
        "accuracy": (sum(g > 0 for g in gaps) + sum(g == 0 for g in gaps) / 2) / len(gaps),
        "loss": sum(losses) / len(gaps),
        "reward_gap": statistics.fmean(gaps),
        "pairs": len(gaps),
        "seconds": round(time.perf_counter() - start, 2),
    }


class Trainer:
    """One reward-model run's state around its model: pairs, cursor, optimiser and held-out evaluation."""

    def __init__(self, cfg: RewardModelConfig, run_dir: RunDir, loaded: LoadedModel) -> None:
        self.cfg, self.run_dir, self.loaded = cfg, run_dir, loaded
        model = loaded.model
        if not hasattr(model, "add_score_head"):
            raise ConfigError(f"model: {cfg.model}: a reward model needs aha's native decoder (Llama or Qwen2)")
        if model.score is None:
            model.add_score_head()
        if cfg.train_layers:
            freeze_below(model, cfg.train_layers)
        self.pairs, dropped = read_pairs(pairs_path(cfg.data), loaded.tokenizer, cfg.max_tokens)
        self.dropped = dropped
        self.held_out: list[Pair] = []
        if cfg.held_out_data:
            self.held_out = read_pairs(pairs_path(cfg.held_out_data), loaded.tokenizer, cfg.max_tokens)[0][
                : cfg.held_out
            ]
        self.optimizer, self.scheduler = make_optimizer(model, cfg.optim, cfg.steps)
        self.cursor = Cursor(len(self.pairs), cfg.seed)

    def step(self, step: int) -> dict[str, Any]:
        """One optimiser step on the next batch of pairs; its metrics record."""
        cfg, model = self.cfg, self.loaded.model
        start = time.perf_counter()
        batch = [self.pairs[i] for i in self.cursor.take(cfg.batch_size)]
        losses, chosen_all, rejected_all = [], [], []
        for group in pack_bins(batch, cfg.pack_tokens):
            chosen, rejected = pair_rewards(model, group)
            loss = bradley_terry_loss(chosen, rejected, margins(group, chosen.device), cfg.center)
            (loss * len(group) / len(batch)).backward()  # the mean over the whole batch, accumulated
            losses.append(loss.item() * len(group))
            chosen_all.append(chosen.detach())
            rejected_all.append(rejected.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm).item()
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        chosen, rejected = torch.cat(chosen_all), torch.cat(rejected_all)
        seconds = time.perf_counter() - start
        tokens = sum(len(p.chosen) + len(p.rejected) for p in batch)
        return {
            "step": step,
            "loss": sum(losses) / len(batch),
            "accuracy": (chosen > rejected).float().mean().item(),
            "reward_gap": (chosen - rejected).mean().item(),
            "reward_mean": torch.cat([chosen, rejected]).mean().item(),
            "grad_norm": grad_norm,
            "epoch": self.cursor.position / len(self.pairs),
            "lr": lr,
            "time_training": round(seconds, 3),
            "tokens_per_s": tokens / seconds,
        }

    def health(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
        if metrics["step"] == 1 and self.dropped:
            return [f"{self.dropped} pairs longer than max_tokens={self.cfg.max_tokens} dropped"]
        return []

    def stop_reason(self, metrics: dict[str, Any]) -> str | None:
        return None

    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out pair accuracy, loss and mean reward gap."""
        record = {"step": step, **held_out_metrics(self.loaded.model, self.held_out, self.cfg.pack_tokens)}
        self.run_dir.append("eval.jsonl", record)
        return record

    def evaluations(self) -> list[Evaluation]:
        return [Evaluation("eval", self.cfg.eval_every, self.evaluate)] if self.held_out else []

    def finish(self, run_dir: RunDir) -> None:
        metrics, evals = run_dir.read("metrics.jsonl"), run_dir.read("eval.jsonl")
        plot_run(metrics, evals, run_dir.plots, panels=PANELS)
        first, last = (evals[0], evals[-1]) if evals else ({}, {})
        lines = [
            f"# Run report: {self.cfg.name}",
            "",
            f"Reward model from `{self.cfg.model}` on `{self.cfg.data}`: {len(metrics)} steps of "
            f"{self.cfg.batch_size} pairs ({len(self.pairs)} pairs, {self.dropped} dropped as longer than "
            f"{self.cfg.max_tokens} tokens).",
            "",
        ]
        if evals:
            lines += [
                "| held-out | start | end |",
                "| --- | --- | --- |",
                f"| pair accuracy | {first['accuracy']:.1%} | {last['accuracy']:.1%} |",
                f"| loss | {first['loss']:.4f} | {last['loss']:.4f} |",
                f"| mean reward gap | {first['reward_gap']:.3f} | {last['reward_gap']:.3f} |",
                "",
            ]
        (run_dir.path / "report.md").write_text("\n".join(lines), encoding="utf-8")

    def close(self) -> None:
        pass


PANELS = (
    ("metrics", "loss", "training loss (Bradley-Terry)"),
    ("eval", "loss", "held-out loss"),
    ("eval", "accuracy", "held-out pair accuracy"),
    ("metrics", "accuracy", "training pair accuracy"),
    ("metrics", "reward_gap", "reward gap (chosen - rejected)"),
    ("metrics", "lr", "learning rate"),
)


def run(
    cfg: RewardModelConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train the reward model; the first and last held-out evaluations."""
    cfg = preflight(cfg)
    return run_stage(cfg, run_dir, lambda: lambda loaded, d: Trainer(cfg, d, loaded), resume_run=resume,
                     progress=progress)  # fmt: skip
