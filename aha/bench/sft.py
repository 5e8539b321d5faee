"""`aha bench sft`: aha's SFT update and TRL's SFTTrainer on the same weights, data, order and settings.

Both sides start from the same weights (aha's default model, handed to TRL as a transformers model), train
on the same records of an SFT recipe (`sft-think-arith`: its shipped training set in the chat template)
in the same order (aha's seeded per-epoch shuffle, handed to TRL as a sequential dataset), `batch_size`
examples per optimiser step, fp32, and train the same tokens: each record's response and the end of its
turn, which TRL's completion-only loss over conversational prompt-completion records also trains (checked
token for token before any step: TRL renders its records itself). Both take the loss of a step as the sum
of the trained tokens' negative log-likelihoods divided by the number of trained tokens in the whole step
(TRL's `num_items_in_batch`), so step 1's losses agree to float rounding and the curves follow each
other as far as fp32 rounding lets two different kernels' runs.

TRL keeps its own trainer, collator (right-padded rows, no packing: TRL's packing reorders examples) and
forward, and runs under the same malloc settings as aha (`trl_default_malloc` leaves glibc's); it is
given aha's optimiser and schedule (torch's fused AdamW with the recipe's lr, betas, weight
decay and gradient clipping, linear warmup then cosine to 10%), because transformers' warmup starts at lr
0 where aha's starts at lr / warmup_steps, which would shift TRL's schedule by one step.

Throughput is trained tokens (the tokens that carry loss, counted the same way on both sides) per second
of optimiser step: the median over steps 2..N (step 1 warms up kernels and allocators; the median leaves
out the steps that other work on a shared machine stretches), and all of those steps' tokens over their
seconds. TRL's step is timed from its `on_step_begin` to its `on_step_end` (data collation, forward,
backward, clipping, optimiser and schedule), aha's over `Trainer.step` (the same, packing included).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aha.bench.configs import SFTBenchConfig
from aha.bench.trl import require_trl, trainer_settings
from aha.devices import keep_freed_memory
from aha.errors import AhaError


@dataclass
class Curve:
    """One side's run: per-step loss, trained tokens and seconds."""

    loss: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def _measured(self) -> slice:
        return slice(1 if len(self.seconds) > 1 else 0, None)  # steps 2..N; step 1 alone when there is no other

    def trained_tokens_per_s(self) -> float:
        """The median step's: robust to the other work of a shared machine, which stretches a few steps."""
        rates = zip(self.tokens[self._measured()], self.seconds[self._measured()], strict=True)
        return statistics.median(tokens / seconds for tokens, seconds in rates)

    def mean_trained_tokens_per_s(self) -> float:
        """All measured steps' trained tokens over their seconds."""
        return sum(self.tokens[self._measured()]) / sum(self.seconds[self._measured()])


def recipe_config(cfg: SFTBenchConfig) -> Any:
    from aha import recipes
    from aha.config import load_config
    from aha.stages.sft import SFTConfig, preflight

    # no held-out data: the bench times steps, and the held-out set would only be read
    extra = [f"steps={cfg.steps}", "held_out_data=null"]
    return preflight(load_config(SFTConfig, recipes.find(cfg.recipe), [*cfg.overrides, *extra]))


def example_order(size: int, seed: int, batch_size: int, steps: int) -> list[int]:
    """The example indices aha's cursor takes over `steps` steps, in order."""
    from aha.run.cursor import Cursor

    return Cursor(size, seed).take(batch_size * steps)


def time_aha(recipe: Any, work: Path) -> Curve:
    """aha's SFT stage, step by step, on its own trainer (`aha sft` without evaluations or checkpoints)."""
    from aha.models import load
    from aha.stages.sft import Trainer
    from aha.track.run_dir import RunDir

    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model, device=recipe.device, dtype=recipe.dtype)
    run_dir = RunDir(work / "aha")
    run_dir.create({})
    trainer = Trainer(recipe, run_dir, loaded)
    curve = Curve()
    try:
        for step in range(1, recipe.steps + 1):
            start = time.perf_counter()
            metrics = trainer.step(step)
            curve.seconds.append(time.perf_counter() - start)
            curve.loss.append(metrics["loss"])
            curve.tokens.append(int(metrics["tokens"]))
    finally:
        trainer.close()
    return curve


def trl_records(recipe: Any, order: list[int]) -> list[dict[str, Any]]:
    """The recipe's training records as TRL's conversational prompt-completion rows, in `order`."""
    from aha.data.jsonl import read_jsonl
    from aha.data.sft import record_messages
    from aha.stages.sft import data_path

    path = data_path(recipe.data)
    rows = []
    for line, record in read_jsonl(path):
        messages = record_messages(record, path, line)
        if [m["role"] for m in messages[-1:]] != ["assistant"] or any(m["role"] == "assistant" for m in messages[:-1]):
            raise AhaError(f"{path}:{line}: aha bench sft compares one-answer records (prompt and response) only")
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return [rows[i] for i in order]


def check_same_tokens(dataset: Any, examples: list[Any], order: list[int]) -> None:
    """TRL's rendered rows against aha's examples: the same tokens, the same ones trained."""
    for position, (row, index) in enumerate(zip(dataset, order, strict=True)):
        example = examples[index]
        trained = tuple(label != -100 for label in row["labels"])
        if tuple(row["input_ids"]) != example.tokens or trained != example.trained:
            raise AhaError(
                f"TRL renders {example.where} (row {position}) differently from aha: "
                f"{len(row['input_ids'])} tokens, {sum(trained)} trained against {len(example.tokens)} and "
                f"{example.trained_count}"
            )


def time_trl(recipe: Any, work: Path) -> Curve:
    """TRL's SFTTrainer on the recipe's records, in aha's order, with aha's optimiser and schedule."""
    trl = require_trl()
    from datasets import Dataset
    from datasets.utils import logging as datasets_logging
    from transformers import PrinterCallback, TrainerCallback

    from aha.data.sft import read_examples
    from aha.learn.optim import make_optimizer
    from aha.models import load, save_checkpoint
    from aha.stages.sft import data_path

    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model)
    init = save_checkpoint(loaded, work / "init-model")
    examples, _ = read_examples(data_path(recipe.data), loaded.tokenizer, recipe.max_tokens)
    order = example_order(len(examples), recipe.seed, recipe.batch_size, recipe.steps)
    hf_model = load(init, backend="hf").model.hf
    curve = Curve()
    losses: list[float] = []
    counts: list[int] = []

    class Recording(trl.SFTTrainer):
        """TRL's SFTTrainer, its loss of every micro-batch recorded unrounded (the log rounds it)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            value = loss[0] if return_outputs else loss
            losses.append(float(value.detach()))
            counts.append(int((inputs["labels"][:, 1:] != -100).sum()))
            return loss

    class Clock(TrainerCallback):
        start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            losses.clear()
            counts.clear()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            curve.seconds.append(time.perf_counter() - self.start)
            curve.loss.append(sum(losses))
            curve.tokens.append(sum(counts))

    args = trl.SFTConfig(
        **trainer_settings(recipe, work / "trl", recipe.steps),
        max_length=recipe.max_tokens,
        packing=False,
        completion_only_loss=True,
        loss_type="nll",
        train_sampling_strategy="sequential",  # the dataset is already in aha's order
        shuffle_dataset=False,
    )
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()  # the dataset preparation's bars, for this trainer only
    try:
        trainer = Recording(
            model=hf_model,
            args=args,
            train_dataset=Dataset.from_list(trl_records(recipe, order)),
            processing_class=loaded.tokenizer,
            optimizers=make_optimizer(hf_model, recipe.optim, recipe.steps),
        )
    finally:
        if bars:
            datasets_logging.enable_progress_bar()
    check_same_tokens(trainer.train_dataset, examples, order)
    trainer.remove_callback(PrinterCallback)  # it prints every step's log; the curves are reported at the end
    trainer.add_callback(Clock())
    trainer.train()
    return curve


def run(cfg: SFTBenchConfig) -> dict[str, Any]:
    recipe = recipe_config(cfg)
    with tempfile.TemporaryDirectory(prefix="aha-bench-sft-") as tmp:
        # `aha sft` tells glibc to keep freed memory (aha.devices.keep_freed_memory), a process-wide setting
        # that TRL's step gains from as much as aha's (fewer page faults on fresh memory; one step in three
        # of TRL's took 14 s with it against 25-35 s without, on the 2-core VM): both sides run under it,
        # unless TRL is to run as it comes, before the setting is made
        if not cfg.trl_default_malloc:
            keep_freed_memory()
        trl = time_trl(recipe, Path(tmp)) if cfg.trl else None
        keep_freed_memory()
        ours = time_aha(recipe, Path(tmp))
    result: dict[str, Any] = {
        "recipe": cfg.recipe,
        "model": recipe.model,
        "steps": recipe.steps,
        "batch_size": recipe.batch_size,
        "threads": torch.get_num_threads(),
        "trl_malloc": "glibc defaults" if cfg.trl_default_malloc else "aha's (keep_freed_memory)",
        "versions": versions(),
        **_figures("aha", ours),
    }
    if trl is not None:
        difference = [abs(a - b) for a, b in zip(ours.loss, trl.loss, strict=True)]
        result |= {
            **_figures("trl", trl),
            "step1_loss_difference": difference[0],
            "max_loss_difference": max(difference),
            "same_tokens": ours.tokens == trl.tokens,
            "ratio": round(ours.trained_tokens_per_s() / trl.trained_tokens_per_s(), 2),
            "mean_ratio": round(ours.mean_trained_tokens_per_s() / trl.mean_trained_tokens_per_s(), 2),
        }
    return result


def versions() -> dict[str, str]:
    import transformers

    found = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        found["trl"] = trl.__version__
    except ImportError:
        pass
    return found


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Both loss curves, and their difference, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = range(1, len(result["aha_loss"]) + 1)
    figure, (curves, gap) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(3, 1))
    curves.plot(steps, result["aha_loss"], label=f"aha ({result['aha_trained_tokens_per_s']:.0f} trained tokens/s)")
    if "trl_loss" in result:
        curves.plot(steps, result["trl_loss"], "--", label=f"TRL ({result['trl_trained_tokens_per_s']:.0f})")
        gap.plot(steps, [a - b for a, b in zip(result["aha_loss"], result["trl_loss"], strict=True)])
    gap.set_ylabel("aha - TRL")
    gap.set_xlabel("optimiser step")
    curves.set_yscale("log")  # the loss falls by four orders of magnitude on the shipped set
    curves.set_ylabel("training loss (mean token NLL)")
    curves.set_title(f"SFT, {result['recipe']}, {result['batch_size']} examples per step")
    curves.legend()
    figure.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(path)


def summary(result: dict[str, Any]) -> str:
    """The figures as text (`--json` prints `result` itself)."""
    lines = [
        f"SFT on recipe {result['recipe']} ({result['model']}, fp32 unless the recipe says otherwise, "
        f"{result['threads']} threads): {result['steps']} steps of {result['batch_size']} examples; "
        "medians over steps 2..N",
        f"  aha {result['aha_seconds_per_step']:>7.2f} s/step {result['aha_trained_tokens_per_s']:>8.1f} trained "
        f"tokens/s (all steps: {result['aha_mean_trained_tokens_per_s']:.1f})",
    ]
    if "trl_loss" in result:
        lines[0] += f"; TRL's malloc: {result['trl_malloc']}"
        lines.insert(
            1,
            f"  TRL {result['trl_seconds_per_step']:>7.2f} s/step {result['trl_trained_tokens_per_s']:>8.1f} trained "
            f"tokens/s (all steps: {result['trl_mean_trained_tokens_per_s']:.1f})",
        )
        lines += [
            f"  ratio aha / TRL: {result['ratio']:.2f}x trained tokens/s (all steps: {result['mean_ratio']:.2f}x)",
            f"  step 1 loss: aha {result['aha_loss'][0]:.6f}, TRL {result['trl_loss'][0]:.6f}, "
            f"difference {result['step1_loss_difference']:.2e}",
            f"  largest loss difference over {result['steps']} steps: {result['max_loss_difference']:.2e}; "
            f"same trained tokens every step: {result['same_tokens']}",
        ]
    return "\n".join(lines)


def _figures(side: str, run: Any) -> dict[str, Any]:
    """One side's curve and throughput for the JSON result, its keys prefixed with `side`."""
    return {
        f"{side}_loss": run.loss,
        f"{side}_tokens": run.tokens,
        f"{side}_seconds": [round(s, 3) for s in run.seconds],
        f"{side}_seconds_per_step": round(statistics.median(run.seconds), 3),
        f"{side}_trained_tokens_per_s": round(run.trained_tokens_per_s(), 1),
        f"{side}_mean_trained_tokens_per_s": round(run.mean_trained_tokens_per_s(), 1),
    }
