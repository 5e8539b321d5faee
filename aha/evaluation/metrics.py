"""Evaluation metrics over k samples per problem, each with a standard error over problems.

- pass@1: the mean correctness of the k samples of a problem, averaged over problems (the paper's pass@1
  with k samples at temperature 0.6).
- pass@k: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), in its numerically
  stable product form.
- cons@k: majority vote over the extracted answers of k samples; answers the grader finds equivalent vote
  together, unextractable answers never win, ties go to the answer seen first.

Standard errors are those of a mean over problems: sample standard deviation / sqrt(problems).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float
    problems: int


def mean_with_stderr(values: Sequence[float]) -> Estimate:
    """Mean and its standard error (0 for fewer than two values)."""
    n = len(values)
    if n == 0:
        raise ValueError("no problems to average over")
    mean = sum(values) / n
    if n < 2:
        return Estimate(mean, 0.0, n)
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, math.sqrt(variance / n), n)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), round(pass_at_k(5, 2, 2), 4)
    (0.25, 1.0, 0.7)
    """
    if not 0 <= c <= n:
        raise ValueError(f"correct samples c={c} must be between 0 and n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of samples n={n}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_at_k_over_problems(correct: Sequence[Sequence[bool]], k: int) -> Estimate:
    """Unbiased pass@k averaged over problems; `correct[p]` holds the verdicts of problem p's samples."""
    return mean_with_stderr([pass_at_k(len(row), sum(row), k) for row in correct])


def pass_at_1(correct: Sequence[Sequence[bool]]) -> Estimate:
    """Mean correctness over each problem's samples, averaged over problems."""
    for row in correct:
        if not row:
            raise ValueError("a problem has no samples")
    return mean_with_stderr([sum(row) / len(row) for row in correct])


def majority_vote(answers: Sequence[str | None], equivalent: Callable[[str, str], bool]) -> str | None:
    """The answer most samples agree on (answers `equivalent` says are equal vote together); None when no
    sample gave an answer. Ties go to the answer whose first vote came first.

    >>> from fractions import Fraction
    >>> majority_vote(["1/2", "3", "0.5", None, "3"], lambda a, b: Fraction(a) == Fraction(b))
    '1/2'
    """
    clusters: list[list[str]] = []  # first member represents the cluster
    for answer in answers:
        if answer is None:
            continue
        for cluster in clusters:
            if equivalent(cluster[0], answer):
                cluster.append(answer)
                break
        else:
            clusters.append([answer])
    if not clusters:
        return None
    best = max(len(c) for c in clusters)
    return next(c[0] for c in clusters if len(c) == best)


def cons_at_k(
    answers: Sequence[Sequence[str | None]],
    references: Sequence[str],
    equivalent: Callable[[str, str], bool],
    is_correct: Callable[[str, str], bool] | None = None,
) -> Estimate:
    """Accuracy of the majority answer over problems; `is_correct(answer, reference)` defaults to
    `equivalent`."""
    check = is_correct or equivalent
    scores = []
    for row, reference in zip(answers, references, strict=True):
        winner = majority_vote(row, equivalent)
        scores.append(float(winner is not None and check(winner, reference)))
    return mean_with_stderr(scores)
