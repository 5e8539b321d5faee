"""aha.models.loaded: every end-of-completion token, from the config and the tokenizer, once each."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aha.models import load
from aha.models.loaded import LoadedModel


def loaded_with(config_eos, tokenizer_eos):
    return LoadedModel(
        model=None,
        tokenizer=SimpleNamespace(eos_token_id=tokenizer_eos),
        config=SimpleNamespace(eos_token_id=config_eos),
        source="test",
        backend="native",
    )


@pytest.mark.parametrize(
    ("config_eos", "tokenizer_eos", "expected"),
    [
        (2, 2, (2,)),  # the same token from both: once
        (2, 7, (2, 7)),
        ([5, 2], 2, (5, 2)),  # the config's list first, in its order
        (None, 7, (7,)),
        ([3], None, (3,)),
        (None, None, ()),
    ],
)
def test_eos_token_ids_merge_the_config_and_the_tokenizer(config_eos, tokenizer_eos, expected):
    assert loaded_with(config_eos, tokenizer_eos).eos_token_ids == expected


def test_the_default_model_ends_completions_at_its_end_of_turn_token():
    loaded = load("smollm2-135m")
    ids = loaded.eos_token_ids
    assert loaded.tokenizer.convert_tokens_to_ids("<|im_end|>") in ids
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
