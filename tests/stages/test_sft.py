"""The SFT stage on a tiny model: a run's outputs, held-out loss falling on data it learns, exact resume,
the stage chosen by a recipe's `stage:`, and bad settings caught before any model loads."""

from __future__ import annotations

import json

import pytest

from aha.cli import main
from aha.config import load_config
from aha.errors import ConfigError
from aha.stages.sft import SFTConfig, preflight, run
from aha.track.run_dir import RunDir

TIMING = ("time_training", "tokens_per_s", "trained_tokens_per_s", "seconds", "loss_seconds")


def data(tmp_path, count=24, offset=0):
    path = tmp_path / f"data-{offset}.jsonl"
    rows = [{"prompt": f"Say {i + offset}.", "response": f"<think> say it </think> {i + offset}", "answer": i + offset}
            for i in range(count)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def overrides(model, train, held, steps=4):
    return [f"model={model}", f"data={train}", f"held_out_data={held}", "held_out=4", f"steps={steps}",
            "batch_size=4", "pack_tokens=256", "max_tokens=128", "optim.lr=3e-3", "optim.warmup_steps=0",
            "max_new_tokens=6", "save_every=2"]  # fmt: skip


def comparable(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_a_run_learns_and_writes_its_outputs(tiny_llama_dir, tmp_path, monkeypatch):
    import aha.stages.sft as stage

    reported, write = [], stage.write_sft_report
    monkeypatch.setattr(stage, "write_sft_report", lambda *a: reported.append(a[4]) or write(*a))
    cfg = load_config(SFTConfig, None, overrides(tiny_llama_dir, data(tmp_path), data(tmp_path, 8, 100), steps=6))
    result = run(cfg, tmp_path / "run")
    directory = RunDir(tmp_path / "run")
    metrics, evals = directory.read("metrics.jsonl"), directory.read("eval.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6] and [e["step"] for e in evals] == [0, 6]
    assert evals[-1]["loss"] < evals[0]["loss"]  # the held-out sums are of the same form
    assert metrics[-1]["loss"] < metrics[0]["loss"] and all(m["examples"] == 4 for m in metrics)
    assert {"accuracy", "format_rate", "prompts"} <= set(evals[0]) and evals[0]["prompts"] == 4
    assert result["first"] == evals[0] and (directory.path / "report.md").is_file()
    # the report's time counts every step and every evaluation, its held-out loss pass included
    seconds = sum(m["time_training"] for m in metrics) + sum(e["seconds"] + e["loss_seconds"] for e in evals)
    assert reported == [pytest.approx(seconds)] and all(e["loss_seconds"] > 0 for e in evals)
    assert f"{seconds / 60:.1f} minutes of steps and evaluations" in (directory.path / "report.md").read_text()
    assert (directory.plots / "dynamics.png").is_file()
    assert [p.name for p in directory.complete_checkpoints()] == ["step-000004", "step-000006"]


def test_a_resumed_run_repeats_the_uninterrupted_one(tiny_llama_dir, tmp_path):
    train, held = data(tmp_path), data(tmp_path, 8, 100)
    whole = load_config(SFTConfig, None, overrides(tiny_llama_dir, train, held, steps=4))
    run(whole, tmp_path / "whole")
    run(load_config(SFTConfig, None, overrides(tiny_llama_dir, train, held, steps=2)), tmp_path / "split")
    run(whole, tmp_path / "split", resume=True)
    assert comparable(RunDir(tmp_path / "split").read("metrics.jsonl")) == comparable(
        RunDir(tmp_path / "whole").read("metrics.jsonl")
    )


def test_steps_follow_from_epochs_and_bad_settings_are_caught_early(tmp_path):
    cfg = SFTConfig(data=str(data(tmp_path, 10)), batch_size=4, epochs=2.0)
    assert preflight(cfg).steps == 5  # 2 x 10 examples / 4 a step, rounded up
    with pytest.raises(ConfigError, match="data"):
        SFTConfig()
    with pytest.raises(ConfigError, match="pack_tokens"):
        SFTConfig(data="x.jsonl", max_tokens=512, pack_tokens=256)
    with pytest.raises(ConfigError, match="no such file"):
        preflight(SFTConfig(data=str(tmp_path / "missing.jsonl")))


def test_the_cli_picks_the_stage_from_the_recipe(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"stage: sft\nname: tiny\ndata: {data(tmp_path, 4)}\nsteps: 1\nmodel: {tmp_path}/missing\n")
    assert main(["train", str(recipe), "--out", str(tmp_path / "out")]) == 2  # an sft config: the model is missing
    assert "missing" in capsys.readouterr().err
    grpo = tmp_path / "g.yaml"
    grpo.write_text("name: g\nsteps: 1\n")
    assert main(["sft", str(grpo)]) == 2
    assert "a recipe of stage 'grpo'" in capsys.readouterr().err
    bad = tmp_path / "b.yaml"
    bad.write_text("stage: dpo\n")
    assert main(["train", str(bad)]) == 2
    assert "stage: 'dpo' is not one of grpo, sft" in capsys.readouterr().err
