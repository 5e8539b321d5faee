"""`aha grade`: a JSONL file of responses in, the same records with their scores out."""

from __future__ import annotations

import json
import re

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


def _no_grading(*args, **kwargs):
    raise AssertionError("grading started")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing-dir/out.jsonl", r"--out .*missing-dir/out\.jsonl: cannot write there \(No such file or directory\)"),
        ("in.jsonl/out.jsonl", r"--out .*in\.jsonl/out\.jsonl: cannot write there \(Not a directory\)"),
        (".", r"--out .*: is a directory; give a file name"),
    ],
)
def test_an_unwritable_out_fails_before_any_grading_and_leaves_nothing(tmp_path, capsys, monkeypatch, out, message):
    monkeypatch.setattr("aha.stages.grade.score", _no_grading)
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["grade", str(source), "--reward", "format", "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match("aha: error: " + message, err[0]), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_failure_while_grading_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr("aha.stages.grade.score", _no_grading)
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    with pytest.raises(AssertionError, match="grading started"):
        main(["grade", str(source), "--reward", "format"])
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"response": "café", "answer": "1"}\n'.encode("latin-1"), r"in\.jsonl:1: not UTF-8 text"),
        (b"\x00\x01\x02\xff binary\n", r"in\.jsonl:1: not UTF-8 text"),
        (b'{"response": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n", r"in\.jsonl:1: JSON nested more than"),
        (b'{"response": "x", "answer": "1"}\n{"response": "\\udfff", "answer": "1"}\n', r"in\.jsonl:2: string holds"),
        (b'{"response": "x", "answer": NaN}\n', r"in\.jsonl:1: invalid JSON \(NaN is not JSON"),
    ],
)
def test_unreadable_input_is_one_line_and_leaves_nothing(tmp_path, capsys, content, message):
    source = tmp_path / "in.jsonl"
    source.write_bytes(content)
    assert main(["grade", str(source), "--reward", "format"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aha: error: ") and re.search(message, err[0]), err
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]  # no output, no .tmp-* file


def test_a_reward_without_a_finite_value_is_written_as_null(tmp_path, monkeypatch):
    def score(reward, responses, samples):
        return [{"value": v} for v in (float("nan"), float("inf"), 0.5)]

    monkeypatch.setattr("aha.stages.grade.score", score)
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    assert main(["grade", str(source), "--reward", "format"]) == 0
    text = (tmp_path / "in.graded.jsonl").read_text()
    out = [
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the output")) for line in text.splitlines()
    ]
    assert [r["rewards"]["format"] for r in out] == [None, None, 0.5]
