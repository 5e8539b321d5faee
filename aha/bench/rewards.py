"""`aha bench rewards`: how fast the rewards score responses.

Code: N small MBPP-style programs (half correct, half wrong), each run against its asserts in its own
sandboxed process through the worker pool, as the trainer scores a batch. Interpreter startup dominates a
program this small, so programs/s measures the sandbox's overhead.
"""

from __future__ import annotations

import time
from typing import Any

from aha.types import Sample

# (correct program, wrong program, asserts) for a few MBPP-like tasks
CODE_TASKS = (
    (
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    return a - b\n",
        ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(5, 5) == 10"],
    ),
    (
        "def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n",
        "def reverse_words(s):\n    return s[::-1]\n",
        ["assert reverse_words('a b c') == 'c b a'", "assert reverse_words('hello') == 'hello'"],
    ),
    (
        "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
        "def is_prime(n):\n    return n % 2 == 1\n",
        ["assert is_prime(2)", "assert not is_prime(9)", "assert is_prime(97)", "assert not is_prime(1)"],
    ),
    (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "def fib(n):\n    return n\n",
        ["assert fib(0) == 0", "assert fib(10) == 55", "assert fib(20) == 6765"],
    ),
    (
        "def max_of(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        best = max(best, x)\n    return best\n",
        "def max_of(xs):\n    return xs[0]\n",
        ["assert max_of([1, 5, 3]) == 5", "assert max_of([-2, -7]) == -2"],
    ),
)


def code_batch(n: int) -> tuple[list[str], list[Sample], list[float]]:
    """n (response, sample, expected `code` reward) triples; even indices correct, odd ones wrong."""
    responses, samples, expected = [], [], []
    for index in range(n):
        right, wrong, tests = CODE_TASKS[(index // 2) % len(CODE_TASKS)]
        correct = index % 2 == 0
        program = right if correct else wrong
        responses.append(f"<think>\nA short plan.\n</think>\n```python\n{program}```")
        samples.append(Sample(id=f"code-{index}", prompt="", answer="", meta={"test_list": tests}))
        expected.append(1.0 if correct else 0.0)
    return responses, samples, expected


def bench_code(n: int, workers: int | None = None) -> dict[str, Any]:
    """Score n programs through the sandbox pool; programs/s and agreement with the expected rewards."""
    from aha.rewards.code import score_many

    responses, samples, expected = code_batch(n)
    score_many(responses[:2], samples[:2], workers=workers)  # warm the page cache outside the timed part
    start = time.perf_counter()
    scores = score_many(responses, samples, workers=workers)
    seconds = time.perf_counter() - start
    return {
        "programs": n,
        "workers": workers,
        "seconds": round(seconds, 3),
        "programs_per_s": round(n / seconds, 1),
        "agreement": sum(s == e for s, e in zip(scores, expected, strict=True)) / n,
    }
