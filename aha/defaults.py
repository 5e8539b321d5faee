"""What the command line, the configs and the loaders fall back to, said once, in a module light enough
for `aha --help` to import."""

from __future__ import annotations

DEFAULT_MODEL = "smollm2-135m"  # a shipped model (aha.models.load.SHIPPED)
GRPO_RECIPE = "r1zero-arith"  # `aha train` without a recipe: the main job
SFT_RECIPE = "sft-think-arith"  # `aha sft` without a recipe
DISTILL_RECIPE = "distill-arith"  # `aha distill` without a recipe
RM_RECIPE = "rm-harmless"  # `aha rm` without a recipe
PIPELINE_RECIPE = "r1"  # `aha pipeline` without a recipe
