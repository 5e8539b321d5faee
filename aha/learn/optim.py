"""AdamW with linear warmup then a constant or cosine learning rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aha.ranges import ADAM_BETA, NON_NEGATIVE, NON_NEGATIVE_INT, one_of, out_of_range, raise_problems

SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    lr: float = 1e-5  # peak learning rate
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    warmup_steps: int = 0  # linear warmup from 0 over this many optimiser steps
    schedule: str = "constant"  # constant | cosine (to 10% of lr at the last step)

    def __post_init__(self) -> None:
        raise_problems([*out_of_range(self, OPTIM_RANGES), one_of("schedule", self.schedule, SCHEDULES)])


OPTIM_RANGES = {  # OptimConfig's numeric fields
    "lr": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "beta1": ADAM_BETA,
    "beta2": ADAM_BETA,
    "warmup_steps": NON_NEGATIVE_INT,
}


def lr_factor(step: int, total: int, cfg: OptimConfig) -> float:
    """Multiplier of the peak learning rate at optimiser step `step` (0-based) of `total`."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant" or total <= cfg.warmup_steps:
        return 1.0
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def make_optimizer(
    model: torch.nn.Module, cfg: OptimConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernel updates each parameter in one pass; the default one allocates two temporaries per
    # parameter and step (0.39 s -> 0.08 s per step for the default model on 2 CPU cores).
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.bfloat16) for p in params)
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay, fused=fused or None
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg))
    return optimizer, scheduler
