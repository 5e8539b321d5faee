"""Math answer accuracy, first version: the committed final answer compared with the reference by
math-verify (symbolic and numeric equivalence through sympy).

The final answer is the one after the reasoning (`aha.rewards.answers.final_answer`), so a \\boxed{} draft
inside <think> never counts. math-verify's own time limits rely on SIGALRM and so work in the main
thread only; the hardened grader (normalisation, per-call limits in worker processes, a batch API)
replaces this module's internals without changing its name or signature.
"""

from __future__ import annotations

import functools
from typing import Any

from aha.rewards import register
from aha.rewards.answers import final_answer
from aha.types import Sample

MAX_ANSWER_CHARS = 1000


@functools.lru_cache(maxsize=65536)
def _parse(text: str) -> tuple[Any, ...]:
    from math_verify import parse

    return tuple(parse(f"${text}$"))


@register("accuracy_math")
def math_accuracy(response: str, sample: Sample) -> float | None:
    """1.0 when the final answer is mathematically equivalent to sample.answer, else 0.0; None when the
    reference itself does not parse.

    >>> half = Sample(id="", prompt="", answer="0.5")
    >>> math_accuracy("<think> \\\\boxed{3} </think> so \\\\boxed{\\\\frac{1}{2}}", half)
    1.0
    """
    from math_verify import verify

    gold = _parse(sample.answer)
    if not gold:
        return None
    answer = final_answer(response)
    if answer is None or len(answer) > MAX_ANSWER_CHARS:
        return 0.0
    predicted = _parse(answer)
    return 1.0 if predicted and verify(list(gold), list(predicted)) else 0.0
