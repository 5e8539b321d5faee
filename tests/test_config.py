"""Recipe loading: YAML to dataclasses, overrides, and every error at once with file and line."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from aha.config import load_config, to_dict
from aha.errors import ConfigError
from aha.ranges import COUNT, FRACTION, check


@dataclass(frozen=True, kw_only=True)
class Inner:
    lr: float = 1e-5
    steps: int = 10
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=dict)
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit={self.limit} must be >= 0")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: run\ninner:\n  lr: 3e-6\n  stop: ['</answer>']\nweights: {format: 1}\n")
    config = load_config(Outer, path, ["inner.steps=40", "limit=5"])
    assert config == Outer(
        name="run", inner=Inner(lr=3e-6, steps=40, stop=("</answer>",)), weights={"format": 1.0}, limit=5
    )
    assert to_dict(config)["inner"]["stop"] == ["</answer>"]


def test_all_errors_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: run\ninner:\n  lr: fast\n  stpes: 3\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(Outer, path, ["inner.steps=many"])
    message = str(info.value)
    assert f"{path}:3: 'inner.lr' = 'fast' is not float" in message
    assert f"{path}:4: unknown key 'inner.stpes'; allowed: lr, steps, stop" in message
    assert f"{path}:5: unknown key 'bogus'" in message
    assert "override inner.steps: 'inner.steps' = 'many' is not int" in message


def test_validation_in_the_dataclass_is_reported():
    with pytest.raises(ConfigError, match="limit=-1 must be >= 0"):
        load_config(Outer, None, ["limit=-1"])


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config(Outer, path)
    with pytest.raises(ConfigError, match="no such recipe file"):
        load_config(Outer, tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Outer, None, ["justakey"])


@dataclass(frozen=True, kw_only=True)
class Ranged:
    outer: Outer = field(default_factory=Outer)
    rate: float = 0.5
    count: int = 1

    def __post_init__(self) -> None:
        check(self, {"rate": FRACTION, "count": COUNT})
        if self.outer.limit is not None and self.count > self.outer.limit:  # a failed part must not come as None
            raise ConfigError("count must be <= outer.limit")


def test_range_errors_name_the_line_of_each_key_on_one_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rate: 1.5\ncount: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(Ranged, path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path}:1: rate=1.5 must be a finite number in [0, 1]" in message
    assert f"{path}:2: count=0 must be an integer >= 1" in message
    with pytest.raises(ConfigError, match=r"override rate: rate=nan must be a finite number in \[0, 1\]"):
        load_config(Ranged, None, ["rate=nan"])


def test_a_faulty_part_is_reported_without_building_the_whole():
    # Ranged would fail on outer=None if it were built after its part failed; the part's error is reported
    with pytest.raises(ConfigError, match=r"outer: limit=-1 must be >= 0"):
        load_config(Ranged, None, ["outer.limit=-1", "count=5"])


def test_unreadable_recipes_are_one_line_errors(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text"):
        load_config(Outer, latin)
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("name: !!python/object:os.system x\n")
    with pytest.raises(ConfigError, match=r"tagged\.yaml: invalid YAML"):
        load_config(Outer, tagged)
