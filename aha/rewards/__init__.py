"""Reward functions: a registry of small pure functions and their weighted combination.

A reward is `fn(response: str, sample: Sample) -> float | None`: deterministic, no I/O, never raising on
model output (unparseable text scores 0.0). `None` means the sample's reference itself cannot be checked;
the caller skips and counts it. `combine` applies the weights in one place and keeps every component's
unweighted value for logging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aha.registry import Registry
from aha.types import Sample

RewardFn = Callable[[str, Sample], "float | None"]
REWARDS: Registry[RewardFn] = Registry("reward")
register = REWARDS.register


def get(name: str) -> RewardFn:
    _load_builtins()
    return REWARDS.get(name)


@dataclass(frozen=True)
class Scored:
    total: float  # sum of weight * value over the components that returned a value
    components: dict[str, float | None]  # unweighted value of every component (None: could not check)


class Combined:
    """Weighted sum of named rewards."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        if not weights:
            raise ValueError("at least one reward is needed")
        self.weights = dict(weights)
        self.functions = {name: get(name) for name in self.weights}

    def __call__(self, response: str, sample: Sample) -> Scored:
        components: dict[str, float | None] = {}
        total = 0.0
        for name, fn in self.functions.items():
            value = fn(response, sample)
            components[name] = value
            if value is not None:
                total += self.weights[name] * value
        return Scored(total, components)


def combine(weights: Mapping[str, float]) -> Combined:
    """The weighted combination of registered rewards, e.g. combine({"accuracy": 1.0, "format": 0.5})."""
    return Combined(weights)


def _load_builtins() -> None:
    # Importing the modules registers their rewards; done on first lookup so importing aha.rewards is cheap.
    from aha.rewards import arithmetic, code, countdown, format, language, math  # noqa: F401
