"""Native decoder for the Llama family: Llama 2/3, SmolLM2, Qwen2/Qwen2.5.

One pre-norm block per layer: RMSNorm -> grouped-query attention with rotary positions -> residual,
RMSNorm -> SwiGLU MLP -> residual. q/k/v and gate/up are stored fused (one matmul each) and
converted to and from the Hugging Face names in `aha.models.convert`.

Shapes: B rows, T new tokens, S cached slots, H query heads, K key/value heads, D head dim, V vocab.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aha.models.kv_cache import KVCache
from aha.models.packed import PackedLinears, plain_linear
from aha.models.packed_attention import AttentionPlan, packed_attention, plan_attention

Linear = Callable[[nn.Linear, torch.Tensor], torch.Tensor]

NATIVE_MODEL_TYPES = ("llama", "qwen2")
_ROPE_TYPES = ("default", "linear", "llama3")


@dataclass(frozen=True, kw_only=True)
class DecoderSpec:
    """Architecture numbers of one decoder, read from a Hugging Face config."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    max_positions: int
    rope_theta: float
    rope_scaling: dict[str, Any] | None  # None for plain RoPE; else HF's rope parameters (linear, llama3)
    qkv_bias: bool  # Qwen2 always, Llama when attention_bias
    o_bias: bool  # Llama attention_bias only
    mlp_bias: bool
    tie_word_embeddings: bool


def unsupported_reason(config: Any) -> str | None:
    """Why the native decoder cannot run this Hugging Face config, or None if it can."""
    model_type = getattr(config, "model_type", None)
    if model_type not in NATIVE_MODEL_TYPES:
        return f"model_type {model_type!r} is not one of {NATIVE_MODEL_TYPES}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"hidden_act {config.hidden_act!r} is not silu"
    rope = _rope_parameters(config)
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in _ROPE_TYPES:
        return f"rope type {rope_type!r} is not one of {_ROPE_TYPES}"
    if model_type == "qwen2" and getattr(config, "use_sliding_window", False):
        return "Qwen2 sliding-window attention is enabled"
    return None


def _rope_parameters(config: Any) -> dict[str, Any]:
    # transformers 5 keeps rope_theta and scaling together in rope_parameters; 4.x split them.
    params = getattr(config, "rope_parameters", None)
    if params:
        return dict(params)
    params = dict(getattr(config, "rope_scaling", None) or {})
    params.setdefault("rope_theta", getattr(config, "rope_theta", 10000.0))
    return params


def spec_from_config(config: Any) -> DecoderSpec:
    """Read a DecoderSpec from a transformers LlamaConfig or Qwen2Config."""
    reason = unsupported_reason(config)
    if reason is not None:
        raise ValueError(f"native decoder cannot run this config: {reason}")
    rope = _rope_parameters(config)
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    heads = config.num_attention_heads
    qwen = config.model_type == "qwen2"
    attention_bias = bool(getattr(config, "attention_bias", False))
    return DecoderSpec(
        model_type=config.model_type,
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_layers=config.num_hidden_layers,
        num_heads=heads,
        num_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
        rms_norm_eps=config.rms_norm_eps,
        max_positions=config.max_position_embeddings,
        rope_theta=float(rope["rope_theta"]),
        rope_scaling=None if rope_type == "default" else {**rope, "rope_type": rope_type},
        qkv_bias=qwen or attention_bias,
        o_bias=(not qwen) and attention_bias,
        mlp_bias=(not qwen) and bool(getattr(config, "mlp_bias", False)),
        tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
    )


def rope_inverse_frequencies(spec: DecoderSpec) -> torch.Tensor:
    """Inverse frequencies [D/2] of RoPE, with linear or Llama-3 scaling (Llama 3.1 report, sec. 3)."""
    dim = spec.head_dim
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device="cpu").float() / dim
    inv_freq = 1.0 / (spec.rope_theta**exponents)
    scaling = spec.rope_scaling
    if scaling is None:
        return inv_freq
    if scaling["rope_type"] == "linear":
        return inv_freq / scaling["factor"]
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_context / low, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old_context / high) * ~(wavelen > old_context / low)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 and scale in the input dtype, as the reference implementation does.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)

    def fused(self, x: torch.Tensor) -> torch.Tensor:
        """The same as forward in one kernel for fp32 (for decoding, where the count of small operations per
        token matters); other dtypes take forward's path, whose rounding the reference implementation has."""
        if x.dtype != torch.float32:
            return self.forward(x)
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = spec.num_heads, spec.num_kv_heads, spec.head_dim
        q_size, kv_size = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
        self.qkv = nn.Linear(spec.hidden_size, q_size + 2 * kv_size, bias=spec.qkv_bias)
        self.o = nn.Linear(q_size, spec.hidden_size, bias=spec.o_bias)
        self.split = (q_size, kv_size, kv_size)

    def _project(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, linear: Linear = plain_linear
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B,T,hidden] -> rotated q [B,H,T,D], k [B,K,T,D], v [B,K,T,D]."""
        batch, length, _ = x.shape
        q, k, v = linear(self.qkv, x).split(self.split, dim=-1)
        q = q.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # [B,H,T,D]
        k = k.view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)  # [B,K,T,D]
        v = v.view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)  # [B,K,T,D]
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # [B,1,T,D]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
        *,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        keep: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        """Attention of T new tokens over `past` keys/values (if any) and themselves (training, prefill).

        x [B,T,hidden]; mask [B,1,T,P+T] bool, True = attend, where P is the length of past (k, v) [1,K,P,D],
        a prefix shared by every row. keep collects this layer's own (k, v); a cache stores past and new
        keys/values as slots [0, P+T) of `layer`.
        """
        batch, length, _ = x.shape
        q, k, v = self._project(x, cos, sin)
        if keep is not None:
            keep.append((k, v))
        if past is not None:
            k = torch.cat([past[0].expand(batch, -1, -1, -1), k], dim=2)  # [B,K,P+T,D]
            v = torch.cat([past[1].expand(batch, -1, -1, -1), v], dim=2)
        if cache is not None:
            cache.write_prefix(layer, k, v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.num_kv_heads != self.num_heads)
        return self.o(out.transpose(1, 2).reshape(batch, length, -1))

    def forward_packed(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, plan: AttentionPlan
    ) -> torch.Tensor:
        """Attention over one packed sequence x [1,P+T,hidden] laid out by `plan` (aha.learn.packing,
        aha.models.packed_attention)."""
        length = x.shape[1]
        q, k, v = self._project(x, cos, sin)  # [1,H,T,D], [1,K,T,D], [1,K,T,D]
        device = x.device.type
        # Under autocast, attention runs in fp32: short segments attend faster in fp32 than in bf16 on the
        # CPU, and more exactly.
        dtype = torch.float32 if torch.is_autocast_enabled(device) else q.dtype
        with torch.autocast(device, enabled=False):
            q, k, v = (t[0].transpose(0, 1).to(dtype) for t in (q, k, v))  # [T,H,D], [T,K,D], [T,K,D]
            out = packed_attention(q, k, v, plan)  # [T,H,D]
        return self.o(out.reshape(1, length, -1))

    def forward_cached(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache,
        layer: int,
        linear: Linear,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """One new token per row against the cache. x [B,1,hidden], cos and sin [B,D]; the cache holds S slots;
        bias [B*K,1,S+1] is `cache.key_bias(K)`, made once per step.

        Decoding is bound by weight and cache traffic and by the number of small operations per token, so
        q and k are rotated together, and attention is two batched products over the transposed keys.
        """
        batch = x.shape[0]
        heads, kv_heads, dim = self.num_heads, self.num_kv_heads, self.head_dim
        qkv = linear(self.qkv, x).view(batch, heads + 2 * kv_heads, dim)  # [B,H+2K,D]
        qk, v = qkv[:, : heads + kv_heads], qkv[:, heads + kv_heads :]  # [B,H+K,D], [B,K,D]
        half = dim // 2
        rotated = torch.cat([-qk[..., half:], qk[..., :half]], dim=-1)
        qk = qk * cos[:, None] + rotated * sin[:, None]
        keys, values = cache.append(layer, qk[:, heads:], v)  # [B,K,D,S+1], [B,K,S+1,D]
        slots = keys.shape[-1]
        # Grouped-query attention without repeating k/v: the H/K query heads of a group share one key head
        # and stand in the query-length dimension of one small product per (row, key head).
        q = qk[:, :heads].reshape(batch * kv_heads, heads // kv_heads, dim)  # [B*K,H/K,D]
        scores = torch.baddbmm(bias, q, keys.view(batch * kv_heads, dim, slots), alpha=dim**-0.5)
        # the softmax in fp32 whatever the cache's dtype, as the fused attention kernels compute it
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(scores.dtype)  # [B*K,H/K,S+1]
        out = torch.bmm(weights, values.view(batch * kv_heads, slots, dim))  # [B*K,H/K,D]
        return linear(self.o, out.view(batch, 1, -1))


class MLP(nn.Module):
    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        self.gate_up = nn.Linear(spec.hidden_size, 2 * spec.intermediate_size, bias=spec.mlp_bias)
        self.down = nn.Linear(spec.intermediate_size, spec.hidden_size, bias=spec.mlp_bias)

    def forward(self, x: torch.Tensor, linear: Linear = plain_linear) -> torch.Tensor:
        gate, up = linear(self.gate_up, x).chunk(2, dim=-1)
        return linear(self.down, F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.attn = Attention(spec)
        self.mlp_norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.mlp = MLP(spec)


class NativeDecoder(nn.Module):
    """Llama-family causal LM. Implements the `aha.models.CausalLM` interface."""

    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed = nn.Embedding(spec.vocab_size, spec.hidden_size)
        self.layers = nn.ModuleList(Block(spec) for _ in range(spec.num_layers))
        self.norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.lm_head = None if spec.tie_word_embeddings else nn.Linear(spec.hidden_size, spec.vocab_size, bias=False)
        self.score: nn.Linear | None = None  # a reward model's head (`add_score_head`), saved as HF's `score`
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.init_rope()

    def add_score_head(self) -> nn.Linear:
        """A reward model's head: hidden -> one score, no bias, as transformers' LlamaForSequenceClassification
        lays out its `score` layer; zero at first, so an untrained head scores every sequence 0."""
        weight = self.embed.weight
        self.score = nn.Linear(self.spec.hidden_size, 1, bias=False, device=weight.device, dtype=weight.dtype)
        if weight.device.type != "meta":
            nn.init.zeros_(self.score.weight)
        return self.score

    def init_rope(self) -> None:
        """(Re)compute the RoPE tables [max_positions, D] in fp32 on the CPU (also after building on 'meta')."""
        inv_freq = rope_inverse_frequencies(self.spec)
        positions = torch.arange(self.spec.max_positions, dtype=torch.float32, device="cpu")
        freqs = torch.outer(positions, inv_freq.to("cpu"))
        angles = torch.cat((freqs, freqs), dim=-1)  # [max_positions, D]
        device = self.embed.weight.device
        device = torch.device("cpu") if device.type == "meta" else device
        self.rope_cos = angles.cos().to(device)
        self.rope_sin = angles.sin().to(device)

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.weight.dtype

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rope_cos[positions].to(self.dtype), self.rope_sin[positions].to(self.dtype)  # [B,T,D] each

    def _logits(self, hidden: torch.Tensor, packed: PackedLinears | None = None) -> torch.Tensor:
        hidden = self.norm(hidden)
        weight = self.embed.weight if self.lm_head is None else self.lm_head.weight
        if packed is None:
            return F.linear(hidden, weight)
        return packed.apply(id(weight), weight, None, hidden)

    def pack(self, rows: int = 32) -> PackedLinears:
        """Prepacked weights for `decode` with about `rows` rows; empty (a no-op) where packing is unsupported."""
        layers = [m for m in self.modules() if isinstance(m, nn.Linear) and m is not self.lm_head]
        head = self.embed.weight if self.lm_head is None else self.lm_head.weight
        return PackedLinears.pack(layers, {id(head): head}, rows)

    def _prefix_kv(self, prefix_ids: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values [1,K,P,D] of every layer for a prefix [P] shared by all rows of a batch."""
        length = prefix_ids.shape[0]
        cos, sin = self._rope(torch.arange(length, device=prefix_ids.device)[None])
        mask = torch.ones(length, length, dtype=torch.bool, device=prefix_ids.device).tril()[None, None]
        kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        x = self.embed(prefix_ids[None])
        for block in self.layers[:-1]:
            x = x + block.attn(block.attn_norm(x), cos, sin, mask, keep=kept)
            x = x + block.mlp(block.mlp_norm(x))
        kept.append(self.layers[-1].attn._project(self.layers[-1].attn_norm(x), cos, sin)[1:])
        return kept

    def _run(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: KVCache | None,
        prefix_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states [B,T,hidden] (before the last norm) of padded rows input_ids [B,T].

        attention_mask [B,T] marks real tokens; padding may sit left or right. Positions count real tokens
        only. prefix_ids [P], when given, precede every row: computed once, attended to by all rows, with
        the same result (and gradient) as repeating them in each row.
        """
        batch, length = input_ids.shape
        offset = 0 if prefix_ids is None else prefix_ids.shape[0]
        if offset + length > self.spec.max_positions:
            raise ValueError(f"{offset + length} tokens exceed the model's {self.spec.max_positions} positions")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        attention_mask = attention_mask.bool()
        positions = offset + (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [B,T]
        cos, sin = self._rope(positions)
        causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=input_ids.device)
        # Pad queries attend to themselves only, so no softmax row is empty (their outputs are never read).
        mask = ((causal & attention_mask[:, None, :]) | eye)[:, None]  # [B,1,T,T]
        past: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.layers)
        if prefix_ids is not None:
            past = list(self._prefix_kv(prefix_ids))
            seen = torch.ones(batch, 1, length, offset, dtype=torch.bool, device=input_ids.device)
            mask = torch.cat([seen, mask], dim=-1)  # [B,1,T,P+T]
        x = self._layers(self.embed(input_ids), cos, sin, mask, past, cache)
        if cache is not None:
            full = attention_mask
            if offset:
                full = torch.cat([torch.ones(batch, offset, dtype=torch.bool, device=input_ids.device), full], 1)
            cache.start(full)
        return x

    def _layers(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor] | None],
        cache: KVCache | None,
    ) -> torch.Tensor:
        """Every block over embeddings x [B,T,hidden] with RoPE tables [B,T,D] and mask [B,1,T,P+T]."""
        for index, block in enumerate(self.layers):
            x = x + block.attn(block.attn_norm(x), cos, sin, mask, past=past[index], cache=cache, layer=index)
            x = x + block.mlp(block.mlp_norm(x))
        return x

    def packed_hidden(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        segments: list[Any],
        predict: torch.Tensor,
        prefix_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states [N,hidden] (normed: logits = hidden @ output_weight^T) at positions `predict` [N]
        of one packed sequence tokens [T] (see aha.learn.packing).

        positions [T] are RoPE positions (after the prefix); segments say which tokens attend to which;
        prefix_ids [P], when given, precede everything and are attended to by every token.
        """
        if int(positions.max()) >= self.spec.max_positions:
            raise ValueError(f"position {int(positions.max())} exceeds the model's {self.spec.max_positions}")
        offset = 0
        if prefix_ids is not None:  # the prefix opens the sequence, computed in the same pass
            offset = prefix_ids.shape[0]
            tokens = torch.cat([prefix_ids, tokens])
            positions = torch.cat([torch.arange(offset, device=tokens.device), positions])
            predict = predict + offset
        cos, sin = self._rope(positions[None])  # [1,P+T,D] each
        plan = plan_attention(segments, offset, tokens.device)
        x = self.embed(tokens[None])  # [1,P+T,hidden]
        for block in self.layers:
            x = x + block.attn.forward_packed(block.attn_norm(x), cos, sin, plan)
            x = x + block.mlp(block.mlp_norm(x))
        return self.norm(x[0].index_select(0, predict))  # [N,hidden]

    @property
    def output_weight(self) -> torch.Tensor:
        """The vocabulary projection [V,hidden] (the embedding when tied)."""
        return self.embed.weight if self.lm_head is None else self.lm_head.weight

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B,T,V] for every position of padded rows input_ids [B,T]."""
        return self._logits(self._run(input_ids, attention_mask, None))

    def completion_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, start: int, prefix_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [B,T-start,V] predicting tokens start..T-1 of input_ids [B,T] (which follow prefix_ids, if any).

        The vocabulary projection, the largest matmul per position, runs at those positions only.
        """
        hidden = self._run(input_ids, attention_mask, None, prefix_ids)[:, start - 1 : -1]
        return self._logits(hidden)

    def new_cache(self, batch: int, max_slots: int) -> KVCache:
        spec = self.spec
        shape = (batch, spec.num_kv_heads, max_slots, spec.head_dim)
        return KVCache.empty(spec.num_layers, shape, dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def prefill(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        cache: KVCache,
        prefix_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run left-padded prompts [B,T] (after a shared prefix [P], if given) into an empty cache; logits
        [B,V] at each row's last token."""
        if not bool(attention_mask[:, -1].all()):
            raise ValueError("prefill expects left-padded prompts (every row ends with a real token)")
        return self._logits(self._run(input_ids, attention_mask, cache, prefix_ids)[:, -1]).float()

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, cache: KVCache, packed: PackedLinears | None = None) -> torch.Tensor:
        """Append one token per row [B] to the cache; logits [B,V] for the next token.

        packed: weights from `pack()`, which must be current (taken after the last weight update).
        """
        linear: Linear = packed if packed else plain_linear
        cos, sin = self._rope(cache.next_positions())  # [B,D] each
        bias = cache.key_bias(self.spec.num_kv_heads)  # [B*K,1,S+1]
        x = self.embed(tokens[:, None])  # [B,1,hidden]
        for index, block in enumerate(self.layers):
            x = x + block.attn.forward_cached(block.attn_norm.fused(x), cos, sin, cache, index, linear, bias)
            x = x + block.mlp(block.mlp_norm.fused(x), linear)
        cache.advance()
        return self._logits(x[:, 0], packed if packed else None).float()
