"""report.md of GRPO and SFT runs: the figures it states are the run's records, computed by hand here."""

from __future__ import annotations

from aha.track.report import mean, write_report, write_sft_report


def test_mean_skips_missing_values_and_is_none_without_any():
    assert mean([{"a": 1.0}, {"a": None}, {"b": 5.0}, {"a": 4.0}], "a") == 2.5
    assert mean([{"b": 1.0}], "a") is None and mean([], "a") is None


def test_grpo_report_states_start_end_best_and_training_means(tmp_path):
    evals = [
        {"step": 0, "accuracy": 0.26, "format_rate": 0.86, "length_mean": 30.0, "reflection_rate": 0.0},
        {"step": 30, "accuracy": 0.70, "format_rate": 1.0, "length_mean": 28.0, "reflection_rate": 0.0},
        {"step": 60, "accuracy": 0.655, "format_rate": 1.0, "length_mean": 27.0, "reflection_rate": 0.0},
    ]
    metrics = [{"step": s, "reward_mean": float(s), "warnings": ["w"] if s == 7 else []} for s in range(1, 11)]
    config = {"name": "r1zero-arith", "model": "m", "task": {"name": "arithmetic"}, "prompts_per_step": 2}
    text = write_report(tmp_path / "report.md", config | {"group_size": 8}, metrics, evals, 90.0).read_text()
    assert "10 steps of 2 prompts x 8 samples, 1.5 minutes of steps and evaluations." in text
    assert "| accuracy | 26.0% | 65.5% |" in text
    assert "Best held-out accuracy: 70.0% at step 30." in text
    assert "| reward | 3.000 | 8.000 |" in text  # steps 1-5 and 6-10
    assert "Warnings (1), first: w" in text


def test_sft_report_states_loss_accuracy_and_trained_tokens(tmp_path):
    evals = [{"step": 0, "loss": 2.049, "accuracy": 0.0}, {"step": 20, "loss": 0.007, "accuracy": 0.85}]
    metrics = [{"step": s, "loss": 1.0 / s, "tokens": 100.0} for s in range(1, 7)]
    config = {"name": "sft-think-arith", "model": "m", "data": "set:x:train", "batch_size": 16}
    text = write_sft_report(tmp_path / "report.md", config, metrics, evals, None, "0 examples cut").read_text()
    assert "6 steps of 16 examples (600 trained tokens)." in text
    assert "| loss (mean token NLL) | 2.049 | 0.007 |" in text and "| accuracy (greedy) | 0.0% | 85.0% |" in text
    first5 = sum(1.0 / s for s in range(1, 6)) / 5
    last5 = sum(1.0 / s for s in range(2, 7)) / 5
    assert f"| loss | {first5:.3f} | {last5:.3f} |" in text
