"""aha bench grpo-step on a tiny model, with and without a reference model."""

from __future__ import annotations


def test_bench_grpo_step_times_aha_with_and_without_a_reference_model(tiny_llama_dir):
    from aha.bench.grpo_step import GRPOStepBenchConfig, run

    overrides = (f"model={tiny_llama_dir}", "max_new_tokens=4", "group_size=2", "task.train_size=20", "task.held_out=2")
    result = run(GRPOStepBenchConfig(overrides=overrides, steps=1, trl=False))
    assert [row["beta"] for row in result["rows"]] == [0.0, 0.04]
    for row in result["rows"]:
        assert len(row["aha_tokens"]) == 1 and 0 < row["aha_tokens"][0] <= 2 * 2 * 4
        assert row["aha_seconds_per_step"] > 0 and "trl_seconds_per_step" not in row
