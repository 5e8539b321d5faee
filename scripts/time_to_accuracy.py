"""Time to accuracy, aha vs TRL, in one run: how long aha takes to reach what TRL reaches in a time budget.

The setting is TRL's reference one (recipe `arith-boxed`): SmolLM2-135M-Instruct, chat template, "What
is A + B?" with the answer in \\boxed{}, one solved example turn, G = 8, 16 completions per step, at most
64 new tokens, lr 1e-5, beta 0; greedy accuracy on 64 held-out sums, measured by aha's evaluator for both.

1. TRL's GRPOTrainer trains from the shipped weights until its training time reaches the budget (20
   minutes by default), with a held-out evaluation every `eval_every` steps and one at the end; its
   accuracy at the end is the target.
2. aha trains from the same weights on the same recipe, evaluated as often, until its held-out accuracy
   reaches the target (or its own training time reaches the budget).

Training time counts each optimizer step from its start (sampling included) to its end; evaluations
are not counted on either side. Prints and writes (`--out`/summary.json) both curves (training seconds,
step, accuracy), TRL's seconds to the target, aha's, and their ratio.

    pip install -e ".[bench]"
    python scripts/time_to_accuracy.py --out runs/tta [--budget 1200] [--eval-every 5] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="recipe overrides (key=value)")
    parser.add_argument("--recipe", default="arith-boxed")
    parser.add_argument("--budget", type=float, default=1200.0, help="TRL's training seconds (default 1200)")
    parser.add_argument("--eval-every", type=int, default=5, help="steps between held-out evaluations")
    parser.add_argument("--out", default="runs/time-to-accuracy")
    args = parser.parse_intermixed_args()

    from transformers import TrainerCallback

    from aha import recipes
    from aha.bench.trl import build_trl_trainer
    from aha.config import load_config
    from aha.devices import keep_freed_memory
    from aha.models import load, save_checkpoint
    from aha.models.hf import HFCausalLM
    from aha.stages.grpo import GRPOConfig, Trainer
    from aha.track.run_dir import RunDir

    cfg = load_config(GRPOConfig, recipes.find(args.recipe), [*args.overrides, "steps=100000"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    init = save_checkpoint(load(cfg.model), out / "init-model")

    # 1. TRL until its training time reaches the budget
    trl_dir = RunDir(out / "trl")
    trl_dir.create({"name": f"trl-{cfg.name}"})
    evaluator = Trainer(cfg, trl_dir, load(init), None)
    trl_curve: list[dict[str, float]] = []

    def trl_eval(step: int, model, seconds: float) -> float:
        model.eval()
        evaluator.eval_engine.model = HFCausalLM(model)
        accuracy = evaluator.evaluate(step)["accuracy"]
        model.train()
        trl_curve.append({"seconds": round(seconds, 1), "step": step, "accuracy": accuracy})
        print(json.dumps({"trl": trl_curve[-1]}), flush=True)
        return accuracy

    class Budget(TrainerCallback):
        trained = 0.0
        start = 0.0

        def on_step_begin(self, _args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, _args, state, control, **kwargs):
            self.trained += time.perf_counter() - self.start
            done = self.trained >= args.budget
            if done or state.global_step % args.eval_every == 0:
                trl_eval(state.global_step, kwargs["model"], self.trained)
            control.should_training_stop = done

    hf_model = load(init, backend="hf").model.hf
    trainer = build_trl_trainer(cfg, evaluator, hf_model, out / "trl-output", cfg.steps)
    trainer.add_callback(Budget())
    trl_eval(0, trainer.model, 0.0)
    trainer.train()
    target = trl_curve[-1]["accuracy"]
    trl_seconds = trl_curve[-1]["seconds"]
    del trainer, hf_model

    # 2. aha until it reaches TRL's accuracy at the budget (with glibc keeping freed memory, as `aha train`
    # sets it up; process-wide, hence only after TRL's run)
    keep_freed_memory()
    aha_dir = RunDir(out / "aha")
    aha_dir.create({"name": f"aha-{cfg.name}"})
    torch.manual_seed(cfg.seed)
    ours = Trainer(cfg, aha_dir, load(init), None)
    aha_curve = [{"seconds": 0.0, "step": 0, "accuracy": ours.evaluate(0)["accuracy"]}]
    trained, step, reached = 0.0, 0, None
    while trained < args.budget:
        step += 1
        start = time.perf_counter()
        groups, _, _ = ours.collect(step)
        if groups:
            ours.train_on(groups, step)
        trained += time.perf_counter() - start
        if step % args.eval_every == 0:
            aha_curve.append({"seconds": round(trained, 1), "step": step, "accuracy": ours.evaluate(step)["accuracy"]})
            print(json.dumps({"aha": aha_curve[-1]}), flush=True)
            if aha_curve[-1]["accuracy"] >= target:
                reached = aha_curve[-1]
                break
    summary = {
        "recipe": cfg.name,
        "budget_seconds": args.budget,
        "target_accuracy": target,
        "trl_seconds": trl_seconds,
        "trl_steps": trl_curve[-1]["step"],
        "aha_seconds_to_target": reached["seconds"] if reached else None,
        "aha_steps_to_target": reached["step"] if reached else None,
        "ratio": round(trl_seconds / reached["seconds"], 2) if reached else None,
        "trl_curve": trl_curve,
        "aha_curve": aha_curve,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if not k.endswith("_curve")}))


if __name__ == "__main__":
    main()
