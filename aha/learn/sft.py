"""The supervised fine-tuning update: mean negative log-likelihood of the trained tokens, examples packed.

Examples are packed into sequences of at most `capacity` tokens; in a packed sequence every example is a
segment of its own, attending causally to itself only, with positions restarting at 0, so each token sees
exactly what it would in a forward of its example alone (`aha.learn.packing.Segment`, the native decoder's
`packed_hidden`). Only trained positions are projected onto the vocabulary at all
(`kept_linear_logprobs`, which keeps the softmax for the backward pass and so costs about half of
`linear_logprobs`, which recomputes it; the latter past `KEEP_LIMIT`, for long sequences and large
vocabularies), so untrained tokens take no part in the loss or its gradient.

Two things are not computed at all, because nothing trained depends on them: an example's last token (its
output would predict the token after the example), and all but one copy of the opening that every example
of a packed sequence shares before its first trained token (a chat template's system prompt and the start of
the user turn: the same tokens at the same positions, so the same hidden states in every example). That
shared prefix is computed once, at the head of the sequence, and every example attends to it as to its own
opening; the gradient reaching it is the sum of what each example's copy would receive. On the shipped
arithmetic set that is about a quarter of the tokens of a step.

The loss of an optimiser step is the sum over its trained tokens divided by their count in the whole step
(every micro-batch), so accumulating micro-batches gives exactly the gradient of the full batch.

Shapes: T packed tokens, N trained tokens, B examples, L padded length, V vocab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aha import dist
from aha.algo.logprobs import kept_linear_logprobs, linear_logprobs, token_logprobs
from aha.data.sft import Example
from aha.learn.packing import Segment

KEEP_LIMIT = 2**28  # [N,V] elements whose softmax a pass keeps (1 GiB in fp32); past it, it is recomputed


@dataclass
class PackedExamples:
    prefix: torch.Tensor  # [P] the opening every example shares, computed once (P = 0: none)
    tokens: torch.Tensor  # [T] each example after the prefix, its last token left out
    positions: torch.Tensor  # [T] each example's own positions, P.. (RoPE)
    segments: list[Segment]  # one per example (starts counted after the prefix), attending to itself only
    predict: torch.Tensor  # [N] the position in `tokens` whose output predicts trained token n
    targets: torch.Tensor  # [N] trained token n

    def to(self, device: torch.device) -> PackedExamples:
        names = ("prefix", "tokens", "positions", "predict", "targets")
        moved = {name: getattr(self, name).to(device) for name in names}
        return PackedExamples(**moved, segments=self.segments)


def shared_prefix(examples: Sequence[Example]) -> int:
    """How many opening tokens all the examples share before the first output that predicts a trained token
    (0 for a single example: nothing to share)."""
    if len(examples) < 2:
        return 0
    limit = min(e.trained.index(True) - 1 for e in examples)  # trained[0] is never set: limit >= 0
    first = examples[0].tokens
    length = 0
    while length < limit and all(e.tokens[length] == first[length] for e in examples[1:]):
        length += 1
    return length


def pack_examples(examples: Sequence[Example], share_prefix: bool = True) -> PackedExamples:
    """One packed sequence of these examples, in order, their shared opening once (`share_prefix`)."""
    prefix = shared_prefix(examples) if share_prefix else 0
    tokens: list[int] = []
    positions: list[int] = []
    segments: list[Segment] = []
    predict: list[int] = []
    targets: list[int] = []
    for example in examples:
        start = len(tokens)
        kept = example.tokens[prefix:-1]  # the last token's output would predict nothing
        segments.append(Segment(start, len(kept)))
        tokens += kept
        positions += range(prefix, prefix + len(kept))
        for t, trained in enumerate(example.trained):
            if trained:  # predicted by the output at t - 1 >= prefix
                predict.append(start + t - 1 - prefix)
                targets.append(example.tokens[t])
    as_tensor = lambda values: torch.tensor(values, dtype=torch.long)  # noqa: E731
    return PackedExamples(
        as_tensor(examples[0].tokens[:prefix]),
        as_tensor(tokens),
        as_tensor(positions),
        segments,
        as_tensor(predict),
        as_tensor(targets),
    )


def packed_length(examples: Sequence[Example]) -> int:
    """Tokens one packed sequence of these examples computes (`pack_examples`): the shared opening once,
    each example's last token not at all."""
    prefix = shared_prefix(examples)
    return prefix + sum(len(e.tokens) - prefix - 1 for e in examples)


def bins(examples: Sequence[Example], capacity: int) -> list[list[Example]]:
    """Consecutive examples grouped into sequences that compute at most `capacity` tokens each (an example
    longer than that alone); the order is kept, so the data order decides the packing."""
    groups: list[list[Example]] = []
    for example in examples:
        if groups and packed_length([*groups[-1], example]) <= capacity:
            groups[-1].append(example)
        else:
            groups.append([example])
    return groups


def trained_logprobs(model: Any, examples: Sequence[Example], packing: bool = True) -> torch.Tensor:
    """Log-probs [N] (with grad) of every trained token of the examples, in example order: from one packed
    sequence where the model supports it, else from a padded batch."""
    device = model.device
    if packing and hasattr(model, "packed_hidden"):
        packed = pack_examples(examples).to(device)
        prefix = packed.prefix if packed.prefix.numel() else None
        hidden = model.packed_hidden(packed.tokens, packed.positions, packed.segments, packed.predict, prefix)  # [N,H]
        weight = model.output_weight
        if packed.targets.numel() * weight.shape[0] <= KEEP_LIMIT:
            return kept_linear_logprobs(hidden, weight, packed.targets)
        return linear_logprobs(hidden, weight, packed.targets)[0]
    width = max(len(e.tokens) for e in examples)
    input_ids = torch.zeros(len(examples), width, dtype=torch.long)
    attention = torch.zeros(len(examples), width, dtype=torch.bool)
    labels = torch.zeros(len(examples), width, dtype=torch.bool)
    for row, example in enumerate(examples):  # right-padded: positions start at 0 in every row
        input_ids[row, : len(example.tokens)] = torch.tensor(example.tokens)
        attention[row, : len(example.tokens)] = True
        labels[row, : len(example.tokens)] = torch.tensor(example.trained)
    input_ids, attention, labels = input_ids.to(device), attention.to(device), labels.to(device)
    logits = model(input_ids, attention)  # [B,L,V]
    logp = token_logprobs(logits[:, :-1], input_ids[:, 1:], 1.0)  # [B,L-1]: position t predicts t+1
    return logp[labels[:, 1:]]  # [N]


def sft_update(
    model: Any,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[Sequence[Example]],
    *,
    max_grad_norm: float = 1.0,
    packing: bool = True,
    precision: Any = None,
    tokens: int | None = None,
    null: Sequence[Example] | None = None,
) -> dict[str, float]:
    """One optimiser step on these micro-batches: loss = -(sum of trained log-probs) / (trained tokens of the
    whole step), gradients accumulated, clipped to `max_grad_norm`; the loss, gradient norm and counts.

    Under several ranks the micro-batches are this rank's share of the step, `tokens` the trained tokens of
    the whole step (every rank's), and `null` a micro-batch whose loss counts 0, taken until this rank has
    run as many micro-batches as the rank with the most (their collectives pair up)."""
    import contextlib

    several = dist.world().size > 1
    tokens = tokens or sum(e.trained_count for batch in micro_batches for e in batch)
    turns = [(batch, True) for batch in micro_batches]
    if several:
        if null is None:
            raise ValueError("several ranks need a null micro-batch")
        turns += [(null, False)] * (dist.pad_turns(len(turns)) - len(turns))
    scale = dist.loss_scale()
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for turn, (batch, counts) in enumerate(turns):
        with precision or contextlib.nullcontext(), dist.accumulating(model, last=turn == len(turns) - 1):
            loss = -trained_logprobs(model, batch, packing).float().sum() / tokens
            (loss * (scale if counts else 0.0)).backward()
        total += float(loss.detach()) if counts else 0.0
    grad_norm = dist.full(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # freed now: evaluation and sampling reuse the memory
    model.eval()
    examples = float(sum(len(batch) for batch in micro_batches))
    if several:
        total, examples = dist.all_reduce([total, examples])
    return {"loss": total, "grad_norm": float(grad_norm), "tokens": float(tokens), "examples": examples}


@torch.no_grad()
def mean_nll(model: Any, examples: Sequence[Example], capacity: int, packing: bool = True) -> float:
    """Mean negative log-likelihood of the examples' trained tokens (held-out loss); under several ranks each
    computes a share of the sequences (every rank calls it)."""
    sequences = bins(examples, capacity)
    world = dist.world()
    mine = sequences[world.share(len(sequences))]
    total, count = 0.0, 0
    for batch in mine:
        logp = trained_logprobs(model, batch, packing)
        total -= float(logp.double().sum())
        count += int(logp.numel())
    if world.size > 1:
        for _ in range(dist.pad_turns(len(mine)) - len(mine)):  # as many forwards as the others
            trained_logprobs(model, sequences[0], packing)
        total, count = dist.all_reduce([total, float(count)])
    return total / max(count, 1)
