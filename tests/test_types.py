"""Shared records and the generation protocol: the engine is a GenerationBackend, a stand-in backend that
is one too is accepted where a backend is, and sampling parameters refuse what cannot be sampled."""

from __future__ import annotations

import pytest

from aha import types
from aha.types import Completion, GenerationBackend, SamplingParams


class Echo:
    """A backend that answers every prompt with its own tokens: the protocol asks for nothing more."""

    def generate(self, prompts, params, *, prompt_keys=None):
        return [
            [Completion(prompt_index=i, sample_index=g, token_ids=list(p), logprobs=[0.0] * len(p), text="",
                        finish_reason="length") for g in range(params.n)]
            for i, p in enumerate(prompts)
        ]  # fmt: skip


def test_the_engine_and_other_backends_meet_the_protocol(smollm):
    from aha.rollout import engine

    assert isinstance(engine.Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids), GenerationBackend)
    assert isinstance(Echo(), GenerationBackend) and not isinstance(object(), GenerationBackend)
    assert engine.SamplingParams is types.SamplingParams and engine.Completion is types.Completion
    groups = Echo().generate([[1, 2], [3]], SamplingParams(n=2))
    assert [[c.token_ids for c in group] for group in groups] == [[[1, 2], [1, 2]], [[3], [3]]]


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 0), ("temperature", -0.1), ("temperature", float("nan")), ("top_p", 0.0), ("top_p", 1.5),
     ("top_k", -1), ("max_new_tokens", 0), ("stop", ("",))],
)  # fmt: skip
def test_sampling_parameters_refuse_what_cannot_be_sampled(field, value):
    with pytest.raises(ValueError, match=field):
        SamplingParams(**{field: value})
