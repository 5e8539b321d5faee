"""Weights between the Hugging Face layout and the native decoder's fused layout.

Hugging Face keeps q/k/v and gate/up as separate matrices; the native decoder stacks them so that one
matmul computes each group. Converting is a concatenation one way and a split the other, so a round
trip is exact.
"""

from __future__ import annotations

import torch

from aha.models.llama import DecoderSpec


def _layer_names(prefix: str) -> dict[str, str]:
    return {
        "attn_norm.weight": f"{prefix}.input_layernorm.weight",
        "mlp_norm.weight": f"{prefix}.post_attention_layernorm.weight",
        "attn.o.weight": f"{prefix}.self_attn.o_proj.weight",
        "attn.o.bias": f"{prefix}.self_attn.o_proj.bias",
        "mlp.down.weight": f"{prefix}.mlp.down_proj.weight",
        "mlp.down.bias": f"{prefix}.mlp.down_proj.bias",
    }


def native_from_hf(hf: dict[str, torch.Tensor], spec: DecoderSpec) -> dict[str, torch.Tensor]:
    """Native state dict from a Hugging Face Llama/Qwen2 state dict. Raises KeyError naming a missing tensor."""
    out = {"embed.weight": hf["model.embed_tokens.weight"], "norm.weight": hf["model.norm.weight"]}
    if not spec.tie_word_embeddings:
        out["lm_head.weight"] = hf["lm_head.weight"]
    if "score.weight" in hf:  # a reward model's head (LlamaForSequenceClassification's layout)
        out["score.weight"] = hf["score.weight"]
    for i in range(spec.num_layers):
        prefix = f"model.layers.{i}"
        for native, name in _layer_names(prefix).items():
            if name in hf:
                out[f"layers.{i}.{native}"] = hf[name]
        attn, mlp = f"{prefix}.self_attn", f"{prefix}.mlp"
        out[f"layers.{i}.attn.qkv.weight"] = torch.cat([hf[f"{attn}.{p}_proj.weight"] for p in "qkv"])
        if spec.qkv_bias:
            out[f"layers.{i}.attn.qkv.bias"] = torch.cat([hf[f"{attn}.{p}_proj.bias"] for p in "qkv"])
        out[f"layers.{i}.mlp.gate_up.weight"] = torch.cat([hf[f"{mlp}.gate_proj.weight"], hf[f"{mlp}.up_proj.weight"]])
        if spec.mlp_bias:
            out[f"layers.{i}.mlp.gate_up.bias"] = torch.cat([hf[f"{mlp}.gate_proj.bias"], hf[f"{mlp}.up_proj.bias"]])
    return out


def hf_from_native(native: dict[str, torch.Tensor], spec: DecoderSpec) -> dict[str, torch.Tensor]:
    """Hugging Face state dict from a native one; tied models carry no lm_head.weight, as transformers saves them."""
    out = {"model.embed_tokens.weight": native["embed.weight"], "model.norm.weight": native["norm.weight"]}
    if not spec.tie_word_embeddings:
        out["lm_head.weight"] = native["lm_head.weight"]
    if "score.weight" in native:
        out["score.weight"] = native["score.weight"]
    q_size, kv_size = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
    for i in range(spec.num_layers):
        prefix = f"model.layers.{i}"
        for name, hf_name in _layer_names(prefix).items():
            if f"layers.{i}.{name}" in native:
                out[hf_name] = native[f"layers.{i}.{name}"]
        for kind in ("weight", "bias"):
            qkv = native.get(f"layers.{i}.attn.qkv.{kind}")
            if qkv is not None:
                for p, part in zip("qkv", qkv.split((q_size, kv_size, kv_size)), strict=True):
                    out[f"{prefix}.self_attn.{p}_proj.{kind}"] = part
            gate_up = native.get(f"layers.{i}.mlp.gate_up.{kind}")
            if gate_up is not None:
                gate, up = gate_up.chunk(2)
                out[f"{prefix}.mlp.gate_proj.{kind}"], out[f"{prefix}.mlp.up_proj.{kind}"] = gate, up
    return {name: tensor.contiguous() for name, tensor in out.items()}
