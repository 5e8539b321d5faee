"""Reward shaping on top of the rule rewards."""

from __future__ import annotations


def soft_overlong_penalty(length: int, limit: int, buffer: int, weight: float) -> float:
    """DAPO eq. 13: 0 up to limit - buffer tokens, then falling linearly to -weight at the limit.

    >>> [soft_overlong_penalty(n, 64, 16, 1.0) for n in (48, 56, 64)]
    [0.0, -0.5, -1.0]
    """
    if buffer <= 0 or length <= limit - buffer:
        return 0.0
    return -weight * min(length - (limit - buffer), buffer) / buffer
