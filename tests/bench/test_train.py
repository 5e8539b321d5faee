"""aha bench train: the FLOP count of a step by hand, and the benchmark on a tiny model."""

from __future__ import annotations

from aha.bench.train import TrainBenchConfig, training_flops
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
    from aha.bench.train import run

    result = run(TrainBenchConfig(model=str(tiny_llama_dir), prompts=2, group_size=2, completion_tokens=4, repeats=1))
    assert result["rows"] == 4 and result["completion_tokens"] == 16
    assert result["share_of_peak"] > 0 and result["peak_gflop_per_s"] > 0
