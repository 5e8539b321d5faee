"""The GRPO stage on a tiny model: outputs of a run, exact resume after SIGKILL, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aha.config import load_config
from aha.errors import AhaError, ConfigError
from aha.stages.grpo import GRPOConfig, run
from aha.track.run_dir import RunDir

TIMING = ("time_sampling", "time_scoring", "time_training", "tokens_per_s", "seconds", "warnings")

# A reward that varies on the random text of an untrained tiny model, so that groups have distinct
# rewards, advantages are non-zero and every step changes the weights.
REGISTER = """
from aha.rewards import REWARDS, register
if "test_letters" not in REWARDS:
    register("test_letters")(lambda response, sample: sum(c.isalpha() for c in response) / (1 + len(response)))
"""
exec(REGISTER)


def _overrides(model_dir, steps):
    return [
        f"model={model_dir}",
        f"steps={steps}",
        "group_size=4",
        "prompts_per_step=2",
        "max_new_tokens=8",
        "task.held_out=4",
        "task.train_size=50",
        "eval_every=0",
        "save_every=2",
        "keep_checkpoints=10",
        "rewards={test_letters: 1.0, format_tags: 0.5}",
        "optim.lr=1e-3",
        "temperature=1.0",
    ]


def _comparable(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_a_run_writes_metrics_samples_checkpoints_plots_and_report(tiny_llama_dir, tmp_path):
    cfg = load_config(GRPOConfig, None, _overrides(tiny_llama_dir, 3))
    result = run(cfg, tmp_path / "run")
    directory = RunDir(tmp_path / "run")
    metrics = directory.read("metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert {
        "reward_mean",
        "reward/test_letters",
        "reward/format_tags",
        "accuracy",
        "format_rate",
        "length_mean",
        "truncated_share",
        "clip_fraction",
        "entropy",
        "grad_norm",
        "lr",
        "zero_variance_share",
        "reflection_rate",
        "time_sampling",
        "tokens_per_s",
    } <= set(metrics[0])
    assert metrics[0]["grad_norm"] > 0
    evals = directory.read("eval.jsonl")
    assert [e["step"] for e in evals] == [0, 3]
    per_prompt = directory.read("eval_samples.jsonl")
    assert len(per_prompt) == 2 * evals[0]["prompts"]
    for e in evals:
        rows = [r for r in per_prompt if r["step"] == e["step"]]
        assert sum(r["correct"] for r in rows) / len(rows) == pytest.approx(e["accuracy"])
    assert [p.name for p in directory.complete_checkpoints()] == ["step-000002", "step-000003"]
    assert (directory.plots / "dynamics.png").stat().st_size > 10_000
    report = (directory.path / "report.md").read_text()
    assert "held-out (greedy)" in report and "Best held-out accuracy" in report
    assert result["last"]["step"] == 3
    with pytest.raises(AhaError, match="already holds a run"):
        run(cfg, tmp_path / "run")


def test_shipped_benchmarks_are_evaluated_during_training_and_plotted(tiny_llama_dir, tmp_path):
    spec = ["benchmarks.names=[gsm8k]", "benchmarks.every=2", "benchmarks.limit=2", "benchmarks.samples=3",
            "benchmarks.max_new_tokens=6"]  # fmt: skip
    run(load_config(GRPOConfig, None, [*_overrides(tiny_llama_dir, 3), *spec]), tmp_path / "run")
    directory = RunDir(tmp_path / "run")
    benches = directory.read("bench.jsonl")
    assert [(b["step"], b["benchmark"], b["problems"]) for b in benches] == [(s, "gsm8k", 2) for s in (0, 2, 3)]
    for record in benches:
        lines = (directory.bench_path(record["step"]) / "gsm8k.samples.jsonl").read_text().splitlines()
        samples = [json.loads(line) for line in lines]
        sampled = [r for r in samples if r["mode"] == "sampled"]
        assert len(sampled) == 2 * 3 and sum(r["mode"] == "greedy" for r in samples) == 2
        assert all(r["length"] <= 6 for r in samples)
        assert record["pass@1"] == pytest.approx(sum(bool(r["correct"]) for r in sampled) / len(sampled))
        assert record["length"] == pytest.approx(sum(r["length"] for r in sampled) / len(sampled))
    assert (directory.plots / "benchmarks.png").stat().st_size > 10_000
    assert "| gsm8k (2) | pass@1 |" in (directory.path / "report.md").read_text()
    # a resumed run redoes the benchmark evaluations after its checkpoint
    directory.truncate_after(2)
    assert [b["step"] for b in directory.read("bench.jsonl")] == [0, 2]
    assert not directory.bench_path(3).exists() and directory.bench_path(2).exists()


def test_unknown_benchmark_in_a_recipe_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown benchmark 'gsm9k'"):
        load_config(GRPOConfig, None, ["benchmarks.names=[gsm9k]"])


def test_sigkilled_run_resumes_with_identical_metrics(tiny_llama_dir, tmp_path):
    steps = 10
    reference = tmp_path / "reference"
    run(load_config(GRPOConfig, None, _overrides(tiny_llama_dir, steps)), reference)
    expected = _comparable(RunDir(reference).read("metrics.jsonl"))

    killed = tmp_path / "killed"
    code = REGISTER + (
        "from aha.config import load_config\nfrom aha.stages.grpo import GRPOConfig, run\n"
        f"run(load_config(GRPOConfig, None, {_overrides(tiny_llama_dir, steps)!r}), {str(killed)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 300
    while len(RunDir(killed).read("metrics.jsonl")) < 5:
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(RunDir(killed).read("metrics.jsonl"))
    assert done < steps

    cfg = load_config(GRPOConfig, killed / "config.yaml")
    run(cfg, killed, resume=True)
    resumed = _comparable(RunDir(killed).read("metrics.jsonl"))
    assert [m["step"] for m in resumed] == list(range(1, steps + 1))
    assert resumed == expected


def test_resume_never_picks_a_partial_checkpoint(tmp_path):
    directory = RunDir(tmp_path)
    directory.create({})
    good = directory.checkpoint_path(2)
    good.mkdir()
    (good / "trainer_state.pt").write_bytes(b"x")
    partial = directory.checkpoints / ".step-000004.tmp-123"
    partial.mkdir()
    (partial / "trainer_state.pt").write_bytes(b"x")
    no_state = directory.checkpoint_path(6)
    no_state.mkdir()
    assert directory.latest_checkpoint() == good


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(AhaError, match="no complete checkpoint"):
        run(GRPOConfig(), tmp_path / "empty", resume=True)


def test_bad_config_values_are_reported():
    with pytest.raises(ConfigError, match="group_size=1 must be an integer >= 2"):
        load_config(GRPOConfig, None, ["group_size=1"])
    with pytest.raises(ConfigError, match="task 'sudoku'"):
        load_config(GRPOConfig, None, ["task.name=sudoku"])


@pytest.mark.parametrize("name", ["r1zero-arith", "r1zero-countdown", "r1zero-gsm8k", "arith-boxed"])
def test_shipped_recipes_load_and_name_registered_rewards(name):
    from aha import recipes
    from aha.rewards import get

    cfg = load_config(GRPOConfig, recipes.find(name))
    assert cfg.name == name and cfg.prompt.examples
    assert ("format_tags" in cfg.rewards) == name.startswith("r1zero")  # R1-Zero recipes give partial format credit
    for reward in [*cfg.rewards, cfg.accuracy_reward]:
        get(reward)
    assert json.loads(json.dumps(cfg.rewards)) == cfg.rewards


def test_soft_overlong_penalty_hand_computed():
    from aha.stages.grpo import soft_overlong_penalty

    assert [soft_overlong_penalty(n, 64, 16, 1.0) for n in (40, 48, 56, 64)] == [0.0, 0.0, -0.5, -1.0]
    assert soft_overlong_penalty(64, 64, 0, 1.0) == 0.0


def _flat_overrides(model_dir, steps):
    # format on random text is always 0: every group has equal rewards
    return [*_overrides(model_dir, steps), "rewards={format: 1.0}", "accuracy_reward=format"]


def test_dynamic_sampling_refills_and_explains_a_zero_loss(tiny_llama_dir, tmp_path):
    cfg = load_config(
        GRPOConfig, None, [*_flat_overrides(tiny_llama_dir, 1), "dynamic_sampling=true", "max_refill_rounds=3"]
    )
    run(cfg, tmp_path / "run")
    (metrics,) = RunDir(tmp_path / "run").read("metrics.jsonl")
    assert metrics["sampling_rounds"] == 3 and metrics["groups_sampled"] == 6 and metrics["groups_trained"] == 0
    assert metrics["loss"] == 0.0 and any("exactly 0" in w for w in metrics["warnings"])


def test_overlong_filter_drops_truncated_completions_from_the_loss(tiny_llama_dir, tmp_path):
    cfg = load_config(GRPOConfig, None, [*_overrides(tiny_llama_dir, 1), "overlong_filter=true"])
    run(cfg, tmp_path / "run")
    (metrics,) = RunDir(tmp_path / "run").read("metrics.jsonl")
    assert metrics["truncated_share"] == 1.0  # 8 new tokens: the tiny model never stops first
    assert metrics.get("skipped") == 1.0 and metrics["loss"] == 0.0


def test_stop_on_collapse_stops_with_a_checkpoint(tiny_llama_dir, tmp_path):
    cfg = load_config(
        GRPOConfig, None, [*_flat_overrides(tiny_llama_dir, 5), "collapse_window=2", "stop_on_collapse=true"]
    )
    with pytest.raises(AhaError, match="reward variance has vanished"):
        run(cfg, tmp_path / "run")
    assert RunDir(tmp_path / "run").latest_checkpoint().name == "step-000002"


def test_emulated_bf16_falls_back_to_fp32(tiny_llama_dir, tmp_path, monkeypatch):
    from aha.models import load
    from aha.stages import grpo

    monkeypatch.setattr(grpo, "native_bf16", lambda device: False)
    overrides = [*_overrides(tiny_llama_dir, 2), "sampler_dtype=bfloat16", "update.autocast=bfloat16"]
    cfg = load_config(GRPOConfig, None, overrides)
    directory = RunDir(tmp_path / "run")
    directory.create({})
    trainer = grpo.Trainer(cfg, directory, load(tiny_llama_dir), None)
    assert trainer.sampler is None and trainer.engine.model is trainer.loaded.model
    assert trainer.cfg.sampler_dtype is None and trainer.cfg.update.autocast is None


def test_a_bf16_sampler_follows_the_policy_after_every_update(tiny_llama_dir, tmp_path):
    import torch

    from aha.devices import native_bf16
    from aha.models import load
    from aha.stages.grpo import Trainer

    if not native_bf16(torch.device("cpu")):
        pytest.skip("this CPU only emulates bf16, and the trainer then samples in fp32")
    cfg = load_config(GRPOConfig, None, [*_overrides(tiny_llama_dir, 2), "sampler_dtype=bfloat16"])
    directory = RunDir(tmp_path / "run")
    directory.create({})
    trainer = Trainer(cfg, directory, load(tiny_llama_dir), None)
    assert trainer.engine.model is trainer.sampler and trainer.eval_engine.model is trainer.loaded.model
    before = [p.detach().clone() for p in trainer.loaded.model.parameters()]
    for step in (1, 2):
        groups, _, _ = trainer.collect(step)
        stats = trainer.train_on(groups, step)
        assert stats["ratio_max"] == pytest.approx(1.0, abs=1e-5)  # old log-probs from the trainer's own pass
    after = list(trainer.loaded.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    for policy, sampler in zip(after, trainer.sampler.parameters(), strict=True):
        assert policy.dtype == torch.float32 and sampler.dtype == torch.bfloat16
        assert torch.equal(sampler, policy.detach().to(torch.bfloat16))
