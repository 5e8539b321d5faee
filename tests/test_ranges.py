"""Allowed ranges: membership, the wording errors use, command-line parsing and config checks."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import pytest

from aha.errors import ConfigError
from aha.ranges import COUNT, SEED, TEMPERATURE, TOP_P, Range, check, one_of, raise_problems


@pytest.mark.parametrize(
    ("allowed", "inside", "outside"),
    [
        (COUNT, [1, 2, 10**12], [0, -1, 1.5, True, "1", None]),
        (TEMPERATURE, [0, 0.0, 0.7, 2, 1e6], [-1e-9, math.nan, math.inf, -math.inf, False]),
        (TOP_P, [1e-9, 0.5, 1, 1.0], [0, 0.0, 1.0000001, math.nan, 2]),
        (SEED, [0, 2**64 - 1], [-1, 2**64]),
        (Range(float, 0, 1, high_open=True), [0, 0.999], [1, 1.0]),
        (Range(int, high=5), [-(10**9), 5], [6]),
        (Range(float), [-1e300, 0, 1e300], [math.nan, math.inf]),
    ],
)
def test_membership(allowed, inside, outside):
    assert all(allowed.holds(v) for v in inside), [v for v in inside if not allowed.holds(v)]
    assert not any(allowed.holds(v) for v in outside), [v for v in outside if allowed.holds(v)]


def test_descriptions_name_the_bounds():
    assert str(COUNT) == "an integer >= 1"
    assert str(TEMPERATURE) == "a finite number >= 0 (0 = greedy)"
    assert str(TOP_P) == "a finite number in (0, 1] (1 keeps every token)"
    assert str(Range(float, 0, 1, high_open=True)) == "a finite number in [0, 1)"
    assert str(Range(float, 1, low_open=True)) == "a finite number > 1"
    assert str(Range(int, high=5, high_open=True)) == "an integer < 5"
    assert str(Range(float, 0.5)) == "a finite number >= 0.5"


def test_parse_is_an_argparse_type():
    assert COUNT.parse("3") == 3 and TEMPERATURE.parse("0") == 0.0 and TOP_P.parse("1") == 1.0
    for allowed, text, message in [
        (COUNT, "0", "0 is not an integer >= 1"),
        (COUNT, "1.5", "'1.5' is not an integer >= 1"),
        (COUNT, "", "'' is not an integer >= 1"),
        (TEMPERATURE, "nan", "nan is not a finite number >= 0"),
        (TEMPERATURE, "-inf", "-inf is not a finite number >= 0"),
        (TOP_P, "2", "2 is not a finite number in (0, 1]"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            allowed.parse(text)


@dataclass(frozen=True)
class Config:
    n: int = 1
    p: float = 0.5
    limit: int | None = None


def test_check_reports_every_field_with_its_problem():
    check(Config(), {"n": COUNT, "p": TOP_P, "limit": COUNT}, optional=("limit",))
    with pytest.raises(ConfigError) as info:
        check(Config(n=0, p=math.nan, limit=None), {"n": COUNT, "p": TOP_P, "limit": COUNT})
    assert [field for field, _ in info.value.problems] == ["n", "p", "limit"]
    assert str(info.value).startswith("n=0 must be an integer >= 1; p=nan must be a finite number in (0, 1]")


def test_one_of_and_raise_problems():
    assert one_of("schedule", "cosine", ("constant", "cosine")) is None
    problem = one_of("schedule", "linear", ("cosine", "constant"))
    assert problem == ("schedule", "schedule='linear' is not one of constant, cosine")
    raise_problems([None, None])
    with pytest.raises(ConfigError, match="schedule='linear'") as info:
        raise_problems([None, problem])
    assert info.value.problems == (problem,)
