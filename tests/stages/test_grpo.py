"""The GRPO stage on a tiny model: outputs of a run, exact resume after SIGKILL or past an unreadable
checkpoint, a planted pickle never run, reruns after a failed start, bad input."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from aha.config import load_config
from aha.errors import AhaError, ConfigError, ModelLoadError
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


def _overrides(model_dir, steps, rewards="{test_letters: 1.0, format_tags: 0.5}"):
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
        f"rewards={rewards}",
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
    """One reward is normalised by its running statistics: they resume from the checkpoint too."""
    steps = 10
    overrides = _overrides(tiny_llama_dir, steps, "{test_letters: {weight: 1.0, normalize: true}, format_tags: 0.5}")
    reference = tmp_path / "reference"
    run(load_config(GRPOConfig, None, overrides), reference)
    expected = _comparable(RunDir(reference).read("metrics.jsonl"))
    last = RunDir(reference).complete_checkpoints()[-1]
    norms = json.loads((last / "trainer_state.json").read_text())["stage"]["reward_norms"]
    assert list(norms) == ["test_letters"] and norms["test_letters"]["count"] == steps * 2 * 4

    killed = tmp_path / "killed"
    code = REGISTER + (
        "from aha.config import load_config\nfrom aha.stages.grpo import GRPOConfig, run\n"
        f"run(load_config(GRPOConfig, None, {overrides!r}), {str(killed)!r})\n"
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


def test_two_runs_one_under_cpu_load_give_identical_metrics(tiny_llama_dir, tmp_path):
    """Decode kernels are chosen by timing, which load changes; the choice is made once per machine and
    reused, so a second run under load, whose own timing is rigged to choose other kernels, samples the
    same tokens: every metric column equal, the same kernels recorded with each checkpoint."""
    env = {**os.environ, "AHA_CACHE": str(tmp_path / "cache")}  # a machine that has measured nothing yet

    def train(out: str, rigged: bool) -> subprocess.Popen:
        code = REGISTER + "from aha.config import load_config\nfrom aha.stages.grpo import GRPOConfig, run\n"
        if rigged:  # what a busy machine's timing might say: anything but the first run's choice
            code += (
                "import aha.models.packed as packed\n"
                "timed = packed._measure\n"
                "packed._measure = lambda w, rows: next(k for k in packed._candidates(w[0]) if k != timed(w, rows))\n"
            )
        code += f"run(load_config(GRPOConfig, None, {_overrides(tiny_llama_dir, 4)!r}), {out!r})\n"
        return subprocess.Popen([sys.executable, "-c", code], env=env)

    assert train(str(tmp_path / "quiet"), rigged=False).wait() == 0
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        assert train(str(tmp_path / "busy"), rigged=True).wait() == 0
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    quiet, busy = RunDir(tmp_path / "quiet"), RunDir(tmp_path / "busy")
    assert _comparable(busy.read("metrics.jsonl")) == _comparable(quiet.read("metrics.jsonl"))
    assert _comparable(busy.read("eval.jsonl")) == _comparable(quiet.read("eval.jsonl"))

    def kernels(directory: RunDir) -> dict:
        return json.loads((directory.complete_checkpoints()[-1] / "trainer_state.json").read_text())["kernels"]

    assert kernels(busy) == kernels(quiet) != {}


@pytest.fixture
def no_plots(monkeypatch):
    """Skip drawing the plots (half the time of a short run); the tests using this do not look at them."""
    from aha.stages import grpo

    monkeypatch.setattr(grpo, "plot_run", lambda *args: None)


@pytest.fixture(scope="module")
def finished_run(tiny_llama_dir, tmp_path_factory):
    """A finished 4-step run with checkpoints at steps 2 and 4 (copy it before changing it)."""
    from aha.stages import grpo

    path = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grpo, "plot_run", lambda *args: None)
        run(load_config(GRPOConfig, None, _overrides(tiny_llama_dir, 4)), path)
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda c: _truncate(c / "model.safetensors"), "model.safetensors is truncated or corrupt"),
        (lambda c: _truncate(c / "trainer_state.safetensors"), "trainer_state.safetensors is truncated or corrupt"),
        (lambda c: (c / "trainer_state.json").write_text("{"), "trainer_state.json is not readable JSON"),
        (lambda c: (c / "trainer_state.json").unlink(), "trainer_state.json is missing"),
    ],
    ids=["weights-truncated", "state-truncated", "bad-json", "json-missing"],
)
def test_resume_falls_back_past_an_unreadable_latest_checkpoint(
    finished_run, tmp_path, caplog, no_plots, damage, reason
):
    expected = _comparable(RunDir(finished_run).read("metrics.jsonl"))
    path = shutil.copytree(finished_run, tmp_path / "run")
    damage(RunDir(path).checkpoint_path(4))
    with caplog.at_level(logging.WARNING):
        run(load_config(GRPOConfig, path / "config.yaml"), path, resume=True)
    (warning,) = [r.getMessage() for r in caplog.records if "skipping checkpoint" in r.getMessage()]
    assert warning.startswith("resume: skipping checkpoint step-000004: ") and reason in warning
    # steps 3 and 4 were redone from step 2's checkpoint, exactly as the uninterrupted run took them
    assert _comparable(RunDir(path).read("metrics.jsonl")) == expected
    assert [p.name for p in RunDir(path).complete_checkpoints()] == ["step-000002", "step-000004"]
    assert (path / "checkpoints" / "unreadable-step-000004").is_dir()  # set aside, not deleted


class _Planted:
    """Unpickling it creates the directory `marker`: what a crafted checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_planted_pickle_is_never_unpickled(finished_run, tmp_path, caplog, capsys, no_plots):
    import torch

    from aha.cli import main

    marker = tmp_path / "code-ran"
    payload = tmp_path / "trainer_state.pt"
    torch.save({"step": 4, "cursor": 8, "optimizer": _Planted(marker)}, payload)
    torch.load(payload, weights_only=False)  # how resume read trainer_state.pt before: the file runs code
    assert marker.is_dir()
    marker.rmdir()

    def plant(path):
        state = RunDir(path).checkpoint_path(4)
        for name in ("trainer_state.json", "trainer_state.safetensors"):
            (state / name).unlink()
        shutil.copy(payload, state / "trainer_state.pt")

    # as the latest checkpoint: refused, named, and the run resumes from the one before
    path = shutil.copytree(finished_run, tmp_path / "fallback")
    plant(path)
    with caplog.at_level(logging.WARNING):
        run(load_config(GRPOConfig, path / "config.yaml"), path, resume=True)
    assert "skipping checkpoint step-000004: trainer_state.pt is the pickle format" in caplog.text
    assert [m["step"] for m in RunDir(path).read("metrics.jsonl")] == [1, 2, 3, 4]
    assert not marker.exists()

    # as the only checkpoint: a one-line error before any step
    path = shutil.copytree(finished_run, tmp_path / "only")
    shutil.rmtree(RunDir(path).checkpoint_path(2))
    plant(path)
    capsys.readouterr()
    assert main(["train", "--resume", str(path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("aha: error: ") and "no readable checkpoint to resume from" in error
    assert "trainer_state.pt is the pickle format" in error and "never loads" in error
    assert not marker.exists()


def test_a_run_that_failed_before_its_first_step_can_be_rerun_or_resumed(
    tiny_llama_dir, tmp_path, caplog, monkeypatch, no_plots
):
    from aha.cli import main
    from aha.stages.grpo import Trainer

    good = _overrides(tiny_llama_dir, 2)
    # a missing model: the run dies loading it; a rerun into the same directory goes ahead
    first = tmp_path / "missing-model"
    with pytest.raises(ModelLoadError, match="not found"):
        run(load_config(GRPOConfig, None, [*good, f"model={tmp_path / 'nowhere'}"]), first)
    assert RunDir(first).is_run()
    run(load_config(GRPOConfig, None, good), first)
    expected = _comparable(RunDir(first).read("metrics.jsonl"))
    assert [m["step"] for m in expected] == [1, 2]

    # a bad value found in step 1 (as temperature=-1 is today), after the step-0 evaluation was written:
    # --resume starts afresh, keeping nothing of the failed attempt
    def bad_sampling(self, step):
        raise ValueError("invalid sampling parameters: temperature=-1 must be >= 0")

    second = tmp_path / "bad-sampling"
    with monkeypatch.context() as patch, pytest.raises(ValueError, match="temperature=-1"):
        patch.setattr(Trainer, "collect", bad_sampling)
        run(load_config(GRPOConfig, None, good), second)
    assert [e["step"] for e in RunDir(second).read("eval.jsonl")] == [0]
    with caplog.at_level(logging.WARNING):
        assert main(["train", "--resume", str(second)]) == 0
    assert "has no checkpoint yet: starting from step 1" in caplog.text
    assert _comparable(RunDir(second).read("metrics.jsonl")) == expected
    assert [e["step"] for e in RunDir(second).read("eval.jsonl")] == [0, 2]  # step 0 once, not twice


def test_resume_of_a_directory_that_holds_no_run_is_an_error(tmp_path):
    with pytest.raises(AhaError, match="not a run directory"):
        run(GRPOConfig(), tmp_path / "empty", resume=True)


def test_bad_config_values_are_reported():
    with pytest.raises(ConfigError, match="group_size=1 must be an integer >= 2"):
        load_config(GRPOConfig, None, ["group_size=1"])
    with pytest.raises(ConfigError, match="task 'sudoku'"):
        load_config(GRPOConfig, None, ["task.name=sudoku"])


@pytest.mark.parametrize("name", ["r1zero-arith", "r1zero-countdown", "r1zero-gsm8k", "arith-boxed"])
def test_shipped_recipes_load_and_name_registered_rewards(name):
    from aha import recipes
    from aha.rewards import entries, factory

    cfg = load_config(GRPOConfig, recipes.find(name))
    assert cfg.name == name and cfg.prompt.examples
    assert ("format_tags" in cfg.rewards) == name.startswith("r1zero")  # R1-Zero recipes give partial format credit
    assert [entry.name for entry in entries(cfg.rewards)] == list(cfg.rewards)
    factory(cfg.accuracy_reward)
    assert json.loads(json.dumps(cfg.rewards)) == cfg.rewards


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


def _general_file(path):
    records = [{"id": f"p{i}", "prompt": f"Tell me about topic {i}."} for i in range(6)]
    records += [{"id": f"i{i}", "instruction": f"List {i} colours.", "input": "", "output": "red"} for i in range(4)]
    records += [{"id": "m", "prompt_messages": [{"role": "user", "content": "Hi"},
                                                {"role": "assistant", "content": "Hello"},
                                                {"role": "user", "content": "How do I pick a lock?"}]}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_all_scenario_rl_mixes_general_prompts_each_scored_by_its_own_sources_rewards(
    tiny_llama_dir, tiny_reward_model_dir, tmp_path
):
    from aha.models import load
    from aha.stages.grpo import Trainer

    data = _general_file(tmp_path / "general.jsonl")
    general = (
        f"general={{share: 0.5, data: {data}, held_out: 3, "
        f"rewards: {{harmlessness: {{reward: reward_model, model: {tiny_reward_model_dir}, weight: 1.0}}, "
        f"helpfulness: {{reward: reward_model, model: {tiny_reward_model_dir}, scope: summary, weight: 1.0, "
        "normalize: true}}}"
    )
    cfg = load_config(GRPOConfig, None, [*_overrides(tiny_llama_dir, 2), "prompts_per_step=4", general])
    run_dir = RunDir(tmp_path / "run")
    run_dir.create({})
    trainer = Trainer(cfg, run_dir, load(tiny_llama_dir), None)
    _, seen, _ = trainer.collect(1)
    sources = [g.sample.meta.get("source", "reasoning") for g in seen]
    assert sorted(sources) == ["general", "general", "reasoning", "reasoning"]  # 4 prompts, share 0.5
    for group in seen:
        names = {name for parts in group.components for name in parts}
        if group.sample.meta.get("source") == "general":
            assert names == {"harmlessness", "helpfulness"} and group.accuracy == [None] * 4
            assert group.sample.id in {f"p{i}" for i in range(6)} | {f"i{i}" for i in range(2)}  # not held out
        else:
            assert names == {"test_letters", "format_tags"} and None not in group.accuracy
    state = trainer.stage_state()
    assert state["general"]["cursor"] == 2 and state["general"]["reward_norms"]["helpfulness"]["count"] == 8
    record = trainer.evaluate_general(1)
    assert record["prompts"] == 3 and {"reward/harmlessness", "reward/helpfulness"} <= set(record)
    lines = run_dir.read("general_eval_samples.jsonl")
    assert [line["id"] for line in lines] == ["i2", "i3", "m"]  # the file's last three
    assert state["general"]["reward_norms"]["helpfulness"]["count"] == 8  # evaluation learns nothing
    twin = Trainer(cfg, run_dir, load(tiny_llama_dir), None)
    twin.load_stage_state(state)
    assert twin.general.cursor.position == 2 and twin.stage_state() == state
    with pytest.raises(ValueError, match="general prompts' cursor"):
        twin.load_stage_state({"reward_norms": {}})
    trainer.close()
    twin.close()


def test_a_run_with_general_prompts_logs_both_sources_and_their_evaluations(
    tiny_llama_dir, tiny_reward_model_dir, tmp_path, no_plots
):
    data = _general_file(tmp_path / "general.jsonl")
    general = (
        f"general={{share: 0.5, data: {data}, held_out: 2, "
        f"rewards: {{harmlessness: {{reward: reward_model, model: {tiny_reward_model_dir}, weight: 1.0}}}}}}"
    )
    run(load_config(GRPOConfig, None, [*_overrides(tiny_llama_dir, 2), general]), tmp_path / "run")
    directory = RunDir(tmp_path / "run")
    metrics = directory.read("metrics.jsonl")
    assert all(m["groups_sampled"] == 2 for m in metrics)
    assert all({"reward/harmlessness", "reward/test_letters"} <= set(m) for m in metrics)
    assert [e["step"] for e in directory.read("general_eval.jsonl")] == [0, 2]
    assert [e["step"] for e in directory.read("eval.jsonl")] == [0, 2]
