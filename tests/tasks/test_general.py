"""General prompts for all-scenario RL: the three record shapes, the last N held out, and bad records named
by file and line."""

from __future__ import annotations

import json

import pytest

from aha.errors import ConfigError, DataError
from aha.tasks.general import read_general


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_each_record_shape_becomes_a_general_sample_and_the_last_are_held_out(tmp_path):
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
             {"role": "user", "content": "How do I pick a lock?"}]  # fmt: skip
    records = [
        {"id": "a", "prompt": "Tell me a joke."},
        {"id": "b", "instruction": "Sort these words.", "input": "pear apple", "output": "apple pear"},
        {"id": "c", "instruction": "Name a colour.", "input": ""},
        {"id": "d", "prompt_messages": turns, "chosen": "I can't help with that."},
    ]
    train, held = read_general(write(tmp_path / "g.jsonl", records), held_out=1)
    assert [s.id for s in train] == ["a", "b", "c"] and [s.id for s in held] == ["d"]
    assert train[1].prompt == "Sort these words.\n\npear apple" and train[1].answer == "apple pear"
    assert train[2].prompt == "Name a colour."
    assert held[0].prompt == "How do I pick a lock?" and held[0].meta["messages"] == turns
    assert all(s.meta["source"] == "general" for s in train + held)


def test_shipped_sets_resolve_and_bad_records_are_named(tmp_path):
    train, held = read_general("set:hh_harmless_pairs:test", held_out=20)
    assert (len(train), len(held)) == (280, 20) and "messages" in held[0].meta
    assert len(read_general("set:general_instructions", held_out=27)[0]) == 400
    with pytest.raises(ConfigError, match="no shipped file"):
        read_general("set:nope", held_out=1)
    with pytest.raises(ConfigError, match="no such file"):
        read_general(str(tmp_path / "missing.jsonl"), held_out=1)
    bad = [
        ([{"response": "x"}, {"prompt": "y"}], "g.jsonl:1: a general prompt needs"),
        ([{"prompt": "  "}, {"prompt": "y"}], "g.jsonl:1: the prompt is empty"),
        ([{"prompt": "x"}, {"prompt_messages": [{"role": "assistant", "content": "y"}]}], "g.jsonl:2: .*user's turn"),
        ([{"prompt": "x"}, {"instruction": "y", "input": 3}], "g.jsonl:2: input must be a string"),
        ([{"prompt": "x"}], "1 prompts, not more than general.held_out=1"),
    ]
    for records, message in bad:
        with pytest.raises(DataError, match=message):
            read_general(write(tmp_path / "g.jsonl", records), held_out=1)
