"""Held-out evaluation: one greedy completion per prompt, scored by the run's rewards, one record in
eval.jsonl and one line per prompt in eval_samples.jsonl."""

from __future__ import annotations

import pytest

from aha.models import load
from aha.rollout.engine import Engine
from aha.run.heldout import evaluate_held_out
from aha.run.prompts import PromptConfig, Prompter
from aha.run.scoring import Scorer
from aha.track.run_dir import RunDir
from aha.types import Sample


def test_records_of_a_greedy_evaluation(tiny_llama_dir, tmp_path):
    loaded = load(str(tiny_llama_dir))
    prompter = Prompter(PromptConfig(template="raw"), loaded.tokenizer)
    scorer = Scorer({"format": 1.0}, "accuracy_numeric", prompter)
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids)
    run_dir = RunDir(tmp_path)
    samples = [Sample(id=f"q{i}", prompt=f"{i} + 1 =", answer=str(i + 1)) for i in range(3)]
    kwargs = {"max_new_tokens": 4, "stop": (), "reflection_words": ("wait",)}
    record = evaluate_held_out(7, samples, engine, scorer, run_dir, **kwargs)
    again = evaluate_held_out(8, samples, engine, scorer, run_dir, **kwargs)
    assert record["step"] == 7 and record["prompts"] == 3 and record["accuracy"] == 0.0  # random weights
    assert {k: v for k, v in again.items() if k not in ("step", "seconds")} == {
        k: v for k, v in record.items() if k not in ("step", "seconds")
    }  # greedy: the same completions again
    lines = run_dir.read("eval_samples.jsonl")
    assert [(line["step"], line["id"]) for line in lines] == [(s, f"q{i}") for s in (7, 8) for i in range(3)]
    assert all(1 <= line["length"] <= 4 for line in lines) and run_dir.read("eval.jsonl") == [record, again]


def test_language_metrics_count_chains_of_thought_in_the_prompts_language():
    from aha.run.heldout import language_metrics

    zh = [Sample(id=f"z{i}", prompt="计算", answer="1", meta={"language": "zh"}) for i in range(4)]
    texts = [
        "<think> 先算 三 加 四 </think> <answer> 7 </answer>",  # 5 Chinese words of 5: 1.0
        "<think> 3 plus 4 是 7 </think>",  # 1 of 2 (plus, 是): 0.5, not more than half
        "<think> add them up 然后 检查 </think>",  # 4 of 7: 0.571...
        "<answer> 7 </answer>",  # no reasoning words at all: 0
    ]
    found = language_metrics(texts, zh)
    assert found["language_consistency"] == pytest.approx((1.0 + 0.5 + 4 / 7 + 0.0) / 4)
    assert found["cot_in_language"] == 0.5
    english = [Sample(id="e", prompt="What is 3 + 4?", answer="7")]
    assert language_metrics(["<think> 3 + 4 </think>"], english) == {}  # the set names no language
