"""The GPU check (scripts/gpu_check.py, aha.bench.gpu): its FLOP and MFU arithmetic against hand-computed
numbers, and the whole script on the CPU with the tiny shape, its JSON checked section by section."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aha.bench.gpu import mfu, table_peak, training_flops

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"

# The tiny shape, written out here rather than read from aha.bench.gpu, so that a change there shows.
TINY = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 128, "vocab": 49152}


def test_flop_count_by_hand():
    # 1 layer, hidden 8, 2 heads of 4; 100 matmul weights; 10 tokens computed, 6 predicted, 21 pairs
    flops = training_flops(
        matmul_params=100, vocab_size=50, hidden_size=8, layers=1, heads=2, head_dim=4, tokens=10, predicted=6,
        pairs=21,
    )  # fmt: skip
    assert flops == 6 * (100 * 10 + 50 * 8 * 6) + 12 * 1 * 2 * 4 * 21 == 22416


def test_mfu_is_achieved_over_peak_and_null_without_a_peak():
    assert mfu(989e12, 2.0, 989.0) == pytest.approx(0.5)
    assert mfu(3e12, 1.5, 100.0) == pytest.approx(0.02)
    assert mfu(1e12, 1.0, None) is None


def test_peaks_by_card_name_and_dtype():
    assert table_peak("NVIDIA H100 80GB HBM3", torch.bfloat16)[0] == 989.0  # SXM
    assert table_peak("NVIDIA H100 PCIe", torch.bfloat16)[0] == 756.0
    assert table_peak("NVIDIA H200", torch.bfloat16)[0] == 989.0
    assert table_peak("NVIDIA A100-SXM4-80GB", torch.bfloat16)[0] == 312.0
    peak, why = table_peak("AMD EPYC", torch.float32)
    assert peak is None and "--peak-tflops" in why
    assert table_peak("NVIDIA H100 80GB HBM3", torch.float32)[0] is None  # the table holds bf16 peaks only


def test_unknown_shape_is_a_usage_error(tmp_path):
    args = [sys.executable, str(SCRIPT), "--device", "cpu", "--shapes", "tiny,nope", "--out", str(tmp_path / "x")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nope" in done.stderr and "qwen2.5-0.5b" in done.stderr
    assert not (tmp_path / "x").exists()


def test_the_check_runs_on_cpu_with_the_tiny_shape(tmp_path):
    out = tmp_path / "gpu_check.json"
    args = [sys.executable, str(SCRIPT), "--device", "cpu", "--shapes", "tiny", "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["device_type"] == "cpu" and results["device"] and results["torch"] == torch.__version__
    assert results["dtype"] == "float32" and results["peak_tflops"] is None
    assert set(results["shapes"]) == {"tiny"}
    tiny = results["shapes"]["tiny"]
    assert {"train", "generate_native", "generate_vllm", "grpo"} <= set(tiny)
    assert tiny["backend"] == "native" and tiny["backend_note"] is None
    shape, work = tiny["shape"], tiny["workload"]
    assert (shape["hidden_size"], shape["num_layers"], shape["num_heads"]) == (64, 2, 4)
    assert (shape["num_kv_heads"], shape["intermediate_size"], shape["vocab_size"]) == (2, 128, 49152)

    # Parameters from the config: per layer q and o [h, h], k and v [h, kv heads x head dim], gate, up, down
    # [h, mlp]; two norms per layer and a final one; the embedding, tied to the head, once.
    h, layers, mlp, vocab = TINY["hidden"], TINY["layers"], TINY["intermediate"], TINY["vocab"]
    head_dim = h // TINY["heads"]
    matmul = layers * (2 * h * h + 2 * h * TINY["kv_heads"] * head_dim + 3 * h * mlp)
    assert matmul == 73728
    assert tiny["params"] == vocab * h + matmul + (2 * layers + 1) * h

    # The step's work: P prompts of Tp tokens once each, P x G completions of Tc tokens; each prompt token
    # attends causally to its prompt, each completion token to its whole prompt and causally to its completion.
    p, g, tp, tc = work["prompts"], work["group_size"], work["prompt_tokens"], work["train_tokens"]
    tokens, predicted = p * tp + p * g * tc, p * g * tc
    pairs = p * (tp * (tp + 1) // 2 + g * (tc * tp + tc * (tc + 1) // 2))
    train = tiny["train"]
    assert (train["matmul_params"], train["tokens"], train["completion_tokens"]) == (matmul, tokens, predicted)
    assert train["attended_pairs"] == pairs
    attention = 12 * layers * TINY["heads"] * head_dim * pairs
    assert train["flops"] == 6 * (matmul * tokens + vocab * h * predicted) + attention
    assert len(train["seconds"]) == work["train_steps"] and all(s > 0 for s in train["seconds"])
    assert train["tokens_per_s"] > 0 and train["mfu"] is None  # no peak for a CPU

    native = tiny["generate_native"]
    assert native["tokens"] == p * g * work["new_tokens"] and native["tokens_per_s"] > 0  # EOS ignored

    grpo = tiny["grpo"]
    assert [s["step"] for s in grpo["steps"]] == list(range(1, work["grpo_steps"] + 1))
    assert all(s["sampling"] > 0 and s["training"] > 0 for s in grpo["steps"])
    assert all(s["tokens"] == p * g * work["new_tokens"] for s in grpo["steps"])
    assert grpo["seconds_per_step"] > 0 and grpo["tokens_per_s"] > 0

    vllm = tiny["generate_vllm"]
    assert set(vllm) == {"skipped"} and vllm["skipped"]  # never measured on a CPU
    if importlib.util.find_spec("vllm") is None:
        assert "not importable" in vllm["skipped"]
    for line in ("tiny train:", "tiny generate_native:", "tiny grpo:", "tiny generate_vllm: skipped"):
        assert line in done.stdout
