"""Supervised fine-tuning data: JSONL records rendered with the model's chat template into token ids and a
mask of the tokens the loss trains on.

A record is either `{"prompt": ..., "response": ...}` (optionally "system") or `{"messages": [{"role",
"content"}, ...]}`. The loss trains on the response (or on every assistant turn whose message does not say
`"train": false`: solved example turns a prompt shows the model are context, not targets) and nothing else: each
trained span is the tokens a turn adds after the template's generation prompt, its end-of-turn token and
what the template writes after it included, as TRL's SFTTrainer counts a completion. Records may carry an
"answer" (and "id"), which held-out evaluation checks generations against.

Errors name the file, the line and the field: a record of neither shape, a role other than system, user
or assistant, a conversation without an assistant turn, a template that does not render a turn as a
prefix of the next, or an example left with no trained token. An example longer than `max_tokens` is cut
to it; how many were cut and how many trained tokens were lost is reported, never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import field, read_jsonl
from aha.errors import DataError
from aha.types import Sample

log = logging.getLogger(__name__)
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One rendered example: its tokens and which of them the loss trains on (labels)."""

    id: str
    tokens: tuple[int, ...]
    trained: tuple[bool, ...]  # trained[t]: the loss predicts tokens[t] (never t = 0)
    where: str  # "file:line", for errors and logs

    @property
    def trained_count(self) -> int:
        return sum(self.trained)


@dataclass(frozen=True)
class Truncation:
    """What cutting examples to `max_tokens` cost."""

    examples: int  # examples cut
    tokens: int  # trained tokens lost
    share: float  # of all trained tokens

    def __str__(self) -> str:
        return f"{self.examples} examples cut to fit, {self.tokens} trained tokens lost ({self.share:.1%})"


def record_messages(record: dict[str, Any], path: Path, line: int) -> list[dict[str, str]]:
    """The conversation of one record (either shape), checked; errors name the file and line."""
    if "messages" in record:
        messages = field(record, "messages", list, path, line)
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise DataError(f"{path}:{line}: messages[{index}] needs a role of {', '.join(ROLES)}")
            if not isinstance(message.get("content"), str):
                raise DataError(f"{path}:{line}: messages[{index}].content must be a string")
            if not isinstance(message.get("train", True), bool):
                raise DataError(f"{path}:{line}: messages[{index}].train must be true or false")
        if not any(m["role"] == "assistant" and m.get("train", True) for m in messages):
            raise DataError(f"{path}:{line}: messages hold no assistant turn to train on")
        return [{"role": m["role"], "content": m["content"]} | ({} if m.get("train", True) else {"train": False})
                for m in messages]  # fmt: skip
    if "prompt" not in record or "response" not in record:
        raise DataError(f"{path}:{line}: a record needs prompt and response, or messages")
    messages = []
    if record.get("system") is not None:
        messages.append({"role": "system", "content": field(record, "system", str, path, line)})
    messages.append({"role": "user", "content": field(record, "prompt", str, path, line)})
    messages.append({"role": "assistant", "content": field(record, "response", str, path, line)})
    return messages


def _encode(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
    if not messages:
        return []
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]  # the template sees no train flag
    text = tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=generation_prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])  # the template writes its own specials


def render(messages: list[dict[str, Any]], tokenizer: Any, where: str) -> tuple[list[int], list[bool]]:
    """Tokens of the conversation and the mask of its trained assistant turns' tokens."""
    tokens = _encode(tokenizer, messages, False)
    trained = [False] * len(tokens)
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or not message.get("train", True):
            continue
        before = _encode(tokenizer, messages[:index], True)
        upto = _encode(tokenizer, messages[: index + 1], False)
        if tokens[: len(before)] != before or tokens[: len(upto)] != upto:
            raise DataError(f"{where}: the chat template does not render turn {index} as a prefix of the rest")
        trained[len(before) : len(upto)] = [True] * (len(upto) - len(before))
    trained[0] = False  # nothing predicts the first token
    return tokens, trained


def is_question(record: dict[str, Any]) -> bool:
    """A held-out record with a question and an answer but no response: graded, never a loss target."""
    return "messages" not in record and "response" not in record and "prompt" in record and "answer" in record


def read_examples(
    path: str | Path, tokenizer: Any, max_tokens: int, *, questions: bool = False
) -> tuple[list[Example], Truncation]:
    """Every record of a JSONL file rendered (chat template) and cut to `max_tokens`. With `questions`
    (held-out files), records of a question and an answer alone are skipped, and the file may hold only them."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(f"{path}: SFT renders conversations with the model's chat template, and it has none")
    examples, cut, lost, total, skipped = [], 0, 0, 0, 0
    path = Path(path)
    for line, record in read_jsonl(path):
        where = f"{path}:{line}"
        if questions and is_question(record):
            skipped += 1
            continue
        tokens, trained = render(record_messages(record, path, line), tokenizer, where)
        total += sum(trained)
        if len(tokens) > max_tokens:
            cut += 1
            lost += sum(trained[max_tokens:])
            tokens, trained = tokens[:max_tokens], trained[:max_tokens]
        if not any(trained):
            raise DataError(f"{where}: no token to train on (an empty response, or cut away at {max_tokens} tokens)")
        examples.append(Example(str(record.get("id", f"{path.stem}/{line}")), tuple(tokens), tuple(trained), where))
    if not examples and not skipped:
        raise DataError(f"{path}: no records")
    truncation = Truncation(cut, lost, lost / total if total else 0.0)
    if cut:
        log.warning("%s: %s", path, truncation)
    return examples, truncation


def untrained_end_of_turn(examples: Sequence[Example], end_ids: Sequence[int]) -> int:
    """How many examples never train an end-of-turn token (the model would not learn to stop)."""
    ends = set(end_ids)
    return sum(not any(t and token in ends for token, t in zip(e.tokens, e.trained, strict=True)) for e in examples)


def answer_samples(path: str | Path) -> list[Sample]:
    """Held-out records that carry an "answer", as samples to generate from and grade (prompt records
    only: a conversation's last user turn is its question)."""
    samples = []
    for line, record in read_jsonl(path):
        if "answer" not in record:
            continue
        if is_question(record):  # a question alone: {prompt, answer}
            messages = [{"role": "user", "content": field(record, "prompt", str, Path(path), line)}]
        else:
            messages = record_messages(record, Path(path), line)
        users = [m for m in messages if m["role"] == "user"]
        if not users:
            raise DataError(f"{path}:{line}: a record with an answer needs a user turn to ask it")
        answer = record["answer"]
        samples.append(Sample(id=str(record.get("id", f"{Path(path).stem}/{line}")), prompt=users[-1]["content"],
                              answer=str(answer)))  # fmt: skip
    return samples
