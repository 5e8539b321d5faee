"""aha bench sample: both sides generate for the same prompts, and the figures are what they timed."""

from __future__ import annotations

import json

from aha.bench.configs import SampleBenchConfig
from aha.bench.sample import run, stage_config


def test_both_sides_sample_the_same_prompts_and_report_their_rates(tiny_llama_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(3))
    )
    cfg = SampleBenchConfig(
        model=str(tiny_llama_dir), prompts=str(prompts), split="test", limit=3, n=2, max_new_tokens=5
    )
    result = run(cfg)
    assert result["count"] == 3 and result["n"] == 2
    for side in ("transformers", "aha"):
        assert 6 <= result[f"{side}_tokens"] <= 3 * 2 * 5  # at least one token per completion, at most the limit
        assert result[f"{side}_tokens_per_s"] > 0 and result[f"{side}_seconds"] >= 0
    assert result["ratio"] == round(result["aha_tokens_per_s"] / result["transformers_tokens_per_s"], 2)
    assert stage_config(cfg).temperature == 0.6 and stage_config(cfg).top_p == 0.95  # aha sample's defaults
