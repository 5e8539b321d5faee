"""The endpoint client: URLs, the model it asks for, timeouts, retries only where a retry can help, and
replies read as untrusted."""

from __future__ import annotations

import socket
import time

import pytest

from aha.errors import ConfigError, EndpointError, EndpointTimeout
from aha.serve.client import ChatEndpoint, base_url, parse_chat_reply


def test_base_url():
    assert base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert base_url("http://h:1/v1/") == "http://h:1/v1"
    for bad in ("file:///etc/passwd", "ftp://h", "h:8000", "http://", "http://a b"):
        with pytest.raises(ConfigError):
            base_url(bad)


def test_chat_with_the_first_listed_model(smollm_server, monkeypatch):
    monkeypatch.setenv("AHA_TEST_KEY", "sk-secret")
    endpoint = ChatEndpoint(smollm_server.url, api_key_env="AHA_TEST_KEY")
    reply = endpoint.chat([{"role": "user", "content": "Say hi."}], max_tokens=4)
    assert endpoint.model == "smollm2-135m" and reply.text and reply.completion_tokens <= 4
    assert "sk-secret" not in repr(endpoint)


def test_a_timeout_is_raised_at_once(silent_server):
    started = time.perf_counter()
    with pytest.raises(EndpointTimeout, match=r"no reply within 0\.5 s"):
        ChatEndpoint(silent_server, model="m", timeout=0.5, retries=3).chat([{"role": "user", "content": "x"}],
                                                                             max_tokens=1)  # fmt: skip
    assert time.perf_counter() - started < 1.5


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = ChatEndpoint(f"http://127.0.0.1:{port}", model="m", retries=2, backoff=0.05)
    started = time.perf_counter()
    with pytest.raises(EndpointError, match="cannot connect"):
        endpoint.chat([{"role": "user", "content": "x"}], max_tokens=1)
    assert time.perf_counter() - started >= 0.05 + 0.1  # two backoffs


def test_a_4xx_reply_is_not_retried(smollm_server):
    before = smollm_server.requests["/v1/chat/completions"]
    with pytest.raises(EndpointError, match="HTTP 400: messages"):
        ChatEndpoint(smollm_server.url, model="x").chat([{"role": "tool", "content": "x"}], max_tokens=1)
    assert smollm_server.requests["/v1/chat/completions"] == before + 1


@pytest.mark.parametrize("reply", [None, [], {"choices": []}, {"choices": [{"message": {"content": 5}}]},
                                   {"choices": [{"message": "x"}]}])  # fmt: skip
def test_malformed_replies_are_endpoint_errors(reply):
    with pytest.raises(EndpointError):
        parse_chat_reply(reply, "http://x/v1")
