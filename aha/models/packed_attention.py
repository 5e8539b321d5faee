"""Attention for one packed training sequence (aha.learn.packing): a prompt once, its completions batched.

The packed sequence holds a prefix shared by every row (if any), then distinct prompts, each followed by
its completions. The prefix attends causally to itself; a prompt to the prefix and causally to itself;
each completion to the prefix, its prompt and causally to itself. The prefix being part of the sequence
(not a separate forward) means every weight is used once per pass, so no gradients are summed twice.
Per prompt this runs as two attention calls: the prompt alone, then its G completions as a
padded batch [G, longest completion] against the prompt's keys, so the cost is that of the pairs attended
(not the square of the packed length) in a handful of kernel calls per layer (not one per completion).
Padding slots repeat a real token of their row and are seen by no real query (the mask is causal and
they come last), so their outputs, dropped, and their gradients are exactly zero. Segments that head no
completion (SFT's examples, each attending to the prefix and to itself) are batched the same way, as the
completions of an empty prompt: one attention call per layer for all of them.

Shapes: P prefix tokens, T packed tokens after it, H query heads, K key/value heads, D head dim, G completions of a
prompt, W the longest of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class PromptGroup:
    prompt: torch.Tensor  # [Lp] token indices of the prompt
    prompt_mask: torch.Tensor  # [Lp, P+Lp] bool: the prefix, then causal
    gather: torch.Tensor  # [G*W] token index of each padded completion slot (the row's first on padding)
    rows: int  # G
    width: int  # W
    mask: torch.Tensor  # [W, P+Lp+W] bool: the prefix and the prompt, then causal
    keep: torch.Tensor  # [sum of lengths] slots of [G*W] that hold real tokens


@dataclass
class AttentionPlan:
    prefix: int  # P: tokens [0, P) are the shared prefix
    groups: list[PromptGroup]
    order: torch.Tensor  # [P+T] where each token's output sits in the concatenated outputs


def _causal(rows: int, seen: int, device: torch.device) -> torch.Tensor:
    """[rows, seen + rows] bool: every column of the first `seen`, then lower-triangular."""
    mask = torch.ones(rows, seen + rows, dtype=torch.bool, device=device)
    mask[:, seen:] = torch.ones(rows, rows, dtype=torch.bool, device=device).tril()
    return mask


def plan_attention(segments: list[Any], prefix: int, device: torch.device) -> AttentionPlan:
    """The groups of a packed sequence: `prefix` tokens, then the segments (starts counted after the prefix;
    prompt segments have prompt_length 0). Indices are into the whole sequence, on `device`."""
    prompts = [s for s in segments if s.prompt_length == 0]
    children_of: dict[int, list[Any]] = {}
    for s in segments:
        if s.prompt_length:
            children_of.setdefault(s.prompt_start, []).append(s)
    # segments no other attends to (SFT's examples) are batched as the "completions" of an empty prompt
    lone = [s for s in prompts if s.start not in children_of]
    families = [(p.start, p.length, children_of[p.start]) for p in prompts if p.start in children_of]
    if lone:
        families.append((0, 0, lone))
    total = prefix + sum(s.length for s in segments)
    groups, pieces = [], [torch.arange(prefix)]
    for prompt_start, prompt_length, children in families:
        width = max((c.length for c in children), default=0)
        gather = torch.zeros((len(children), width), dtype=torch.long)
        real = torch.zeros((len(children), width), dtype=torch.bool)
        for row, child in enumerate(children):
            start = prefix + child.start
            gather[row] = start
            gather[row, : child.length] = torch.arange(start, start + child.length)
            real[row, : child.length] = True
        flat = gather.flatten()
        keep = real.flatten().nonzero().squeeze(-1)
        prompt_tokens = torch.arange(prefix + prompt_start, prefix + prompt_start + prompt_length)
        groups.append(
            PromptGroup(
                prompt=prompt_tokens.to(device),
                prompt_mask=_causal(prompt_length, prefix, device),
                gather=flat.to(device),
                rows=len(children),
                width=width,
                mask=_causal(width, prefix + prompt_length, device),
                keep=keep.to(device),
            )
        )
        pieces += [prompt_tokens, flat[keep]]
    concatenated = torch.cat(pieces)  # token index of each output row, in the order they are computed
    order = torch.empty(total, dtype=torch.long)
    order[concatenated] = torch.arange(total)
    return AttentionPlan(prefix, groups, order.to(device))


def packed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
    """Attention outputs [P+T,H,D] of q [P+T,H,D], k and v [P+T,K,D] (rotated), as `plan` lays them out."""
    heads, kv_heads, dim = q.shape[1], k.shape[1], q.shape[2]
    gqa = heads != kv_heads
    outs = []
    prefix_k = prefix_v = None
    if plan.prefix:
        q_x, prefix_k, prefix_v = (t[: plan.prefix].transpose(0, 1)[None] for t in (q, k, v))  # [1,H|K,P,D]
        out = F.scaled_dot_product_attention(q_x, prefix_k, prefix_v, is_causal=True, enable_gqa=gqa)
        outs.append(out[0].transpose(0, 1))  # [P,H,D]
    for group in plan.groups:
        q_p = q.index_select(0, group.prompt).transpose(0, 1)[None]  # [1,H,Lp,D]
        k_p = k.index_select(0, group.prompt).transpose(0, 1)[None]  # [1,K,Lp,D]
        v_p = v.index_select(0, group.prompt).transpose(0, 1)[None]
        keys = k_p if prefix_k is None else torch.cat([prefix_k, k_p], dim=2)  # [1,K,P+Lp,D]
        values = v_p if prefix_v is None else torch.cat([prefix_v, v_p], dim=2)
        if group.prompt.numel():  # an empty prompt heads the lone segments
            out = F.scaled_dot_product_attention(q_p, keys, values, attn_mask=group.prompt_mask, enable_gqa=gqa)
            outs.append(out[0].transpose(0, 1))  # [Lp,H,D]
        if not group.rows:
            continue
        rows, width = group.rows, group.width
        q_c = q.index_select(0, group.gather).view(rows, width, heads, dim).transpose(1, 2)  # [G,H,W,D]
        k_c = k.index_select(0, group.gather).view(rows, width, kv_heads, dim).transpose(1, 2)
        v_c = v.index_select(0, group.gather).view(rows, width, kv_heads, dim).transpose(1, 2)
        keys = torch.cat([keys.expand(rows, -1, -1, -1), k_c], dim=2)  # [G,K,P+Lp+W,D]
        values = torch.cat([values.expand(rows, -1, -1, -1), v_c], dim=2)
        out = F.scaled_dot_product_attention(q_c, keys, values, attn_mask=group.mask, enable_gqa=gqa)
        outs.append(out.transpose(1, 2).reshape(rows * width, heads, dim).index_select(0, group.keep))
    return torch.cat(outs).index_select(0, plan.order)  # [P+T,H,D]
