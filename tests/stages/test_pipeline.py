"""`aha pipeline` on tiny budgets: every stage runs on the tiny model, a rerun skips what is done, a changed
section reruns its stage and the ones after it, and a pipeline killed inside a stage resumes at that stage
and step and ends with the uninterrupted run's table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from aha.config import load_config
from aha.errors import ConfigError
from aha.stages.pipeline import STAGES, PipelineConfig, run
from aha.track.run_dir import RunDir

REGISTER = """
from aha.rewards import REWARDS, register
if "test_accept" not in REWARDS:
    register("test_accept")(lambda response, sample: 1.0)  # a random model answers nothing right: keep all
"""
exec(REGISTER)

PROMPT = {"template": "chat", "system": "Think, then answer."}
SFT = {"max_tokens": 256, "batch_size": 4, "steps": 2, "eval_every": 0, "save_every": 1, "max_new_tokens": 6,
       "rewards": {"format_readable": 1.0}, "format_reward": "format_readable"}  # fmt: skip
GRPO = {"task": {"name": "arithmetic", "train_size": 50, "held_out": 3}, "prompt": PROMPT, "group_size": 2,
        "prompts_per_step": 2, "max_new_tokens": 6, "rewards": {"accuracy_numeric": 1.0, "language": 0.5},
        "optim": {"lr": 1e-3}, "eval_every": 0, "save_every": 1, "steps": 3}  # fmt: skip
DISTILL = {"prompts": "arithmetic", "limit": 4, "held_out": 3, "prompt": PROMPT,
           "sample": {"n": 2, "max_new_tokens": 6, "chunk": 2},
           "reject": {"reward": "test_accept", "filters": {"rules": []}}, "sft": SFT}  # fmt: skip


def recipe(model_dir, **changes):
    data = {
        "stage": "pipeline",
        "name": "tiny",
        "model": str(model_dir),
        "evaluation": {"held_out": 3, "max_new_tokens": 6},
        "coldstart": DISTILL,
        "reasoning_rl": GRPO,
        "rejection": {**DISTILL, "reject": {**DISTILL["reject"], "mix": {"share": 0.2}}},
        "reward_model": {
            "held_out": 4,
            "steps": 2,
            "batch_size": 2,
            "max_tokens": 160,
            "pack_tokens": 400,
            "eval_every": 0,
            "save_every": 1,
        },
        "all_scenario_rl": {**GRPO, "general": {"share": 0.5, "data": "set:hh_harmless_pairs:test", "held_out": 2}},
    }
    for key, value in changes.items():
        data[key] = {**data[key], **value}
    return data


def write(tmp_path, data, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def rows(directory):
    return [{k: v for k, v in row.items() if k not in ("model", "key")}
            for row in json.loads((directory / "report.json").read_text())["rows"]]  # fmt: skip


@pytest.fixture(scope="module")
def finished(tiny_llama_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    cfg = load_config(PipelineConfig, write(tmp, recipe(tiny_llama_dir)))
    run(cfg, tmp / "run")
    return cfg, tmp / "run"


def test_every_stage_runs_and_the_table_has_a_row_per_checkpoint(finished):
    _, directory = finished
    state = json.loads((directory / "pipeline.json").read_text())
    assert list(state) == list(STAGES) and all(s["state"] == "done" for s in state.values())
    table = rows(directory)
    assert [r["row"] for r in table] == ["base", "coldstart", "reasoning_rl", "rejection", "all_scenario_rl"]
    assert all(r["prompts"] == 3 and r["general_prompts"] == 2 for r in table)
    assert all(isinstance(r["harmlessness"], float) for r in table)
    # the all-scenario stage trained from the rejection stage's model and scored its general prompts by the RM
    scenario = yaml.safe_load((directory / "all_scenario_rl" / "config.yaml").read_text())
    assert scenario["model"] == state["rejection"]["output"]
    assert scenario["general"]["rewards"]["harmlessness"]["model"] == state["reward_model"]["output"]
    metrics = RunDir(directory / "all_scenario_rl").read("metrics.jsonl")
    assert all("reward/harmlessness" in m and "reward/accuracy_numeric" in m for m in metrics)
    report = (directory / "report.md").read_text()
    assert "| all_scenario_rl |" in report and "Each stage's own metric" in report


def test_a_rerun_skips_every_finished_stage(finished, monkeypatch):
    cfg, directory = finished
    before = rows(directory)
    from aha.stages import distill, grpo, reward_model

    for module in (distill, grpo, reward_model):
        monkeypatch.setattr(module, "run", lambda *a, **k: pytest.fail("a finished stage ran again"))
    run(cfg, directory, resume=True)
    assert rows(directory) == before


def test_a_changed_section_reruns_its_stage_and_those_after_it(finished, tiny_llama_dir, tmp_path):
    import shutil

    _, source = finished
    directory = tmp_path / "run"
    shutil.copytree(source, directory)
    cfg = load_config(PipelineConfig, write(tmp_path, recipe(tiny_llama_dir, reward_model={"steps": 1})))
    state = json.loads((directory / "pipeline.json").read_text())
    for name in STAGES:  # the copy's outputs live in its own directory
        state[name]["output"] = state[name]["output"].replace(str(source), str(directory))
    (directory / "pipeline.json").write_text(json.dumps(state))
    run(cfg, directory, resume=True)
    after = json.loads((directory / "pipeline.json").read_text())
    for name in ("coldstart", "reasoning_rl", "rejection"):
        assert after[name]["key"] == state[name]["key"] and not (directory / f"{name}.stale-1").exists()
    for name in ("reward_model", "all_scenario_rl"):
        assert after[name]["key"] != state[name]["key"] and (directory / f"{name}.stale-1").is_dir()
    assert len(RunDir(directory / "reward_model").read("metrics.jsonl")) == 1


def test_a_pipeline_killed_inside_a_stage_resumes_there_and_ends_with_the_same_table(
    finished, tiny_llama_dir, tmp_path
):
    _, reference = finished
    recipe_path = write(tmp_path, recipe(tiny_llama_dir))
    killed = tmp_path / "killed"
    code = REGISTER + (
        "from aha.config import load_config\nfrom aha.stages.pipeline import PipelineConfig, run\n"
        f"run(load_config(PipelineConfig, {str(recipe_path)!r}), {str(killed)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 300
    while len(RunDir(killed / "reasoning_rl").read("metrics.jsonl")) < 2:
        assert proc.poll() is None and time.time() < deadline, "the pipeline ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads((killed / "pipeline.json").read_text())
    assert state["coldstart"]["state"] == "done" and state["reasoning_rl"]["state"] == "running"
    cfg = load_config(PipelineConfig, killed / "config.yaml")
    run(cfg, killed, resume=True)
    metrics = RunDir(killed / "reasoning_rl").read("metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]  # resumed at its step, not started over
    assert not (killed / "reasoning_rl.stale-1").exists()
    assert rows(killed) == rows(reference)


def test_sections_are_checked_before_any_model_loads(tiny_llama_dir, tmp_path):
    bad = recipe(tiny_llama_dir, reasoning_rl={"steps": 0})
    with pytest.raises(ConfigError, match=r"reasoning_rl\.steps"):
        load_config(PipelineConfig, write(tmp_path, bad))
    bad = recipe(tiny_llama_dir, coldstart={"teacher": "x"})
    with pytest.raises(ConfigError, match=r"coldstart\.teacher is set by the pipeline"):
        load_config(PipelineConfig, write(tmp_path, bad))
    bad = recipe(tiny_llama_dir, all_scenario_rl={"general": {"share": 0.0}})
    with pytest.raises(ConfigError, match="give a share > 0"):
        load_config(PipelineConfig, write(tmp_path, bad))
