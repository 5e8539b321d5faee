"""aha bench sft: aha alone on a tiny model from the command line, the example order it hands TRL, and (with
TRL installed, slow) the two sides' step-1 losses agreeing to 1e-4 on the same tokens."""

from __future__ import annotations

import json

import pytest

from aha.bench.sft import Curve, SFTBenchConfig, example_order
from aha.cli import main
from aha.errors import ConfigError


def data(tmp_path, count=12):
    path = tmp_path / "sft.jsonl"
    rows = [{"prompt": f"What is {i} + {i}?", "response": f"<think> {i} + {i} </think> {2 * i}"} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def overrides(model, path):
    return [f"model={model}", f"data={path}", "batch_size=4", "max_tokens=64", "pack_tokens=64"]


def test_bench_sft_times_aha_alone(tiny_llama_dir, tmp_path, capsys):
    png = tmp_path / "curves.png"
    argv = ["bench", "sft", *overrides(tiny_llama_dir, data(tmp_path)), "--steps", "3", "--no-trl", "--json"]
    assert main([*argv, "--plot", str(png)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 3 and result["batch_size"] == 4 and len(result["aha_loss"]) == 3
    assert all(t > 0 for t in result["aha_tokens"]) and result["aha_trained_tokens_per_s"] > 0
    assert "trl_loss" not in result and png.is_file()


def test_the_order_is_the_cursor_s_over_every_step():
    order = example_order(10, 0, 4, 5)  # 20 examples: two epochs of 10, each a permutation
    assert len(order) == 20 and sorted(order[:10]) == sorted(order[10:]) == list(range(10))
    assert order == example_order(10, 0, 4, 5) and order != example_order(10, 1, 4, 5)


def test_throughput_leaves_out_the_warm_up_step():
    curve = Curve(loss=[1] * 4, tokens=[100, 30, 30, 40], seconds=[10, 1, 2, 1])
    assert curve.trained_tokens_per_s() == 30  # the median of 30, 15 and 40 per second
    assert curve.mean_trained_tokens_per_s() == 25  # 100 tokens in 4 s
    assert Curve(loss=[1], tokens=[30], seconds=[2]).trained_tokens_per_s() == 15
    with pytest.raises(ConfigError, match="steps=0"):
        SFTBenchConfig(steps=0)


@pytest.mark.slow
def test_trl_and_aha_agree_at_step_one(tiny_llama_dir, tmp_path):
    pytest.importorskip("trl")
    from aha.bench.sft import run

    cfg = SFTBenchConfig(overrides=tuple(overrides(tiny_llama_dir, data(tmp_path))), steps=2)
    result = run(cfg)
    assert result["same_tokens"] and result["aha_tokens"] == result["trl_tokens"]
    assert result["step1_loss_difference"] < 1e-4
