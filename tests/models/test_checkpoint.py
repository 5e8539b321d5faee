"""Checkpoints: Hugging Face layout, loadable by plain transformers, atomic under failure and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aha.models import load, save_checkpoint
from aha.models.checkpoint import is_partial, write_atomically


def test_saved_checkpoint_loads_in_transformers_with_same_logits(smollm, chat_prompts, tmp_path):
    path = save_checkpoint(smollm, tmp_path / "ckpt")
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    ) == smollm.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    ids = torch.tensor([chat_prompts[0]])
    with torch.no_grad():
        assert (hf(input_ids=ids).logits - smollm.model(ids)).abs().max().item() <= 1e-5
        assert torch.equal(load(path).model(ids), smollm.model(ids))


def test_round_trip_of_a_trained_tiny_model_is_exact(tiny_llama_dir, tmp_path):
    loaded = load(tiny_llama_dir)
    with torch.no_grad():
        for param in loaded.model.parameters():
            param.add_(0.01)
    save_checkpoint(loaded, tmp_path / "a")
    again = load(tmp_path / "a")
    for (name, a), b in zip(loaded.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_failed_write_leaves_no_checkpoint_and_no_debris(tmp_path):
    def write(directory):
        (directory / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(tmp_path / "ckpt", write)
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_the_old_checkpoint(tmp_path):
    write_atomically(tmp_path / "ckpt", lambda d: (d / "v").write_text("1"))
    write_atomically(tmp_path / "ckpt", lambda d: (d / "v").write_text("2"))
    assert (tmp_path / "ckpt" / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_sigkill_during_save_never_leaves_a_complete_looking_checkpoint(tiny_llama_dir, tmp_path):
    """Kill the writer while it is inside the atomic write: the final name must not exist."""
    code = f"""
import time
from pathlib import Path
from aha.models import load, save_checkpoint
loaded = load({str(tiny_llama_dir)!r})
def slow(directory):
    Path({str(tmp_path / "inside")!r}).write_text("x")
    time.sleep(60)
save_checkpoint(loaded, {str(tmp_path / "ckpt")!r}, extra=slow)
"""
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    while not (tmp_path / "inside").exists():
        assert proc.poll() is None and time.time() < deadline, "writer died before reaching the write"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "ckpt").exists()
    leftovers = [p for p in tmp_path.iterdir() if p.name != "inside"]
    assert leftovers and all(is_partial(p) for p in leftovers)
    assert (leftovers[0] / "model.safetensors").is_file()  # the model was written, yet nothing looks complete
