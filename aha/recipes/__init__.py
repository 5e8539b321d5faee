"""Recipes shipped with aha: one YAML file per recipe, keys mapping onto the stage's config dataclass."""

from __future__ import annotations

from pathlib import Path

from aha.errors import ConfigError

DIRECTORY = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in DIRECTORY.glob("*.yaml"))


def find(name_or_path: str) -> Path:
    """A recipe file by shipped name (r1zero-arith) or by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{path}: no such recipe file")
        return path
    shipped = DIRECTORY / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise ConfigError(
            f"unknown recipe {name_or_path!r}; shipped recipes: {', '.join(names())} (or give a .yaml path)"
        )
    return shipped
