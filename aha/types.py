"""Small records shared across stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One prompt of a task with what is needed to check an answer to it."""

    id: str  # stable within its data set; seeds and logs refer to it
    prompt: str  # the question as the user asks it, before any template
    answer: str  # the reference answer (a number, an expression, ...)
    meta: Mapping[str, Any] = field(default_factory=dict)  # task-specific data, e.g. Countdown's numbers
