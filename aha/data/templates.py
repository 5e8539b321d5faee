"""Prompt templates: the model's chat template, the R1-Zero plain-text template, and raw prompts.

A template turns a user prompt into token ids. Some templates end with a pre-filled opening of the
response (for example "<think>\n"), which the model never samples; `response` puts it back in front
of a completion so that format checks see the whole response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aha.errors import ConfigError

# DeepSeek-R1 paper, Table 1 ("Template for DeepSeek-R1-Zero"); {prompt} is replaced with the question.
R1ZERO_TEXT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}. Assistant:"
)
TEMPLATE_NAMES = ("chat", "r1zero", "raw")


@dataclass(frozen=True, kw_only=True)
class Template:
    """How a prompt is shown to the model."""

    name: str  # one of TEMPLATE_NAMES
    system: str | None = None  # chat only: a system message (None keeps the template's default)
    prefill: str = ""  # text appended after the prompt as the start of the response, e.g. "<think>\n"
    examples: tuple[tuple[str, str], ...] = ()  # chat only: solved (question, response) turns shown first

    def render(self, prompt: str, tokenizer: Any) -> str:
        """The full prompt text, including any pre-filled response opening."""
        if self.name == "raw":
            return prompt + self.prefill
        if self.name == "r1zero":
            return R1ZERO_TEXT.format(prompt=prompt) + self.prefill
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("template 'chat': this model's tokenizer has no chat template; use raw or r1zero")
        text = tokenizer.apply_chat_template(self.messages(prompt), tokenize=False, add_generation_prompt=True)
        return text + self.prefill

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The chat template's conversation for a prompt: system message, solved example turns, the question
        (what a chat endpoint is sent; the pre-filled response opening is not part of it)."""
        messages = [] if self.system is None else [{"role": "system", "content": self.system}]
        for question, response in self.examples:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": response}]
        return [*messages, {"role": "user", "content": prompt}]

    def encode(self, prompt: str, tokenizer: Any) -> list[int]:
        """Token ids of the rendered prompt with exactly the special tokens the model expects.

        Chat templates write their own BOS, so nothing is added; plain-text templates get the tokenizer's
        BOS when it adds one (Llama does, SmolLM2 and Qwen2 do not), and never a trailing EOS.
        """
        text = self.render(prompt, tokenizer)
        ids = list(tokenizer(text, add_special_tokens=self.name != "chat")["input_ids"])
        eos = tokenizer.eos_token_id
        if self.name != "chat" and ids and ids[-1] == eos and not text.endswith(tokenizer.eos_token or "\0"):
            ids.pop()
        return ids

    def response(self, completion: str) -> str:
        """The whole response as format checks see it: the pre-filled opening plus the sampled text."""
        return self.prefill + completion


def get_template(
    name: str, *, system: str | None = None, think: bool = False, examples: tuple[tuple[str, str], ...] = ()
) -> Template:
    """A template by name; think=True pre-fills "<think>\\n" so every response opens its reasoning.

    examples are solved (question, response) turns shown before the question (chat only).
    """
    if name not in TEMPLATE_NAMES:
        raise ConfigError(f"template {name!r} is not one of {', '.join(TEMPLATE_NAMES)}")
    if system is not None and name != "chat":
        raise ConfigError(f"template {name!r} takes no system message (only 'chat' does)")
    if examples and name != "chat":
        raise ConfigError(f"template {name!r} takes no example turns (only 'chat' does)")
    prefill = "<think>\n" if think else ""
    if name == "r1zero" and think:
        prefill = " <think>"
    return Template(name=name, system=system, prefill=prefill, examples=tuple(examples))
