"""aha bench rm: aha alone on a tiny model from the command line, and (with TRL installed) aha's reward
model and TRL's RewardTrainer as the same computation: equal losses at every step on the same tokens, and
equal held-out figures of the two trained models."""

from __future__ import annotations

import json

import pytest

from aha.bench.rm import RMBenchConfig
from aha.cli import main


def overrides(model):
    return [f"model={model}", "held_out=6", "max_tokens=160", "pack_tokens=400", "batch_size=3", "train_layers=1"]


def test_bench_rm_runs_aha_alone(tiny_llama_dir, capsys):
    argv = ["bench", "rm", *overrides(tiny_llama_dir), "--steps", "2", "--no-trl", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 2 and len(result["aha_loss"]) == 2 and result["aha_held_out_pairs"] == 6
    assert 0.0 <= result["aha_held_out_accuracy"] <= 1.0 and "trl_loss" not in result


def test_trl_and_aha_train_the_same_reward_model(tiny_llama_dir):
    pytest.importorskip("trl")
    from aha.bench.rm import run

    result = run(RMBenchConfig(overrides=tuple(overrides(tiny_llama_dir)), steps=3))
    assert result["aha_loss"] == pytest.approx(result["trl_loss"], abs=1e-5)
    assert result["aha_loss"][-1] != result["aha_loss"][0]  # the weights moved, on both sides alike
    for key in ("held_out_accuracy", "held_out_loss", "held_out_reward_gap"):
        assert result[f"aha_{key}"] == pytest.approx(result[f"trl_{key}"], abs=1e-5), key
