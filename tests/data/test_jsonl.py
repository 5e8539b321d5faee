"""JSONL reading: every error names the file, the line and the field."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1}\n\xff\xfe\x00\x01\n', r"x\.jsonl:2: not UTF-8 text \(byte 0xff at column 1\)"),
        ('{"a": "café"}\n'.encode("latin-1"), r"x\.jsonl:1: not UTF-8 text \(byte 0xe9 at column 11\)"),
        (b'{"a": NaN}\n', r"x\.jsonl:1: invalid JSON \(NaN is not JSON"),
        (b'{"a": [1, -Infinity]}\n', r"x\.jsonl:1: invalid JSON \(-Infinity is not JSON"),
        (b'{"a": "\\ud800"}\n', r"x\.jsonl:1: string holds a lone surrogate \\ud800"),
        (b'{"\\udc80": 1}\n', r"x\.jsonl:1: string holds a lone surrogate \\udc80"),  # in a key too
        (b'{"a": ' + b"[" * 101 + b"]" * 101 + b"}\n", r"x\.jsonl:1: JSON nested more than 100 levels deep"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", r"x\.jsonl:1: JSON nested more than 100"),
        (b'{"a": ' + b"1" * 5000 + b"}\n", r"x\.jsonl:1: invalid JSON \(Exceeds the limit"),
    ],
)
def test_input_that_cannot_be_written_back_as_json_is_refused_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        list(read_jsonl(path))


def test_what_is_valid_json_and_unicode_is_read(tmp_path):
    path = tmp_path / "ok.jsonl"
    emoji_pair = '{"a": "\\ud83d\\ude00"}'  # a surrogate pair written as escapes is one character
    nested = '{"a": ' + "[" * 99 + "]" * 99 + "}"  # 100 levels counting the object
    path.write_bytes("\ufeff".encode() + b'{"a": 1}\r\n' + f"{emoji_pair}\n{nested}\n".encode())
    records = [record for _, record in read_jsonl(path)]
    assert records[0] == {"a": 1}  # a byte-order mark and a CRLF line ending are fine
    assert records[1] == {"a": "😀"}
    assert len(records) == 3


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        list(read_jsonl(tmp_path))


def test_write_record_refuses_nan():
    with pytest.raises(ValueError, match="Out of range float"):
        write_record(io.StringIO(), {"x": float("nan")})


# Fuzzing: whatever the bytes, a reader of user JSONL yields records that can be written back as strict
# JSON, or raises a DataError naming the file and a line of it; never any other exception.

_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None, blacklist_categories=()), max_size=8)  # surrogates included
)
_JSONISH = st.recursive(
    _LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
)
_TEXT_MOSTLY = st.text(alphabet=st.characters(codec=None, blacklist_categories=()), min_size=1, max_size=8) | _JSONISH


def _line(value, ensure_ascii: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ensure_ascii)  # NaN and Infinity written, as Python does by default
    return text.encode("utf-8", errors="surrogatepass")  # lone surrogates become bytes that are not UTF-8


@st.composite
def _jsonl_bytes(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["object", "value", "bytes", "deep", "cut"]))
        if kind == "object":
            lines.append(_line(draw(st.dictionaries(st.text(max_size=5), _JSONISH, max_size=4)), draw(st.booleans())))
        elif kind == "value":
            lines.append(_line(draw(_JSONISH), draw(st.booleans())))
        elif kind == "bytes":
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b" "))
        elif kind == "deep":
            depth = draw(st.integers(1, 3000))
            lines.append(b'{"a": ' + b"[" * depth + b"]" * depth + b"}")
        else:
            full = _line(draw(st.dictionaries(st.text(max_size=5), _JSONISH, min_size=1, max_size=4)), False)
            lines.append(full[: draw(st.integers(0, len(full)))])
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


def _check_reader(path, content: bytes, read) -> None:
    """read(path) returns, or raises a DataError naming `path` and one of its lines; records are strict JSON."""
    path.write_bytes(content)
    lines = content.count(b"\n") + 1
    try:
        result = read(path)
    except DataError as error:
        message = str(error)
        assert message.startswith(f"{path}:"), message
        where = message[len(str(path)) + 1 :].split(":", 1)[0]
        assert (where.isdigit() and 1 <= int(where) <= lines) or message == f"{path}: no records", message
        return
    text = json.dumps(result, ensure_ascii=False, allow_nan=False, default=lambda o: o.__dict__)
    text.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_jsonl_bytes())
def test_fuzz_read_jsonl(tmp_path, content):
    _check_reader(tmp_path / "f.jsonl", content, lambda p: [record for _, record in read_jsonl(p)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_jsonl_bytes())
def test_fuzz_read_jsonl_on_raw_bytes(tmp_path, content):
    raw = content.replace(b"{", b"\xc3\x28{", 1)  # an invalid UTF-8 sequence wherever the first object starts
    _check_reader(tmp_path / "f.jsonl", raw, lambda p: [record for _, record in read_jsonl(p)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {"prompt": _TEXT_MOSTLY, "response": _TEXT_MOSTLY, "answer": _LEAVES | _JSONISH},
            optional={
                "id": _JSONISH,
                "meta": st.dictionaries(st.text(max_size=5), _JSONISH, max_size=3) | _JSONISH,
                "nums": st.lists(st.integers(1, 100), max_size=4) | _JSONISH,
                "target": st.integers(1, 100) | _JSONISH,
                "extra": _JSONISH,
            },
        ),
        max_size=4,
    ),
    ensure_ascii=st.booleans(),
)
def test_fuzz_the_readers_of_user_files(tmp_path, records, ensure_ascii):
    """grade's input, generate's prompt files, task files and Countdown files: records or a DataError."""
    from aha.data.jsonl import read_jsonl
    from aha.stages.generate import GenerateConfig, read_prompts
    from aha.stages.grade import GradeConfig, read_items
    from aha.tasks import load_samples
    from aha.tasks.sets import countdown_sample

    content = b"\n".join(_line(r, ensure_ascii) for r in records)
    readers = [
        lambda p: read_items(GradeConfig(path=str(p), rewards=("format",))),
        lambda p: read_prompts(GenerateConfig(prompts=str(p))),
        lambda p: load_samples(p),
        lambda p: [countdown_sample(record, p, line) for line, record in read_jsonl(p)],
    ]
    for read in readers:
        _check_reader(tmp_path / "user.jsonl", content, read)
