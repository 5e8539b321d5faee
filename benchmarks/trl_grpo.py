"""TRL reference run for an aha GRPO recipe: same model, task, prompts, rewards and hyper-parameters.

TRL's GRPOTrainer trains the recipe's model; aha's own evaluator (same held-out prompts, same greedy
decoding, same grader) measures held-out accuracy every `eval_every` steps, so the two learning curves
compare like for like. Not part of the aha package, and aha never imports TRL.

    pip install trl==1.16.0            # or: pip install -e ".[bench]"
    python benchmarks/trl_grpo.py --out runs/trl-arith [key=value ...]

Differences that cannot be removed, and how they are handled:
- TRL's transformers generation takes no stop strings, so completions run to EOS instead of stopping at
  the recipe's stop strings; each reward sees the completion cut after the first stop string, as aha's do.
- TRL's `loss_type="grpo"` is the paper's per-sequence mean (aha's `seq_mean_token_mean`); group-scaled
  rewards, epsilon, beta, lr and its schedule, AdamW betas and gradient clipping are set from the recipe.
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

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    from aha import recipes
    from aha.config import load_config
    from aha.models import load, save_checkpoint
    from aha.models.hf import HFCausalLM
    from aha.rewards import get
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
    by_id = {s.id: s for s in evaluator.train}
    stops = cfg.prompt.stop

    def cut(text: str) -> str:
        ends = [text.find(s) + len(s) for s in stops if s in text]
        return text[: min(ends)] if ends else text

    def reward_fn(name: str):
        reward = get(name)

        def score(prompts, completions, sample_id, **_) -> list[float]:
            return [
                reward(evaluator.template.response(cut(c)), by_id[i]) or 0.0
                for c, i in zip(completions, sample_id, strict=True)
            ]

        score.__name__ = name
        return score

    rows = [
        {"prompt": evaluator.template.render(s.prompt + cfg.prompt.suffix, loaded.tokenizer), "sample_id": s.id}
        for s in evaluator.train
    ]
    dataset = Dataset.from_list(rows)
    trl_args = TRLConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
        num_generations=cfg.group_size,
        gradient_accumulation_steps=1,
        max_completion_length=cfg.max_new_tokens,
        learning_rate=cfg.optim.lr,
        # transformers' schedules equal aha's lr_factor step for step (checked for cosine to 10%)
        lr_scheduler_type="cosine_with_min_lr" if cfg.optim.schedule == "cosine" else "constant_with_warmup",
        lr_scheduler_kwargs={"min_lr_rate": 0.1} if cfg.optim.schedule == "cosine" else {},
        warmup_steps=cfg.optim.warmup_steps,
        adam_beta1=cfg.optim.beta1,
        adam_beta2=cfg.optim.beta2,
        weight_decay=cfg.optim.weight_decay,
        max_grad_norm=cfg.update.max_grad_norm,
        beta=cfg.update.beta,
        epsilon=cfg.update.eps_low,
        epsilon_high=cfg.update.eps_high,
        num_iterations=cfg.mu,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        loss_type="grpo",
        scale_rewards="group" if cfg.advantage == "group" else "none",
        max_steps=cfg.steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=cfg.seed,
        reward_weights=list(cfg.rewards.values()),
        bf16=False,
        dataloader_num_workers=0,
    )
    hf_model = load(init, backend="hf").model.hf

    class Evaluate(TrainerCallback):
        def on_step_end(self, _args, state, _control, **kwargs):
            if (cfg.eval_every and state.global_step % cfg.eval_every == 0) or state.global_step == cfg.steps:
                self.evaluate(state.global_step, kwargs["model"])

        def evaluate(self, step, model):
            model.eval()
            evaluator.engine.model = HFCausalLM(model)
            record = evaluator.evaluate(step)
            model.train()
            print(json.dumps({"trl_eval": record}), flush=True)

    trainer = GRPOTrainer(
        model=hf_model,
        reward_funcs=[reward_fn(n) for n in cfg.rewards],
        args=trl_args,
        train_dataset=dataset,
        processing_class=loaded.tokenizer,
    )
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
