"""JSON Lines reading and writing; every error names the file, the line and the field.

Reading is strict, so that whatever a reader accepts can be written back as standard JSON: each line must
be UTF-8 (a byte-order mark on the first line is allowed) holding one JSON object, without NaN or
Infinity (Python's json module accepts them; the JSON standard and most other readers do not), without
lone UTF-16 surrogates such as "\\ud800" (they cannot be encoded as UTF-8), and nested at most
MAX_DEPTH levels deep (deeper input would hit Python's recursion limit in json).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from aha.errors import DataError

MAX_DEPTH = 100  # nesting levels of objects and arrays in one record
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")  # "\ud800" ... "\udfff" as written in JSON


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) for each non-blank line; a DataError names file and line on bad input."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; opening is what can fail here)
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            record = parse_line(raw, path, number)
            if record is not None:
                yield number, record


def parse_line(raw: bytes, path: str | Path, number: int) -> dict[str, Any] | None:
    """The JSON object on one line of a file, None for a blank line; a DataError names file and line."""
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        column = len(raw) - len(error.object) + error.start + 1  # error.object lacks a byte-order mark
        raise DataError(
            f"{path}:{number}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None
    if not line.strip():
        return None
    try:
        record = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno})") from None
    except ValueError as error:  # NaN / Infinity, or an integer of more than 4300 digits
        raise DataError(f"{path}:{number}: invalid JSON ({error})") from None
    except RecursionError:
        raise DataError(f"{path}:{number}: JSON nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    strings = _SURROGATE_ESCAPE.search(line) is not None
    if strings or line.count("[") + line.count("{") > MAX_DEPTH:  # the walk is needed only then
        problem = _structure_problem(record, strings)
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
    return record


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; write null or a string")


def _structure_problem(record: dict[str, Any], strings: bool) -> str | None:
    """Too deep a nesting, or (when `strings`) a string holding a lone surrogate; None when neither."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"JSON nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif strings and isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                code = ord(value[error.start])
                return f"string holds a lone surrogate \\u{code:04x}, which is not Unicode text"
    return None


def field(record: dict[str, Any], name: str, kind: type, path: str | Path, line: int) -> Any:
    """record[name], checked to be of `kind`; a DataError names file, line and field otherwise."""
    if name not in record:
        raise DataError(
            f"{path}:{line}: missing field {name!r} (fields present: {', '.join(sorted(record)) or 'none'})"
        )
    value = record[name]
    if not isinstance(value, kind):
        raise DataError(f"{path}:{line}: field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def write_record(handle: TextIO, record: dict[str, Any]) -> None:
    """Append one record as a line and flush, so a finished record survives a crash of the writer.

    Standard JSON only: a NaN or infinite float raises ValueError (write None for "no value").
    """
    handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    handle.flush()
