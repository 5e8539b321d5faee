"""aha serve: the OpenAI wire format over the real SmolLM2-135M, and hostile request bodies refused with 400."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from aha.data.templates import get_template
from aha.rollout.engine import Engine
from aha.types import SamplingParams


def post(server, path, body, raw=None, headers=None):
    """(status, parsed JSON) of one request to the server."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    data = raw if raw is not None else json.dumps(body).encode()
    connection.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    result = response.status, json.loads(response.read())
    connection.close()
    return result


def test_models_lists_the_served_model(smollm_server):
    from urllib.request import urlopen

    with urlopen(smollm_server.url + "/models", timeout=10) as response:
        listed = json.loads(response.read())
    assert [m["id"] for m in listed["data"]] == ["smollm2-135m"]


def test_greedy_chat_equals_the_engine_on_the_chat_template(smollm_server, smollm):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 3?"}]
    status, reply = post(smollm_server, "/v1/chat/completions",
                         {"messages": messages, "temperature": 0, "max_tokens": 12, "n": 2})  # fmt: skip
    assert status == 200, reply
    prompt = get_template("chat", system="Be brief.").encode("What is 2 + 3?", smollm.tokenizer)
    engine = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids)
    (group,) = engine.generate([prompt], SamplingParams(n=2, temperature=0.0, max_new_tokens=12))
    assert [c["message"]["content"] for c in reply["choices"]] == [c.text for c in group]
    assert [c["finish_reason"] for c in reply["choices"]] == [c.finish_reason for c in group]
    assert reply["usage"] == {"prompt_tokens": len(prompt), "completion_tokens": sum(len(c.token_ids) for c in group),
                              "total_tokens": len(prompt) + sum(len(c.token_ids) for c in group)}  # fmt: skip
    assert reply["object"] == "chat.completion" and reply["model"] == "smollm2-135m"


def test_length_stop_and_seed(smollm_server):
    ask = {"messages": [{"role": "user", "content": "Count from 1 to 20."}], "max_tokens": 5, "temperature": 0}
    status, reply = post(smollm_server, "/v1/chat/completions", ask)
    assert status == 200 and reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 5
    text = reply["choices"][0]["message"]["content"]
    stop = text.strip()[-1]  # a character the greedy reply is known to reach
    status, cut = post(smollm_server, "/v1/chat/completions", {**ask, "max_tokens": 20, "stop": [stop]})
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert stop not in cut["choices"][0]["message"]["content"]  # OpenAI leaves the stop string out
    sampled = {**ask, "temperature": 1.0, "seed": 7}
    assert post(smollm_server, "/v1/chat/completions", sampled)[1]["choices"] == \
        post(smollm_server, "/v1/chat/completions", sampled)[1]["choices"]  # fmt: skip


def test_plain_completions(smollm_server):
    status, reply = post(smollm_server, "/v1/completions", {"prompt": "The capital of France is", "max_tokens": 3,
                                                            "temperature": 0})  # fmt: skip
    assert status == 200 and reply["object"] == "text_completion"
    assert "Paris" in reply["choices"][0]["text"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": {"$ne": 1}}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": -1}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "top_p": 0}, "top_p"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 10**6}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "n": True}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["", "x"]}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "seed": -1}, "seed"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": True}, "stream"),
        ({"messages": [{"role": "user", "content": "x" * 40000}]}, "messages"),  # longer than the context
    ],
)
def test_malformed_requests_are_400_with_an_openai_error(smollm_server, body, param):
    status, reply = post(smollm_server, "/v1/chat/completions", body)
    assert status == 400 and reply["error"]["param"] == param and reply["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'{"messages": NaN}', b"\xff\xfe", b"[" * 100000, b'{"n": 1' + b"0" * 5000 + b"}"],
)
def test_hostile_bodies_are_400(smollm_server, raw):
    status, reply = post(smollm_server, "/v1/chat/completions", None, raw=raw)
    assert status == 400 and "error" in reply


def test_a_body_over_the_size_limit_is_refused_unread(smollm_server):
    import socket

    from aha.serve.server import MAX_BODY

    parts = urlsplit(smollm_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}"
                           "\r\n\r\n".encode())  # fmt: skip
        reply = connection.makefile("rb").read()  # the server answers without waiting for the body, and closes
    assert reply.startswith(b"HTTP/1.1 413") and b"at most" in reply


def test_unknown_routes_are_404(smollm_server):
    status, reply = post(smollm_server, "/v1/embeddings", {"input": "x"})
    assert status == 404 and reply["error"]["type"] == "not_found_error"


def test_the_command_line_serves_and_prints_its_url(tiny_llama_dir):
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.request import urlopen

    repository = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "aha", "serve", str(tiny_llama_dir), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(repository)})  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("aha: serving ") and " at http://127.0.0.1:" in line, process.stderr.read()
        url = line.split(" at ", 1)[1].strip()
        with urlopen(url + "/models", timeout=10) as response:
            assert json.loads(response.read())["data"][0]["id"] == str(tiny_llama_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)
