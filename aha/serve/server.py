"""`aha serve`: a minimal OpenAI-compatible HTTP server over aha's own engine.

Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (messages rendered with the model's chat template)
and `POST /v1/completions` (a plain prompt). Built on the standard library's `ThreadingHTTPServer`: requests
are read and checked in parallel, and generation runs one request at a time under a lock (one engine, one
KV cache). It exists so that aha's judge and distillation can be tested against a real HTTP endpoint with a
real model, and so that any OpenAI client can talk to a model aha loads; it is no vLLM: no batching across
requests, no streaming.

    with ModelServer(load("smollm2-135m"), name="smollm2-135m") as server:
        print(server.url)  # http://127.0.0.1:<free port>/v1
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aha.data.templates import get_template
from aha.errors import AhaError, DataError
from aha.serve.protocol import (
    Request,
    RequestError,
    chat_reply,
    error_body,
    parse_json,
    parse_request,
    strip_stop,
    text_reply,
    usage,
)

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # bytes of one request body
READ_TIMEOUT = 30.0  # seconds a client may take to send its request


def render_chat(messages: tuple[dict[str, str], ...], tokenizer: Any) -> list[int]:
    """Token ids of chat messages under the model's chat template, ending with the assistant's turn opening
    (the template writes its own BOS, so none is added)."""
    if not getattr(tokenizer, "chat_template", None):
        raise RequestError("this model has no chat template: use /v1/completions")
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class ModelServer:
    """An OpenAI-compatible server for one loaded model, bound at construction (port 0: a free one).

    `start()` serves from a background thread (tests, `aha distill`), `serve_forever()` from the calling
    one (`aha serve`); as a context manager it starts and stops itself. `requests` counts the requests
    served, by path.
    """

    def __init__(
        self,
        loaded: Any,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_rows: int = 64,
        default_max_tokens: int = 256,
    ) -> None:
        from aha.rollout.engine import Engine, context_length

        self.loaded = loaded
        self.name = name
        self.engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=max_rows,
                             frozen_weights=True)  # fmt: skip
        self.context = context_length(loaded.model) or 1 << 20
        self.vocab_size = int(loaded.config.vocab_size)
        self.default_max_tokens = default_max_tokens
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            self.httpd = _Server((host, port), _Handler)
        except OSError as error:
            raise AhaError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
        self.httpd.daemon_threads = True
        self.httpd.model_server = self  # type: ignore[attr-defined]  # read by _Handler

    @property
    def url(self) -> str:
        """The base URL clients use, ending in /v1."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ModelServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="aha-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.name, "object": "model", "created": 0, "owned_by": "aha"}]}

    def complete(self, request: Request) -> tuple[list[tuple[str, str]], dict[str, int]]:
        """(text, finish_reason) per choice and the token usage, generated under the lock."""
        from aha.types import SamplingParams

        tokenizer = self.loaded.tokenizer
        if request.prompt is None:
            prompt = render_chat(request.messages, tokenizer)
        elif isinstance(request.prompt, tuple):  # token ids: checked against the vocabulary
            prompt = list(request.prompt)
            if max(prompt) >= self.vocab_size:
                raise RequestError(f"token id {max(prompt)} is outside the vocabulary of {self.vocab_size}",
                                   param="prompt")  # fmt: skip
        else:
            prompt = get_template("raw").encode(request.prompt, tokenizer)
        if len(prompt) >= self.context:
            raise RequestError(f"the prompt has {len(prompt)} tokens; the model's context holds {self.context}",
                               param="messages" if request.prompt is None else "prompt")  # fmt: skip
        params = SamplingParams(
            n=request.n,
            temperature=request.temperature,
            top_p=request.top_p,
            max_new_tokens=request.max_tokens or self.default_max_tokens,
            stop=request.stop,
            seed=secrets.randbits(63) if request.seed is None else request.seed,
        )
        with self._lock:
            (group,) = self.engine.generate([prompt], params)
        choices = [(strip_stop(c.text, request.stop), c.finish_reason) for c in group]
        return choices, usage(len(prompt), sum(len(c.token_ids) for c in group))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone before its reply (a killed run, a timeout) is logged, not printed as a traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            log.info("client %s left before its reply", client_address[0])
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP request: route, read and check the body, answer JSON."""

    server_version = "aha-serve"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT  # a client that stops sending mid-request does not hold a thread forever

    @property
    def model_server(self) -> ModelServer:
        return self.server.model_server  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.model_server.requests[path] += 1
        if path == "/v1/models":
            self._send(200, self.model_server.models())
        else:
            self._send(404, error_body(f"no route GET {path}", kind="not_found_error"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.model_server.requests[path] += 1
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._discard_body()
            self._send(404, error_body(f"no route POST {path}", kind="not_found_error"))
            return
        try:
            data = parse_json(self._read_body())
            server = self.model_server
            request = parse_request(data, chat=path == "/v1/chat/completions", max_tokens=server.context)
            choices, used = server.complete(request)
        except RequestError as error:
            self.close_connection = error.status == 413  # the unread body would be taken for the next request
            self._send(error.status, error_body(str(error), param=error.param))
            return
        except (DataError, ValueError, RuntimeError) as error:  # the engine refused or failed
            log.warning("generation failed: %s", error)
            self._send(500, error_body(f"generation failed: {error}", kind="server_error"))
            return
        reply = chat_reply if request.prompt is None else text_reply
        self._send(200, reply(secrets.token_hex(12), int(time.time()), self.model_server.name, choices, used))

    def _length(self) -> int:
        text = self.headers.get("Content-Length")
        if text is None or not text.isdigit():
            raise RequestError("a Content-Length header is required", status=411)
        return int(text)

    def _read_body(self) -> bytes:
        length = self._length()
        if length > MAX_BODY:
            raise RequestError(f"the body has {length} bytes; at most {MAX_BODY}", status=413)
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        try:
            length = self._length()
        except RequestError:
            length = 0
        if length > MAX_BODY:
            self.close_connection = True
        elif length:
            self.rfile.read(length)


def serve(spec: str, *, host: str, port: int, device: str = "cpu", dtype: str | None = None,
          max_rows: int = 64) -> ModelServer:  # fmt: skip
    """Load the model and bind a server for it (not yet serving): the CLI prints its URL, then serves."""
    from aha.models import load

    loaded = load(spec, device=device, dtype=dtype)
    return ModelServer(loaded, name=spec, host=host, port=port, max_rows=max_rows)
