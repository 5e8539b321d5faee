"""Tasks: prompt sets with reference answers, generated (arithmetic) or read from JSONL."""

from __future__ import annotations

from pathlib import Path

from aha.data.jsonl import field, read_jsonl
from aha.errors import DataError
from aha.types import Sample


def load_samples(
    path: str | Path, *, prompt_field: str = "prompt", answer_field: str = "answer", id_field: str = "id"
) -> list[Sample]:
    """Samples from a JSONL file; every other field of a record goes to `meta`.

    Errors name the file, the line and the field: a missing or non-string prompt or answer, a duplicate id.
    Records without an id get "<file stem>/<line>".
    """
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line, record in read_jsonl(path):
        prompt = field(record, prompt_field, str, path, line)
        answer = record.get(answer_field)
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise DataError(f"{path}:{line}: field {answer_field!r} must be a non-empty string or number")
        sample_id = str(record.get(id_field, f"{Path(path).stem}/{line}"))
        if sample_id in seen:
            raise DataError(f"{path}:{line}: duplicate {id_field} {sample_id!r} (first on line {seen[sample_id]})")
        seen[sample_id] = line
        meta = {k: v for k, v in record.items() if k not in (prompt_field, answer_field, id_field)}
        samples.append(Sample(id=sample_id, prompt=prompt, answer=answer, meta=meta))
    if not samples:
        raise DataError(f"{path}: no records")
    return samples
