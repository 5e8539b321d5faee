"""Rollout batches as tensors: prompts left-padded, completions right-padded, one row per completion.

Shapes: B rows (completions), Tp prompt slots, Tc completion slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from aha.rollout.engine import common_prefix


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # [B,Tp+Tc] prompt (left-padded) then completion (right-padded)
    attention_mask: torch.Tensor  # [B,Tp+Tc] bool, True on real tokens
    mask: torch.Tensor  # [B,Tc] float, 1 on completion tokens
    old_logp: torch.Tensor  # [B,Tc] log-probs of the completion tokens under the sampling policy
    adv: torch.Tensor  # [B] advantage of each completion
    prompt_width: int  # Tp: completion tokens start at this column
    prefix: torch.Tensor | None = None  # [P] prompt tokens common to every row, computed once, not in input_ids
    sampler_logp: torch.Tensor | None = None  # [B,Tc] the sampler's log-probs where another engine sampled (vLLM)

    @property
    def rows(self) -> int:
        return self.input_ids.shape[0]

    @property
    def completion_ids(self) -> torch.Tensor:
        return self.input_ids[:, self.prompt_width :]  # [B,Tc]

    def to(self, device: torch.device) -> RolloutBatch:
        """The same batch on another device (the sampler builds it on the CPU)."""
        move = {
            name: getattr(self, name).to(device) for name in ("input_ids", "attention_mask", "mask", "old_logp", "adv")
        }
        prefix = None if self.prefix is None else self.prefix.to(device)
        sampler = None if self.sampler_logp is None else self.sampler_logp.to(device)
        return RolloutBatch(**move, prompt_width=self.prompt_width, prefix=prefix, sampler_logp=sampler)

    def select(self, rows: torch.Tensor | slice) -> RolloutBatch:
        """A mini- or micro-batch of rows, trimmed of columns that are padding in all of them."""
        input_ids, attention_mask = self.input_ids[rows], self.attention_mask[rows]
        mask, old_logp, adv = self.mask[rows], self.old_logp[rows], self.adv[rows]
        first = int(attention_mask[:, : self.prompt_width].any(0).float().argmax())
        last = int(mask.sum(-1).max())
        width = self.prompt_width - first
        return RolloutBatch(
            input_ids=input_ids[:, first : self.prompt_width + last],
            attention_mask=attention_mask[:, first : self.prompt_width + last],
            mask=mask[:, :last],
            old_logp=old_logp[:, :last],
            adv=adv,
            prompt_width=width,
            prefix=self.prefix,
            sampler_logp=None if self.sampler_logp is None else self.sampler_logp[rows][:, :last],
        )


def build_batch(
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    old_logp: Sequence[Sequence[float]],
    adv: Sequence[float],
    pad_id: int,
    share_prefix: bool = True,
) -> RolloutBatch:
    """Pack B (prompt, completion) pairs, with the sampler's log-probs and the advantages, into tensors.

    With share_prefix, the prompt tokens common to all rows (a system message, a solved example) are
    kept apart in `prefix` and computed once per forward instead of once per row.
    """
    shared = common_prefix(prompts) if share_prefix else 0
    prefix = torch.tensor(list(prompts[0][:shared])) if shared else None
    prompts = [p[shared:] for p in prompts]
    rows = len(prompts)
    prompt_width = max(len(p) for p in prompts)
    width = max(max(len(c) for c in completions), 1)
    input_ids = torch.full((rows, prompt_width + width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((rows, prompt_width + width), dtype=torch.bool)
    mask = torch.zeros((rows, width))
    old = torch.zeros((rows, width))
    for row, (prompt, completion, logp) in enumerate(zip(prompts, completions, old_logp, strict=True)):
        start = prompt_width - len(prompt)
        input_ids[row, start:prompt_width] = torch.tensor(prompt)
        attention_mask[row, start:prompt_width] = True
        if completion:
            end = prompt_width + len(completion)
            input_ids[row, prompt_width:end] = torch.tensor(completion)
            attention_mask[row, prompt_width:end] = True
            mask[row, : len(completion)] = 1.0
            old[row, : len(completion)] = torch.tensor(logp)
    adv_tensor = torch.tensor(adv, dtype=torch.float32)
    return RolloutBatch(input_ids, attention_mask, mask, old, adv_tensor, prompt_width, prefix)
