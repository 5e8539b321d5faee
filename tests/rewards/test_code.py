"""Code rewards: program extraction, the three test styles, partial credit, and attacks scoring 0.

The attack suite (programs that try to forge a verdict or escape) is tests/sandbox/test_attacks.py.
"""

from __future__ import annotations

import doctest
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import build
from aha.rewards import code as code_rewards
from aha.rewards.code import extract_program, score_many
from aha.sandbox import SandboxLimits
from aha.types import Sample
from tests.sandbox.forked import in_child

FAST = SandboxLimits(wall_s=1.5, cpu_s=1.5, memory_mb=256, max_processes=16)


def code(response: str, sample: Sample) -> float | None:
    """The `code` reward on one response, its sandbox opened and closed for it."""
    with build("code") as reward:
        return reward(response, sample)


def code_fraction(response: str, sample: Sample) -> float | None:
    with build("code_fraction") as reward:
        return reward(response, sample)


def fenced(program: str, reasoning: str = "Let me think.") -> str:
    return f"<think>\n{reasoning}\n</think>\nHere is my solution:\n```python\n{program}\n```\n"


def mbpp(*tests: str, setup: str = "") -> Sample:
    meta = {"test_list": list(tests)} | ({"test_setup_code": setup} if setup else {})
    return Sample(id="mbpp", prompt="", answer="", meta=meta)


HUMANEVAL = Sample(
    id="humaneval",
    prompt="",
    answer="",
    meta={
        "test": "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n",
        "entry_point": "total",
    },
)
ADD = mbpp("assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, -1) == -2")
ECHO_SUM = Sample(
    id="io",
    prompt="",
    answer="",
    meta={
        "io": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4", "output": "6"}, {"input": "0 0", "output": "0"}]
    },
)


@pytest.mark.parametrize(
    ("response", "program"),
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("```py\nx = 1\n```\ntext\n```python\nx = 2\n```", "x = 2\n"),
        ("```python\nx = 1\n```\n```\nplain\n```", "x = 1\n"),  # a python block beats a later plain one
        ("```\nx = 3\n```", "x = 3\n"),  # no python block: the last fenced block
        ("<think>```python\nx = 1\n```</think> done", None),  # a draft inside the reasoning is no answer
        ("<think>```python\nx = 1\n```</think>```python\nx = 2\n```", "x = 2\n"),
        ("no code at all", None),
        ("```python\n\n```", None),
        ("```python\nunclosed", None),
    ],
)
def test_extract_program(response, program):
    assert extract_program(response) == program


def test_humaneval_style():
    assert code(fenced("def total(xs):\n    return sum(xs)"), HUMANEVAL) == 1.0
    assert code(fenced("def total(xs):\n    return len(xs)"), HUMANEVAL) == 0.0
    assert code_fraction(fenced("def wrong_name(xs):\n    return sum(xs)"), HUMANEVAL) == 0.0


def test_mbpp_style_counts_each_assert():
    assert code(fenced("def add(a, b):\n    return a + b"), ADD) == 1.0
    partial = fenced("def add(a, b):\n    return a + b if a > 0 else 0")  # fails the negative case only
    assert code(partial, ADD) == 0.0
    assert code_fraction(partial, ADD) == pytest.approx(2 / 3)
    crashing = fenced("def add(a, b):\n    if a == 2:\n        raise SystemExit(0)\n    return a + b")
    assert code_fraction(crashing, ADD) == pytest.approx(2 / 3)  # one test exits; the others still count
    setup = mbpp("assert add(OFFSET, 1) == 11", setup="OFFSET = 10")
    assert code(fenced("def add(a, b):\n    return a + b"), setup) == 1.0


def test_stdin_stdout_style():
    program = "a, b = map(int, input().split())\nprint(a + b, '  ')\n"  # trailing spaces are forgiven
    assert code(fenced(program), ECHO_SUM) == 1.0
    partial = fenced("a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)")  # wrong on "10 -4"
    assert code_fraction(partial, ECHO_SUM) == pytest.approx(2 / 3)
    assert code(fenced("print(3)\nraise ValueError"), ECHO_SUM) == 0.0  # right output, but it crashed


def test_no_code_scores_zero_and_no_tests_is_none():
    assert code("The answer is to add the numbers.", ADD) == 0.0
    assert code_fraction("", ADD) == 0.0
    assert code(fenced("x = 1"), Sample(id="x", prompt="", answer="")) is None
    assert code(fenced("x = 1"), Sample(id="x", prompt="", answer="", meta={"io": "not a list"})) is None


def test_forged_pass_lines_and_early_exit_score_zero():
    forged = "import sys\nfor i in range(3):\n    print(f'pass {i}')\n    sys.__stdout__.write(f'0000 pass {i}\\n')"
    assert code_fraction(fenced(forged), ADD) == 0.0
    assert code_fraction(fenced("import os\nos._exit(0)"), ADD) == 0.0


def test_score_many_keeps_order_and_marks_uncheckable_samples():
    right, wrong = fenced("def add(a, b):\n    return a + b"), fenced("def add(a, b):\n    return a * b")
    no_tests = Sample(id="none", prompt="", answer="")
    responses = [right, wrong, "no code", right, fenced("def total(xs):\n    return sum(xs)")]
    samples = [ADD, ADD, ADD, no_tests, HUMANEVAL]
    assert score_many(responses, samples, workers=3) == [1.0, 0.0, 0.0, None, 1.0]
    assert score_many(responses[:2], samples[:2], fraction=True) == [1.0, pytest.approx(1 / 3)]


def test_the_reward_keeps_one_sandbox_across_batches_and_its_settings_reach_the_limits():
    reward = build("code_fraction", workers=2, wall_s=2.0, cpu_s=1.0, memory_mb=256)
    assert reward.sandbox is None  # configured, not opened
    right = fenced("def add(a, b):\n    return a + b")
    positive_only = fenced("def add(a, b):\n    return max(a + b, 0)")
    with reward:
        sandbox = reward.sandbox
        assert sandbox is not None and sandbox.workers == 2
        assert (sandbox.limits.wall_s, sandbox.limits.cpu_s, sandbox.limits.memory_mb) == (2.0, 1.0, 256)
        assert reward.score([right, "no code"], [ADD, ADD]) == [1.0, 0.0]
        assert reward.score([positive_only], [ADD]) == [pytest.approx(2 / 3)]  # add(-1, -1) fails
        busy = fenced("def add(a, b):\n    while True:\n        pass")
        assert reward.score([busy], [ADD]) == [0.0]  # the cpu limit of 1 s stops it
        assert reward.sandbox is sandbox  # one sandbox for every batch
    assert reward.sandbox is None


FUZZ_ALPHABET = list("```python\n</think>def f(x): return assert print(input()) 0123456789+-*/=()[]{}:'\"\\#\t ")
FUZZ_SAMPLES = (ADD, HUMANEVAL, ECHO_SUM)


@settings(max_examples=25, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(FUZZ_ALPHABET), max_size=120) | st.text(max_size=60),
    st.sampled_from(FUZZ_SAMPLES),
)
def test_arbitrary_text_never_raises(text, sample):
    for reward in (code, code_fraction):
        value = reward(text, sample)
        assert value is not None and 0.0 <= value <= 1.0
    value = code(fenced(text), sample)  # always a code block: the sandbox runs it
    assert value in (0.0, 1.0)


def test_docstring_examples_run():
    result = doctest.testmod(code_rewards, extraglobs={"Sample": Sample})
    assert result.attempted > 0 and result.failed == 0
    assert not os.path.exists("program.py")  # nothing written to the parent's working directory


def _in_a_child_without_namespaces(argv: list[str]) -> tuple[int, str]:
    """`aha ARGV` in a forked child whose kernel refuses namespaces (the seccomp filter refuses unshare),
    where loading a model fails the test: a refusal must come first. (exit code, stderr)"""
    import contextlib
    import io

    import aha.models
    from aha import cli
    from aha.sandbox import UNSAFE_ENV, seccomp

    def prepare() -> None:
        os.environ.pop(UNSAFE_ENV, None)
        seccomp.install()

        def no_load(*args: object, **kwargs: object) -> None:
            raise AssertionError("the model was loaded before the sandbox was checked")

        aha.models.load = no_load

    def work() -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:
                code = exc.code
        return code, err.getvalue()

    return tuple(in_child(work, prepare))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_commands_refuse_before_slow_work_where_programs_cannot_be_isolated(tmp_path):
    responses = tmp_path / "responses.jsonl"
    record = {"response": "```python\nprint(1)\n```", "answer": "", "meta": {"io": [{"input": "", "output": "1"}]}}
    responses.write_text(json.dumps(record) + "\n")
    for argv in (
        ["grade", str(responses), "--reward", "code"],
        ["eval", "--bench", "humaneval", "--limit", "1", "--out", str(tmp_path / "eval")],
        ["train", "rewards.code=1.0", "steps=1", "--out", str(tmp_path / "run")],
    ):
        code, err = _in_a_child_without_namespaces(argv)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and lines[-1].startswith("aha: error: the code sandbox cannot isolate"), (argv, err)
        assert "AHA_SANDBOX_UNSAFE=1" in lines[-1]
    assert not (tmp_path / "responses.graded.jsonl").exists() and not (tmp_path / "eval").exists()
