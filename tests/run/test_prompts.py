"""Prompt settings are checked as a whole, and each sample's question is encoded once."""

from __future__ import annotations

import pytest

from aha.errors import ConfigError
from aha.run.prompts import PromptConfig, Prompter
from aha.types import Sample


def test_bad_prompt_settings_are_refused():
    cases = (({"examples": (("q",),)}, "examples"), ({"stop": ("",)}, "stop"), ({"template": "nope"}, "template"))
    for bad, field in cases:
        with pytest.raises(ConfigError, match=field):
            PromptConfig(**bad)


def test_questions_are_encoded_once_with_the_suffix(smollm):
    prompter = Prompter(PromptConfig(template="raw", suffix=" Answer:"), smollm.tokenizer)
    sample = Sample(id="a", prompt="2 + 2 =", answer="4")
    tokens = prompter.encode(sample)
    assert smollm.tokenizer.decode(tokens) == "2 + 2 = Answer:"
    assert prompter.encode(Sample(id="a", prompt="something else", answer="")) is tokens  # cached by id
    assert prompter.response(" 4") == " 4"
