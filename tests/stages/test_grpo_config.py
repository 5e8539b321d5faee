"""The GRPO stage's config: every problem reported at once, registries consulted, cross-field limits."""

from __future__ import annotations

import pytest

from aha.errors import ConfigError
from aha.stages.grpo_config import GRPOConfig


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        GRPOConfig(group_size=1, rewards={"nope": 1.0}, advantage="median", sampler_dtype="int3", seed=-1)
    message = str(caught.value)
    for field in ("group_size", "rewards.nope", "advantage", "sampler_dtype", "seed"):
        assert field in message, field


def test_the_overlong_buffer_fits_the_completion_budget():
    GRPOConfig(max_new_tokens=64, overlong_buffer=64)
    with pytest.raises(ConfigError, match="overlong_buffer"):
        GRPOConfig(max_new_tokens=64, overlong_buffer=65)
