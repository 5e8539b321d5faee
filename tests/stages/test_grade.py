"""`aha grade`: a JSONL file of responses in, the same records with their scores out."""

from __future__ import annotations

import json

import pytest

from aha.cli import main

RECORDS = [
    {"id": "a", "response": "<think> ok </think> The answer is \\boxed{\\frac{1}{2}}.", "answer": "0.5"},
    {"id": "b", "response": "<think> cut off before any answer 3", "answer": "3"},
    {"id": "c", "response": "<think> x </think> <answer> 7 </answer>", "answer": 8, "extra": [1]},
]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_grade_writes_every_record_with_its_scores(tmp_path, capsys):
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    assert main(["grade", str(source), "--reward", "accuracy_math,format", "--reward", "format_tags"]) == 0
    out = [json.loads(line) for line in (tmp_path / "in.graded.jsonl").read_text().splitlines()]
    assert [r["rewards"]["accuracy_math"] for r in out] == [1.0, 0.0, 0.0]
    assert [r["rewards"]["format"] for r in out] == [0.0, 0.0, 1.0]
    assert [r["rewards"]["format_tags"] for r in out] == [0.5, 0.25, 1.0]
    assert [r["grade"]["status"] for r in out] == ["correct", "no_answer", "wrong"]
    assert out[2]["extra"] == [1] and out[2]["answer"] == 8  # the input record is kept as it was
    printed = capsys.readouterr().out
    assert "accuracy_math: mean 0.3333 over 3" in printed


@pytest.mark.parametrize(
    ("lines", "args", "message"),
    [
        (['{"response": "x", "answer": "1"}'], ["--reward", "nope"], "unknown reward 'nope'"),
        (['{"answer": "1"}'], ["--reward", "format"], "in.jsonl:1: missing field 'response'"),
        (['{"response": "x"}', "{oops"], ["--reward", "format"], "in.jsonl:2: invalid JSON"),
        (['{"response": "x", "meta": 3}'], ["--reward", "format"], "in.jsonl:1: field 'meta' must be an object"),
    ],
)
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path, capsys, lines, args, message):
    source = _write(tmp_path / "in.jsonl", lines)
    assert main(["grade", str(source), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aha: error:") and message in err[0]
    assert not (tmp_path / "in.graded.jsonl").exists()
