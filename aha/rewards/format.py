"""Format rewards for the R1-Zero template: reasoning in <think></think>, then the answer in <answer></answer>.

Responses are taken whole, with any pre-filled opening (such as "<think>") already put back in front by
the template (`Template.response`).
"""

from __future__ import annotations

import re

from aha.rewards import register
from aha.types import Sample

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_STRICT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


@register("format")
def r1zero_format(response: str, sample: Sample) -> float:
    """1.0 for `<think>...</think> <answer>...</answer>` with nothing outside and each tag exactly once.

    >>> r1zero_format("<think> 2+2 is 4 </think> <answer> 4 </answer>", Sample(id="", prompt="", answer="4"))
    1.0
    """
    if any(response.count(tag) != 1 for tag in TAGS):
        return 0.0
    match = _STRICT.fullmatch(response)
    return 1.0 if match and match.group(1).strip() and match.group(2).strip() else 0.0


@register("format_tags")
def tag_credit(response: str, sample: Sample) -> float:
    """Partial credit: a quarter for each of the four tags that appears exactly once and in order.

    A small model that never writes the whole format still gets a gradient toward it (see the default
    recipe's notes); the strict `format` reward decides what counts as well-formed.
    """
    position, score = 0, 0.0
    for tag in TAGS:
        if response.count(tag) != 1:
            continue
        found = response.find(tag)
        if found >= position:
            score += 0.25
            position = found + len(tag)
    return score


_READABLE = re.compile(r"\s*<think>(.*?)</think>(.*)", re.DOTALL)


def split_readable(response: str) -> tuple[str, str] | None:
    """(reasoning, summary) of a response in the R1 readable format, else None (no think block, a think tag
    twice, or an empty part)."""
    if response.count("<think>") != 1 or response.count("</think>") != 1:
        return None
    match = _READABLE.fullmatch(response)
    if not match or not match.group(1).strip() or not match.group(2).strip():
        return None
    return match.group(1), match.group(2)


@register("format_readable")
def r1_readable_format(response: str, sample: Sample) -> float:
    """1.0 for the R1 readable format: `<think>...</think>` then a non-empty summary, each think tag once.

    >>> r1_readable_format("<think> 2+2 is 4 </think> The sum is **4**.", Sample(id="", prompt="", answer="4"))
    1.0
    """
    return 0.0 if split_readable(response) is None else 1.0
