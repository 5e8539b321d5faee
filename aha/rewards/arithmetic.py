"""Accuracy for tasks with a numeric answer (arithmetic, GSM8K-style): exact rational comparison."""

from __future__ import annotations

import re
from fractions import Fraction

from aha.rewards import register
from aha.rewards.extraction import extract_answer
from aha.types import Sample

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?")
MAX_NUMBER_CHARS = 64  # longer digit strings are not answers to these tasks; refuse instead of parsing


def parse_number(text: str) -> Fraction | None:
    """The single number a short answer states ("1,234", "-3.5", "7/2", "$12.", "x = 4"), else None."""
    cleaned = text.replace(",", "").replace("$", "").replace("\\!", "").strip().rstrip(".")
    cleaned = re.sub(r"^[a-zA-Z]\s*=\s*", "", cleaned)
    if len(cleaned) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(cleaned):
        return None
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


@register("accuracy_numeric")
def numeric_accuracy(response: str, sample: Sample) -> float | None:
    """1.0 when the final answer (\\boxed{} or <answer>) equals the reference number exactly, else 0.0.

    None when the reference itself is not a number.

    >>> numeric_accuracy("<think>7*8</think> <answer>56</answer>", Sample(id="", prompt="", answer="56"))
    1.0
    """
    reference = parse_number(sample.answer)
    if reference is None:
        return None
    answer = extract_answer(response, formal=True)
    if answer is None:
        return 0.0
    value = parse_number(answer)
    return 1.0 if value is not None and value == reference else 0.0
