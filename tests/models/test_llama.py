"""The native decoder against transformers' own implementation: real weights and tiny random variants."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

from aha.models import load
from aha.models.llama import rope_inverse_frequencies, spec_from_config, unsupported_reason
from tests.helpers import PROMPTS, write_tiny_model


def _padded(tokenizer, texts, side="left"):
    tokenizer.padding_side = side
    try:
        return tokenizer(list(texts), return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = "left"


@pytest.mark.parametrize("side", ["left", "right"])
def test_logits_match_transformers_on_real_weights(smollm, hf_smollm, side):
    texts = [*PROMPTS, "The quick brown fox jumps over the lazy dog. " * 6]
    batch = _padded(smollm.tokenizer, texts, side)
    with torch.no_grad():
        ours = smollm.model(batch.input_ids, batch.attention_mask)
        ref = hf_smollm(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    real = batch.attention_mask.bool()
    assert (ours - ref)[real].abs().max().item() <= 1e-4


def test_unpadded_logits_match_transformers(smollm, hf_smollm, chat_prompts):
    ids = torch.tensor([chat_prompts[0]])
    with torch.no_grad():
        diff = (smollm.model(ids) - hf_smollm(input_ids=ids).logits).abs().max().item()
    assert diff <= 1e-4


def _tiny(kind: str, **overrides):
    common = dict(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    common.update(overrides)
    return (Qwen2Config if kind == "qwen2" else LlamaConfig)(**common)


TINY = {
    "llama-tied": ("llama", {"tie_word_embeddings": True}),
    "llama-untied-bias": ("llama", {"tie_word_embeddings": False, "attention_bias": True, "mlp_bias": True}),
    "llama3-rope": (
        "llama",
        {
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            }
        },
    ),
    "llama-linear-rope": ("llama", {"rope_parameters": {"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}}),
    "llama-mha": ("llama", {"num_key_value_heads": 4}),
    "qwen2": ("qwen2", {"tie_word_embeddings": False}),
    "qwen2-tied": ("qwen2", {"tie_word_embeddings": True}),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_variants_match_transformers(name, tmp_path):
    kind, overrides = TINY[name]
    directory = write_tiny_model(tmp_path, _tiny(kind, **overrides))
    (directory / "tokenizer_config.json").unlink(missing_ok=True)
    ref = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    from aha.models.load import _build_native, read_state_dict

    native = _build_native(ref.config, read_state_dict(directory), directory).eval()
    torch.manual_seed(1)
    ids = torch.randint(0, 300, (3, 200))
    mask = torch.ones_like(ids)
    mask[0, :37] = 0  # left padding on one row
    with torch.no_grad():
        ours = native(ids, mask)
        theirs = ref(input_ids=ids, attention_mask=mask).logits
    assert (ours - theirs)[mask.bool()].abs().max().item() <= 1e-4


def test_llama3_rope_frequencies_are_scaled():
    config = _tiny("llama", **TINY["llama3-rope"][1])
    spec = spec_from_config(config)
    plain = 1.0 / (500000.0 ** (torch.arange(0, 16, 2).float() / 16))
    scaled = rope_inverse_frequencies(spec)
    assert torch.allclose(scaled[0], plain[0])  # high frequencies untouched
    assert torch.allclose(scaled[-1], plain[-1] / 8.0)  # low frequencies divided by the factor


def test_decode_steps_equal_full_forward(smollm, chat_prompts):
    """Prefill then decode token by token gives the logits of one full forward pass."""
    model = smollm.model
    prompts = chat_prompts[:2]
    continuation = [[28, 253, 1780, 314], [441, 9531, 30, 216]]
    width = max(map(len, prompts))
    ids = torch.tensor([[2] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts]).bool()
    cache = model.new_cache(2, width + 8)
    steps = [model.prefill(ids, mask, cache)]
    for t in range(3):
        steps.append(model.decode(torch.tensor([c[t] for c in continuation]), cache))
    full_ids = torch.cat([ids, torch.tensor(continuation)[:, :3]], dim=1)
    full_mask = torch.cat([mask, torch.ones(2, 3, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        full = model(full_ids, full_mask)[:, width - 1 :]
    assert (torch.stack(steps, dim=1) - full).abs().max().item() <= 1e-4


def test_packed_decode_equals_plain_decode(smollm, chat_prompts):
    model = smollm.model
    ids = torch.tensor([chat_prompts[0]])
    mask = torch.ones_like(ids, dtype=torch.bool)
    results = []
    for packed in (None, model.pack(1)):
        cache = model.new_cache(1, ids.shape[1] + 2)
        model.prefill(ids, mask, cache)
        results.append(model.decode(torch.tensor([28]), cache, packed))
    assert (results[0] - results[1]).abs().max().item() <= 1e-4


def test_other_architectures_are_reported_unsupported():
    from transformers import GPT2Config, MistralConfig

    assert "model_type" in unsupported_reason(GPT2Config())
    assert unsupported_reason(MistralConfig()) is not None
    assert unsupported_reason(_tiny("llama")) is None
    yarn = _tiny("llama", rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0})
    assert "yarn" in unsupported_reason(yarn)


def test_gradients_flow_through_native_decoder(tiny_llama_dir):
    loaded = load(tiny_llama_dir)
    ids = torch.randint(0, 300, (2, 12))
    loss = loaded.model(ids).logsumexp(-1).mean()
    loss.backward()
    grads = [p.grad for p in loaded.model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
