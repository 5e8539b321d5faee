"""Reward functions: a registry of small pure functions and their weighted combination.

A reward is `fn(response: str, sample: Sample) -> float | None`: deterministic, no I/O, never raising on
model output (unparseable text scores 0.0). `None` means the sample's reference itself cannot be checked;
the caller skips and counts it. `combine` applies the weights in one place and keeps every component's
unweighted value for logging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aha.registry import Registry
from aha.types import Sample

RewardFn = Callable[[str, Sample], "float | None"]
BatchRewardFn = Callable[[Sequence[str], Sequence[Sample]], "list[float | None]"]
REWARDS: Registry[RewardFn] = Registry("reward")
register = REWARDS.register
BATCH: dict[str, BatchRewardFn] = {}  # optional batch forms (worker pools), same values as the single form


def register_batch(name: str) -> Callable[[BatchRewardFn], BatchRewardFn]:
    """Register the batch form of reward `name`: fn(responses, samples) -> values, equal to mapping it."""

    def add(fn: BatchRewardFn) -> BatchRewardFn:
        BATCH[name] = fn
        return fn

    return add


def get_batch(name: str) -> BatchRewardFn:
    """The batch form of a reward: its registered one, else the single form mapped over the batch."""
    single = get(name)

    def mapped(responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        return [single(r, s) for r, s in zip(responses, samples, strict=True)]

    return BATCH.get(name) or mapped


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

    def many(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[Scored]:
        """Score a batch; rewards with a batch form (code sandbox, math grader) run it once for all."""
        values = {name: get_batch(name)(responses, samples) for name in self.weights}
        scored = []
        for index in range(len(responses)):
            components = {name: values[name][index] for name in self.weights}
            total = sum(self.weights[n] * v for n, v in components.items() if v is not None)
            scored.append(Scored(total, components))
        return scored


def combine(weights: Mapping[str, float]) -> Combined:
    """The weighted combination of registered rewards, e.g. combine({"accuracy": 1.0, "format": 0.5})."""
    return Combined(weights)


def _load_builtins() -> None:
    # Importing the modules registers their rewards; done on first lookup so importing aha.rewards is cheap.
    from aha.rewards import arithmetic, code, countdown, format, language, math  # noqa: F401
