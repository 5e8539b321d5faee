"""Fallback for architectures the native decoder does not cover: transformers' AutoModelForCausalLM
behind the same CausalLM interface (forward, new_cache, prefill, decode). Slower, but correct.

Shapes: B rows, T tokens, V vocab.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from aha.models.packed import PackedLinears


@dataclass
class HFCache:
    """A transformers DynamicCache plus the padding mask of every slot it holds."""

    past: DynamicCache = field(default_factory=DynamicCache)
    mask: torch.Tensor | None = None  # [B,S] long, 0 on left padding
    capacity: int = 0

    @property
    def batch(self) -> int:
        return 0 if self.mask is None else self.mask.shape[0]

    @property
    def length(self) -> int:
        return 0 if self.mask is None else self.mask.shape[1]

    def select(self, rows: torch.Tensor) -> None:
        """Keep rows [B'] (indices into the current rows, repeats allowed) in that order."""
        self.past.reorder_cache(rows)
        self.mask = self.mask.index_select(0, rows)

    keep = select


def _with_prefix(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, prefix_ids: torch.Tensor | None, start: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows with the shared prefix [P] written in front of each: ([B,P+T], [B,P+T], start + P)."""
    if prefix_ids is None:
        return input_ids, attention_mask, start
    batch = input_ids.shape[0]
    prefix = prefix_ids[None].expand(batch, -1)
    ones = torch.ones_like(prefix, dtype=attention_mask.dtype)
    return torch.cat([prefix, input_ids], 1), torch.cat([ones, attention_mask], 1), start + prefix_ids.shape[0]


class HFCausalLM(nn.Module):
    """Wraps a transformers causal LM; `hf` is the wrapped model, saved with its own save_pretrained."""

    def __init__(self, hf: PreTrainedModel) -> None:
        super().__init__()
        self.hf = hf
        # transformers renamed `past_key_values` to `cache` in 5.x (the old name goes in 5.40).
        parameters = inspect.signature(hf.forward).parameters
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"

    @property
    def device(self) -> torch.device:
        return self.hf.device

    @property
    def dtype(self) -> torch.dtype:
        return self.hf.dtype

    @staticmethod
    def _positions(mask: torch.Tensor) -> torch.Tensor:
        return (mask.long().cumsum(-1) - 1).clamp(min=0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B,T,V] for every position of padded rows input_ids [B,T]."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.hf(
            input_ids=input_ids,
            attention_mask=attention_mask.long(),
            position_ids=self._positions(attention_mask),
            use_cache=False,
        )
        return out.logits

    def completion_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, start: int, prefix_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [B,T-start,V] predicting tokens start..T-1 of input_ids [B,T] (which follow prefix_ids, if any)."""
        input_ids, attention_mask, start = _with_prefix(input_ids, attention_mask, prefix_ids, start)
        return self.forward(input_ids, attention_mask)[:, start - 1 : -1]

    def new_cache(self, batch: int, max_slots: int) -> HFCache:
        return HFCache(capacity=max_slots)

    def pack(self, rows: int = 32) -> PackedLinears:
        """No prepacking for wrapped transformers models: an empty pack, which `decode` ignores."""
        return PackedLinears({})

    @torch.no_grad()
    def prefill(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        cache: HFCache,
        prefix_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run left-padded prompts [B,T] (after prefix_ids [P], if given) into an empty cache; logits [B,V] at
        each row's last token. The prefix is simply repeated in every row here."""
        input_ids, attention_mask, _ = _with_prefix(input_ids, attention_mask, prefix_ids, 0)
        cache.mask = attention_mask.long()
        out = self.hf(
            input_ids=input_ids,
            attention_mask=cache.mask,
            position_ids=self._positions(cache.mask),
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: cache.past},
        )
        return out.logits[:, -1].float()

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, cache: HFCache, packed: PackedLinears | None = None) -> torch.Tensor:
        """Append one token per row [B] to the cache; logits [B,V] for the next token."""
        if cache.length >= cache.capacity:
            raise ValueError(f"cache of {cache.capacity} slots is full")
        positions = cache.mask.sum(-1, keepdim=True)  # [B,1]
        cache.mask = torch.cat([cache.mask, torch.ones_like(cache.mask[:, :1])], dim=1)
        out = self.hf(
            input_ids=tokens[:, None],
            attention_mask=cache.mask,
            position_ids=positions,
            use_cache=True,
            **{self._cache_arg: cache.past},
        )
        return out.logits[:, -1].float()
