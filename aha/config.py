"""Recipes: YAML files mapped one to one onto frozen dataclasses, with `a.b=value` overrides.

Every error is collected and reported at once, on one line, naming the file and line (or the override)
and, for an unknown key, the keys that are allowed. Values are type-checked against the dataclass annotations.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from aha.errors import ConfigError


def _key_lines(path: Path, text: str) -> dict[str, int]:
    """Dotted key -> 1-based line number, from the YAML node tree."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                lines[name] = key.start_mark.line + 1
                walk(value, name + ".")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(error, 'problem', error)})") from error
    if root is not None:
        walk(root, "")
    return lines


def _check(value: Any, annotation: Any) -> tuple[bool, Any]:
    """(ok, converted value) for a value against a type annotation (ints are accepted as floats)."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            ok, converted = _check(value, option)
            if ok:
                return True, converted
        return False, value
    if annotation is type(None):
        return value is None, value
    if annotation is float:
        if isinstance(value, str):  # PyYAML reads 3e-6 (no dot) as a string
            try:
                return True, float(value)
            except ValueError:
                return False, value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation in (str, bool):
        return isinstance(value, annotation), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        inner = typing.get_args(annotation)[0]
        converted = [_check(item, inner) for item in value]
        return all(ok for ok, _ in converted), tuple(item for _, item in converted)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        if not isinstance(value, dict):
            return False, value
        converted = {k: _check(v, value_type) for k, v in value.items()}
        ok = all(isinstance(k, key_type) for k in value) and all(ok for ok, _ in converted.values())
        return ok, {k: v for k, (_, v) in converted.items()}
    return isinstance(value, annotation), value


def _build(cls: type, data: dict[str, Any], prefix: str, where: dict[str, str], errors: list[str]) -> Any:
    """cls built from data, or None after adding what is wrong to errors (a config with a faulty part is not built)."""
    found_before = len(errors)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            errors.append(f"{where.get(name, name)}: unknown key {name!r}; allowed: {', '.join(sorted(fields))}")
            continue
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                errors.append(
                    f"{where.get(name, name)}: {name!r} must be a mapping with keys "
                    f"{', '.join(f.name for f in dataclasses.fields(hint))}"
                )
                continue
            kwargs[key] = _build(hint, value, name + ".", where, errors)
            continue
        ok, converted = _check(value, hint)
        if not ok:
            errors.append(f"{where.get(name, name)}: {name!r} = {value!r} is not {_type_name(hint)}")
            continue
        kwargs[key] = converted
    if len(errors) > found_before:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as error:
        if not error.problems:
            errors.append(f"{prefix.rstrip('.') or 'config'}: {error}")
        for field, message in error.problems:
            errors.append(f"{_location(where, prefix + field)}: {prefix}{message}")
        return None
    except ValueError as error:
        errors.append(f"{prefix.rstrip('.') or 'config'}: {error}")
        return None


def _location(where: dict[str, str], name: str) -> str:
    """Where a dotted key was set: its own line, else that of the nearest enclosing key, else the key itself."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        found = where.get(".".join(parts[:end]))
        if found is not None:
            return found
    return name


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def load_config(cls: type, path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Any:
    """Build `cls` from a YAML file (optional) and `key.sub=value` overrides (values parsed as YAML)."""
    data: dict[str, Any] = {}
    where: dict[str, str] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such recipe file")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}); a recipe is a YAML text file") from None
        where = {key: f"{path}:{line}" for key, line in _key_lines(path, text).items()}
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:  # composed, yet not constructible: a tag such as !!python/object
            raise ConfigError(f"{path}: invalid YAML ({_first_line(error)})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping of keys to values")
        data = loaded
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like key=value (e.g. sampling.group_size=4)")
        key, raw = override.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"override {override!r}: value is not valid YAML") from None
        _set(data, key.strip(), value)
        where[key.strip()] = f"override {key.strip()}"
    errors: list[str] = []
    config = _build(cls, data, "", where, errors)
    if errors:  # one line, as every error aha reports
        raise ConfigError("invalid config: " + "; ".join(errors))
    return config


def section(cls: type, data: dict[str, Any], prefix: str, fixed: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
    """`cls` built from a recipe section (`data`, the overrides of a stage a pipeline runs) with the fields
    the pipeline sets itself (`fixed`); (None, problems) when the section is at fault, each problem a
    (dotted field, message) pair a recipe loader points at the line of."""
    problems = [(f"{prefix}.{key}", f"{prefix}.{key} is set by the pipeline, not in its {prefix} section")
                for key in data if key in fixed]  # fmt: skip
    errors: list[str] = []
    built = _build(cls, {**data, **fixed}, prefix + ".", {}, errors)
    for error in errors:
        where, _, message = error.partition(": ")
        problems.append((where, message))
    return (None if problems else built), problems


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def to_dict(config: Any) -> dict[str, Any]:
    """Plain data (tuples as lists) for writing the resolved config back as YAML."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))
