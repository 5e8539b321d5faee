"""Reflection words ("wait", "let me re-check"): the paper's sign of the aha moment, counted per completion."""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_WORDS = ("wait", "re-check", "recheck", "let me check", "let me verify", "double-check", "verify")


def reflection_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """Case-insensitive whole-word pattern matching any of the phrases."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def reflection_rate(texts: Sequence[str], words: Sequence[str] = DEFAULT_WORDS) -> float:
    """Share of texts that contain at least one reflection phrase.

    >>> reflection_rate(["Wait, 3 + 4 is 7.", "It is 7.", "awaited"], ["wait"])
    0.3333333333333333
    """
    if not texts or not words:
        return 0.0
    pattern = reflection_pattern(words)
    return sum(1 for text in texts if pattern.search(text)) / len(texts)
