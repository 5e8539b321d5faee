"""`aha distill` (stage `distill`): DeepSeek-R1's distillation in one command. A teacher samples k
completions per prompt (`aha sample`), rejection sampling keeps the correct, clean ones (`aha reject`), and a
student is fine-tuned on them (`aha sft`); no RL.

run/
  config.yaml          this config
  sample/              the teacher's `aha sample` run (completions.jsonl)
  reject/              the `aha reject` run (curated.jsonl, removed.jsonl, report.md/json)
  data/train.jsonl     the curated rows as the student's SFT records
  data/held_out.jsonl  the held-out questions and answers the student is graded on
  sft/                 the student's `aha sft` run (checkpoints, eval.jsonl, plots, report)
  steps.json           each finished step: its wall time and what it produced (the dataset's sha256)
  report.md, report.json

Each step is its stage's own module in its own directory. A rerun with `--resume` skips the steps
steps.json lists and resumes the unfinished one as its stage resumes: sampling keeps its whole chunks,
rejection is redone (seconds; a judge's verdicts are cached), SFT goes on from its newest checkpoint. The
dataset and the final metrics are those of an uninterrupted run.

The student sees each prompt as the teacher did: the teacher's chat template, system message and solved
example turns (context, not trained on), so its held-out accuracy is measured exactly as an `aha train` run
measures its own. The student's tokenizer may differ from the teacher's: what passes between them is text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aha.config import section, to_dict
from aha.defaults import DEFAULT_MODEL
from aha.errors import AhaError, ConfigError
from aha.files import write_text_atomically
from aha.ranges import COUNT, out_of_range, raise_problems
from aha.run.prompts import PromptConfig
from aha.stages import reject as reject_stage
from aha.stages import sample as sample_stage
from aha.stages import sft as sft_stage
from aha.track.run_dir import CURATED, RunDir

log = logging.getLogger(__name__)
STEPS = ("sample", "reject", "data", "sft")
STEPS_FILE = "steps.json"
OWN = {"config.yaml", "sample", "reject", "data", "sft", STEPS_FILE, "report.md", "report.json"}


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    stage: str = "distill"
    name: str = "distill"
    teacher: str = ""  # a model or checkpoint, a training run directory (its newest checkpoint), or with
    # teacher_url the endpoint's model name ("": the first it lists)
    teacher_url: str | None = None  # an OpenAI-compatible chat endpoint serving the teacher (`aha serve`, vLLM)
    student: str = DEFAULT_MODEL  # any model aha loads: a shipped name, a Hugging Face directory, a checkpoint
    prompts: str = "arithmetic"  # the prompt set the teacher answers (or a JSONL file of {prompt, answer})
    split: str = "train"
    limit: int | None = 256  # prompts sampled
    held_out_split: str = "test"  # the student is graded on this split of the same set
    held_out: int = 200
    prompt: PromptConfig = field(default_factory=PromptConfig)  # the teacher's template, the student's too
    sample: dict[str, Any] = field(default_factory=dict)  # `aha sample` settings (n, temperature, ...)
    reject: dict[str, Any] = field(default_factory=dict)  # `aha reject` settings (filters, mix, judge)
    sft: dict[str, Any] = field(default_factory=dict)  # `aha sft` settings (steps, optim, batch_size, ...)

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [
            *out_of_range(self, {"limit": COUNT, "held_out": COUNT}, optional=("limit",))
        ]
        if self.stage != "distill":
            problems.append(("stage", f"stage={self.stage!r}: this config is the distill stage's"))
        if not self.teacher and self.teacher_url is None:
            problems.append(("teacher", "teacher: give the teacher model, checkpoint or training run directory"))
        if self.prompt.template != "chat":
            problems.append(("prompt.template", "prompt.template: the student trains in its chat template: chat"))
        for _, found in self._sections(Path(".")).values():
            problems.extend(found)
        raise_problems(problems)

    def _sections(self, run_dir: Path) -> dict[str, tuple[Any, list[tuple[str, str]]]]:
        return {
            "sample": section(sample_stage.SampleConfig, self.sample, "sample", self.sample_fixed()),
            "reject": section(reject_stage.RejectConfig, self.reject, "reject", {"samples": str(run_dir / "sample")}),
            "sft": section(
                sft_stage.SFTConfig, {"accuracy_reward": self.set_reward(), **self.sft}, "sft", self.sft_fixed(run_dir)
            ),
        }

    def set_reward(self) -> str:
        """The reward that decides correctness on the prompt set: the student's held-out accuracy."""
        from aha.tasks.sets import PROMPT_SETS

        return PROMPT_SETS.get(self.prompts).reward if self.prompts in PROMPT_SETS else "accuracy_math"

    def sample_fixed(self) -> dict[str, Any]:
        return {"name": f"{self.name}-sample", "model": self.teacher, "url": self.teacher_url, "prompts": self.prompts,
                "split": self.split, "limit": self.limit, "prompt": to_dict(self.prompt)}  # fmt: skip

    def sft_fixed(self, run_dir: Path) -> dict[str, Any]:
        return {"name": f"{self.name}-sft", "model": self.student, "data": str(run_dir / "data" / "train.jsonl"),
                "held_out_data": str(run_dir / "data" / "held_out.jsonl"), "held_out": self.held_out,
                "prompt": to_dict(self.prompt)}  # fmt: skip

    def stage_configs(self, run_dir: Path) -> tuple[Any, Any, Any]:
        """The sample, reject and sft configs of a run in run_dir."""
        built = {name: found for name, (found, _) in self._sections(run_dir).items()}
        return built["sample"], built["reject"], built["sft"]


def teacher_model(spec: str) -> str:
    from aha.stages.evaluate import resolve_model

    try:
        return resolve_model(spec)
    except ConfigError as error:
        raise ConfigError(f"teacher: {error}") from None


def preflight(cfg: DistillConfig) -> DistillConfig:
    """The teacher and student resolve, the prompts read and the token budgets fit, before any model loads."""
    from aha.options import check_model

    if cfg.teacher_url is None:  # a served teacher is the server's to check
        cfg = replace(cfg, teacher=teacher_model(cfg.teacher))
    sample_cfg, _, sft_cfg = cfg.stage_configs(Path("."))
    if cfg.teacher_url is None:
        check_model("teacher", cfg.teacher, sample_cfg.device, {"sample.max_new_tokens": sample_cfg.max_new_tokens})
    sample_stage.preflight(sample_cfg)
    check_model("student", cfg.student, sft_cfg.device,
                {"sft.max_tokens": sft_cfg.max_tokens, "sft.max_new_tokens": sft_cfg.max_new_tokens})  # fmt: skip
    held_out_questions(cfg)
    return cfg


def held_out_questions(cfg: DistillConfig) -> list[dict[str, Any]]:
    """The held-out split's questions and answers, as the student's SFT run grades them."""
    sample_cfg, _, _ = cfg.stage_configs(Path("."))
    held = replace(sample_cfg, split=cfg.held_out_split, limit=cfg.held_out)
    try:
        samples = sample_stage.read_prompts(held)
    except ConfigError as error:
        raise ConfigError(f"held_out_split: {error}") from None
    return [{"id": s.id, "prompt": s.prompt, "answer": s.answer} for s in samples]


def training_records(cfg: DistillConfig, curated: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each curated row as a conversation in the teacher's prompt context: its system message and solved
    example turns (not trained on), then the question and the kept response. Non-reasoning rows mixed in
    by `aha reject` are plain questions and answers."""
    context: list[dict[str, Any]] = [{"role": "system", "content": cfg.prompt.system}] if cfg.prompt.system else []
    for question, answer in cfg.prompt.examples:
        context += [{"role": "user", "content": question}, {"role": "assistant", "content": answer, "train": False}]
    records = []
    for row in curated:
        turn = [{"role": "user", "content": row["prompt"] + cfg.prompt.suffix},
                {"role": "assistant", "content": row["response"]}]  # fmt: skip
        messages = context + turn if row.get("source") == "reasoning" else turn
        records.append({"id": row["prompt_id"], "messages": messages})
    return records


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def write_data(cfg: DistillConfig, directory: RunDir) -> dict[str, Any]:
    """data/train.jsonl from the curated set and data/held_out.jsonl; the training set's sha256."""
    curated = directory.path / "reject" / CURATED
    rows = [json.loads(line) for line in curated.read_text(encoding="utf-8").splitlines()]
    if not rows:
        raise AhaError(f"{curated}: rejection kept no sample: nothing to train the student on (see reject/report.md)")
    train = jsonl(training_records(cfg, rows))
    (directory.path / "data").mkdir(exist_ok=True)
    write_text_atomically(directory.path / "data" / "held_out.jsonl", jsonl(held_out_questions(cfg)))
    write_text_atomically(directory.path / "data" / "train.jsonl", train)
    return {"examples": len(rows), "dataset_sha256": hashlib.sha256(train.encode("utf-8")).hexdigest()}


def claim(directory: RunDir, cfg: DistillConfig) -> None:
    if directory.path.is_dir():
        present = sorted(p.name for p in directory.path.iterdir())
        foreign = [name for name in present if name not in OWN]
        if foreign:
            raise AhaError(f"{directory.path} is not empty and not a run directory (it holds {foreign[0]})")
        if any(name in present for name in ("sample", STEPS_FILE)):
            raise AhaError(f"{directory.path} already holds a run: resume it with --resume or choose another out dir")
    directory.path.mkdir(parents=True, exist_ok=True)
    import yaml

    text = yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
    write_text_atomically(directory.path / "config.yaml", text)


def finished_steps(directory: RunDir) -> dict[str, Any]:
    path = directory.path / STEPS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run(
    cfg: DistillConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sample, reject, write the student's data and fine-tune it; progress records carry their "phase"."""
    cfg = preflight(cfg)
    directory = RunDir(run_dir)
    if resume:
        if not directory.is_run():
            raise AhaError(f"{directory.path}: not a run directory (no config.yaml)")
    else:
        claim(directory, cfg)
    sample_cfg, reject_cfg, sft_cfg = cfg.stage_configs(directory.path)
    done = finished_steps(directory)

    def tagged(phase: str) -> Callable[[dict[str, Any]], None] | None:
        return None if progress is None else lambda record: progress({"phase": phase, **record})

    def substage(name: str, module: Any, stage_cfg: Any) -> dict[str, Any]:
        sub = RunDir(directory.path / name)
        result = module.run(stage_cfg, sub.path, resume=sub.is_run(), progress=tagged(name))
        return {key: value for key, value in (result.get("summary") or {}).items() if not isinstance(value, dict)}

    work = {
        "sample": lambda: substage("sample", sample_stage, sample_cfg),
        "reject": lambda: substage("reject", reject_stage, reject_cfg),
        "data": lambda: write_data(cfg, directory),
        "sft": lambda: substage("sft", sft_stage, sft_cfg),
    }
    for step in STEPS:
        if step in done:
            continue
        if step == "sft":
            sft_cfg = sft_stage.preflight(sft_cfg)  # its step count, from the data's size
        if progress is not None:
            progress({"phase": step, "started": True, "steps": sft_cfg.steps if step == "sft" else None})
        began = time.perf_counter()
        outcome = work[step]()
        done[step] = {"seconds": round(time.perf_counter() - began, 2), **outcome}
        write_text_atomically(directory.path / STEPS_FILE, json.dumps(done, indent=1) + "\n")
    evals = RunDir(directory.path / "sft").read("eval.jsonl")
    report = summary(cfg, directory, done, evals)
    write_text_atomically(directory.path / "report.json", json.dumps(report, indent=1) + "\n")
    write_text_atomically(directory.path / "report.md", markdown(report))
    return {"first": evals[0] if evals else None, "last": evals[-1] if evals else None,
            "run_dir": str(directory.path), "summary": report}  # fmt: skip


def summary(cfg: DistillConfig, directory: RunDir, done: dict[str, Any], evals: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = (evals[0], evals[-1]) if evals else ({}, {})
    return {
        "teacher": cfg.teacher,
        "teacher_url": cfg.teacher_url,
        "student": cfg.student,
        "prompts": cfg.prompts,
        "steps": done,
        "dataset_sha256": done.get("data", {}).get("dataset_sha256"),
        "seconds": round(sum(step["seconds"] for step in done.values()), 2),
        "held_out": {key: [first.get(key), last.get(key)] for key in ("accuracy", "format_rate", "length_mean")},
    }


def markdown(report: dict[str, Any]) -> str:
    steps = report["steps"]
    held = report["held_out"]
    lines = [
        "# Distillation report",
        "",
        f"Teacher `{' '.join(filter(None, (report['teacher_url'], report['teacher'])))}`, "
        f"student `{report['student']}`, "
        f"prompts `{report['prompts']}`.",
        "",
        "| step | seconds | what it made |",
        "| --- | --- | --- |",
        f"| sample | {steps['sample']['seconds']} | {steps['sample'].get('completions')} completions of "
        f"{steps['sample'].get('prompts')} prompts, {steps['sample'].get('tokens')} tokens |",
        f"| reject | {steps['reject']['seconds']} | {steps['reject'].get('kept')} of {steps['reject'].get('rows')} "
        "kept (reject/report.md) |",
        f"| data | {steps['data']['seconds']} | {steps['data']['examples']} examples, sha256 "
        f"`{steps['data']['dataset_sha256'][:16]}` |",
        f"| sft | {steps['sft']['seconds']} | sft/report.md |",
        "",
        f"Wall time of the steps: {report['seconds'] / 60:.1f} minutes.",
        "",
    ]
    if held["accuracy"][0] is not None:
        lines += [
            f"Student held-out accuracy {held['accuracy'][0]:.1%} -> **{held['accuracy'][1]:.1%}**, format "
            f"{held['format_rate'][0]:.1%} -> {held['format_rate'][1]:.1%}, mean response length "
            f"{held['length_mean'][0]:.1f} -> {held['length_mean'][1]:.1f} tokens.",
            "",
        ]
    return "\n".join(lines)
