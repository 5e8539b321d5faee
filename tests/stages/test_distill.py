"""aha distill: teacher -> sample -> reject -> sft student in one run directory; its config checked as one
recipe; the student trained on the teacher's prompt context without training on it; a run killed in any
step and resumed ends with the dataset and the final metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aha.config import load_config
from aha.data.sft import read_examples
from aha.errors import ConfigError
from aha.recipes import find
from aha.stages.distill import DistillConfig, training_records
from aha.stages.reject import final_part

ROOT = Path(__file__).resolve().parents[2]


def recipe_config(tmp_path, *overrides):
    return load_config(DistillConfig, find("distill-arith"), ["teacher=smollm2-135m", *overrides])


def test_the_shipped_recipe_builds_each_steps_config(tmp_path):
    cfg = recipe_config(tmp_path)
    sample, reject, sft = cfg.stage_configs(tmp_path / "run")
    assert (sample.model, sample.prompts, sample.n, sample.max_new_tokens) == ("smollm2-135m", "arithmetic", 2, 64)
    assert sample.prompt == cfg.prompt  # the teacher samples in the recipe's template
    assert reject.samples == str(tmp_path / "run" / "sample") and reject.filters.max_per_prompt == 2
    assert sft.model == "smollm2-135m" and sft.data == str(tmp_path / "run" / "data" / "train.jsonl")
    assert sft.prompt == cfg.prompt and sft.accuracy_reward == "accuracy_numeric" and sft.format_reward == "format"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sample.nn=2", "unknown key 'sample.nn'"),
        ("sample.n=0", "sample.n=0"),
        ("sample.model=x", "sample.model is set by the pipeline"),
        ("sft.data=x.jsonl", "sft.data is set by the pipeline"),
        ("reject.filters.max_per_prompt=0", "max_per_prompt must be >= 1"),
        ("sft.optim.lr=-1", "lr"),
        ("prompt.template=r1zero prompt.system=null prompt.examples=[]", "the student trains in its chat"),
        ("teacher=''", "teacher: give the teacher"),
        ("held_out=0", "held_out=0"),
    ],
)
def test_a_wrong_key_or_value_in_any_section_is_one_line_naming_it(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message) as error:
        recipe_config(tmp_path, *override.split())
    assert "\n" not in str(error.value)


def test_the_student_trains_on_the_response_and_not_on_the_teachers_context(tmp_path, smollm):
    cfg = recipe_config(tmp_path)
    curated = [{"prompt_id": "q1", "prompt": "What is 20 + 41?", "source": "reasoning",
                "response": "<think> 20 + 41 = 61 </think> <answer> 61 </answer>"},
               {"prompt_id": "g1", "prompt": "Name a colour.", "response": "Blue.", "source": "general"}]  # fmt: skip
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in training_records(cfg, curated)))
    examples, _ = read_examples(path, smollm.tokenizer, 512)
    decode = smollm.tokenizer.decode
    for example, row in zip(examples, curated, strict=True):
        trained = decode([t for t, on in zip(example.tokens, example.trained, strict=True) if on])
        assert trained == row["response"] + "<|im_end|>\n"  # the turn and its end, as SmolLM2's template writes it
    text = decode(examples[0].tokens)
    assert cfg.prompt.system in text and "What is 13 + 28?" in text  # the teacher's system and example turn ...
    assert "What is 13 + 28?" not in decode(examples[1].tokens)  # ... but not around a non-reasoning example


def distill_command(run_dir, student, judge=None):
    """A small distillation: SmolLM2 teaches the tiny student; with `judge` (a URL), a real SmolLM2 judge
    behind `aha serve` decides every sample, so that rejection takes long enough to be killed in."""
    settings = ["teacher=smollm2-135m", f"student={student}", "limit=8", "held_out=4", "sample.n=2",
                "sample.max_new_tokens=40", "sample.chunk=2", "reject.filters.max_per_prompt=2",
                "sft.batch_size=2", "sft.steps=8", "sft.save_every=2", "sft.eval_every=4", "sft.max_new_tokens=8",
                "sft.optim.lr=1e-3"]  # fmt: skip
    if judge is not None:
        settings += [f"reject.judge.url={judge}", "reject.judge.every=true", "reject.judge.prompt=lookup-v1"]
    return [sys.executable, "-m", "aha", "distill", *settings, "--out", str(run_dir)]


def run_to_end(command):
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def killed_when(command, ready):
    """Start the command, SIGKILL it once ready() holds; the test fails if it finished first."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]


def outcome(run_dir):
    """The dataset's hash and every figure of the student's training and evaluation but the timings."""
    steps = json.loads((run_dir / "steps.json").read_text())
    untimed = [
        {k: v for k, v in json.loads(line).items() if "time" not in k and "second" not in k and "per_s" not in k}
        for name in ("metrics.jsonl", "eval.jsonl")
        for line in (run_dir / "sft" / name).read_text().splitlines()
    ]
    return steps["data"]["dataset_sha256"], (run_dir / "data" / "train.jsonl").read_text(), untimed


def test_a_run_killed_in_any_step_and_resumed_ends_as_an_uninterrupted_one(tiny_llama_dir, smollm_server, tmp_path):
    def command(run_dir):
        return distill_command(run_dir, tiny_llama_dir, smollm_server.url)

    def resume(run_dir):
        return [*command(run_dir)[:4], "--resume", str(run_dir)]

    reference = tmp_path / "reference"
    run_to_end(command(reference))
    expected = outcome(reference)
    assert json.loads((reference / "steps.json").read_text())["data"]["examples"] > 0

    # sampling: killed once the first chunk (2 prompts x 2 samples) is written whole
    run_dir = tmp_path / "sampling"
    completions = run_dir / "sample" / "completions.jsonl"
    killed_when(command(run_dir), lambda: completions.is_file() and completions.read_bytes().count(b"\n") >= 4)
    assert not (run_dir / "steps.json").exists()
    run_to_end(resume(run_dir))
    assert outcome(run_dir) == expected
    assert json.loads((run_dir / "steps.json").read_text())["sample"]["resumed_at"] > 0  # finished chunks kept

    # rejection: killed while the judge is asked (each verdict is cached as it comes); the resumed run asks
    # only about the samples without a cached verdict
    run_dir = tmp_path / "rejection"
    cache = run_dir / "reject" / "judge_cache.jsonl"
    killed_when(command(run_dir), lambda: cache.is_file() and cache.stat().st_size)
    cached = sum(line.endswith("}") for line in cache.read_text().splitlines())
    asked = smollm_server.requests["/v1/chat/completions"]
    run_to_end(resume(run_dir))
    assert outcome(run_dir) == expected
    rows = [json.loads(line) for line in (run_dir / "sample" / "completions.jsonl").read_text().splitlines()]
    items = {(r["prompt"], r["answer"], final_part(r["response"])) for r in rows}  # the same item is asked once
    assert 0 < cached < len(items) and smollm_server.requests["/v1/chat/completions"] - asked == len(items) - cached

    # and after the judge: each file is written whole (atomically), so a kill leaves any prefix of them;
    # every such state, on top of a finished sampling step, resumes to the same set
    names = ["config.yaml", "judge_cache.jsonl", "curated.jsonl", "removed.jsonl", "report.json"]
    for kept in range(len(names)):
        run_dir = tmp_path / f"rejection-{kept}"
        run_dir.mkdir()
        for name in ("config.yaml", "sample"):
            subprocess.run(["cp", "-r", str(reference / name), str(run_dir / name)], check=True)
        sampled = json.loads((reference / "steps.json").read_text())["sample"]
        (run_dir / "steps.json").write_text(json.dumps({"sample": sampled}))
        (run_dir / "reject").mkdir()
        for name in names[: kept + 1]:
            text = (reference / "reject" / name).read_text()
            (run_dir / "reject" / name).write_text(text.replace(str(reference), str(run_dir)))
        run_to_end(resume(run_dir))
        assert outcome(run_dir) == expected
        assert json.loads((run_dir / "steps.json").read_text())["sample"] == sampled  # not sampled again

    # SFT: killed once its first checkpoint is written, resumed from it
    run_dir = tmp_path / "sft"
    checkpoint = run_dir / "sft" / "checkpoints" / "step-000002" / "trainer_state.json"
    killed_when(command(run_dir), checkpoint.is_file)
    assert not (run_dir / "sft" / "checkpoints" / "step-000008").exists()
    before = json.loads((run_dir / "steps.json").read_text())
    run_to_end(resume(run_dir))
    assert outcome(run_dir) == expected
    after = json.loads((run_dir / "steps.json").read_text())
    assert {k: after[k] for k in before} == before and list(after) == ["sample", "reject", "data", "sft"]


def test_a_finished_run_is_not_overwritten_and_a_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run(distill_command(tmp_path, "smollm2-135m"), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "not empty and not a run directory (it holds notes.txt)" in done.stderr


def test_a_served_teacher_is_sampled_through_its_endpoint(tmp_path):
    cfg = load_config(DistillConfig, find("distill-arith"), ["teacher_url=http://127.0.0.1:8000/v1"])
    sample, _, _ = cfg.stage_configs(tmp_path)
    assert (sample.url, sample.model) == ("http://127.0.0.1:8000/v1", "")  # "": the model the endpoint lists first
    with pytest.raises(ConfigError, match="url: 'file:///etc' is not an http"):
        load_config(DistillConfig, find("distill-arith"), ["teacher_url=file:///etc"])
