"""GRPO with `rollout.backend=vllm` on the default model: vLLM samples, the trainer updates, the new weights
reach vLLM after every update. The evidence is in the log: the mean |log pi_trainer - log pi_vllm| of the
sampled tokens (`sampler_logp_gap`) stays at kernel rounding at every step, while the same run with the push
switched off drifts by orders of magnitude once the policy has moved.

Runs where vLLM is installed (its own venv: README, "vLLM"); skipped with the reason elsewhere.
"""

from __future__ import annotations

import pytest

from aha.config import load_config
from aha.rewards import REWARDS, register
from aha.stages.grpo import GRPOConfig, run
from aha.track.run_dir import RunDir

pytestmark = pytest.mark.vllm  # the suite of the vLLM venv: .venv-vllm/bin/python -m pytest -m vllm
pytest.importorskip("vllm", reason="vLLM is not installed here (it has its own venv: README, 'vLLM')")

# A reward that varies on any text (the share of letters), so every group has distinct rewards and every
# step moves the weights: the default rewards are all 0 on some steps of an untrained model.
if "test_letters" not in REWARDS:
    register("test_letters")(lambda response, sample: sum(c.isalpha() for c in response) / (1 + len(response)))
OVERRIDES = ["steps=3", "task.held_out=4", "eval_every=0", "save_every=3", "optim.lr=1e-4", "optim.schedule=constant",
             "rollout.backend=vllm", "rollout.kv_cache_gib=1", "prompts_per_step=2", "group_size=4",
             "rewards={test_letters: 1.0}"]  # fmt: skip


def test_vllm_samples_from_the_updated_weights_every_step(tmp_path, monkeypatch):
    synced = tmp_path / "synced"
    run(load_config(GRPOConfig, None, OVERRIDES), synced)
    metrics = RunDir(synced).read("metrics.jsonl")
    assert all(m["grad_norm"] > 0 for m in metrics)  # the policy moved every step
    gaps = [m["sampler_logp_gap"] for m in metrics]
    assert len(gaps) == 3 and max(gaps) < 1e-3, gaps  # fp32 kernels apart: about 1e-5
    assert all(m["tis_capped"] == 0.0 for m in RunDir(synced).read("metrics.jsonl"))

    from aha.rollout.vllm import VLLMBackend

    monkeypatch.setattr(VLLMBackend, "load_state", lambda self, loaded: None)  # the push left out
    stale = tmp_path / "stale"
    run(load_config(GRPOConfig, None, OVERRIDES), stale)
    drift = [m["sampler_logp_gap"] for m in RunDir(stale).read("metrics.jsonl")]
    assert drift[0] == pytest.approx(gaps[0], rel=0.5, abs=1e-4)  # step 1: both sample the initial weights
    assert drift[-1] > 10 * max(gaps), (gaps, drift)
