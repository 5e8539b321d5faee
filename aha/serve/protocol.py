"""The OpenAI wire format, as far as `aha serve` speaks it: request bodies checked field by field, replies and
errors built as plain dicts.

A request body is hostile text from the network: it is size-limited before it is read, parsed as JSON with
NaN and Infinity refused, and every field is type- and range-checked; anything else is a `RequestError`
that the server answers with status 400 and OpenAI's error object, never a traceback. Fields this server
does not implement (penalties, logit bias, tools) are ignored, as most OpenAI-compatible servers do,
except `stream`, whose absence would change what the client expects to read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 256
MAX_N = 16  # completions per request: n rows of the KV cache
MAX_STOP = 4  # as OpenAI
MAX_SEED = 2**63 - 1


class RequestError(Exception):
    """A request the server refuses: HTTP status, message and the offending parameter."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Request:
    """A checked generation request: chat messages or a plain prompt, and how to sample."""

    messages: tuple[dict[str, str], ...] = ()  # chat: each {"role", "content"}
    prompt: str | tuple[int, ...] | None = None  # completions: the text, or the token ids, to continue
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None  # None: the server's default
    stop: tuple[str, ...] = ()
    seed: int | None = None  # None: a fresh seed per request, as OpenAI


def error_body(message: str, *, param: str | None = None, kind: str = "invalid_request_error") -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _refuse_constant(name: str) -> Any:
    raise RequestError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; RequestError for anything else (bad UTF-8, NaN, deep nesting)."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError, ValueError) as error:  # ValueError: an int of 5000 digits
        raise RequestError(f"the body is not JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    return data


def _number(data: dict[str, Any], name: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{name} must be a number", param=name)
    if value < low or value > high or (low_open and value == low):
        raise RequestError(f"{name}={value} must be in {'(' if low_open else '['}{low}, {high}]", param=name)
    return float(value)


def _integer(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name} must be an integer", param=name)
    if not low <= value <= high:
        raise RequestError(f"{name}={value} must be in [{low}, {high}]", param=name)
    return value


def _stop(data: dict[str, Any]) -> tuple[str, ...]:
    stop = data.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP:
        raise RequestError(f"stop must be a non-empty string or a list of at most {MAX_STOP} of them", param="stop")
    return tuple(stops)


def _content(content: Any, index: int) -> str:
    """A message's text: a string, or a list of {"type": "text", "text": ...} parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    ):
        return "".join(p["text"] for p in content)
    raise RequestError(f"messages[{index}].content must be text (a string or text parts)", param="messages")


def _messages(data: dict[str, Any]) -> tuple[dict[str, str], ...]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise RequestError(f"messages must be a list of 1 to {MAX_MESSAGES} messages", param="messages")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RequestError(f"messages[{index}] must have a role among {', '.join(ROLES)}", param="messages")
        checked.append({"role": message["role"], "content": _content(message.get("content"), index)})
    return tuple(checked)


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(t) is int and t >= 0 for t in value)


def _prompt(data: dict[str, Any]) -> str | tuple[int, ...]:
    """A string, or token ids (OpenAI's array of integers, as vLLM and llama.cpp take it)."""
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and (isinstance(prompt[0], str) or _token_ids(prompt[0])):
        prompt = prompt[0]  # OpenAI takes a batch of prompts; one is served here
    if _token_ids(prompt):
        return tuple(prompt)
    if not isinstance(prompt, str) or not prompt:
        raise RequestError("prompt must be a non-empty string or a list of token ids", param="prompt")
    return prompt


def parse_request(data: dict[str, Any], *, chat: bool, max_tokens: int) -> Request:
    """A checked Request from a parsed body (chat: /v1/chat/completions, else /v1/completions); max_tokens
    is the most one request may ask for (the model's context)."""
    if data.get("stream"):
        raise RequestError("stream is not supported by this server", param="stream")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("model must be a string", param="model")
    limit = _integer(data, "max_completion_tokens", 1, max_tokens)
    limit = _integer(data, "max_tokens", 1, max_tokens) if limit is None else limit
    return Request(
        messages=_messages(data) if chat else (),
        prompt=None if chat else _prompt(data),
        n=_integer(data, "n", 1, MAX_N) or 1,
        temperature=_number(data, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(data, "top_p", 1.0, 0.0, 1.0, low_open=True),
        max_tokens=limit,
        stop=_stop(data),
        seed=_integer(data, "seed", 0, MAX_SEED),
    )


def strip_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text without the stop string that ended it (the engine keeps it; OpenAI leaves it out)."""
    for string in stop:
        if text.endswith(string):
            return text[: -len(string)]
    return text


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


def chat_reply(ident: str, created: int, model: str, choices: list[tuple[str, str]], used: dict[str, int]) -> dict:
    """A chat.completion object from (text, finish_reason) per choice."""
    return {
        "id": f"chatcmpl-{ident}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": None}
            for i, (text, finish) in enumerate(choices)
        ],
        "usage": used,
    }


def text_reply(ident: str, created: int, model: str, choices: list[tuple[str, str]], used: dict[str, int]) -> dict:
    """A text_completion object from (text, finish_reason) per choice."""
    return {
        "id": f"cmpl-{ident}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": i, "text": text, "finish_reason": finish, "logprobs": None}
            for i, (text, finish) in enumerate(choices)
        ],
        "usage": used,
    }
