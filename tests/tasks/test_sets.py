"""The prompt-set registry: every set loads, training and evaluation see the same prompts, user files."""

from __future__ import annotations

import json

import pytest

from aha.errors import ConfigError, DataError
from aha.evaluation.benchmarks import benchmark_names, get_benchmark, load_benchmark, set_fingerprint
from aha.rewards import factory
from aha.tasks import TaskConfig, build_task, task_names
from aha.tasks.sets import MATH_INSTRUCTION, PROMPT_SETS, get_set, user_set


def test_every_registered_set_loads_each_split_with_a_known_reward():
    for name in PROMPT_SETS:
        prompt_set = get_set(name)
        factory(prompt_set.reward)  # a registered reward decides correctness
        for split in prompt_set.splits or ("test", "train"):
            samples = prompt_set.load(split, 5)
            assert 0 < len(samples) <= 5, (name, split)
            assert len({s.id for s in samples}) == len(samples), (name, split)
            assert all(s.prompt.strip() for s in samples), (name, split)


def test_the_instruction_is_appended_for_evaluation_only():
    raw = get_set("gsm8k").load("test", 3, instruction=False)
    evaluated = load_benchmark("gsm8k", 3)
    assert [s.prompt + MATH_INSTRUCTION for s in raw] == [s.prompt for s in evaluated]
    assert [s.answer for s in raw] == [s.answer for s in evaluated]


def test_training_and_evaluation_read_the_same_held_out_prompts():
    _, held = build_task(TaskConfig(name="gsm8k", held_out=7), seed=0)
    assert held == get_set("gsm8k").load("test", 7, instruction=False)
    _, held = build_task(TaskConfig(name="arithmetic"), seed=3)  # the default held-out sums of every run
    generated = get_set("arithmetic").load("test", 200, instruction=False)
    assert [(s.id, s.prompt, s.answer) for s in held] == [(s.id, s.prompt, s.answer) for s in generated]
    first = get_set("arithmetic").load("test", 20, instruction=False)
    assert first == generated[:20]  # a shorter evaluation takes the first prompts of the same set
    train = get_set("arithmetic").load("train", 300, instruction=False)
    assert not {s.prompt for s in train} & {s.prompt for s in generated}


def test_names_and_splits_are_checked():
    with pytest.raises(ConfigError, match="unknown prompt set 'nope'; known: aime24, arithmetic"):
        get_set("nope")
    with pytest.raises(ConfigError, match="prompt set 'math500' has no split 'train'; its splits: test"):
        get_set("math500").load("train")
    assert {"countdown", "gsm8k", "sft_think_arith"} <= set(task_names()) and "math500" not in task_names()
    with pytest.raises(ConfigError, match="task 'math500' is not one of arithmetic, countdown"):
        TaskConfig(name="math500")
    assert {"gsm8k", "math500", "aime24", "countdown", "humaneval", "mbpp", "arithmetic"} <= set(benchmark_names())
    with pytest.raises(ConfigError, match="unknown benchmark 'nope'"):
        get_benchmark("nope")


def test_a_user_file_is_a_set_and_a_benchmark(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i} + 1?", "answer": i + 1, "level": i}) + "\n" for i in range(4)))
    samples = user_set(path).load("test")
    assert [(s.id, s.prompt, s.answer, s.meta) for s in samples[:2]] == [
        ("mine/1", "0 + 1?", "1", {"level": 0}),
        ("mine/2", "1 + 1?", "2", {"level": 1}),
    ]
    assert load_benchmark(str(path), 2) == samples[:2] and get_benchmark(str(path)).reward == "accuracy_math"
    before = set_fingerprint(str(path))
    path.write_text(path.read_text() + json.dumps({"prompt": "x", "answer": "y"}) + "\n")
    assert set_fingerprint(str(path)) != before  # another file is another benchmark
    path.write_text('{"prompt": "a"}\n')
    with pytest.raises(DataError, match=r"mine.jsonl:1: field 'answer'"):
        user_set(path).load("test")
    with pytest.raises(ConfigError, match="no such file"):
        get_benchmark(str(tmp_path / "missing.jsonl"))


def test_sft_data_names_a_split_of_a_shipped_set():
    from aha.stages.sft import data_path

    assert data_path("set:sft_think_arith:test") == get_set("sft_think_arith").path("test")
    assert data_path("set:sft_think_arith") == get_set("sft_think_arith").path("train")
    assert str(data_path("my/file.jsonl")) == "my/file.jsonl"
    with pytest.raises(ConfigError, match="has no split 'dev'"):
        data_path("set:sft_think_arith:dev")


def test_chinese_math_carries_its_language_and_keeps_test_problems_out_of_training():
    from aha.rewards import get

    zh = get_set("zh_math")
    train, test = zh.load("train", instruction=False), zh.load("test", instruction=False)
    assert (len(train), len(test)) == (450, 150)
    assert all(s.meta["language"] == "zh" for s in train + test)
    assert not {s.prompt for s in train} & {s.prompt for s in test}
    assert zh.load("test", 1)[0].prompt.endswith("\\boxed{} 中。")  # the instruction in Chinese
    first = test[0]  # 芳芳买了一本书有99页，看了90页，她还剩多少页没有看？ -> 9
    assert get(zh.reward)("<think> 99 - 90 = 9 </think> \\boxed{9}", first) == 1.0
