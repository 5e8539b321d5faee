"""SFT records rendered with the real chat template: what is trained (assistant turns only, their
end-of-turn included), errors naming file and line, truncation reported."""

from __future__ import annotations

import json

import pytest

from aha.data.sft import answer_samples, read_examples, render, untrained_end_of_turn
from aha.errors import DataError


def write(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def trained_text(tokenizer, example):
    return tokenizer.decode([t for t, m in zip(example.tokens, example.trained, strict=True) if m])


def test_a_pair_trains_its_response_and_end_of_turn(smollm, tmp_path):
    path = write(tmp_path / "a.jsonl", {"prompt": "What is 2+2?", "response": "<think> 2+2=4 </think> It is 4."})
    [example], truncation = read_examples(path, smollm.tokenizer, 512)
    assert trained_text(smollm.tokenizer, example) == "<think> 2+2=4 </think> It is 4.<|im_end|>\n"
    rendered = smollm.tokenizer.decode(example.tokens)
    assert rendered.endswith("<|im_start|>assistant\n<think> 2+2=4 </think> It is 4.<|im_end|>\n")
    assert (truncation.examples, truncation.tokens) == (0, 0) and example.id == "a/1"


def test_a_conversation_trains_every_assistant_turn_and_nothing_else(smollm):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4."},
    ]
    tokens, trained = render(messages, smollm.tokenizer, "x")
    spans = smollm.tokenizer.decode([t for t, m in zip(tokens, trained, strict=True) if m])
    assert spans == "Hello.<|im_end|>\n4.<|im_end|>\n"
    assert "Be brief." in smollm.tokenizer.decode(tokens)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "q"}, "prompt and response, or messages"),
        ({"messages": [{"role": "bot", "content": "x"}]}, r"messages\[0\] needs a role"),
        ({"messages": [{"role": "user", "content": "x"}]}, "no assistant turn"),
        ({"messages": [{"role": "assistant", "content": 3}]}, r"messages\[0\].content must be a string"),
        ({"prompt": "q", "response": 5}, "'response' must be str"),
        ({"messages": [{"role": "assistant", "content": "x", "train": "no"}]}, r"messages\[0\].train must be true"),
        ({"messages": [{"role": "assistant", "content": "x", "train": False}]}, "no assistant turn to train on"),
    ],
)
def test_bad_records_name_file_and_line(smollm, tmp_path, record, message):
    path = write(tmp_path / "bad.jsonl", {"prompt": "ok", "response": "fine"}, record)
    with pytest.raises(DataError, match=rf"bad\.jsonl:2: .*{message}"):
        read_examples(path, smollm.tokenizer, 512)


def test_truncation_is_reported_and_an_example_cut_to_nothing_is_an_error(smollm, tmp_path):
    long = {"prompt": "Count.", "response": " ".join(str(i) for i in range(200))}
    path = write(tmp_path / "long.jsonl", long, {"prompt": "Hi", "response": "Hello."})
    examples, truncation = read_examples(path, smollm.tokenizer, 64)
    assert len(examples[0].tokens) == 64 and truncation.examples == 1
    assert truncation.tokens > 300 and 0.5 < truncation.share < 1.0
    assert untrained_end_of_turn(examples, [smollm.tokenizer.eos_token_id]) == 1  # the cut one never stops
    with pytest.raises(DataError, match=r"long\.jsonl:1: no token to train on"):
        read_examples(path, smollm.tokenizer, 20)  # the prompt alone fills 20 tokens


def test_answers_of_held_out_records(tmp_path):
    path = write(tmp_path / "h.jsonl", {"prompt": "1+1?", "response": "2", "answer": 2},
                 {"prompt": "no answer", "response": "x"})  # fmt: skip
    [sample] = answer_samples(path)
    assert (sample.prompt, sample.answer, sample.id) == ("1+1?", "2", "h/1")


def test_held_out_questions_are_graded_and_never_a_loss_target(smollm, tmp_path):
    path = write(
        tmp_path / "h.jsonl", {"prompt": "1+1?", "answer": "2"}, {"prompt": "2+2?", "response": "4", "answer": 4}
    )
    examples, _ = read_examples(path, smollm.tokenizer, 512, questions=True)
    assert [e.where for e in examples] == [f"{path}:2"]  # the question alone has no loss
    assert [(s.prompt, s.answer) for s in answer_samples(path)] == [("1+1?", "2"), ("2+2?", "4")]
    with pytest.raises(DataError, match=r"h\.jsonl:1: a record needs prompt and response"):
        read_examples(path, smollm.tokenizer, 512)  # training data must have responses
