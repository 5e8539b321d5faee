"""Math answer accuracy on the hardened grader (`aha.rewards.grader`).

The final answer is the one after the reasoning, so a \\boxed{} draft inside <think> never counts. A
timeout or an internal grader error gives None (counted by the trainer as unverifiable), never a silent 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from aha.rewards import register, register_batch
from aha.rewards.grader import default_pool, grade
from aha.types import Sample


@register("accuracy_math")
def math_accuracy(response: str, sample: Sample) -> float | None:
    """1.0 when the final answer is mathematically equivalent to sample.answer, 0.0 when it is not or when
    there is none; None when the grader could not decide (time limit, internal error, bad reference).

    >>> half = Sample(id="", prompt="", answer="0.5")
    >>> math_accuracy("<think> \\\\boxed{3} </think> so \\\\boxed{\\\\frac{1}{2}}", half)
    1.0
    """
    return {True: 1.0, False: 0.0, None: None}[grade(response, sample.answer).correct]


@register_batch("accuracy_math")
def math_accuracy_many(responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
    """`accuracy_math` for a batch: the symbolic stage of all pairs shares the grader's worker pool."""
    grades = default_pool().grade_many((r, s.answer) for r, s in zip(responses, samples, strict=True))
    return [{True: 1.0, False: 0.0, None: None}[g.correct] for g in grades]
