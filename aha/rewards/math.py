"""Math answer accuracy on the hardened grader (`aha.rewards.grader`).

The final answer is the one after the reasoning, so a \\boxed{} draft inside <think> never counts. A
timeout or an internal grader error gives None (counted by the trainer as unverifiable), never a silent 0.
The reward owns its grader pool (worker processes for the symbolic stage): opened once, shared by every
batch, closed with the reward.
"""

from __future__ import annotations

from collections.abc import Sequence

from aha.ranges import COUNT, POSITIVE, check
from aha.rewards import Reward, register_reward
from aha.rewards.grader import DEFAULT_TIMEOUT_S, Grade, GraderPool
from aha.types import Sample

VALUES = {True: 1.0, False: 0.0, None: None}


@register_reward("accuracy_math")
class MathAccuracy(Reward):
    """1.0 when the final answer is mathematically equivalent to sample.answer, 0.0 when it is not or when
    there is none; None when the grader could not decide (time limit, internal error, bad reference).

    Settings: `workers` (symbolic comparisons at once, each in its own process), `timeout_s` (a comparison
    running longer is killed and counts as undecided).

    >>> half = Sample(id="", prompt="", answer="0.5")
    >>> with MathAccuracy() as reward:
    ...     reward("<think> \\\\boxed{3} </think> so \\\\boxed{\\\\frac{1}{2}}", half)
    1.0
    """

    def __init__(self, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.workers, self.timeout_s = workers, timeout_s
        check(self, {"workers": COUNT, "timeout_s": POSITIVE})
        self.pool: GraderPool | None = None

    def open(self) -> None:
        if self.pool is None:
            self.pool = GraderPool(workers=self.workers, timeout_s=self.timeout_s)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def grades(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[Grade]:
        """The grader's verdict on each response (status, extracted answer, detail)."""
        self.open()
        assert self.pool is not None
        return self.pool.grade_many((r, s.answer) for r, s in zip(responses, samples, strict=True))

    def score(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        return [VALUES[g.correct] for g in self.grades(responses, samples)]
