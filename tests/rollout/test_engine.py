"""Rollout engine contracts on the real default model, checked against transformers and fresh forwards."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from aha.models import load
from aha.rollout.engine import Engine
from aha.rollout.sampling import log_probs
from aha.types import SamplingParams


@pytest.fixture(scope="module")
def engine(smollm):
    return Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids)


def test_greedy_equals_transformers_generate_token_for_token(engine, hf_smollm, chat_prompts):
    params = SamplingParams(temperature=0, max_new_tokens=48)
    ours = engine.generate(chat_prompts, params)
    for prompt, group in zip(chat_prompts, ours, strict=True):
        ids = torch.tensor([prompt])
        with torch.no_grad():
            ref = hf_smollm.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=48,
                eos_token_id=2,
                pad_token_id=2,
            )
        assert group[0].token_ids == ref[0, len(prompt) :].tolist()


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_logprobs_equal_a_fresh_full_forward(engine, smollm, hf_smollm, chat_prompts, temperature):
    params = SamplingParams(n=2, temperature=temperature, top_p=0.95, max_new_tokens=40, seed=3)
    groups = engine.generate(chat_prompts[:2], params)
    for prompt, group in zip(chat_prompts[:2], groups, strict=True):
        for completion in group:
            ids = torch.tensor([prompt + completion.token_ids])
            with torch.no_grad():
                for model_logits in (smollm.model(ids), hf_smollm(input_ids=ids).logits):
                    logp = log_probs(model_logits[0, len(prompt) - 1 : -1], temperature)
                    expected = logp.gather(-1, torch.tensor(completion.token_ids)[:, None]).squeeze(-1)
                    assert (expected - torch.tensor(completion.logprobs)).abs().max().item() <= 1e-4


def test_shared_prefix_equals_unshared_sampling(engine, chat_prompts):
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=32, seed=11)
    shared = engine.generate(chat_prompts, params, share_prefix=True)
    unshared = engine.generate(chat_prompts, params, share_prefix=False)
    for a_group, b_group in zip(shared, unshared, strict=True):
        for a, b in zip(a_group, b_group, strict=True):
            assert a.token_ids == b.token_ids
            assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) <= 1e-4


def test_same_seed_same_samples_other_seed_other_samples(engine, chat_prompts):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=24, seed=5)
    first = engine.generate(chat_prompts[:1], params)[0]
    again = engine.generate(chat_prompts[:1], params)[0]
    other = engine.generate(chat_prompts[:1], dataclasses.replace(params, seed=6))[0]
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert [c.token_ids for c in first] != [c.token_ids for c in other]
    assert len({tuple(c.token_ids) for c in first}) > 1  # samples within a group differ


def test_samples_do_not_depend_on_batch_composition(smollm, chat_prompts):
    # Logits of one row agree across batch sizes to float rounding only (about 1e-5: oneDNN and MKL block
    # the matmul differently for each number of rows on some CPUs, e.g. with AMX). Untruncated sampling at
    # T = 1 often draws from the far tail, where tokens of probability 1e-6 sit next to each other in the
    # CDF and that rounding moves the draw onto a neighbour; the nucleus (top-p 0.95, the setting used in
    # training and evaluation) cuts the tail, so the same seed must give the same tokens.
    params = SamplingParams(n=2, temperature=1.0, top_p=0.95, max_new_tokens=24, seed=9)
    together = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(chat_prompts, params)
    alone = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(
        [chat_prompts[2]], params, prompt_keys=[2]
    )
    one_row_batches = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids, max_rows=1).generate(
        chat_prompts, params
    )
    assert [c.token_ids for c in alone[0]] == [c.token_ids for c in together[2]]
    for a, b in zip(alone[0], together[2], strict=True):
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) <= 1e-4
    assert [[c.token_ids for c in g] for g in one_row_batches] == [[c.token_ids for c in g] for g in together]


def test_max_new_tokens_holds_and_reports_length(engine, chat_prompts):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=5, ignore_eos=True)
    for group in engine.generate(chat_prompts, params):
        for completion in group:
            assert len(completion.token_ids) == 5 and completion.finish_reason == "length"


def test_eos_ends_a_completion_and_is_kept_as_a_token(engine, smollm):
    from aha.data.templates import get_template

    prompt = get_template("chat").encode("Say hi.", smollm.tokenizer)
    completion = engine.generate([prompt], SamplingParams(temperature=0, max_new_tokens=64))[0][0]
    assert completion.finish_reason == "stop" and completion.token_ids[-1] == 2
    assert 2 not in completion.token_ids[:-1] and "<|im_end|>" not in completion.text


def test_stop_string_cuts_the_text_after_it(engine, smollm):
    prompt = smollm.tokenizer("1, 2, 3, 4, 5,")["input_ids"]
    free = engine.generate([prompt], SamplingParams(temperature=0, max_new_tokens=20))[0][0]
    assert " 8," in free.text  # greedy counting goes on past 8
    stopped = engine.generate([prompt], SamplingParams(temperature=0, max_new_tokens=20, stop=(" 8",)))[0][0]
    assert stopped.finish_reason == "stop" and stopped.text.endswith(" 8")
    assert free.text.startswith(stopped.text) and len(stopped.token_ids) < len(free.token_ids)


class _RecordingModel:
    """The real model, recording how many rows each decode step computes."""

    def __init__(self, model):
        self.model, self.rows = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def decode(self, tokens, cache, packed=None):
        self.rows.append(tokens.shape[0])
        return self.model.decode(tokens, cache, packed)


def test_finished_rows_leave_the_batch(smollm, chat_prompts):
    recorder = _RecordingModel(smollm.model)
    engine = Engine(recorder, smollm.tokenizer, smollm.eos_token_ids, compact_fraction=0.0)
    groups = engine.generate(chat_prompts, SamplingParams(n=4, temperature=1.0, max_new_tokens=96, seed=1))
    lengths = sorted(len(c.token_ids) for g in groups for c in g)
    assert lengths[0] < lengths[-1]  # some rows finished early
    # each decode step computes exactly the rows that are still live
    expected = [sum(length > t for length in lengths) for t in range(1, lengths[-1])]
    assert recorder.rows == expected


def test_transformers_fallback_matches_its_own_generate(tmp_path, smollm):
    from transformers import GPT2Config

    from tests.helpers import write_tiny_model

    write_tiny_model(
        tmp_path,
        GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=len(smollm.tokenizer), bos_token_id=1, eos_token_id=2),
        smollm.tokenizer,
    )
    loaded = load(tmp_path)
    assert loaded.backend == "hf"
    prompts = [[5, 17, 300, 42], [7, 8]]
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids)
    ours = engine.generate(prompts, SamplingParams(n=2, temperature=0, max_new_tokens=12, ignore_eos=True))
    for prompt, group in zip(prompts, ours, strict=True):
        ids = torch.tensor([prompt])
        with torch.no_grad():
            ref = loaded.model.hf.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=12,
                min_new_tokens=12,
                pad_token_id=2,
            )
        assert all(c.token_ids == ref[0, len(prompt) :].tolist() for c in group)


def test_empty_prompt_and_bad_params_are_rejected(engine):
    with pytest.raises(ValueError, match="empty"):
        engine.generate([[]], SamplingParams())
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    for value in (math.nan, math.inf, -1.0):  # NaN compares false with any bound; inf is no temperature
        with pytest.raises(ValueError, match=f"temperature={value} must be a finite number >= 0"):
            SamplingParams(temperature=value)
    with pytest.raises(ValueError, match="top_p=nan"):
        SamplingParams(top_p=math.nan)


class _CountingPacks(_RecordingModel):
    """The real model, counting the weight packs made for decoding."""

    packs = 0

    def pack(self, rows=32):
        self.packs += 1
        return self.model.pack(rows)


def _samples(groups):
    return [(c.token_ids, c.logprobs) for g in groups for c in g]


def test_one_weight_pack_per_call_for_every_micro_batch(smollm, chat_prompts):
    counting = _CountingPacks(smollm.model)
    engine = Engine(counting, smollm.tokenizer, smollm.eos_token_ids, max_rows=4)  # 2 prompts x 2 per micro-batch
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=6, seed=4)
    engine.generate(chat_prompts[:3], params)
    engine.generate(chat_prompts[:3], params)
    assert counting.packs == 2  # weights may change between calls: one pack per call, none per micro-batch


def test_frozen_weights_keep_the_pack_and_notice_updates():
    model = load("smollm2-135m")  # a private copy: this test changes its weights
    counting = _CountingPacks(model.model)
    prompts = [model.tokenizer("The sea is")["input_ids"], model.tokenizer("Two plus two is")["input_ids"]]
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=2)
    frozen = Engine(counting, model.tokenizer, model.eos_token_ids, frozen_weights=True)
    first = _samples(frozen.generate(prompts, params))
    assert _samples(frozen.generate(prompts, params)) == first and counting.packs == 1

    def fresh():
        return _samples(Engine(model.model, model.tokenizer, model.eos_token_ids).generate(prompts, params))

    with torch.no_grad():  # an in-place update moves the version counter: noticed without being told
        model.model.embed.weight.mul_(1.5)
    changed = _samples(frozen.generate(prompts, params))
    assert counting.packs == 2 and changed == fresh() and changed != first

    # A fused AdamW step updates the weights without moving version counters: weights_changed() says so.
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=1e-2, fused=True)
    for p in model.model.parameters():
        p.grad = torch.ones_like(p)
    versions = [p._version for p in model.model.parameters()]
    optimizer.step()
    assert [p._version for p in model.model.parameters()] == versions  # why the promise is needed
    frozen.weights_changed()
    stepped = _samples(frozen.generate(prompts, params))
    assert counting.packs == 3 and stepped == fresh() and stepped != changed


def test_rows_stop_where_the_models_context_ends(tiny_llama_dir):
    """A budget of new tokens past the model's positions ends each row at the last position ("length"),
    each by its own prompt's length; a prompt that fills the context is one clear error."""
    from aha.errors import DataError
    from aha.models import load
    from aha.rollout.engine import Engine, context_length

    loaded = load(str(tiny_llama_dir))
    engine = Engine(loaded.model, loaded.tokenizer, [], max_rows=8)
    assert context_length(loaded.model) == 512
    prompts = [[5] * 500, [7] * 490]
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=100, ignore_eos=True, seed=1)
    groups = engine.generate(prompts, params)
    assert [[len(c.token_ids) for c in group] for group in groups] == [[12, 12], [22, 22]]
    assert {c.finish_reason for group in groups for c in group} == {"length"}
    with pytest.raises(DataError, match="prompt 1 has 512 tokens: the model's context holds 512"):
        engine.generate([[5] * 3, [5] * 512], params)
