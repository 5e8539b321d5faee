"""Per-token log-probs and entropies from logits, without materialising a [B,T,V] log-softmax at once.

Shapes: B sequences, T positions, V vocab.
"""

from __future__ import annotations

import torch


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0, chunk: int = 1024
) -> torch.Tensor:
    """log softmax(logits / temperature)[targets]: logits [B,T,V], targets [B,T] -> [B,T] in fp32.

    Rows are processed `chunk` positions at a time, so the fp32 log-softmax of only that many positions
    exists at once (a full [B,T,V] copy would be the largest tensor of a training step).
    """
    scale = temperature if temperature > 0 else 1.0
    flat_logits = logits.reshape(-1, logits.shape[-1])  # [B*T,V]
    flat_targets = targets.reshape(-1)
    pieces = []
    for start in range(0, flat_targets.shape[0], chunk):
        piece = flat_logits[start : start + chunk].float() / scale  # [chunk,V]
        picked = piece.gather(-1, flat_targets[start : start + chunk, None]).squeeze(-1)
        pieces.append(picked - torch.logsumexp(piece, dim=-1))
    return torch.cat(pieces).view(targets.shape)


def token_entropy(logits: torch.Tensor, temperature: float = 1.0, chunk: int = 1024) -> torch.Tensor:
    """Entropy of softmax(logits / temperature) at each position: logits [B,T,V] -> [B,T], fp32, no grad."""
    scale = temperature if temperature > 0 else 1.0
    flat = logits.detach().reshape(-1, logits.shape[-1])
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, flat.shape[0], chunk):
        logp = torch.log_softmax(flat[start : start + chunk].float() / scale, dim=-1)
        out[start : start + chunk] = -(logp.exp() * logp).sum(-1)
    return out.view(logits.shape[:-1])
