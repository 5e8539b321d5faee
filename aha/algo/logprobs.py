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


class _LinearLogprobs(torch.autograd.Function):
    """log softmax(hidden @ weight^T / temperature)[targets] and the entropy, chunk by chunk (see below).

    Each chunk's logits live in one reused buffer and are reduced in place: fresh [chunk,V] tensors per
    operation would cost more in memory traffic and page faults than the arithmetic does.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, temperature, chunk):  # type: ignore[override]
        rows_total = hidden.shape[0]
        logp = torch.empty(rows_total, dtype=torch.float32, device=hidden.device)
        entropy = torch.empty_like(logp)
        lse = torch.empty_like(logp)
        buffer = hidden.new_empty(min(chunk, rows_total), weight.shape[0])  # [c,V]
        probs = torch.empty(buffer.shape, dtype=torch.float32, device=hidden.device)
        for start in range(0, rows_total, chunk):
            rows = slice(start, start + chunk)
            size = min(chunk, rows_total - start)
            logits = torch.mm(hidden[rows], weight.T, out=buffer[:size]).float()  # [c,V]
            if temperature != 1.0:
                logits.mul_(1.0 / temperature)
            top = logits.max(-1, keepdim=True).values  # [c,1]
            picked = logits.gather(-1, targets[rows, None]).squeeze(-1)
            logits.sub_(top)  # shifted logits s = logits - top
            exp = torch.exp(logits, out=probs[:size])
            total = exp.sum(-1)  # [c]
            log_total = total.log()
            lse[rows] = top.squeeze(-1) + log_total
            logp[rows] = picked - lse[rows]
            # H = log(total) - sum(exp * s) / total; the row-wise dot product without a [c,V] temporary
            dot = torch.bmm(exp[:, None, :], logits[:, :, None]).view(-1)
            entropy[rows] = log_total - dot / total
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.temperature, ctx.chunk = temperature, chunk
        ctx.mark_non_differentiable(entropy)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, _grad_entropy):  # type: ignore[override]
        hidden, weight, targets, lse = ctx.saved_tensors
        rows_total, chunk, temperature = hidden.shape[0], ctx.chunk, ctx.temperature
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = None
        buffer = hidden.new_empty(min(chunk, rows_total), weight.shape[0])  # [c,V]
        for start in range(0, rows_total, chunk):
            rows = slice(start, start + chunk)
            size = min(chunk, rows_total - start)
            grad = torch.mm(hidden[rows], weight.T, out=buffer[:size])  # the logits again, never stored
            # d logp_target / d logits = (onehot(target) - softmax(logits / temperature)) / temperature
            grad.mul_(1.0 / temperature).sub_(lse[rows, None].to(grad.dtype)).exp_().neg_()
            grad.scatter_add_(-1, targets[rows, None], torch.ones_like(grad[:, :1]))
            grad.mul_((grad_logp[rows, None] / temperature).to(grad.dtype))
            if grad_hidden is not None:
                torch.mm(grad, weight, out=grad_hidden[rows])
            if ctx.needs_input_grad[1]:
                if grad_weight is None:
                    grad_weight = grad.T @ hidden[rows]  # [V,H]
                else:
                    grad_weight.addmm_(grad.T, hidden[rows])
        return grad_hidden, grad_weight, None, None, None


def linear_logprobs(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0, chunk: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs [N] of targets [N] and entropies [N] (no grad) under softmax(hidden @ weight^T / temperature).

    hidden [N,H] (the final hidden states at the predicting positions), weight [V,H] (the vocabulary
    projection). Equal to `token_logprobs` and `token_entropy` of the logits (tested, with the gradient),
    but the [N,V] logits are never stored: each chunk of rows is projected, reduced and dropped, and
    projected again in the backward pass. That costs one more vocabulary matmul and saves the largest
    tensors of a training step (logits, their fp32 copy and their gradient) and most passes over them.
    Under autocast the projection runs in the autocast dtype and the softmax reductions in fp32.
    """
    scale = temperature if temperature > 0 else 1.0
    device = hidden.device.type
    if torch.is_autocast_enabled(device):  # the projection in the autocast dtype, reductions in fp32
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    with torch.autocast(device, enabled=False):
        return _LinearLogprobs.apply(hidden, weight, targets, scale, chunk)


class _KeptLinearLogprobs(torch.autograd.Function):
    """log softmax(hidden @ weight^T)[targets], the [N,V] exponentials kept for the backward pass."""

    @staticmethod
    def forward(ctx, hidden, weight, targets):  # type: ignore[override]
        logits = torch.mm(hidden, weight.T).float()  # [N,V] fp32
        top = logits.max(-1, keepdim=True).values  # [N,1]
        picked = logits.gather(-1, targets[:, None]).squeeze(-1)  # [N]
        # torch.log_softmax's fp32 sum over a 49k vocabulary drifts (1.8e-5 on the mean log-prob of the
        # shipped SFT set, against fp64); torch.sum's cascade does not
        exp = logits.sub_(top).exp_()  # [N,V] exp(logits - top), in place
        total = exp.sum(-1)  # [N]
        ctx.save_for_backward(hidden, weight, targets, exp, total)
        return picked - top.squeeze(-1) - total.log()

    @staticmethod
    def backward(ctx, grad_logp):  # type: ignore[override]
        hidden, weight, targets, exp, total = ctx.saved_tensors  # a second backward finds exp changed: an error
        # d logp_target / d logits = onehot(target) - softmax(logits), in place of the kept exponentials
        grad = exp.mul_((-grad_logp / total)[:, None])
        grad.scatter_add_(-1, targets[:, None], grad_logp[:, None].to(grad.dtype))
        grad = grad.to(hidden.dtype)  # [N,V]
        grad_hidden = torch.mm(grad, weight) if ctx.needs_input_grad[0] else None  # [N,H]
        grad_weight = torch.mm(grad.T, hidden) if ctx.needs_input_grad[1] else None  # [V,H]
        return grad_hidden, grad_weight, None


def kept_linear_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probs [N] of targets [N] under softmax(hidden @ weight^T): hidden [N,H], weight [V,H].

    Equal to `linear_logprobs` at temperature 1 (tested, with the gradient), with the opposite trade: the
    [N,V] softmax numerators are kept (N x V x 4 bytes: 0.4 GB for 2,000 tokens of a 49k vocabulary)
    rather than recomputed, and no entropy is computed: three vocabulary matmuls instead of four and fewer
    passes over [N,V]. For passes whose N is bounded and small enough to
    hold (SFT's packed sequences); the GRPO update, whose N grows with G and the completion length, and
    which logs the entropy, keeps `linear_logprobs`. Under autocast the projection runs in the autocast
    dtype and the softmax in fp32.
    """
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    with torch.autocast(device, enabled=False):
        return _KeptLinearLogprobs.apply(hidden, weight, targets)
