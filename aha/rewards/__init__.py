"""Rewards: configured objects in one registry, and their weighted combination.

A reward scores a batch: `reward.score(responses, samples) -> [float | None]`, deterministic, never raising
on model output (unparseable text scores 0.0); None means the sample's reference itself cannot be checked,
and the caller skips and counts it. A reward is built from its registered name and its settings
(`build("accuracy_math", workers=2, timeout_s=3)`, or in a recipe `rewards: {accuracy_math: {weight: 1.0,
workers: 2}}`) and may hold state with a lifecycle: `open()` once before the first batch (the math grader's
worker pool, the code sandbox's warm servers, a reward model, later a judge), `score` per batch, `close()`
at the end; `with reward:` does both. `open` is idempotent and `score` opens a reward that was not opened,
so a reward used for one call needs no ceremony; whoever opens it closes it. State lives in the reward
object, never in the module.

Rule rewards without settings are plain functions, `fn(response, sample) -> float | None`, registered with
`@register(name)`; rewards with settings or state subclass `Reward` and register with `@register_reward(name)`.
`combine` applies the weights in one place and keeps every component's unweighted value for logging.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

from aha.errors import ConfigError
from aha.registry import Registry
from aha.types import Sample

RewardFn = Callable[[str, Sample], "float | None"]


class Reward(ABC):
    """A configured reward (see the module's docstring). Subclasses take their settings as keyword
    arguments of `__init__` (checked there: a bad value raises ValueError) and implement `score`."""

    name = ""

    def open(self) -> None:
        """Acquire what scoring needs (processes, a model); called again, it does nothing. A rule reward has
        nothing to acquire."""
        return None

    def close(self) -> None:
        """Release it; the reward may be opened again afterwards."""
        return None

    @abstractmethod
    def score(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        """One value per response (None: the sample's reference cannot be checked); opens the reward if needed."""

    def __call__(self, response: str, sample: Sample) -> float | None:
        return self.score([response], [sample])[0]

    def __enter__(self) -> Reward:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FunctionReward(Reward):
    """A pure rule reward: a function of one response and its sample; no settings, no state."""

    def __init__(self, name: str, fn: RewardFn) -> None:
        self.name, self.fn = name, fn

    def score(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        return [self.fn(r, s) for r, s in zip(responses, samples, strict=True)]

    def __call__(self, response: str, sample: Sample) -> float | None:
        return self.fn(response, sample)


REWARDS: Registry[Callable[..., Reward]] = Registry("reward")  # name -> factory(**settings) -> Reward


def register(name: str) -> Callable[[RewardFn], RewardFn]:
    """Register a pure rule reward function under `name` (it takes no settings); returns the function."""

    def add(fn: RewardFn) -> RewardFn:
        def factory() -> Reward:
            return FunctionReward(name, fn)

        REWARDS.register(name)(factory)
        return fn

    return add


def register_reward(name: str) -> Callable[[type[Reward]], type[Reward]]:
    """Register a `Reward` subclass under `name`; its `__init__` keyword arguments are its settings."""

    def add(cls: type[Reward]) -> type[Reward]:
        REWARDS.register(name)(cls)
        return cls

    return add


def factory(name: str) -> Callable[..., Reward]:
    """The registered factory of reward `name`; KeyError (naming the known rewards) when there is none."""
    _load_builtins()
    return REWARDS.get(name)


def settings_of(name: str) -> dict[str, Any]:
    """{setting: default} of reward `name` (empty for a rule reward without settings)."""
    parameters = inspect.signature(factory(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}


def build(name: str, **settings: Any) -> Reward:
    """Reward `name` configured with `settings`, not opened yet. An unknown name raises KeyError; an unknown
    setting raises ValueError and a bad value ConfigError, one line naming the reward and the setting."""
    make = factory(name)
    known = settings_of(name)
    for key in settings:
        if key not in known:
            allowed = f"its settings: {', '.join(known)}" if known else "it takes no settings"
            raise ValueError(f"reward {name!r} has no setting {key!r}; {allowed}")
    reward = make(**settings)
    reward.name = name
    return reward


def get(name: str) -> Reward:
    """Reward `name` with its default settings (callable as `reward(response, sample)`)."""
    return build(name)


@dataclass(frozen=True)
class RewardEntry:
    """One reward of a recipe: its name, its weight in the total and its settings."""

    name: str  # the entry's key: the name its values are logged under
    weight: float
    settings: dict[str, Any] = field(default_factory=dict)
    kind: str = ""  # the registered reward it builds (`reward: KIND` in its settings); the name when empty
    normalize: bool = False  # `normalize: true`: its values enter the total as running z-scores (`RunningNorm`)

    def build(self) -> Reward:
        reward = build(self.kind or self.name, **self.settings)
        reward.name = self.name
        return reward


def entries(rewards: Mapping[str, Any]) -> list[RewardEntry]:
    """A recipe's `rewards:` mapping, each value a weight or {weight: w, setting: value, ...}, as entries.
    An entry's key names a registered reward, or `reward: KIND` among its settings does, so that one kind
    can be used twice (`helpfulness: {reward: reward_model, ...}` and `harmlessness: {reward: reward_model, ...}`).

    Raises ValueError naming the entry (`rewards.NAME: ...`) for a missing or non-finite weight, an
    unknown reward, an unknown setting or a bad value; KeyError does not escape.
    """
    found = []
    for name, value in rewards.items():
        settings = dict(value) if isinstance(value, Mapping) else {"weight": value}
        weight = settings.pop("weight", None)
        kind = settings.pop("reward", name)
        normalize = settings.pop("normalize", False)
        if not isinstance(normalize, bool):
            raise ValueError(f"rewards.{name}: normalize must be true or false, not {normalize!r}")
        if not isinstance(kind, str):
            raise ValueError(f"rewards.{name}: reward must name a registered reward, not {kind!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not isfinite(weight):
            raise ValueError(
                f"rewards.{name}: give a finite number as its weight, not {weight!r} "
                f"(`{name}: w`, or `{name}: {{weight: w, setting: value}}` with settings)"
            )
        try:
            build(kind, **settings)  # settings checked now, before any model loads; nothing is opened
        except KeyError as error:
            raise ValueError(f"rewards.{name}: {error.args[0]}") from None
        except (TypeError, ValueError, ConfigError) as error:
            raise ValueError(f"rewards.{name}: {error}") from None
        found.append(RewardEntry(name, float(weight), settings, "" if kind == name else kind, normalize))
    return found


def problems(rewards: Mapping[str, Any], accuracy: str | None = None) -> list[tuple[str, str]]:
    """(field, message) for each entry of a recipe's `rewards:` at fault, and for `accuracy_reward` when it
    names no reward: what a config reports before any model loads."""
    found = []
    for name, value in rewards.items():
        try:
            entries({name: value})
        except ValueError as error:
            found.append((f"rewards.{name}", str(error)))
    if accuracy is not None:
        try:
            factory(accuracy)
        except KeyError as error:
            found.append(("accuracy_reward", f"accuracy_reward: {error.args[0]}"))
    return found


class RunningNorm:
    """A reward's running mean and standard deviation over every value it has given (Chan et al.'s parallel
    update of count, mean and squared deviations, batch by batch), and its values as z-scores against them.

    DeepSeek-R1's all-scenario RL mixes rule rewards (0 or 1) with reward-model scores (any real number,
    on a scale of the model's own): normalised per source, each enters the total on the same footing and
    its weight means what it says. A batch is added before it is normalised, so the first batch is scored
    against itself; the statistics are plain numbers, saved in a checkpoint's trainer state (`state`) so
    that a resumed run goes on with the same ones.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        self.count, self.mean, self.squares, self.eps = 0, 0.0, 0.0, eps

    @property
    def std(self) -> float:
        """The population standard deviation of the values seen; 1.0 until two have been."""
        return (self.squares / self.count) ** 0.5 if self.count > 1 else 1.0

    def update(self, values: Sequence[float]) -> None:
        if not values:
            return
        n = len(values)
        mean = sum(values) / n
        squares = sum((v - mean) ** 2 for v in values)
        total = self.count + n
        delta = mean - self.mean
        self.squares += squares + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    def normalize(self, value: float) -> float:
        return (value - self.mean) / (self.std + self.eps)

    def state(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "squares": self.squares}

    def load(self, state: Mapping[str, Any]) -> None:
        count, mean, squares = state.get("count"), state.get("mean"), state.get("squares")
        if not isinstance(count, int) or not all(isinstance(v, int | float) for v in (mean, squares)):
            raise ValueError(f"reward normaliser state must hold count, mean and squares: {dict(state)!r}")
        self.count, self.mean, self.squares = count, float(mean), float(squares)


@dataclass(frozen=True)
class Scored:
    total: float  # sum of weight * value (a normalised reward: its running z-score) over the components given
    components: dict[str, float | None]  # unweighted value of every component (None: could not check)


class Combined:
    """Weighted sum of configured rewards; opens and closes them together (`with combined:`)."""

    def __init__(self, rewards: Mapping[str, Any]) -> None:
        if not rewards:
            raise ValueError("at least one reward is needed")
        found = entries(rewards)
        self.weights = {entry.name: entry.weight for entry in found}
        self.rewards = {entry.name: entry.build() for entry in found}
        self.norms = {entry.name: RunningNorm() for entry in found if entry.normalize}

    def open(self) -> None:
        for reward in self.rewards.values():
            reward.open()

    def close(self) -> None:
        for reward in self.rewards.values():
            reward.close()

    def __enter__(self) -> Combined:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, response: str, sample: Sample) -> Scored:
        return self.many([response], [sample])[0]

    def many(self, responses: Sequence[str], samples: Sequence[Sample], learn: bool = True) -> list[Scored]:
        """Score a batch; each reward scores all of it at once (a worker pool or sandbox runs in parallel).
        With `learn` false (evaluation) the normalisers score against their statistics without adding to them."""
        values = {name: reward.score(responses, samples) for name, reward in self.rewards.items()}
        entering = dict(values)  # what enters the totals: normalised rewards as z-scores
        for name, norm in self.norms.items():
            if learn:
                norm.update([v for v in values[name] if v is not None])
            entering[name] = [None if v is None else norm.normalize(v) for v in values[name]]
        scored = []
        for index in range(len(responses)):
            components = {name: values[name][index] for name in self.weights}
            total = sum(self.weights[n] * v for n in self.weights if (v := entering[n][index]) is not None)
            scored.append(Scored(total, components))
        return scored

    def state(self) -> dict[str, dict[str, float]]:
        """The normalisers' statistics, {reward name: {count, mean, squares}} (empty when none normalises)."""
        return {name: norm.state() for name, norm in self.norms.items()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Statistics `state` wrote; ValueError when they do not match this recipe's normalised rewards."""
        if set(state) != set(self.norms):
            raise ValueError(f"reward normalisers {sorted(state)} saved, the recipe normalises {sorted(self.norms)}")
        for name, norm in self.norms.items():
            norm.load(state[name])


def combine(rewards: Mapping[str, Any]) -> Combined:
    """The weighted combination of configured rewards, e.g. combine({"accuracy_numeric": 1.0, "format": 0.5})
    or combine({"accuracy_math": {"weight": 1.0, "workers": 2}})."""
    return Combined(rewards)


def _load_builtins() -> None:
    # Importing the modules registers their rewards; done on first lookup so importing aha.rewards is cheap.
    from aha.rewards import arithmetic, code, countdown, format, language, math, model  # noqa: F401
