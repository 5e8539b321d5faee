"""Stages, by the name a recipe gives in its `stage:` key (default grpo): each a config dataclass, a
`run(cfg, run_dir, resume=, progress=)`, and a `preflight(cfg)` that checks what it can before any model
loads. Modules load on first use, so `aha --help` stays instant."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aha.errors import ConfigError

DEFAULT_STAGE = "grpo"
STAGES = {
    "grpo": ("aha.stages.grpo", "GRPOConfig"),
    "sft": ("aha.stages.sft", "SFTConfig"),
    "sample": ("aha.stages.sample", "SampleConfig"),
    "reject": ("aha.stages.reject", "RejectConfig"),
    "distill": ("aha.stages.distill", "DistillConfig"),
    "reward_model": ("aha.stages.reward_model", "RewardModelConfig"),
    "pipeline": ("aha.stages.pipeline", "PipelineConfig"),
}


@dataclass(frozen=True)
class Stage:
    name: str
    config: type
    run: Any  # (cfg, run_dir, *, resume, progress) -> {"first", "last", "run_dir"}
    preflight: Any  # (cfg) -> cfg, raising an AhaError before any model loads


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module_name, config = STAGES[name]
    module = importlib.import_module(module_name)
    return Stage(name, getattr(module, config), module.run, module.preflight)


def stage_of(recipe: Path) -> str:
    """The `stage:` a recipe file names (grpo when it names none)."""
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return DEFAULT_STAGE  # the config loader reports what is wrong with the file, with its line
    stage = data.get("stage", DEFAULT_STAGE) if isinstance(data, dict) else DEFAULT_STAGE
    if not isinstance(stage, str) or stage not in STAGES:
        raise ConfigError(f"{recipe}: stage: {stage!r} is not one of {', '.join(STAGES)}")
    return stage
