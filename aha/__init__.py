"""aha: the DeepSeek-R1 recipe end to end, from a laptop CPU up.

    import aha
    model = aha.load("smollm2-135m")
    cfg = aha.load_config(aha.GRPOConfig, aha.recipe("r1zero-arith"), ["steps=20"])
    aha.train(cfg, "runs/my-run")
    aha.finetune(aha.load_config(aha.SFTConfig, aha.recipe("sft-think-arith"), []), "runs/my-sft")

The names below are loaded on first use, so `import aha` (and `aha --help`) stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": ("aha.models", "load"),
    "save_checkpoint": ("aha.models", "save_checkpoint"),
    "Engine": ("aha.rollout.engine", "Engine"),
    "SamplingParams": ("aha.types", "SamplingParams"),
    "get_template": ("aha.data.templates", "get_template"),
    "GRPOConfig": ("aha.stages.grpo", "GRPOConfig"),
    "train": ("aha.stages.grpo", "run"),
    "SFTConfig": ("aha.stages.sft", "SFTConfig"),
    "finetune": ("aha.stages.sft", "run"),
    "load_config": ("aha.config", "load_config"),
    "recipe": ("aha.recipes", "find"),
    "Sample": ("aha.types", "Sample"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aha' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(module), attribute)
