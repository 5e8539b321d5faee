"""Templates: exact R1-Zero text, the model's chat template, BOS handling and the pre-filled <think>."""

from __future__ import annotations

import pytest

from aha.data.templates import R1ZERO_TEXT, get_template
from aha.errors import ConfigError


def test_r1zero_text_is_the_papers_template(smollm):
    text = get_template("r1zero").render("What is 2+2?", smollm.tokenizer)
    assert text.startswith("A conversation between User and Assistant. The user asks a question")
    assert "<think> reasoning process here </think> <answer> answer here </answer>" in text
    assert text.endswith("User: What is 2+2?. Assistant:")
    assert R1ZERO_TEXT.count("{prompt}") == 1


def test_chat_template_has_one_start_and_ends_with_the_assistant_turn(smollm):
    template = get_template("chat")
    ids = template.encode("Hi there", smollm.tokenizer)
    text = smollm.tokenizer.decode(ids)
    assert text.endswith("<|im_start|>assistant\n") and text.startswith("<|im_start|>system\n")
    assert ids[0] == smollm.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(smollm.tokenizer.eos_token_id) == 2  # closes system and user turns only


def test_system_message_replaces_the_default(smollm):
    text = get_template("chat", system="Be terse.").render("Hi", smollm.tokenizer)
    assert "Be terse." in text and "SmolLM" not in text


def test_raw_and_r1zero_add_no_eos(smollm):
    for name in ("raw", "r1zero"):
        ids = get_template(name).encode("2+2", smollm.tokenizer)
        assert ids[-1] != smollm.tokenizer.eos_token_id


def test_think_prefill_is_part_of_the_response(smollm):
    template = get_template("chat", think=True)
    assert template.render("Hi", smollm.tokenizer).endswith("<|im_start|>assistant\n<think>\n")
    assert template.response("step one </think> 4") == "<think>\nstep one </think> 4"
    assert get_template("r1zero", think=True).render("Q", smollm.tokenizer).endswith("Assistant: <think>")
    assert get_template("raw").response("x") == "x"


def test_unknown_template_and_misplaced_system_are_config_errors():
    with pytest.raises(ConfigError, match="chat, r1zero, raw"):
        get_template("alpaca")
    with pytest.raises(ConfigError, match="system"):
        get_template("raw", system="x")


def test_chat_template_missing_is_a_clear_error(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        get_template("chat").encode("x", tokenizer)


def test_example_turns_come_before_the_question(smollm):
    template = get_template("chat", examples=(("What is 1 + 1?", "<think> 1 + 1 = 2 </think> <answer> 2 </answer>"),))
    text = template.render("What is 2 + 2?", smollm.tokenizer)
    assert text.index("What is 1 + 1?") < text.index("<answer> 2 </answer>") < text.index("What is 2 + 2?")
    with pytest.raises(ConfigError, match="example turns"):
        get_template("raw", examples=(("q", "a"),))
