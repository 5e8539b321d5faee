"""Shared fixtures: the real default model (native, fp32) and transformers' own model read from the same
GGUF file, as the independent reference; an OpenAI-compatible server over the real model, and one that
never answers."""

from __future__ import annotations

import socket
import threading

import pytest
import torch

from aha.models import load
from aha.models.load import shipped_path
from tests.helpers import PROMPTS, write_tiny_model


@pytest.fixture(scope="session")
def smollm():
    """SmolLM2-135M-Instruct on the native decoder, fp32, CPU."""
    torch.manual_seed(0)
    return load("smollm2-135m")


@pytest.fixture(scope="session")
def hf_smollm():
    """transformers' LlamaForCausalLM dequantized straight from the shipped GGUF (not through aha)."""
    from transformers import AutoModelForCausalLM

    path = shipped_path("smollm2-135m")
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def chat_prompts(smollm):
    """Token ids of PROMPTS under the model's chat template."""
    from aha.data.templates import get_template

    template = get_template("chat")
    return [template.encode(p, smollm.tokenizer) for p in PROMPTS]


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, smollm):
    """A 2-layer Llama with SmolLM2's tokenizer: fast enough for CLI and checkpoint tests."""
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=len(smollm.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    return write_tiny_model(tmp_path_factory.mktemp("tiny-llama"), config, smollm.tokenizer)


@pytest.fixture(scope="session")
def smollm_server(smollm):
    """`aha serve smollm2-135m` in a thread, on a free port."""
    from aha.serve.server import ModelServer

    with ModelServer(smollm, name="smollm2-135m", port=0) as server:
        yield server


@pytest.fixture
def silent_server():
    """A URL whose server accepts connections and reads requests but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)  # kept open, never written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture(scope="session")
def tiny_reward_model_dir(tiny_llama_dir, tmp_path_factory):
    """A tiny reward model: the 2-layer Llama with a random score head, saved as `aha rm` saves one."""
    from aha.models import load, save_checkpoint

    generator = torch.Generator().manual_seed(0)
    loaded = load(tiny_llama_dir)
    head = loaded.model.add_score_head()
    head.weight.data.copy_(torch.randn(head.weight.shape, generator=generator) * 0.5)
    return save_checkpoint(loaded, tmp_path_factory.mktemp("rm") / "rm")
