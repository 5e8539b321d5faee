"""`aha bench scaling`: how aha's GRPO step time grows with the group size and the completion length.

Every completion runs to the length limit (EOS and stop strings ignored), so each setting generates and
trains on exactly P x G x length tokens. For each setting the step time (sample, score, update; median of
`steps` after one warm-up step) is compared with the base setting: `cost growth /
token growth` at or below 1 means the cost grows no faster than the tokens do.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from aha.bench.configs import GRPOStepBenchConfig, ScalingBenchConfig
from aha.bench.grpo_step import time_aha
from aha.devices import keep_freed_memory


def settings(cfg: ScalingBenchConfig) -> list[tuple[int, int]]:
    """(group size, length) pairs: the group sizes at the base length, then the lengths at the base size."""
    pairs = [(g, cfg.base_length) for g in cfg.group_sizes] + [(cfg.base_group_size, n) for n in cfg.lengths]
    return list(dict.fromkeys(pairs))


def run(cfg: ScalingBenchConfig) -> dict[str, Any]:
    from aha.bench.grpo_step import recipe_config

    keep_freed_memory()  # as `aha train` does
    rows = []
    for group_size, length in settings(cfg):
        extra = (f"group_size={group_size}", f"max_new_tokens={length}", "ignore_eos=true", "eval_every=0")
        bench = GRPOStepBenchConfig(recipe=cfg.recipe, overrides=(*cfg.overrides, *extra), steps=cfg.steps, trl=False)
        recipe = recipe_config(bench, 0.0)
        with tempfile.TemporaryDirectory(prefix="aha-bench-scaling-") as tmp:
            times = time_aha(recipe, Path(tmp), cfg.steps)
        rows.append(
            {
                "group_size": group_size,
                "length": length,
                "tokens": statistics.median(times.tokens),
                "seconds_per_step": round(times.seconds_per_step, 2),
            }
        )
    base = next(r for r in rows if (r["group_size"], r["length"]) == (cfg.base_group_size, cfg.base_length))
    for row in rows:
        cost = row["seconds_per_step"] / base["seconds_per_step"]
        tokens = row["tokens"] / base["tokens"]
        row["cost_growth"], row["token_growth"] = round(cost, 2), round(tokens, 2)
        row["cost_per_token_growth"] = round(cost / tokens, 2)
    return {"recipe": cfg.recipe, "steps": cfg.steps, "threads": torch.get_num_threads(), "rows": rows}
