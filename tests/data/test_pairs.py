"""Preference pairs: the shipped shape and TRL's shapes render to the same chat-template tokens; bad records
name file, line and field; pairs too long are dropped and counted."""

from __future__ import annotations

import json

import pytest

from aha.data.pairs import read_pairs
from aha.errors import DataError


def write(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_every_shape_renders_the_conversation_with_the_final_turn(smollm, tmp_path):
    context = [{"role": "user", "content": "Can you help?"}]
    shipped = {"prompt_messages": context, "chosen": "Yes, gladly.", "rejected": "No.", "margin": 1}
    trl = {"chosen": [*context, {"role": "assistant", "content": "Yes, gladly."}],
           "rejected": [*context, {"role": "assistant", "content": "No."}]}  # fmt: skip
    plain = {"prompt": "Can you help?", "chosen": "Yes, gladly.", "rejected": "No."}
    pairs, dropped = read_pairs(write(tmp_path / "p.jsonl", shipped, trl, plain), smollm.tokenizer, 512)
    assert dropped == 0 and len({(p.chosen, p.rejected) for p in pairs}) == 1  # the same tokens all three ways
    text = smollm.tokenizer.decode(list(pairs[0].chosen))
    assert text.index("Can you help?") < text.index("Yes, gladly.") and "No." not in text
    assert [p.margin for p in pairs] == [1.0, None, None]
    assert pairs[0].id == "p/1" and pairs[0].where == f"{tmp_path / 'p.jsonl'}:1"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"chosen": "a"}, "needs chosen and rejected"),
        ({"chosen": "a", "rejected": "b"}, "needs prompt_messages"),
        ({"prompt": "q", "chosen": 3, "rejected": "b"}, "chosen must be a string or a list"),
        ({"chosen": [{"role": "user", "content": "q"}], "rejected": "b", "prompt": "q"}, "must end with the assistant"),
        (
            {"prompt_messages": [{"role": "bot", "content": "q"}], "chosen": "a", "rejected": "b"},
            "prompt_messages\\[0\\]",
        ),
        ({"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"}, "margin must be a number"),
    ],
)
def test_bad_records_name_file_line_and_field(smollm, tmp_path, record, message):
    path = write(tmp_path / "bad.jsonl", {"prompt": "q", "chosen": "a", "rejected": "b"}, record)
    with pytest.raises(DataError, match=rf"bad\.jsonl:2: .*{message}"):
        read_pairs(path, smollm.tokenizer, 512)


def test_pairs_too_long_are_dropped_and_counted(smollm, tmp_path):
    long = {"prompt": "Count.", "chosen": " ".join(map(str, range(300))), "rejected": "No."}
    short = {"prompt": "Hi", "chosen": "Hello.", "rejected": "Go away."}
    pairs, dropped = read_pairs(write(tmp_path / "p.jsonl", long, short), smollm.tokenizer, 64)
    assert dropped == 1 and [p.id for p in pairs] == ["p/2"]
    with pytest.raises(DataError, match="no pair fits in 64 tokens"):
        read_pairs(write(tmp_path / "q.jsonl", long), smollm.tokenizer, 64)


def test_the_shipped_harmlessness_pairs_read(smollm):
    from aha.tasks.sets import SETS_DIR

    pairs, dropped = read_pairs(SETS_DIR / "hh_harmless_pairs_test.jsonl", smollm.tokenizer, 512)
    assert len(pairs) + dropped == 300 and dropped < 15
    assert all(p.chosen != p.rejected for p in pairs)
