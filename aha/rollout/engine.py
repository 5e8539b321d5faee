"""Batched sampler with a KV cache: G completions per prompt, each prompt prefilled once.

For each micro-batch of prompts: left-pad and prefill the P prompts once, repeat each prompt's cache
rows G times (the group shares its prefix), then decode one token per live row per step. A row that
emits EOS or a stop string, or reaches max_new_tokens, is finished; finished rows are dropped from
the cache (compacted) so they stop costing compute. Every row draws its randomness from its own seed,
derived from (seed, prompt key, sample index), so a completion does not depend on which other
prompts share its batch, up to the float rounding of its logits: matmul kernels may block the product
differently for each batch size (about 1e-5 on the logits), which can move a draw that lands within that
distance of a CDF boundary, in practice only in the far tail of untruncated sampling.

Shapes: P prompts, G samples per prompt, B = P*G rows, T prompt slots, V vocab.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from aha.errors import DataError
from aha.rollout.sampling import row_seed, sample, uniform
from aha.types import Completion, FinishReason, SamplingParams

__all__ = ["Completion", "Engine", "SamplingParams"]  # the records live in aha.types; kept here for old imports


@dataclass
class _Row:
    prompt_index: int
    sample_index: int
    seed: int
    budget: int = 0  # new tokens it may take: max_new_tokens, or less where the model's context ends first
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    stop_string: str | None = None


def context_length(model: Any) -> int | None:
    """The positions the model can attend over (prompt and completion together), where it says."""
    spec = getattr(model, "spec", None)
    config = getattr(getattr(model, "hf", None), "config", None)
    value = getattr(spec, "max_positions", None) or getattr(config, "max_position_embeddings", None)
    return int(value) if value else None


def common_prefix(prompts: Sequence[Sequence[int]], min_length: int = 8) -> int:
    """Length of the token prefix all prompts share, leaving every prompt at least one token of its own;
    0 when shorter than min_length (too short to be worth computing apart)."""
    shortest = min(len(p) for p in prompts) - 1
    length = 0
    while length < shortest and all(p[length] == prompts[0][length] for p in prompts):
        length += 1
    return length if length >= min_length else 0


class Engine:
    """Samples from a model that implements prefill/decode (NativeDecoder or HFCausalLM)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        eos_token_ids: Sequence[int],
        *,
        max_rows: int = 64,
        compact_fraction: float = 0.125,
        frozen_weights: bool = False,
    ) -> None:
        """frozen_weights promises that the model's weights do not change while this engine samples from it
        (evaluation, offline generation): the decode-ready weight copies (`model.pack`) are then made once
        and kept across `generate` calls instead of once per call. Call `weights_changed()` after changing
        them anyway; a parameter replaced or updated in place through autograd-visible ops (which moves
        its version counter) is also noticed, but a fused optimizer step is not, hence the promise.
        """
        self.model = model
        self.tokenizer = tokenizer
        self.eos_token_ids = frozenset(eos_token_ids)
        self.max_rows = max_rows  # rows decoded together; prompts are batched in groups that fit
        self.compact_fraction = compact_fraction  # drop finished rows once they are this share of the batch
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_token_ids, default=0)
        self.frozen_weights = frozen_weights
        self._kept_pack: tuple[int, tuple[tuple[int, int], ...], Any] | None = None  # (rows, guard, pack)

    def weights_changed(self) -> None:
        """Forget the kept weight pack (frozen_weights): the next `generate` call makes a fresh one."""
        self._kept_pack = None

    def _pack(self, rows: int) -> Any:
        """The model's decode-ready weights for about `rows` rows: fresh, or kept from an earlier call when the
        weights are frozen and no parameter was replaced or moved its version counter since."""
        if not self.frozen_weights:
            return self.model.pack(rows)
        guard = tuple((p.data_ptr(), p._version) for p in self.model.parameters())
        if self._kept_pack is not None and self._kept_pack[:2] == (rows, guard):
            return self._kept_pack[2]
        self._kept_pack = None  # freed before the new pack is built, not after
        packed = self.model.pack(rows)
        self._kept_pack = (rows, guard, packed)
        return packed

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        prompt_keys: Sequence[int] | None = None,
        share_prefix: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[list[Completion]]:
        """Sample params.n completions for each prompt (token ids); result[p][g] is sample g of prompt p.

        prompt_keys name the prompts in the seed derivation (default: their index here), so the same
        prompt under the same key gets the same samples in any batch. progress(tokens, finished) is
        called after every decode step with the tokens generated and completions finished in it.
        """
        return list(
            self.iter_generate(prompts, params, prompt_keys=prompt_keys, share_prefix=share_prefix, progress=progress)
        )

    def iter_generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        prompt_keys: Sequence[int] | None = None,
        share_prefix: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[list[Completion]]:
        """As `generate`, yielding each prompt's group in prompt order as soon as its micro-batch is done."""
        keys = list(range(len(prompts))) if prompt_keys is None else list(prompt_keys)
        if len(keys) != len(prompts):
            raise ValueError(f"{len(keys)} prompt keys for {len(prompts)} prompts")
        context = context_length(self.model)
        for index, prompt in enumerate(prompts):
            if len(prompt) == 0:
                raise ValueError(f"prompt {index} is empty: it needs at least one token")
            if context is not None and len(prompt) >= context:
                raise DataError(f"prompt {index} has {len(prompt)} tokens: the model's context holds {context}")
        per_chunk = max(1, self.max_rows // params.n)
        # One pack for every micro-batch of this call: the weights do not change during it.
        packed = self._pack(min(len(prompts), per_chunk) * params.n) if prompts else None
        for start in range(0, len(prompts), per_chunk):
            chunk = range(start, min(start + per_chunk, len(prompts)))
            budgets = {p: min(params.max_new_tokens, context - len(prompts[p])) if context else params.max_new_tokens
                       for p in chunk}  # fmt: skip
            rows = [_Row(p, g, row_seed(params.seed, keys[p], g), budgets[p]) for p in chunk for g in range(params.n)]
            self._run_chunk([list(prompts[p]) for p in chunk], rows, params, share_prefix, progress, packed)
            for offset in range(len(chunk)):
                group = rows[offset * params.n : (offset + 1) * params.n]
                yield [self._completion(row, params) for row in group]

    def _prefill(self, prompts: list[list[int]], n: int, share_prefix: bool, capacity: int) -> tuple[Any, torch.Tensor]:
        """Prefill and return (cache with P*n rows, next-token logits [P*n,V])."""
        device = self.model.device
        repeats = torch.arange(len(prompts), device=device).repeat_interleave(n)  # [B]
        prefix = None
        if not share_prefix:
            prompts = [prompts[int(p)] for p in repeats]
        elif len(prompts) > 1 and (shared := common_prefix(prompts)):
            # Tokens every prompt starts with (system message, solved examples) are prefilled once.
            prefix = torch.tensor(prompts[0][:shared], device=device)
            prompts = [p[shared:] for p in prompts]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(prompts), width), dtype=torch.bool, device=device)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, device=device)
            mask[row, width - len(prompt) :] = True
        cache = self.model.new_cache(len(prompts), capacity)
        logits = self.model.prefill(input_ids, mask, cache, prefix)  # [P,V] or [B,V]
        if share_prefix and n > 1:
            cache.select(repeats)
            logits = logits.index_select(0, repeats)
        return cache, logits

    def _run_chunk(
        self,
        prompts: list[list[int]],
        rows: list[_Row],
        params: SamplingParams,
        share_prefix: bool,
        progress: Callable[[int, int], None] | None,
        packed: Any,
    ) -> None:
        steps = max(row.budget for row in rows)
        capacity = max(len(p) for p in prompts) + steps
        cache, logits = self._prefill(prompts, params.n, share_prefix, capacity)
        device = logits.device
        in_cache = list(range(len(rows)))  # rows[in_cache[i]] is cache row i; finished ones stay until compaction
        for step in range(steps):
            u = torch.tensor([uniform(rows[r].seed, step) for r in in_cache], dtype=torch.float64, device=device)
            tokens, logp = sample(logits, u, temperature=params.temperature, top_k=params.top_k, top_p=params.top_p)
            generated = finished = 0
            for r, token, lp in zip(in_cache, tokens.tolist(), logp.tolist(), strict=True):
                row = rows[r]
                if row.finish_reason is not None:
                    continue
                generated += 1
                row.token_ids.append(token)
                row.logprobs.append(lp)
                self._check_finish(row, params, last_step=len(row.token_ids) >= row.budget)
                finished += row.finish_reason is not None
            live = [i for i, r in enumerate(in_cache) if rows[r].finish_reason is None]
            if progress is not None:
                progress(generated, finished)
            if not live:
                return
            dead = len(in_cache) - len(live)
            if dead and dead >= math.ceil(self.compact_fraction * len(in_cache)):
                keep = torch.tensor(live, dtype=torch.long, device=device)
                cache.keep(keep)
                tokens = tokens.index_select(0, keep)
                in_cache = [in_cache[i] for i in live]
            logits = self.model.decode(tokens, cache, packed)

    def _check_finish(self, row: _Row, params: SamplingParams, *, last_step: bool) -> None:
        if not params.ignore_eos and row.token_ids[-1] in self.eos_token_ids:
            row.finish_reason = "stop"
            return
        if params.stop:
            longest = max(len(s) for s in params.stop)
            # A stop string of c characters spans at most c tokens that each add text, plus a few that may add
            # none on their own (pieces of one UTF-8 character).
            tail = self.tokenizer.decode(row.token_ids[-(longest + 4) :], skip_special_tokens=True)
            for stop in params.stop:
                if stop in tail:
                    row.finish_reason, row.stop_string = "stop", stop
                    return
        if last_step:
            row.finish_reason = "length"

    def _completion(self, row: _Row, params: SamplingParams) -> Completion:
        text = self.tokenizer.decode(row.token_ids, skip_special_tokens=True)
        if row.stop_string is not None:
            cut = text.find(row.stop_string)
            if cut >= 0:
                text = text[: cut + len(row.stop_string)]
        assert row.finish_reason is not None
        return Completion(
            prompt_index=row.prompt_index,
            sample_index=row.sample_index,
            token_ids=row.token_ids,
            logprobs=row.logprobs,
            text=text,
            finish_reason=row.finish_reason,
        )
