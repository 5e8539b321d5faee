"""`aha bench grpo-step`: one GRPO step (sample, score, update) of aha and of TRL's GRPOTrainer, side by side.

Both start from the same weights and train on the same recipe (model, prompts, rewards, G, prompts per
step, max completion length, mu = 1, optimiser), once with beta = 0 and once with beta = 0.04 (a frozen
reference model, loaded only then), in this process, one after the other. Each runs one warm-up step and
then `steps` measured steps; the figures are the median seconds per step and completion tokens per second
over the measured steps. TRL cannot stop generation at a stop string, so aha's stop strings are off here
(both sample until EOS or the length limit: equal work); tokens/s then compares like for like even where
the two draw different completions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aha.bench.configs import GRPOStepBenchConfig
from aha.bench.trl import build_trl_trainer, require_trl
from aha.devices import keep_freed_memory


@dataclass
class StepTimes:
    seconds: list[float]
    tokens: list[int]  # completion tokens generated per step

    @property
    def seconds_per_step(self) -> float:
        return statistics.median(self.seconds)

    @property
    def tokens_per_second(self) -> float:
        return statistics.median(t / s for t, s in zip(self.tokens, self.seconds, strict=True))


def recipe_config(cfg: GRPOStepBenchConfig, beta: float) -> Any:
    from aha import recipes
    from aha.config import load_config
    from aha.stages.grpo import GRPOConfig

    extra = [f"update.beta={beta}", f"steps={cfg.steps + 1}", "mu=1"]
    if not cfg.keep_stop_strings:
        extra.append("prompt.stop=[]")
    return load_config(GRPOConfig, recipes.find(cfg.recipe), [*cfg.overrides, *extra])


def time_aha(recipe: Any, work: Path, steps: int) -> StepTimes:
    """aha's GRPO stage, step by step: collect (sample + score) then the policy update."""
    from aha.models import load
    from aha.stages.grpo import Trainer
    from aha.track.run_dir import RunDir

    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model, device=recipe.device, dtype=recipe.dtype)
    ref = load(recipe.model, device=recipe.device, dtype=recipe.dtype) if recipe.update.beta > 0 else None
    if ref is not None:
        ref.model.requires_grad_(False)
    run_dir = RunDir(work / "aha")
    run_dir.create({})
    trainer = Trainer(recipe, run_dir, loaded, ref)
    times = StepTimes([], [])
    for step in range(1, steps + 2):
        start = time.perf_counter()
        groups, _, _ = trainer.collect(step)
        trainer.train_on(groups, step)
        seconds = time.perf_counter() - start
        if step > 1:  # the first step is the warm-up
            times.seconds.append(seconds)
            times.tokens.append(sum(len(c.token_ids) for g in groups for c in g.completions))
    return times


def time_trl(recipe: Any, work: Path, steps: int) -> StepTimes:
    """TRL's GRPOTrainer on the same recipe, timed from the start to the end of each optimizer step."""
    require_trl()
    from transformers import TrainerCallback

    from aha.models import load, save_checkpoint
    from aha.stages.grpo import Trainer
    from aha.track.run_dir import RunDir

    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    loaded = load(recipe.model)
    init = save_checkpoint(loaded, work / "init-model")
    run_dir = RunDir(work / "trl-data")
    run_dir.create({})
    data = Trainer(recipe, run_dir, loaded, None)  # prompts, template and rewards, as aha uses them
    hf_model = load(init, backend="hf").model.hf
    times = StepTimes([], [])
    rows = recipe.prompts_per_step * recipe.group_size

    class Clock(TrainerCallback):
        start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.seconds.append(time.perf_counter() - self.start)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                times.tokens.append(round(float(logs["completions/mean_length"]) * rows))

    trainer = build_trl_trainer(recipe, data, hf_model, work / "trl", steps + 1)
    trainer.add_callback(Clock())
    trainer.train()
    return StepTimes(times.seconds[1:], times.tokens[1:])  # the first step is the warm-up


def run(cfg: GRPOStepBenchConfig) -> dict[str, Any]:
    results: dict[str, Any] = {"recipe": cfg.recipe, "steps": cfg.steps, "threads": torch.get_num_threads()}
    recipes = [recipe_config(cfg, beta) for beta in cfg.betas]
    with tempfile.TemporaryDirectory(prefix="aha-bench-grpo-") as tmp:
        # TRL first, with this process's memory allocator as it comes; then aha, which (as `aha train`
        # does) tells glibc to keep freed memory, a process-wide setting that must not reach TRL's side.
        trl = [time_trl(r, Path(tmp) / f"trl-{i}", cfg.steps) for i, r in enumerate(recipes)] if cfg.trl else []
        keep_freed_memory()
        ours = [time_aha(r, Path(tmp) / f"aha-{i}", cfg.steps) for i, r in enumerate(recipes)]
    rows = []
    for index, (beta, recipe, times) in enumerate(zip(cfg.betas, recipes, ours, strict=True)):
        row: dict[str, Any] = {
            "beta": beta,
            "group_size": recipe.group_size,
            "prompts_per_step": recipe.prompts_per_step,
            "max_new_tokens": recipe.max_new_tokens,
            "aha_seconds_per_step": round(times.seconds_per_step, 2),
            "aha_tokens_per_s": round(times.tokens_per_second, 1),
            "aha_tokens": times.tokens,
        }
        if trl:
            base = trl[index]
            row |= {
                "trl_seconds_per_step": round(base.seconds_per_step, 2),
                "trl_tokens_per_s": round(base.tokens_per_second, 1),
                "trl_tokens": base.tokens,
                "step_ratio": round(base.seconds_per_step / times.seconds_per_step, 2),
                "tokens_ratio": round(times.tokens_per_second / base.tokens_per_second, 2),
            }
        rows.append(row)
    results["rows"] = rows
    return results
