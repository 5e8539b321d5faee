"""Bradley-Terry reward models (DeepSeek-R1's helpfulness and harmlessness rewards in its all-scenario RL):
a scalar reward per sequence, read by a linear head off the final (normed) hidden state of the sequence's
last token, trained so that the chosen response of a preference pair scores above the rejected one:

  loss = mean_pairs[ -log sigmoid(r_chosen - r_rejected - margin) ] + center * mean_pairs[ (r_chosen + r_rejected)^2 ]

the pairwise loss of InstructGPT, with Llama 2's optional per-pair margin and the reward centring term
(Eisenstein et al. 2023, TRL's `center_rewards_coefficient`) that keeps rewards near zero so that they mix
with other rewards. The head (`NativeDecoder.score`) is laid out as transformers'
`LlamaForSequenceClassification` lays out its `score` layer (one row, no bias, applied at the last token),
so a trained model saves and loads in that layout.

Sequences are packed as GRPO's rows are (`aha.learn.packing`): a pair's shared context once, as a prompt
segment, and each response a segment attending to it and causally to itself, positions continuing after
it, so a sequence's reward is exactly the one a forward of it alone gives and a pair costs its context once
(in the HH pairs three quarters of a pair's tokens are the shared context).

Shapes: B sequences, P pairs, T packed tokens, H hidden size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from aha.learn.packing import Segment


def bradley_terry_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None, center: float = 0.0
) -> torch.Tensor:
    """The mean pairwise loss of rewards chosen [P] and rejected [P] (see the module docstring)."""
    gap = chosen - rejected if margin is None else chosen - rejected - margin
    loss = -F.logsigmoid(gap).mean()
    if center:
        loss = loss + center * ((chosen + rejected) ** 2).mean()
    return loss


def common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all `sequences` share, leaving each at least its last token of its own."""
    shared = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for n in range(shared):
        if any(s[n] != first[n] for s in sequences[1:]):
            return n
    return max(shared, 0)


def sequence_rewards(model: Any, groups: Sequence[Sequence[Sequence[int]]]) -> torch.Tensor:
    """The reward [B] (with grad) of each token sequence of `groups` (in order), from one packed forward of
    the native decoder and its score head (`NativeDecoder.add_score_head`).

    The sequences of a group (a preference pair's chosen and rejected conversations) share their common
    prefix: it is packed once, as a prompt the rest of each sequence attends to, so a pair costs its
    context once. Each reward is still exactly the one a forward of its sequence alone gives.
    """
    head = model.score
    if head is None:
        raise ValueError("the model has no score head (add_score_head)")
    if any(len(s) == 0 for group in groups for s in group):
        raise ValueError("a sequence to score is empty")
    tokens: list[int] = []
    positions: list[int] = []
    segments: list[Segment] = []
    last: list[int] = []
    for group in groups:
        shared = common_prefix(group) if len(group) > 1 else 0
        prompt_start = len(tokens)
        if shared:
            segments.append(Segment(prompt_start, shared))
            tokens += group[0][:shared]
            positions += range(shared)
        for sequence in group:
            rest = sequence[shared:]
            segments.append(Segment(len(tokens), len(rest), prompt_start, shared))
            tokens += rest
            positions += range(shared, len(sequence))
            last.append(len(tokens) - 1)
    device = model.device
    as_tensor = lambda values: torch.tensor(values, dtype=torch.long, device=device)  # noqa: E731
    hidden = model.packed_hidden(as_tensor(tokens), as_tensor(positions), segments, as_tensor(last))  # [B,H]
    return head(hidden.to(head.weight.dtype))[:, 0]
