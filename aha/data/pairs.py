"""Preference pairs for reward models: JSONL records of a conversation and two final assistant turns, the
chosen one preferred, rendered with the model's chat template into two token sequences.

A record holds `chosen` and `rejected`, each either the final assistant turn as text (then the context is
`prompt_messages`, a list of {role, content}, or `prompt`, one user turn) or a whole conversation as a
list of messages ending with the assistant's turn (TRL's conversational preference format). An optional
`margin` (a number) is the pair's Bradley-Terry margin. Errors name the file, the line and the field.

A pair whose longer sequence is over `max_tokens` is dropped, as TRL's RewardTrainer drops it: cutting it
would cut the responses the preference is about. How many were dropped is returned, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import read_jsonl
from aha.data.sft import ROLES
from aha.errors import DataError


@dataclass(frozen=True)
class Pair:
    id: str
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]
    margin: float | None
    where: str  # "file:line"


def read_messages(value: Any, name: str, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: {name} must be a non-empty list of messages")
    for index, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise DataError(f"{where}: {name}[{index}] needs a role of {', '.join(ROLES)} and a string content")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def conversations(record: dict[str, Any], where: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The chosen and the rejected conversation of a record, each ending with the assistant's turn."""
    if "chosen" not in record or "rejected" not in record:
        raise DataError(f"{where}: a preference pair needs chosen and rejected")
    found = []
    for side in ("chosen", "rejected"):
        value = record[side]
        if isinstance(value, list):
            conversation = read_messages(value, side, where)
        elif isinstance(value, str):
            if "prompt_messages" in record:
                context = read_messages(record["prompt_messages"], "prompt_messages", where)
            elif isinstance(record.get("prompt"), str):
                context = [{"role": "user", "content": record["prompt"]}]
            else:
                raise DataError(f"{where}: a text {side} needs prompt_messages (a list) or prompt (a string)")
            conversation = [*context, {"role": "assistant", "content": value}]
        else:
            raise DataError(f"{where}: {side} must be a string or a list of messages")
        if conversation[-1]["role"] != "assistant":
            raise DataError(f"{where}: {side} must end with the assistant's turn")
        found.append(conversation)
    return found[0], found[1]


def read_pairs(path: str | Path, tokenizer: Any, max_tokens: int) -> tuple[list[Pair], int]:
    """The pairs of a JSONL file rendered with the chat template, and how many were dropped as too long."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(f"{path}: pairs are rendered with the model's chat template, and it has none")
    path = Path(path)
    pairs, dropped = [], 0
    for line, record in read_jsonl(path):
        where = f"{path}:{line}"
        chosen, rejected = conversations(record, where)
        margin = record.get("margin")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
            raise DataError(f"{where}: margin must be a number")
        tokens = [tuple(tokenizer.apply_chat_template(c, tokenize=True, add_generation_prompt=False,
                                                      return_dict=False)) for c in (chosen, rejected)]  # fmt: skip
        if max(len(t) for t in tokens) > max_tokens:
            dropped += 1
            continue
        pairs.append(Pair(str(record.get("id", f"{path.stem}/{line}")), tokens[0], tokens[1],
                          None if margin is None else float(margin), where))  # fmt: skip
    if not pairs:
        raise DataError(f"{path}: no pair fits in {max_tokens} tokens" if dropped else f"{path}: no records")
    return pairs, dropped
