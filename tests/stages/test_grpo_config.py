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


def test_the_rollout_backend_and_its_correction_are_checked(monkeypatch):
    from aha.config import load_config
    from aha.stages import grpo

    for bad, field in (("rollout.backend=sglang", "backend"), ("rollout.tis_cap=-1", "tis_cap"),
                       ("rollout.kv_cache_gib=0", "kv_cache_gib")):  # fmt: skip
        with pytest.raises(ConfigError, match=field):
            load_config(GRPOConfig, None, [bad])
    cfg = load_config(GRPOConfig, None, ["rollout.backend=vllm"])
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "vllm" else object())
    with pytest.raises(ConfigError, match="vLLM is not installed"):  # before any model loads
        grpo.preflight(cfg)
