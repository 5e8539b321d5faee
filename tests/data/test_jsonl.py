"""JSONL reading: every error names the file, the line and the field."""

from __future__ import annotations

import io
import json

import pytest

from aha.data.jsonl import field, read_jsonl, write_record
from aha.errors import DataError


def test_reads_records_with_line_numbers_skipping_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"prompt": "x"}\n\n{"prompt": "y", "answer": 3}\n')
    assert list(read_jsonl(path)) == [(1, {"prompt": "x"}), (3, {"prompt": "y", "answer": 3})]


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "x"}\n{"prompt": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        list(read_jsonl(path))


def test_non_object_line_is_rejected(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"list\.jsonl:1: expected a JSON object, got list"):
        list(read_jsonl(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(read_jsonl(tmp_path / "none.jsonl"))


def test_field_errors_name_the_field():
    with pytest.raises(DataError, match=r"f\.jsonl:4: missing field 'prompt' \(fields present: question\)"):
        field({"question": "q"}, "prompt", str, "f.jsonl", 4)
    with pytest.raises(DataError, match="field 'prompt' must be str, got int"):
        field({"prompt": 3}, "prompt", str, "f.jsonl", 1)


def test_write_record_round_trips_unicode():
    out = io.StringIO()
    write_record(out, {"text": "思考 ✓"})
    assert json.loads(out.getvalue()) == {"text": "思考 ✓"} and "思考" in out.getvalue()
