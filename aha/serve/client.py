"""A small client for OpenAI-compatible chat endpoints (`aha serve`, `vllm serve`, a llama.cpp server, a
hosted API), on the standard library's urllib.

Each request has its own timeout, and a timeout raises `EndpointTimeout` at once: a judge that waits
must not wait twice. Connection errors and 5xx replies are retried with exponential backoff, since a
server that is starting or restarting answers them; 4xx replies are the request's fault and are not.
An API key, when the named environment variable holds one, is sent as a bearer token and never logged.
The reply is untrusted: a body that is not the expected JSON is an `EndpointError`, not a crash.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aha.errors import ConfigError, EndpointError, EndpointTimeout

log = logging.getLogger(__name__)
MAX_REPLY = 8 << 20  # bytes read from one reply


def base_url(url: str) -> str:
    """The endpoint's base URL ending in /v1 (given with or without it); ConfigError unless http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url.strip()):
        raise ConfigError(f"{url!r} is not an http:// or https:// URL")
    path = parts.path.rstrip("/")
    path = path if path.endswith("/v1") else path + "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class ChatReply:
    """The first choice of a chat completion."""

    text: str
    finish_reason: str | None  # "stop", "length", or what the server says
    completion_tokens: int | None  # None when the server reports no usage


class ChatEndpoint:
    """Chat completions from one OpenAI-compatible endpoint; model None: the first the endpoint lists."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        timeout: float = 60.0,
        api_key_env: str | None = None,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.url = base_url(url)
        self._model = model
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._key = os.environ.get(api_key_env) if api_key_env else None

    def __repr__(self) -> str:  # no key in logs or tracebacks
        return f"ChatEndpoint({self.url!r}, model={self._model!r})"

    @property
    def model(self) -> str:
        """The model asked for: the configured one, else the first listed by GET /v1/models."""
        if self._model is None:
            listed = self._request("GET", "/models", None)
            data = listed.get("data") if isinstance(listed, dict) else None
            first = data[0] if isinstance(data, list) and data else None
            if not isinstance(first, dict) or not isinstance(first.get("id"), str):
                raise EndpointError(f"{self.url}/models lists no model")
            self._model = first["id"]
        return self._model

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: tuple[str, ...] = (),
        seed: int | None = None,
    ) -> ChatReply:
        """The reply to `messages`; EndpointTimeout or EndpointError when there is none."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature, "top_p": top_p}  # fmt: skip
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        return parse_chat_reply(self._request("POST", "/chat/completions", body), self.url)

    def complete(
        self,
        prompt: str | list[int],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
    ) -> ChatReply:
        """The continuation of a prompt (text, or token ids, which vLLM, llama.cpp and `aha serve` take) from
        /v1/completions; top_k is sent only when set (an extension of vLLM's and llama.cpp's)."""
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens,
                                "temperature": temperature, "top_p": top_p}  # fmt: skip
        if top_k:
            body["top_k"] = top_k
        if seed is not None:
            body["seed"] = seed
        return parse_completion_reply(self._request("POST", "/completions", body), self.url)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """The JSON reply, retrying connection errors and 5xx replies `retries` times."""
        for attempt in range(self.retries + 1):
            try:
                return self._once(method, path, body)
            except _Retryable as error:
                if attempt == self.retries:
                    raise EndpointError(f"{method} {self.url}{path}: {error}") from None
                log.info("%s %s%s: %s; retrying", method, self.url, path, error)
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_REPLY + 1)
        except urllib.error.HTTPError as error:
            detail = _error_message(error)
            if error.code >= 500:
                raise _Retryable(f"HTTP {error.code}: {detail}") from None
            raise EndpointError(f"{method} {self.url}{path}: HTTP {error.code}: {detail}") from None
        except TimeoutError:
            raise EndpointTimeout(f"{method} {self.url}{path}: no reply within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise EndpointTimeout(f"{method} {self.url}{path}: no reply within {self.timeout:g} s") from None
            raise _Retryable(f"cannot connect ({error.reason})") from None
        except (ConnectionError, OSError) as error:  # reset or refused after the connection opened
            raise _Retryable(f"connection failed ({error})") from None
        if len(raw) > MAX_REPLY:
            raise EndpointError(f"{method} {self.url}{path}: the reply is over {MAX_REPLY} bytes")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
            raise EndpointError(f"{method} {self.url}{path}: the reply is not JSON") from None


class _Retryable(Exception):
    """A failure worth another try: no connection, or a 5xx reply."""


def _error_message(error: urllib.error.HTTPError) -> str:
    """The message of an OpenAI-style error body, shortened; the reason phrase when there is none."""
    try:
        body = json.loads(error.read(65536).decode("utf-8"))
        message = body["error"]["message"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        message = error.reason
    return " ".join(str(message).split())[:200]


def parse_chat_reply(reply: Any, url: str) -> ChatReply:
    """The first choice of a chat.completion object; EndpointError for anything else."""
    try:
        choice = reply["choices"][0]
        content = choice["message"]["content"]
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"{url}: the reply is not a chat completion") from None
    if content is None:  # some servers send null for an empty reply
        content = ""
    if not isinstance(content, str) or not (finish is None or isinstance(finish, str)):
        raise EndpointError(f"{url}: the reply is not a chat completion")
    usage = reply.get("usage") if isinstance(reply, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return ChatReply(content, finish, tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None)


def parse_completion_reply(reply: Any, url: str) -> ChatReply:
    """The first choice of a text_completion object; EndpointError for anything else."""
    try:
        choice = reply["choices"][0]
        text = choice["text"]
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"{url}: the reply is not a text completion") from None
    if not isinstance(text, str) or not (finish is None or isinstance(finish, str)):
        raise EndpointError(f"{url}: the reply is not a text completion")
    usage = reply.get("usage") if isinstance(reply, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return ChatReply(text, finish, tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None)
