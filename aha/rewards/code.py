"""Code rewards: run the response's program against the sample's tests in the sandbox (`aha.sandbox`).

Tests come from `sample.meta`, in one of three shapes:
- HumanEval: `test` (source defining `check(candidate)`) and `entry_point` (the function's name);
- MBPP: `test_list` (assert statements, each counted on its own), optional `test_setup_code`;
- stdin/stdout: `io`, a list of {"input": str, "output": str}, one process per case; the outputs are
  compared with trailing spaces and blank lines at either end ignored, and the program must exit with 0.

The program is the last ```python block after the reasoning (after `</think>`), else the last fenced
block of any language; a response without one scores 0. `code` is 1.0 only when every test passes;
`code_fraction` is the fraction passed (HumanEval's single `check` is one test).

Function tests (HumanEval, MBPP) run with `aha.sandbox.run_tests`: the program in one sandboxed process,
the tests in another that imports nothing from it and only receives plain values over a channel. The
tests, their expected values and the pass report never enter the program's process, so it cannot read,
skip or forge them. HumanEval's prompt (`meta["prompt_code"]`, when given) is run in the test process
as trusted helper code, so a program cannot redefine a helper a test relies on (HumanEval/32's `poly`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aha.ranges import COUNT, POSITIVE, check
from aha.rewards import Reward, register_reward
from aha.rewards.answers import after_reasoning
from aha.sandbox import RunResult, Sandbox, SandboxLimits, TestsResult, check_isolation
from aha.types import Sample

DEFAULT_LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=512, output_bytes=1 << 20)
MAX_PROGRAM_CHARS = 50_000
PYTHON_TAGS = frozenset({"python", "python3", "py", "py3"})
CODE_REWARDS = frozenset({"code", "code_fraction"})
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)


def require_sandbox(reward_names: Collection[str]) -> None:
    """Before slow work that will run model-written code (a model load, a batch): check that the sandbox
    can isolate programs here; raises `aha.sandbox.IsolationError`, one line naming AHA_SANDBOX_UNSAFE,
    where it cannot. Nothing to check when no code reward is among `reward_names`."""
    if CODE_REWARDS & set(reward_names):
        check_isolation()


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
class _Functions:
    """Function tests: HumanEval's `check` (with an entry point) or MBPP-style asserts."""

    tests: tuple[str, ...]
    entry_point: str = ""
    helpers: str = ""  # trusted code run before the tests, in the test process
    setup: str = ""  # run after the program, in the program's process (MBPP's test_setup_code)


def _functions(meta: Mapping[str, Any]) -> _Functions | None:
    """Function tests from HumanEval- or MBPP-style metadata; None when it has neither."""
    setup = meta.get("test_setup_code")
    setup = setup if isinstance(setup, str) else ""
    test, entry_point = meta.get("test"), meta.get("entry_point")
    if isinstance(test, str) and isinstance(entry_point, str) and entry_point.isidentifier():
        helpers = meta.get("prompt_code")
        return _Functions((test,), entry_point, helpers if isinstance(helpers, str) else "", setup)
    tests = meta.get("test_list")
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        return _Functions(tuple(tests), setup=setup)
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


def _normalize(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.strip().splitlines())


def _io_passed(results: Sequence[RunResult], cases: Sequence[tuple[str, str]]) -> int:
    """How many stdin/stdout cases the program's runs passed: exit 0 and the expected output."""
    return sum(
        result.status == "ok" and _normalize(result.stdout) == _normalize(expected)
        for result, (_, expected) in zip(results, cases, strict=True)
    )


def score_many(
    responses: Sequence[str],
    samples: Sequence[Sample],
    *,
    fraction: bool = False,
    workers: int | None = None,
    limits: SandboxLimits | None = None,
    sandbox: Sandbox | None = None,
) -> list[float | None]:
    """Score many responses at once, `workers` sandboxed runs at a time (default: one per core), on
    `sandbox` when given (it stays open), else on one opened and closed for this call.

    Each score is 1.0 or 0.0 (all tests passed or not), or with `fraction` the fraction passed; None for
    a sample without usable tests. Raises `aha.sandbox.IsolationError` on a host that cannot isolate
    programs (unless AHA_SANDBOX_UNSAFE=1).
    """
    if sandbox is None:
        with Sandbox(limits or DEFAULT_LIMITS, workers) as own:
            return score_many(responses, samples, fraction=fraction, sandbox=own)
    plans: list[tuple[int, Any] | None] = []  # (number of tests, futures) per response
    for response, sample in zip(responses, samples, strict=True):
        functions, cases = _functions(sample.meta), _io_cases(sample.meta)
        if functions is None and cases is None:
            plans.append(None)
            continue
        program = extract_program(response)
        total = len(functions.tests) if functions is not None else len(cases or ())
        if program is None:
            plans.append((total, None))
        elif functions is not None:
            kwargs = {"entry_point": functions.entry_point, "helpers": functions.helpers, "setup": functions.setup}
            plans.append((total, sandbox.submit_tests(program, functions.tests, **kwargs)))
        else:
            plans.append((total, (cases, [sandbox.submit(program, stdin) for stdin, _ in cases or ()])))
    scores: list[float | None] = []
    for plan in plans:
        if plan is None:
            scores.append(None)
            continue
        total, work = plan
        if work is None:
            passed = 0
        elif isinstance(work, tuple):
            passed = _io_passed([future.result() for future in work[1]], work[0])
        else:
            result: TestsResult = work.result()
            passed = len(result.passed)
        scores.append(passed / total if fraction else float(passed == total))
    return scores


@register_reward("code")
class CodeTests(Reward):
    """1.0 when the response's program passes every test of the sample (with `fraction`, the fraction of
    tests passed), else 0.0; None for a sample without tests. The reward owns its sandbox (worker threads
    and warm interpreter servers), opened once and shared by every batch.

    Settings: `workers` (programs at once; default one per core), `wall_s`, `cpu_s`, `memory_mb` (limits
    on each program).

    >>> task = Sample(id="", prompt="", answer="", meta={"test_list": ["assert add(2, 3) == 5"]})
    >>> with CodeTests() as reward:
    ...     reward("```python\\ndef add(a, b):\\n    return a + b\\n```", task)
    1.0
    """

    fraction = False

    def __init__(
        self,
        workers: int | None = None,
        wall_s: float = DEFAULT_LIMITS.wall_s,
        cpu_s: float = DEFAULT_LIMITS.cpu_s,
        memory_mb: int = DEFAULT_LIMITS.memory_mb,
    ) -> None:
        self.workers, self.wall_s, self.cpu_s, self.memory_mb = workers, wall_s, cpu_s, memory_mb
        check(self, {"workers": COUNT, "wall_s": POSITIVE, "cpu_s": POSITIVE, "memory_mb": COUNT}, ("workers",))
        self.limits = replace(DEFAULT_LIMITS, wall_s=wall_s, cpu_s=cpu_s, memory_mb=memory_mb)
        self.sandbox: Sandbox | None = None

    def open(self) -> None:
        if self.sandbox is None:
            self.sandbox = Sandbox(self.limits, self.workers)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def score(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        self.open()
        return score_many(responses, samples, fraction=self.fraction, sandbox=self.sandbox)


@register_reward("code_fraction")
class CodeTestsFraction(CodeTests):
    """The fraction of the sample's tests the response's program passes; None without tests.

    >>> task = Sample(id="", prompt="", answer="", meta={"test_list": ["assert add(2, 3) == 5", "assert 0"]})
    >>> with CodeTestsFraction() as reward:
    ...     reward("```python\\ndef add(a, b):\\n    return a + b\\n```", task)
    0.5
    """

    fraction = True
