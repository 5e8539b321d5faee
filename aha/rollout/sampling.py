"""Pure next-token choice: logits -> token and its log-prob (temperature, top-k, top-p, greedy).

Randomness comes in as one uniform number per row, drawn by the caller from that row's own seed, and
the token is picked by inverse-CDF over the (truncated) distribution. A row's choice therefore depends
on its logits and its own random stream only, never on which other rows share the batch.

Shapes: B rows, V vocab.
"""

from __future__ import annotations

import torch

_MASK = 0x1_0000_0000_0000_0000 - 1  # 64 bits


def splitmix64(value: int) -> int:
    """SplitMix64 finaliser (Steele et al. 2014): a fast, well-mixed 64-bit hash."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def row_seed(*parts: int) -> int:
    """A 64-bit seed from a tuple such as (run seed, step, prompt index, sample index)."""
    value = 0
    for part in parts:
        value = splitmix64(value ^ (part & _MASK))
    return value


def uniform(seed: int, position: int) -> float:
    """The row's uniform number in [0, 1) for one token position, with 53 random bits."""
    return (splitmix64(seed ^ splitmix64(position)) >> 11) / float(1 << 53)


def log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-softmax [B,V] of fp32 logits divided by the temperature (1 for greedy decoding)."""
    scale = temperature if temperature > 0 else 1.0
    return torch.log_softmax(logits.float() / scale, dim=-1)


def truncate(
    logits: torch.Tensor,
    top_k: int,
    top_p: float,
    *,
    lse: torch.Tensor | None = None,
    probes: tuple[int, ...] = (256, 4096),
    block: int = 32,
    blocks: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted kept probabilities [B,V'] (descending) and their token ids [B,V'] after top-k then top-p.

    logits [B,V] are log-probabilities up to a constant per row; lse [B,1] is their logsumexp (computed
    when not given). top-p keeps the smallest prefix whose mass reaches top_p (the token crossing it
    included), as in Holtzman et al. 2020; top_k <= 0 and top_p >= 1 disable each cut. Rows padded to a
    common width carry probability 0. Sorting the whole vocabulary is the slow part, so the top
    `probes[0]` tokens are taken first, then more, and the full sort runs only when they hold less than
    top_p of the mass; the kept set is the same either way. Only the probed tokens are exponentiated.

    The first probe looks only at the `blocks` blocks of `block` consecutive tokens with the highest
    maxima (a top-k over [B, blocks * block] instead of [B,V]). A row takes that answer only where it
    is provably the exact one: its nucleus closes inside the probe and its last kept logit is above the
    largest logit of every block left out. The other rows go the probe/sort path.
    """
    if lse is None:
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    vocab = logits.shape[-1]
    width = vocab if top_k <= 0 else min(top_k, vocab)
    probe = probes[0] if probes else vocab
    if top_p < 1.0 and probe < width and vocab % block == 0 and probe < blocks * block < vocab:
        head, head_ids, exact = _block_probe(logits, lse, top_p, probe, block, blocks)
        if bool(exact.all()):
            return head, head_ids
        if bool(exact.any()):
            done, rest = exact.nonzero().squeeze(-1), (~exact).nonzero().squeeze(-1)
            rest_kept, rest_ids = _probe_or_sort(logits[rest], lse[rest], width, top_p, probes)
            return _merge_rows(head[done], head_ids[done], done, rest_kept, rest_ids, rest)
    return _probe_or_sort(logits, lse, width, top_p, probes)


def _block_probe(
    logits: torch.Tensor, lse: torch.Tensor, top_p: float, probe: int, block: int, blocks: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nucleus [B,probe] and ids among the top `blocks` blocks, and which rows [B] it is exact for."""
    rows, vocab = logits.shape
    tiled = logits.reshape(rows, vocab // block, block)  # [B,NB,block]
    block_max, block_ids = torch.topk(tiled.amax(-1), blocks + 1, dim=-1)  # [B,blocks+1], descending
    chosen = block_ids[:, :blocks]
    candidates = tiled.gather(1, chosen[:, :, None].expand(rows, blocks, block)).view(rows, -1)
    head, at = torch.topk(candidates, probe, dim=-1, sorted=True)  # [B,probe]
    head_ids = chosen.gather(1, at // block) * block + at % block
    probs = (head - lse).exp_()
    kept = _nucleus(probs, top_p)
    count = (kept > 0).sum(-1, keepdim=True)  # [B,1] >= 1: the first token is always kept
    last_kept = head.gather(1, count - 1).squeeze(-1)
    closed = probs.sum(-1) >= top_p
    exact = closed & (last_kept > block_max[:, blocks])
    return kept, head_ids, exact


def _probe_or_sort(
    logits: torch.Tensor, lse: torch.Tensor, width: int, top_p: float, probes: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """truncate() over the whole vocabulary: growing top-k probes, then the sort of `width` tokens."""
    for probe in probes if top_p < 1.0 else ():
        if probe >= width:
            break
        head, head_ids = torch.topk(logits, probe, dim=-1, sorted=True)  # [B,probe]
        head = (head - lse).exp_()
        if bool((head.sum(-1) >= top_p).all()):
            return _nucleus(head, top_p), head_ids
    top, ids = torch.topk(logits, width, dim=-1, sorted=True)  # [B,V']
    probs_sorted = (top - lse).exp_()
    return (_nucleus(probs_sorted, top_p) if top_p < 1.0 else probs_sorted), ids


def _merge_rows(
    kept_a: torch.Tensor,
    ids_a: torch.Tensor,
    rows_a: torch.Tensor,
    kept_b: torch.Tensor,
    ids_b: torch.Tensor,
    rows_b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two row subsets' (kept, ids) put back in row order, the narrower padded with probability 0."""
    width = max(kept_a.shape[1], kept_b.shape[1])
    kept = kept_a.new_zeros(len(rows_a) + len(rows_b), width)
    ids = ids_a.new_zeros(kept.shape)
    for k, i, r in ((kept_a, ids_a, rows_a), (kept_b, ids_b, rows_b)):
        kept[r, : k.shape[1]] = k
        ids[r, : i.shape[1]] = i
    return kept, ids


def _nucleus(sorted_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every probability [B,V'] (sorted descending) after the one whose cumulative mass reaches top_p."""
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    return sorted_probs.masked_fill(mass_before >= top_p, 0.0)


def sample(
    logits: torch.Tensor, u: torch.Tensor, *, temperature: float, top_k: int = 0, top_p: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose next tokens [B] and return them with their log-probs [B].

    logits [B,V]; u [B] uniform in [0, 1), one per row. temperature 0 is greedy (u unused). The log-prob is
    that of the tempered, untruncated distribution: log_softmax(logits / temperature), which is what a
    training forward at the same temperature computes. The full vocabulary is passed over only for the
    logsumexp (and, without top-k/top-p, for the inverse CDF); truncation looks at the top tokens only.
    """
    scale = temperature if temperature > 0 else 1.0
    scaled = logits.float() / scale if scale != 1.0 else logits.float()  # [B,V]
    lse = torch.logsumexp(scaled, dim=-1, keepdim=True)  # [B,1]
    # A NaN or +inf logit makes the row's logsumexp non-finite (as does a row that is -inf throughout): such a
    # row is no distribution, and drawing from it would fail obscurely or return garbage.
    finite = torch.isfinite(lse.squeeze(-1))  # [B]
    if not bool(finite.all()):
        bad = (~finite).nonzero().squeeze(-1).tolist()
        raise ValueError(
            f"logits of row(s) {bad[:8]}{' ...' if len(bad) > 8 else ''} are not a distribution (NaN, +inf, or "
            "-inf everywhere): the model's weights or inputs have diverged"
        )
    if temperature <= 0:
        tokens = scaled.argmax(-1)
    elif top_k <= 0 and top_p >= 1.0:
        tokens = _inverse_cdf((scaled - lse).exp_(), u)
    else:
        kept, ids = truncate(scaled, top_k, top_p, lse=lse)  # [B,V']
        tokens = ids.gather(-1, _inverse_cdf(kept, u)[:, None]).squeeze(-1)
    return tokens, scaled.gather(-1, tokens[:, None]).squeeze(-1) - lse.squeeze(-1)


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index [B] of the first entry whose cumulative mass exceeds u * total; never a zero-probability entry.

    Computed in float64 so that rounding cannot push the target onto the last, possibly empty, bucket.
    """
    cdf = probs.double().cumsum(-1)  # [B,V]
    total = cdf[:, -1:]
    target = torch.minimum(u.double()[:, None] * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, target, right=True).squeeze(-1)
