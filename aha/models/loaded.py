"""A loaded model: what `aha.models.load` returns and `aha.models.checkpoint` saves (its own module, so that
neither of the two imports the other for it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass
class LoadedModel:
    """A causal LM behind aha's interface together with what is needed to prompt, sample and save it."""

    model: nn.Module  # NativeDecoder or HFCausalLM: forward, new_cache, prefill, decode
    tokenizer: Any  # a transformers tokenizer
    config: Any  # the transformers config (quantization flags cleared), saved as config.json
    source: str  # what was asked for
    backend: str  # "native" or "hf"

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Every token that ends a completion: the config's EOS ids plus the tokenizer's."""
        ids = self.config.eos_token_id
        ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        return tuple(dict.fromkeys(ids))
