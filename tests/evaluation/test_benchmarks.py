"""Shipped benchmarks load as samples their reward can grade: the reference solutions score 1."""

from __future__ import annotations

import pytest

from aha.errors import ConfigError
from aha.evaluation.benchmarks import benchmark_names, load_benchmark
from aha.rewards import build

SIZES = {
    "arithmetic": 200,
    "sft_think_arith": 100,
    "gsm8k": 1319,
    "math500": 500,
    "aime24": 30,
    "countdown": 2000,
    "humaneval": 164,
    "mbpp": 500,
    "zh_math": 150,
}


@pytest.mark.parametrize("name", sorted(benchmark_names()))
def test_benchmark_loads_with_unique_ids(name):
    samples = load_benchmark(name)
    assert len(samples) == SIZES[name]
    assert len({s.id for s in samples}) == len(samples)
    assert load_benchmark(name, limit=3) == samples[:3]


def _score(name, responses, samples):
    with build(name) as reward:
        return reward.score(responses, samples)


def test_reference_answers_and_solutions_score_one():
    import json

    from aha.tasks.sets import SETS_DIR as SETS

    math = load_benchmark("math500", limit=20)
    assert _score("accuracy_math", [f"\\boxed{{{s.answer}}}" for s in math], math) == [1.0] * 20
    countdown = load_benchmark("countdown", limit=20)
    solutions = [f"<answer> {s.meta['solution']} </answer>" for s in countdown]
    assert _score("countdown", solutions, countdown) == [1.0] * 20
    records = [json.loads(line) for line in (SETS / "humaneval.jsonl").read_text().splitlines()[:4]]
    humaneval = load_benchmark("humaneval", limit=4)
    programs = [f"```python\n{r['prompt']}{r['canonical_solution']}```" for r in records]
    assert _score("code", programs, humaneval) == [1.0] * 4
    mbpp_records = [json.loads(line) for line in (SETS / "mbpp.jsonl").read_text().splitlines()]
    mbpp = load_benchmark("mbpp", limit=4)
    code = {f"mbpp/{r['task_id']}": r["code"] for r in mbpp_records}
    assert _score("code", [f"```python\n{code[s.id]}\n```" for s in mbpp], mbpp) == [1.0] * 4
    assert _score("code", ["```python\npass\n```"] * 4, mbpp) == [0.0] * 4


def test_unknown_benchmark_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="shipped: aime24, arithmetic, countdown, gsm8k"):
        load_benchmark("gsm9k")
