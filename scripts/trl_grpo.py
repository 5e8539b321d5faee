"""TRL reference run for an aha GRPO recipe: same model, task, prompts, rewards and hyper-parameters.

TRL's GRPOTrainer trains the recipe's model; aha's own evaluator (same held-out prompts, same greedy
decoding, same grader) measures held-out accuracy every `eval_every` steps, so the two learning curves
compare like for like. Not part of the aha package, and aha never imports TRL.

    pip install trl==1.16.0            # or: pip install -e ".[bench]"
    python scripts/trl_grpo.py --out runs/trl-arith [key=value ...]

How TRL is set up from the recipe, and the differences that cannot be removed: `aha/bench/trl.py`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="r1zero-arith")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--out", default="runs/trl-reference")
    args = parser.parse_intermixed_args()
    if "=" in args.recipe:  # `trl_grpo.py seed=1` means the default recipe with an override
        args.overrides, args.recipe = [args.recipe, *args.overrides], "r1zero-arith"

    from transformers import TrainerCallback

    from aha import recipes
    from aha.bench.trl import build_trl_trainer
    from aha.config import load_config
    from aha.models import load, save_checkpoint
    from aha.models.hf import HFCausalLM
    from aha.stages.grpo import GRPOConfig, Trainer
    from aha.track.run_dir import RunDir

    cfg = load_config(GRPOConfig, recipes.find(args.recipe), args.overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    loaded = load(cfg.model)
    init = save_checkpoint(loaded, out / "init-model")
    # aha's evaluator and data (the same held-out prompts and grader as `aha train`)
    run_dir = RunDir(out / "aha-eval")
    run_dir.create({"name": f"trl-{cfg.name}"})
    evaluator = Trainer(cfg, run_dir, loaded, None)
    hf_model = load(init, backend="hf").model.hf

    class Evaluate(TrainerCallback):
        def on_step_end(self, _args, state, _control, **kwargs):
            if (cfg.eval_every and state.global_step % cfg.eval_every == 0) or state.global_step == cfg.steps:
                self.evaluate(state.global_step, kwargs["model"])

        def evaluate(self, step, model):
            model.eval()
            evaluator.eval_engine.model = HFCausalLM(model)
            record = evaluator.evaluate(step)
            model.train()
            print(json.dumps({"trl_eval": record}), flush=True)

    trainer = build_trl_trainer(cfg, evaluator, hf_model, out / "trl", cfg.steps)
    callback = Evaluate()
    trainer.add_callback(callback)
    callback.evaluate(0, trainer.model)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    evals = run_dir.read("eval.jsonl")
    history = [h for h in trainer.state.log_history if "loss" in h]
    summary = {
        "recipe": cfg.name,
        "steps": cfg.steps,
        "train_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / cfg.steps, 2),
        "evals": evals,
        "reward_first": history[0].get("reward") if history else None,
        "reward_last": history[-1].get("reward") if history else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
