"""Allowed ranges of numeric options and config fields, checked before any work starts.

One `Range` serves both doors: `aha.cli` parses command-line values with `Range.parse` (an argparse
type), and configs check their fields with `check` in `__post_init__`, so an option and the config
field it fills report the same allowed values. Floats must be finite: NaN compares false with every
bound, so without that check `temperature=nan` would pass `>= 0`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aha.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Numbers of `kind` between low and high (each bound included unless marked open; None: unbounded)."""

    kind: type  # int or float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    note: str = ""  # why, when the bound is not obvious

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"{what} in {left}{_number(self.low)}, {_number(self.high)}{right}"
        elif self.low is not None:
            text = f"{what} {'>' if self.low_open else '>='} {_number(self.low)}"
        elif self.high is not None:
            text = f"{what} {'<' if self.high_open else '<='} {_number(self.high)}"
        else:
            text = what
        return f"{text} ({self.note})" if self.note else text

    def holds(self, value: Any) -> bool:
        """Whether value is of the kind (an int also counts as a float; a bool as neither) and in range."""
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else int):
            return False
        if self.kind is float and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def parse(self, text: str) -> int | float:
        """argparse type: the number in `text`, or an error that argparse reports under the option's name."""
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self}") from None
        if not self.holds(value):
            raise argparse.ArgumentTypeError(f"{text} is not {self}")
        return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


COUNT = Range(int, 1)  # how many of something, at least one
NON_NEGATIVE_INT = Range(int, 0)
SEED = Range(int, 0, 2**64 - 1)  # torch.Generator.manual_seed takes at most 64 bits
NON_NEGATIVE = Range(float, 0)
POSITIVE = Range(float, 0, low_open=True)
FRACTION = Range(float, 0, 1)
TEMPERATURE = Range(float, 0, note="0 = greedy")
TOP_P = Range(float, 0, 1, low_open=True, note="1 keeps every token")
ADAM_BETA = Range(float, 0, 1, high_open=True)
PORT = Range(int, 0, 65535, note="0 = any free port")


def out_of_range(config: Any, ranges: Mapping[str, Range], optional: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(field, message) for every field of `config` outside its range (fields in `optional` may be None)."""
    problems = []
    for name, allowed in ranges.items():
        value = getattr(config, name)  # the names come from the config class's own table
        if not (value is None and name in optional) and not allowed.holds(value):
            problems.append((name, f"{name}={value!r} must be {allowed}"))
    return problems


def check(config: Any, ranges: Mapping[str, Range], optional: tuple[str, ...] = ()) -> None:
    """Raise one ConfigError naming every field of `config` outside its range."""
    raise_problems(out_of_range(config, ranges, optional))


def one_of(name: str, value: Any, allowed: Any) -> tuple[str, str] | None:
    """A (field, message) problem when value is not among `allowed` (a registry or a collection of names)."""
    if value in allowed:
        return None
    return name, f"{name}={value!r} is not one of {', '.join(sorted(allowed))}"


def raise_problems(problems: Sequence[tuple[str, str] | None]) -> None:
    """Raise one ConfigError for every problem found (None entries are checks that passed).

    The error's `problems` keep the (field, message) pairs, so a recipe loader can point at each key's line.
    """
    found = [p for p in problems if p is not None]
    if found:
        raise ConfigError("; ".join(message for _, message in found), problems=found)


def registered(field: str, name: str, get: Callable[[str], Any]) -> tuple[str, str] | None:
    """A (field, message) problem when `name` is not in the registry behind `get` (its KeyError lists the
    names it knows); None when it is."""
    try:
        get(name)
    except KeyError as error:
        return field, f"{field}: {error.args[0]}"
    return None
