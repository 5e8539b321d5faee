"""`aha bench rm`: aha's reward-model stage and TRL's RewardTrainer on the same weights, pairs, order, steps
and optimiser, then both models' held-out pair accuracy measured the same way.

Both sides start from the same weights (the recipe's model with a zero score head, handed to TRL as a
transformers `...ForSequenceClassification`), with the same weights trained (the recipe's `train_layers`:
the other parameters frozen on both sides), and train on the same pairs (those within `max_tokens`, as both
drop longer ones) in the same order (aha's seeded per-epoch shuffle, handed to TRL as a sequential
dataset), `batch_size` pairs a step, fp32, with aha's optimiser and schedule (as `aha bench sft` does:
transformers' warmup starts at lr 0 where aha's starts at lr / warmup_steps). TRL renders the
conversations itself; the tokens are checked equal to aha's before any step. TRL keeps its trainer,
collator (right-padded rows of chosen then rejected) and loss (the same Bradley-Terry mean, with its
`center_rewards_coefficient` as aha's `center`).

After training, TRL's model is saved in the Hugging Face layout and loaded by aha, so both are scored on
the held-out pairs by the same code (whose rewards equal transformers' sequence classifier's, a tested
property): pair accuracy (ties count half), loss and mean reward gap. Seconds per step are medians over
steps 2..N.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aha.bench.configs import RMBenchConfig
from aha.bench.trl import require_trl, trainer_settings
from aha.devices import keep_freed_memory
from aha.errors import AhaError


def recipe_config(cfg: RMBenchConfig) -> Any:
    from aha import recipes
    from aha.config import load_config
    from aha.stages.reward_model import RewardModelConfig, preflight

    extra = [f"steps={cfg.steps}"] if cfg.steps else []
    recipe = preflight(load_config(RewardModelConfig, recipes.find(cfg.recipe), [*cfg.overrides, *extra]))
    if not recipe.held_out_data:
        raise AhaError("aha bench rm compares held-out pair accuracy: the recipe needs held_out_data")
    return recipe


def _median_step(seconds: list[float]) -> float:
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def run_aha(recipe: Any, work: Path) -> dict[str, Any]:
    """aha's reward-model stage, step by step (`aha rm` without checkpoints), then its held-out figures."""
    from aha.models import load
    from aha.stages.reward_model import Trainer, held_out_metrics
    from aha.track.run_dir import RunDir

    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model, device=recipe.device, dtype=recipe.dtype)
    run_dir = RunDir(work / "aha")
    run_dir.create({})
    trainer = Trainer(recipe, run_dir, loaded)
    losses, seconds = [], []
    for step in range(1, recipe.steps + 1):
        start = time.perf_counter()
        losses.append(trainer.step(step)["loss"])
        seconds.append(time.perf_counter() - start)
    held_out = held_out_metrics(loaded.model, trainer.held_out, recipe.pack_tokens)
    return {"loss": losses, "seconds": seconds, "held_out": held_out}


def trl_records(recipe: Any, order: list[int]) -> list[dict[str, Any]]:
    """The kept pairs as TRL's conversational preference rows (whole conversations), in `order`."""
    from aha.data.jsonl import read_jsonl
    from aha.data.pairs import conversations
    from aha.stages.reward_model import pairs_path

    path = pairs_path(recipe.data)
    rows = {}
    for line, record in read_jsonl(path):
        chosen, rejected = conversations(record, f"{path}:{line}")
        rows[f"{path}:{line}"] = {"chosen": chosen, "rejected": rejected}
    return [rows[where] for where in order]


def freeze_hf_below(model: Any, top: int) -> None:
    """`aha.stages.reward_model.freeze_below` on a transformers sequence classifier."""
    trained = {id(p) for block in model.model.layers[-top:] for p in block.parameters()}
    trained |= {id(p) for module in (model.model.norm, model.score) for p in module.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trained)


def run_trl(recipe: Any, work: Path) -> dict[str, Any]:
    """TRL's RewardTrainer on the recipe's pairs in aha's order with aha's optimiser, scored by aha."""
    trl = require_trl()
    from datasets import Dataset
    from datasets.utils import logging as datasets_logging
    from transformers import AutoModelForSequenceClassification, PrinterCallback, TrainerCallback

    from aha.data.pairs import read_pairs
    from aha.learn.optim import make_optimizer
    from aha.models import load, save_checkpoint
    from aha.run.cursor import Cursor
    from aha.stages.reward_model import held_out_metrics, pairs_path

    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model)
    loaded.model.add_score_head()
    init = save_checkpoint(loaded, work / "init-model")
    pairs, _ = read_pairs(pairs_path(recipe.data), loaded.tokenizer, recipe.max_tokens)
    order = [pairs[i] for i in Cursor(len(pairs), recipe.seed).take(recipe.batch_size * recipe.steps)]
    model = AutoModelForSequenceClassification.from_pretrained(init, num_labels=1, dtype=torch.float32)
    if recipe.train_layers:
        freeze_hf_below(model, recipe.train_layers)
    losses: list[float] = []
    seconds: list[float] = []

    class Recording(trl.RewardTrainer):
        """TRL's RewardTrainer, the loss of every step recorded unrounded (the log rounds it)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            losses.append(float((loss[0] if return_outputs else loss).detach()))
            return loss

    class Clock(TrainerCallback):
        start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds.append(time.perf_counter() - self.start)

    args = trl.RewardConfig(
        **trainer_settings(recipe, work / "trl", recipe.steps),
        max_length=recipe.max_tokens,
        center_rewards_coefficient=recipe.center or None,
        train_sampling_strategy="sequential",  # the dataset is already in aha's order
    )
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        trainer = Recording(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(trl_records(recipe, [p.where for p in order])),
            processing_class=loaded.tokenizer,
            optimizers=make_optimizer(model, recipe.optim, recipe.steps),
        )
    finally:
        if bars:
            datasets_logging.enable_progress_bar()
    dataset = trainer.train_dataset
    if len(dataset) != len(order):
        raise AhaError(f"TRL kept {len(dataset)} of the {len(order)} pairs aha trains on")
    for row, pair in zip(dataset, order, strict=True):
        if (tuple(row["chosen_ids"]), tuple(row["rejected_ids"])) != (pair.chosen, pair.rejected):
            raise AhaError(f"TRL renders {pair.where} differently from aha")
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(Clock())
    trainer.train()
    model.save_pretrained(work / "trl-model")
    loaded.tokenizer.save_pretrained(work / "trl-model")
    scored = load(work / "trl-model")
    held_out, _ = read_pairs(pairs_path(recipe.held_out_data), loaded.tokenizer, recipe.max_tokens)
    return {
        "loss": losses,
        "seconds": seconds,
        "held_out": held_out_metrics(scored.model, held_out[: recipe.held_out], recipe.pack_tokens),
    }


def run(cfg: RMBenchConfig) -> dict[str, Any]:
    recipe = recipe_config(cfg)
    keep_freed_memory()  # both sides under the setting `aha rm` runs with (see aha.bench.sft)
    with tempfile.TemporaryDirectory(prefix="aha-bench-rm-") as tmp:
        trl = run_trl(recipe, Path(tmp)) if cfg.trl else None
        ours = run_aha(recipe, Path(tmp))
    result: dict[str, Any] = {
        "recipe": cfg.recipe,
        "model": recipe.model,
        "data": recipe.data,
        "held_out_data": recipe.held_out_data,
        "steps": recipe.steps,
        "batch_size": recipe.batch_size,
        "train_layers": recipe.train_layers,
        "lr": recipe.optim.lr,
        "threads": torch.get_num_threads(),
        **_figures("aha", ours),
    }
    if trl is not None:
        result |= _figures("trl", trl)
        result["step1_loss_difference"] = abs(ours["loss"][0] - trl["loss"][0])
        result["speed_ratio"] = round(result["trl_seconds_per_step"] / result["aha_seconds_per_step"], 2)
    return result


def _figures(side: str, found: dict[str, Any]) -> dict[str, Any]:
    held_out = found["held_out"]
    return {
        f"{side}_loss": found["loss"],
        f"{side}_seconds": [round(s, 3) for s in found["seconds"]],
        f"{side}_seconds_per_step": round(_median_step(found["seconds"]), 3),
        f"{side}_held_out_accuracy": held_out["accuracy"],
        f"{side}_held_out_loss": held_out["loss"],
        f"{side}_held_out_reward_gap": held_out["reward_gap"],
        f"{side}_held_out_pairs": held_out["pairs"],
    }


def summary(result: dict[str, Any]) -> str:
    """The figures as text (`--json` prints `result` itself)."""
    trained = f"top {result['train_layers']} blocks" if result["train_layers"] else "every weight"
    lines = [
        f"Reward model, recipe {result['recipe']} ({result['model']}, fp32, {result['threads']} threads): "
        f"{result['steps']} steps of {result['batch_size']} pairs, lr {result['lr']:g}, {trained} trained; "
        f"held out: {result['held_out_data']}",
    ]
    for side, name in (("aha", "aha"), ("trl", "TRL")):
        if f"{side}_loss" in result:
            lines.append(
                f"  {name:<3} held-out pair accuracy {result[f'{side}_held_out_accuracy']:.1%} on "
                f"{result[f'{side}_held_out_pairs']} pairs, loss {result[f'{side}_held_out_loss']:.4f}, "
                f"reward gap {result[f'{side}_held_out_reward_gap']:.3f}; "
                f"{result[f'{side}_seconds_per_step']:.2f} s/step"
            )
    if "trl_loss" in result:
        lines.append(
            f"  step 1 loss difference {result['step1_loss_difference']:.2e}; "
            f"aha {result['speed_ratio']:.2f}x TRL's speed per step"
        )
    return "\n".join(lines)
