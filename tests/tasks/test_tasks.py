"""Arithmetic generator and JSONL task loading."""

from __future__ import annotations

import doctest
import re

import pytest

from aha.errors import ConfigError, DataError
from aha.tasks import arithmetic, load_samples


def test_arithmetic_answers_are_correct_and_deterministic():
    first = arithmetic.generate(200, seed=1, difficulty=5)
    assert first == arithmetic.generate(200, seed=1, difficulty=5)
    assert first != arithmetic.generate(200, seed=2, difficulty=5)
    for sample in first:
        expression = re.fullmatch(r"What is (.*)\?", sample.prompt).group(1)
        assert int(sample.answer) == eval(expression)  # independent check by Python's own arithmetic
    assert len({s.prompt for s in first}) == 200 and len({s.id for s in first}) == 200


def test_difficulty_sets_operands_and_operators():
    easy = arithmetic.generate(50, seed=0, difficulty=1)
    assert all(re.fullmatch(r"What is \d \+ \d\?", s.prompt) for s in easy)
    hard = arithmetic.generate(50, seed=0, difficulty=6)
    assert all(len(re.findall(r"\d+", s.prompt)) == 3 for s in hard)


def test_held_out_excludes_training_prompts():
    train = arithmetic.generate(300, seed=0, difficulty=2)
    held_out = arithmetic.generate(100, seed=1, difficulty=2, exclude=frozenset(s.prompt for s in train))
    assert not {s.prompt for s in train} & {s.prompt for s in held_out}


def test_impossible_requests_are_config_errors():
    with pytest.raises(ConfigError, match="difficulty 9"):
        arithmetic.generate(1, seed=0, difficulty=9)
    with pytest.raises(ConfigError, match="fewer than 100 distinct"):
        arithmetic.generate(100, seed=0, difficulty=1)  # only 81 one-digit sums exist
    assert len({s.prompt for s in arithmetic.generate(81, seed=0, difficulty=1)}) == 81  # the count is exact
    with pytest.raises(ConfigError, match=r"fewer than 10000000000 distinct problems \(it has 6561000000\)"):
        arithmetic.generate(10**10, seed=0, difficulty=6)  # 900**3 * 3**2 of them: refused before drawing any


def test_evaluate_doctest():
    assert doctest.testmod(arithmetic).failed == 0


def test_load_samples_maps_fields_and_keeps_the_rest(tmp_path):
    path = tmp_path / "gsm.jsonl"
    path.write_text('{"id": "a", "question": "q1", "answer": "3", "solution": "s"}\n{"question": "q2", "answer": 4}\n')
    samples = load_samples(path, prompt_field="question")
    assert [(s.id, s.prompt, s.answer) for s in samples] == [("a", "q1", "3"), ("gsm/2", "q2", "4")]
    assert samples[0].meta == {"solution": "s"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "p"}\n', r"x\.jsonl:1: field 'answer'"),
        ('{"prompt": "p", "answer": ""}\n', r"x\.jsonl:1: field 'answer'"),
        ('{"answer": "1"}\n', r"x\.jsonl:1: missing field 'prompt'"),
        (
            '{"id": 1, "prompt": "p", "answer": "1"}\n{"id": 1, "prompt": "q", "answer": "2"}\n',
            r"x\.jsonl:2: duplicate id '1' \(first on line 1\)",
        ),
        ("\n", r"x\.jsonl: no records"),
    ],
)
def test_load_samples_errors_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_samples(path)


@pytest.mark.parametrize("name", ["countdown", "gsm8k"])
def test_shipped_tasks_load_with_disjoint_held_out_sets(name):
    from aha.rewards import get
    from aha.tasks import TaskConfig, build_task

    train, held = build_task(TaskConfig(name=name, held_out=50, train_size=300), seed=0)
    assert len(train) == 300 and len(held) == 50
    assert not {s.prompt for s in train} & {s.prompt for s in held}
    if name == "countdown":
        sample = train[0]
        assert str(sample.meta["nums"]) in sample.prompt and sample.answer in sample.prompt
        reference = f"<answer> {sample.meta['solution']} </answer>"
        assert all(get("countdown")(f"<answer> {s.meta['solution']} </answer>", s) == 1.0 for s in train + held)
        assert get("countdown")(reference, sample) == 1.0
    else:
        assert all(s.answer.lstrip("-").isdigit() for s in train)


def test_arithmetic_held_out_set_is_the_same_for_every_run_seed():
    from aha.tasks import TaskConfig, build_task

    cfg = TaskConfig(name="arithmetic", held_out=100, train_size=2000)
    train0, held0 = build_task(cfg, seed=0)
    train1, held1 = build_task(cfg, seed=1)
    assert [s.prompt for s in held0] == [s.prompt for s in held1]
    assert [s.prompt for s in train0] != [s.prompt for s in train1]
    for train in (train0, train1):
        assert len(train) == 2000 and not {s.prompt for s in train} & {s.prompt for s in held0}


def test_training_and_the_benchmark_read_countdown_records_alike():
    from aha.evaluation.benchmarks import load_benchmark
    from aha.tasks import TaskConfig, build_task

    _, from_task = build_task(TaskConfig(name="countdown", held_out=5), seed=0)
    from_benchmark = load_benchmark("countdown", 5)
    assert from_task == from_benchmark
    assert from_task[0].meta["target"] == int(from_task[0].answer) and from_task[0].meta["nums"]
