"""aha bench train / grpo-step / scaling / rewards: FLOP counts by hand, each benchmark runs on a tiny model,
and the grader corpus agreement counts both graders."""

from __future__ import annotations

import json

import pytest

from aha.benchmarks.scaling import ScalingBenchConfig, settings
from aha.benchmarks.train import TrainBenchConfig, training_flops
from aha.errors import ConfigError
from aha.learn.batch import build_batch
from aha.models import load


def test_training_flops_by_hand(tiny_llama_dir):
    model = load(tiny_llama_dir).model
    spec = model.spec  # hidden 64, 4 heads of 16, 2 key/value heads, MLP 128, 2 layers, tied embeddings
    body_per_layer = 64 * (64 + 2 * 32) + 64 * 64 + 64 * 2 * 128 + 128 * 64
    head = spec.vocab_size * 64
    batch = build_batch([[1, 2, 3], [1, 2, 3]], [[4, 5], [6]], [[0.0, 0.0], [0.0]], [1.0, -1.0], pad_id=0)
    # packed: the prompt once (3 tokens) + 3 completion tokens; attended pairs: prompt 1+2+3, first completion
    # 2 x 3 prompt + 1 + 2, second 1 x 3 + 1
    pairs = 6 + 9 + 4
    expected = 6 * (2 * body_per_layer * 6 + head * 3) + 12 * 2 * 4 * 16 * pairs
    assert training_flops(model, batch, packing=True) == expected
    # padded: 2 rows of 3 + 2 positions, causal pairs 15 per row
    expected_padded = 6 * (2 * body_per_layer * 10 + head * 3) + 12 * 2 * 4 * 16 * 30
    assert training_flops(model, batch, packing=False) == expected_padded


def test_bench_train_runs_and_reports_a_share_of_peak(tiny_llama_dir):
    from aha.benchmarks.train import run

    result = run(TrainBenchConfig(model=str(tiny_llama_dir), prompts=2, group_size=2, completion_tokens=4, repeats=1))
    assert result["rows"] == 4 and result["completion_tokens"] == 16
    assert result["share_of_peak"] > 0 and result["peak_gflop_per_s"] > 0


def test_bench_grpo_step_times_aha_with_and_without_a_reference_model(tiny_llama_dir):
    from aha.benchmarks.grpo_step import GRPOStepBenchConfig, run

    overrides = (f"model={tiny_llama_dir}", "max_new_tokens=4", "group_size=2", "task.train_size=20", "task.held_out=2")
    result = run(GRPOStepBenchConfig(overrides=overrides, steps=1, trl=False))
    assert [row["beta"] for row in result["rows"]] == [0.0, 0.04]
    for row in result["rows"]:
        assert len(row["aha_tokens"]) == 1 and 0 < row["aha_tokens"][0] <= 2 * 2 * 4
        assert row["aha_seconds_per_step"] > 0 and "trl_seconds_per_step" not in row


def test_scaling_settings_vary_one_knob_at_a_time():
    assert settings(ScalingBenchConfig()) == [(4, 256), (8, 256), (16, 256), (8, 128), (8, 512)]


def test_a_missing_trl_is_a_one_line_error(monkeypatch):
    import sys

    from aha.benchmarks.trl import require_trl
    from aha.errors import AhaError

    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` raise ImportError
    with pytest.raises(AhaError, match=r'pip install "trl==1\.16\.0"'):
        require_trl()


def test_trl_arguments_follow_the_recipe(tmp_path):
    pytest.importorskip("trl")
    from aha import recipes
    from aha.benchmarks.trl import trl_args
    from aha.config import load_config
    from aha.stages.grpo import GRPOConfig

    cfg = load_config(GRPOConfig, recipes.find("r1zero-arith"), ["update.beta=0.04", "update.eps_high=0.28"])
    args = trl_args(cfg, tmp_path, 7)
    assert (args.per_device_train_batch_size, args.num_generations, args.max_completion_length) == (16, 8, 64)
    assert (args.beta, args.epsilon, args.epsilon_high, args.max_steps) == (0.04, 0.2, 0.28, 7)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.loss_type == "grpo"
    assert args.reward_weights == [1.0, 0.5, 0.5]


def test_rewards_for_trl_cut_at_the_stop_string():
    from aha.benchmarks.trl import cut_at_stop

    assert cut_at_stop("<answer> 4 </answer> more text", ("</answer>",)) == "<answer> 4 </answer>"
    assert cut_at_stop("no stop here", ("</answer>",)) == "no stop here"


def test_hf_tokens_count_up_to_and_including_the_first_eos():
    import torch

    from aha.benchmarks.generate import _count_hf_tokens

    generated = torch.tensor([[5, 7, 2, 0, 0], [5, 3, 9, 9, 9], [2, 0, 0, 0, 0]])  # EOS 2, pad 0
    assert _count_hf_tokens(generated, {2}, ignore_eos=False) == 3 + 5 + 1
    assert _count_hf_tokens(generated, {2}, ignore_eos=True) == 15


def test_bench_generate_reports_the_median_of_its_rounds(tiny_llama_dir):
    from aha.benchmarks.generate import GenerateBenchConfig, run

    cfg = GenerateBenchConfig(model=str(tiny_llama_dir), prompts=2, n=2, max_new_tokens=6, ignore_eos=True, repeat=3)
    result = run(cfg)
    # EOS ignored: both sides generate every token, 2 prompts x 2 samples x 6
    assert result["transformers_tokens"] == result["aha_tokens"] == 24
    assert len(result["round_ratios"]) == 3
    assert result["ratio"] == sorted(result["round_ratios"])[1]
    with pytest.raises(ConfigError, match="repeat=0 must be an integer >= 1"):
        GenerateBenchConfig(repeat=0)


def test_bench_generate_with_no_rounds_is_a_one_line_error(capsys):
    from aha.cli import main

    assert main(["bench", "generate", "--repeat", "0"]) == 2
    assert "argument --repeat: 0 is not an integer >= 1" in capsys.readouterr().err


def test_corpus_agreement_counts_both_graders(tmp_path):
    from aha.benchmarks import math_grader

    cases = [
        {"source": "a/b:t", "response": "\\boxed{\\frac{1}{2}}", "reference": "0.5", "expected": True},
        {"source": "a/b:t", "response": "\\boxed{3}", "reference": "4", "expected": False},
        {"source": "c/d:t", "response": "14:30", "reference": "2:30 PM", "expected": True},
        {"source": "c/d:t", "response": "\\boxed{}", "reference": "", "expected": False},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    result = math_grader.corpus(path, workers=1)
    assert result["cases"] == 4 and result["aha_agreement"] == 1.0
    assert result["per_source"]["a/b"] == {"aha": 2, "math_verify": 2, "cases": 2}
    assert result["per_source"]["c/d"]["aha"] == 2
