"""Code rewards: run the response's program against the sample's tests in the sandbox (`aha.sandbox`).

Tests come from `sample.meta`, in one of three shapes:
- HumanEval: `test` (source defining `check(candidate)`) and `entry_point` (the function's name);
- MBPP: `test_list` (assert statements, each counted on its own), optional `test_setup_code`;
- stdin/stdout: `io`, a list of {"input": str, "output": str}, one process per case; the outputs are
  compared with trailing spaces and blank lines at either end ignored, and the program must exit with 0.

The program is the last ```python block after the reasoning (after `</think>`), else the last fenced
block of any language; a response without one scores 0. `code` is 1.0 only when every test passes;
`code_fraction` is the fraction passed (HumanEval's single `check` is one test).

Asserts run in one process: a harness runs the program, then each test, and prints a line with a random
nonce after each test that passes. The nonce reaches the harness on stdin, not in its source, and the
program's own prints go to /dev/null, so it neither crowds out nor easily forges those lines. Not guarded:
a program returning an object that compares equal to everything passes `==` asserts.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aha.rewards import register, register_batch
from aha.rewards.answers import after_reasoning
from aha.sandbox import RunResult, Sandbox, SandboxLimits
from aha.types import Sample

DEFAULT_LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=512, output_bytes=1 << 20)
MAX_PROGRAM_CHARS = 50_000
PYTHON_TAGS = frozenset({"python", "python3", "py", "py3"})
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_HARNESS = """\
import sys


def _aha_reporter(nonce, write, flush):
    def report(index):
        write(nonce + " pass " + str(index) + "\\n")
        flush()

    return report


_aha_report = _aha_reporter(sys.stdin.readline().strip(), sys.stdout.write, sys.stdout.flush)
sys.stdout = open("/dev/null", "w")
_aha_namespace = {{"__name__": "solution"}}
exec(compile({setup!r}, "setup.py", "exec"), _aha_namespace)
exec(compile({program!r}, "solution.py", "exec"), _aha_namespace)
for _aha_index, _aha_test in enumerate({tests!r}):
    try:
        exec(compile(_aha_test, "test_%d.py" % _aha_index, "exec"), _aha_namespace)
    except (Exception, SystemExit):
        continue
    _aha_report(_aha_index)
"""


def extract_program(response: str) -> str | None:
    """The program a response commits to: the last ```python block after the reasoning, else the last
    fenced block; None when there is none (or it is empty or over MAX_PROGRAM_CHARS).

    >>> extract_program("<think> ```python\\nx = 1\\n``` </think> Answer:\\n```python\\nx = 2\\n```")
    'x = 2\\n'
    """
    blocks = _FENCE.findall(after_reasoning(response))
    python = [body for tag, body in blocks if tag.lower() in PYTHON_TAGS]
    program = python[-1] if python else blocks[-1][1] if blocks else None
    if program is None or not program.strip() or len(program) > MAX_PROGRAM_CHARS:
        return None
    return program


@dataclass(frozen=True)
class _Plan:
    """The processes that test one program, and what their results must show."""

    jobs: tuple[tuple[str, str], ...]  # (source, stdin) of each process; empty when there is no program
    total: int  # number of tests
    nonce: str = ""  # harness runs: test i passed when stdout has the line f"{nonce} pass {i}"
    outputs: tuple[str, ...] = ()  # stdin/stdout runs: the expected output of each job


def _harness_tests(meta: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(setup code, test sources) from HumanEval- or MBPP-style metadata; None when it has neither."""
    setup = meta.get("test_setup_code")
    setup = setup if isinstance(setup, str) else ""
    test, entry_point = meta.get("test"), meta.get("entry_point")
    if isinstance(test, str) and isinstance(entry_point, str) and entry_point.isidentifier():
        return setup, [f"{test}\n\ncheck({entry_point})\n"]
    tests = meta.get("test_list")
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        return setup, list(tests)
    return None


def _io_cases(meta: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """(stdin, expected stdout) pairs from `meta["io"]`; None when it is missing or malformed."""
    cases = meta.get("io")
    if not isinstance(cases, list) or not cases:
        return None
    pairs = []
    for case in cases:
        if not isinstance(case, Mapping) or not isinstance(case.get("input"), str):
            return None
        if not isinstance(case.get("output"), str):
            return None
        pairs.append((case["input"], case["output"]))
    return pairs


def _plan(response: str, sample: Sample) -> _Plan | None:
    """How to test the response's program on the sample; None when the sample has no usable tests."""
    harness, cases = _harness_tests(sample.meta), _io_cases(sample.meta)
    if harness is None and cases is None:
        return None
    total = len(harness[1]) if harness is not None else len(cases or ())
    program = extract_program(response)
    if program is None:
        return _Plan((), total)
    if harness is not None:
        setup, tests = harness
        nonce = secrets.token_hex(16)
        source = _HARNESS.format(setup=setup, program=program, tests=tests)
        return _Plan(((source, nonce + "\n"),), total, nonce=nonce)
    assert cases is not None
    return _Plan(tuple((program, stdin) for stdin, _ in cases), total, outputs=tuple(out for _, out in cases))


def _normalize(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.strip().splitlines())


def _passed(plan: _Plan, results: Sequence[RunResult]) -> int:
    """How many of the plan's tests its processes passed."""
    if plan.nonce:
        lines = set(results[0].stdout.splitlines())
        return sum(f"{plan.nonce} pass {index}" in lines for index in range(plan.total))
    return sum(
        result.status == "ok" and _normalize(result.stdout) == _normalize(expected)
        for result, expected in zip(results, plan.outputs, strict=True)
    )


def score_many(
    responses: Sequence[str],
    samples: Sequence[Sample],
    *,
    fraction: bool = False,
    workers: int | None = None,
    limits: SandboxLimits | None = None,
) -> list[float | None]:
    """Score many responses at once, `workers` sandboxed processes at a time (default: one per core).

    Each score is 1.0 or 0.0 (all tests passed or not), or with `fraction` the fraction passed; None for
    a sample without usable tests.
    """
    plans = [_plan(response, sample) for response, sample in zip(responses, samples, strict=True)]
    jobs = [job for plan in plans if plan is not None for job in plan.jobs]
    results: list[RunResult] = []
    if jobs:
        with Sandbox(limits or DEFAULT_LIMITS, workers) as sandbox:
            results = sandbox.run_many(jobs)
    scores: list[float | None] = []
    cursor = 0
    for plan in plans:
        if plan is None:
            scores.append(None)
            continue
        passed = _passed(plan, results[cursor : cursor + len(plan.jobs)]) if plan.jobs else 0
        cursor += len(plan.jobs)
        scores.append(passed / plan.total if fraction else float(passed == plan.total))
    return scores


@register("code")
def code(response: str, sample: Sample) -> float | None:
    """1.0 when the response's program passes every test of the sample, else 0.0; None without tests.

    >>> task = Sample(id="", prompt="", answer="", meta={"test_list": ["assert add(2, 3) == 5"]})
    >>> code("```python\\ndef add(a, b):\\n    return a + b\\n```", task)
    1.0
    """
    return score_many([response], [sample])[0]


@register("code_fraction")
def code_fraction(response: str, sample: Sample) -> float | None:
    """The fraction of the sample's tests the response's program passes; None without tests.

    >>> task = Sample(id="", prompt="", answer="", meta={"test_list": ["assert add(2, 3) == 5", "assert 0"]})
    >>> code_fraction("```python\\ndef add(a, b):\\n    return a + b\\n```", task)
    0.5
    """
    return score_many([response], [sample], fraction=True)[0]


register_batch("code")(lambda responses, samples: score_many(responses, samples))
register_batch("code_fraction")(lambda responses, samples: score_many(responses, samples, fraction=True))
