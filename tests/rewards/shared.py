"""One grader pool and one `accuracy_math` reward for the reward tests of a session: a test grading
hundreds of answers would otherwise start a fresh worker interpreter for each symbolic comparison."""

from __future__ import annotations

import atexit

from aha.rewards import build
from aha.rewards.grader import Grade, GraderPool

POOL = GraderPool(workers=1)
MATH = build("accuracy_math")
atexit.register(POOL.close)
atexit.register(MATH.close)


def grade(response: str, reference: str) -> Grade:
    """`aha.rewards.grader.grade` on the session's pool."""
    return POOL.grade(response, reference)
