"""JSON Lines reading and writing; every error names the file, the line and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from aha.errors import DataError


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) for each non-blank line; a DataError names file and line on bad JSON."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno})") from error
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


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
    """Append one record as a line and flush, so a finished record survives a crash of the writer."""
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
