"""TRL's GRPOTrainer set up from an aha GRPO recipe: same model weights, prompts, rewards, hyper-parameters.

Used by `aha bench grpo-step` and `scripts/trl_grpo.py` to compare aha with TRL like for like. TRL is
an optional dependency (`pip install -e ".[bench]"`, pinned to the release tested here); aha's package
never imports it outside these functions.

Differences that cannot be removed, and how they are handled:
- TRL's transformers generation takes no stop strings, so completions run to EOS; each reward sees the
  completion cut after the first stop string, as aha's rewards do.
- TRL's `loss_type="grpo"` is the paper's per-sequence mean (aha's `seq_mean_token_mean`); group-scaled
  rewards, epsilon, beta, lr and its schedule, AdamW betas and gradient clipping are set from the recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aha.errors import AhaError
from aha.rewards import entries

TRL_VERSION = "1.16.0"


def require_trl() -> Any:
    """The trl module, or a one-line error saying how to install the tested release."""
    try:
        import trl
    except ImportError as error:
        raise AhaError(
            f'TRL is not installed: pip install "trl=={TRL_VERSION}" (or pip install -e ".[bench]")'
        ) from error
    return trl


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """The text up to and including the first stop string (TRL cannot stop generation there itself)."""
    ends = [text.find(s) + len(s) for s in stops if s in text]
    return text[: min(ends)] if ends else text


def reward_functions(cfg: Any, trainer: Any) -> list[Callable[..., list[float]]]:
    """One TRL reward function per recipe reward, scoring exactly as aha's trainer does."""
    by_id = {s.id: s for s in trainer.train}
    functions = []
    for entry in entries(cfg.rewards):
        reward = entry.build()

        def score(prompts: list, completions: list, sample_id: list, _reward=reward, **_: Any) -> list[float]:
            responses = [trainer.template.response(cut_at_stop(c, cfg.prompt.stop)) for c in completions]
            values = _reward.score(responses, [by_id[i] for i in sample_id])
            return [value or 0.0 for value in values]

        score.__name__ = entry.name
        functions.append(score)
    return functions


def trainer_settings(recipe: Any, output_dir: str | Path, steps: int) -> dict[str, Any]:
    """The transformers Trainer settings every side-by-side with a TRL trainer shares: an aha recipe's batch,
    steps, clipping, device and seed; fp32; no saving, logging every step, no progress bar; no activation
    checkpointing (TRL's default is on; off, a model this small trains faster and aha recomputes nothing)."""
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": recipe.batch_size,
        "gradient_accumulation_steps": 1,
        "max_steps": steps,
        "max_grad_norm": recipe.max_grad_norm,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": recipe.device == "cpu",
        "seed": recipe.seed,
        "bf16": False,
        "activation_checkpointing": False,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def trl_args(cfg: Any, output_dir: str | Path, steps: int, **extra: Any) -> Any:
    """TRL's GRPOConfig for an aha GRPOConfig (the schedule maps step for step: checked for cosine to 10%)."""
    trl = require_trl()
    cosine = cfg.optim.schedule == "cosine"
    return trl.GRPOConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
        num_generations=cfg.group_size,
        gradient_accumulation_steps=1,
        max_completion_length=cfg.max_new_tokens,
        learning_rate=cfg.optim.lr,
        lr_scheduler_type="cosine_with_min_lr" if cosine else "constant_with_warmup",
        lr_scheduler_kwargs={"min_lr_rate": 0.1} if cosine else {},
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
        max_steps=steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=cfg.device == "cpu",
        seed=cfg.seed,
        reward_weights=[entry.weight for entry in entries(cfg.rewards)],
        bf16=False,
        # TRL turns activation checkpointing on by default; off, a model this small trains faster and aha
        # recomputes no activations either, so TRL is compared at its fastest
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        **extra,
    )


def build_trl_trainer(cfg: Any, trainer: Any, hf_model: Any, output_dir: str | Path, steps: int) -> Any:
    """TRL's GRPOTrainer on the recipe's training prompts (rendered by aha's template), ready to train."""
    trl = require_trl()
    from datasets import Dataset

    tokenizer = trainer.loaded.tokenizer
    rows = [
        {"prompt": trainer.template.render(s.prompt + cfg.prompt.suffix, tokenizer), "sample_id": s.id}
        for s in trainer.train
    ]
    return trl.GRPOTrainer(
        model=hf_model,
        reward_funcs=reward_functions(cfg, trainer),
        args=trl_args(cfg, output_dir, steps),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
