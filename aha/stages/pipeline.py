"""`aha pipeline r1` (stage `pipeline`): DeepSeek-R1's recipe end to end, each stage the module that runs it
alone, in one run directory:

run/
  config.yaml
  pipeline.json        each stage: its key (sha256 of its section, the base model and its inputs' digests),
                       running or done, its output checkpoint and that checkpoint's sha256, its wall time
  coldstart/           `aha distill`: the base model answers in the readable format (reasoning, then a
                       summary), rejection keeps the correct readable answers, the base model is fine-tuned
  reasoning_rl/        `aha train` (GRPO) from the cold-start model: accuracy, readable format and language
                       consistency rewards
  rejection/           `aha distill`: the reasoning-RL policy samples, rejection keeps the correct clean ones,
                       non-reasoning examples are mixed in, the base model is fine-tuned (R1's stage 3)
  reward_model/        `aha rm`: the harmlessness reward model
  all_scenario_rl/     `aha train` from the rejection-sampling model with general prompts mixed in, scored by
                       the reward model on the whole response (`general:`)
  evaluation/<row>/    each checkpoint's held-out evaluation (the base model's included)
  report.md, report.json

Stages are cached by their key: a rerun skips each stage whose key is recorded as done (its output still
there), resumes the stage that was running when the pipeline stopped (from its own newest checkpoint or
chunk, as the stage resumes alone), and reruns, in a fresh directory, a stage whose section or inputs
changed (its old directory is kept as NAME.stale-N), and so every stage after it.

Each section is that stage's recipe, less the fields the pipeline sets (its model and teacher, from the
stage before); the harmlessness reward of the all-scenario stage is the pipeline's too (its weight is
`harmlessness_weight`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aha.config import section, to_dict
from aha.defaults import DEFAULT_MODEL
from aha.errors import AhaError, ConfigError
from aha.files import write_text_atomically
from aha.ranges import COUNT, NON_NEGATIVE, out_of_range, raise_problems
from aha.track.run_dir import RunDir

log = logging.getLogger(__name__)
STAGES = ("coldstart", "reasoning_rl", "rejection", "reward_model", "all_scenario_rl")
STATE = "pipeline.json"
OWN = {"config.yaml", STATE, "evaluation", "report.md", "report.json", *STAGES}


@dataclass(frozen=True, kw_only=True)
class PipelineEvalConfig:
    held_out: int = 100  # the reasoning RL task's first N held-out prompts, greedy, for every row
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        raise_problems(out_of_range(self, {"held_out": COUNT, "max_new_tokens": COUNT}))


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    stage: str = "pipeline"
    name: str = "r1"
    model: str = DEFAULT_MODEL  # the base model every stage starts from, directly or through the stage before
    coldstart: dict[str, Any] = field(default_factory=dict)  # a distill recipe, less teacher and student
    reasoning_rl: dict[str, Any] = field(default_factory=dict)  # a grpo recipe, less its model
    rejection: dict[str, Any] = field(default_factory=dict)  # a distill recipe, less teacher and student
    reward_model: dict[str, Any] = field(default_factory=dict)  # a reward_model recipe, less its model
    all_scenario_rl: dict[str, Any] = field(default_factory=dict)  # a grpo recipe with general:, less its model
    harmlessness_weight: float = 1.0  # of the reward model's score on general prompts
    evaluation: PipelineEvalConfig = field(default_factory=PipelineEvalConfig)

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = [*out_of_range(self, {"harmlessness_weight": NON_NEGATIVE})]
        if self.stage != "pipeline":
            problems.append(("stage", f"stage={self.stage!r}: this config is the pipeline stage's"))
        placeholder = dict.fromkeys(STAGES, self.model)  # the real inputs exist only once their stage ran
        for name in STAGES:
            problems.extend(self.stage_config(name, placeholder, checking=True)[1])
        raise_problems(problems)

    def stage_config(
        self, name: str, inputs: dict[str, str], checking: bool = False
    ) -> tuple[Any, list[tuple[str, str]]]:
        """Stage `name`'s config, its model (and teacher) the outputs `inputs` names; (None, problems) when
        its section is at fault. `checking`: before the reward model exists, its reward is a stand-in."""
        data = dict(getattr(self, name))
        title = {"name": f"{self.name}-{name.replace('_', '-')}"}
        if name in ("coldstart", "rejection"):
            from aha.stages.distill import DistillConfig

            teacher = self.model if name == "coldstart" else inputs["reasoning_rl"]
            return section(DistillConfig, data, name, {**title, "teacher": teacher, "student": self.model})
        if name == "reward_model":
            from aha.stages.reward_model import RewardModelConfig

            return section(RewardModelConfig, data, name, {**title, "model": self.model})
        from aha.stages.grpo_config import GRPOConfig

        if name == "reasoning_rl":
            return section(GRPOConfig, data, name, {**title, "model": inputs["coldstart"]})
        general = dict(data.pop("general", None) or {})
        rewards = dict(general.get("rewards") or {})
        problems = []
        if "harmlessness" in rewards:
            problems.append((f"{name}.general.rewards.harmlessness", "set by the pipeline (the reward_model stage)"))
        harmless: dict[str, Any] = {"reward": "reward_model", "model": inputs["reward_model"], "scope": "whole"}
        if checking:  # the reward model is trained by the pipeline: its checkpoint is checked once it exists
            harmless = {"reward": "format"}
        rewards["harmlessness"] = {**harmless, "weight": self.harmlessness_weight}
        fixed = {**title, "model": inputs["rejection"], "general": {**general, "rewards": rewards}}
        built, found = section(GRPOConfig, data, name, fixed)
        if built is not None and built.general.share <= 0:
            found.append((f"{name}.general.share", "all-scenario RL mixes general prompts in: give a share > 0"))
        return (None if found or problems else built), problems + found


def stage_module(name: str) -> Any:
    from aha.stages import distill, grpo, reward_model

    return {"coldstart": distill, "rejection": distill, "reasoning_rl": grpo, "all_scenario_rl": grpo,
            "reward_model": reward_model}[name]  # fmt: skip


def output_checkpoint(name: str, directory: Path) -> Path:
    """The final checkpoint a finished stage run in `directory` wrote."""
    run = RunDir(directory / "sft" if name in ("coldstart", "rejection") else directory)
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise AhaError(f"{run.path}: the {name} stage finished without a checkpoint")
    return checkpoint


def digest(checkpoint: Path) -> str:
    """sha256 of a checkpoint's weights and config: what a later stage's key depends on."""
    hasher = hashlib.sha256()
    for file in [*sorted(checkpoint.glob("*.safetensors")), checkpoint / "config.json"]:
        if file.name.startswith("trainer_state"):
            continue
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                hasher.update(chunk)
    return hasher.hexdigest()


def stage_key(cfg: PipelineConfig, name: str, digests: dict[str, str]) -> str:
    inputs = {"coldstart": [], "reasoning_rl": ["coldstart"], "rejection": ["reasoning_rl"], "reward_model": [],
              "all_scenario_rl": ["rejection", "reward_model"]}[name]  # fmt: skip
    text = json.dumps(
        {"section": getattr(cfg, name), "base": cfg.model, "weight": cfg.harmlessness_weight,
         "inputs": {i: digests[i] for i in inputs}},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preflight(cfg: PipelineConfig) -> PipelineConfig:
    """The base model and every section's data and token budgets, before any model loads (each stage's
    preflight with the base model standing in for the models earlier stages will write; those are checked
    again when their stage starts)."""
    from aha.options import check_model

    check_model("model", cfg.model, "cpu", {})
    placeholder = dict.fromkeys(STAGES, cfg.model)
    for name in STAGES:
        stage_cfg, _ = cfg.stage_config(name, placeholder, checking=True)
        try:
            stage_module(name).preflight(stage_cfg)
        except AhaError as error:
            raise type(error)(f"{name}: {error}") from None
    return cfg


def read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise AhaError(f"{path}: not readable JSON ({error})") from None
    return state if isinstance(state, dict) else {}


def claim(directory: Path, cfg: PipelineConfig) -> None:
    if directory.is_dir():
        present = sorted(p.name for p in directory.iterdir())
        foreign = [n for n in present if n not in OWN and ".stale-" not in n]
        if foreign:
            raise AhaError(f"{directory} is not empty and not a pipeline run (it holds {foreign[0]})")
        if STATE in present:
            raise AhaError(f"{directory} already holds a pipeline: resume it with --resume or choose another out dir")
    directory.mkdir(parents=True, exist_ok=True)
    import yaml

    write_text_atomically(directory / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def set_aside(path: Path) -> None:
    """Keep a stage directory whose key changed as NAME.stale-N."""
    n = 1
    while path.with_name(f"{path.name}.stale-{n}").exists():
        n += 1
    path.rename(path.with_name(f"{path.name}.stale-{n}"))
    log.warning("%s: its section or inputs changed: the old run is kept as %s.stale-%d", path, path.name, n)


def run(
    cfg: PipelineConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the stages not done yet, then evaluate every checkpoint and write the report."""
    cfg = preflight(cfg)
    directory = Path(run_dir)
    if resume:
        if not (directory / "config.yaml").is_file():
            raise AhaError(f"{directory}: not a run directory (no config.yaml)")
    else:
        claim(directory, cfg)
    state = read_state(directory)
    outputs: dict[str, str] = {}
    digests: dict[str, str] = {}
    for name in STAGES:
        key = stage_key(cfg, name, digests)
        record = state.get(name) or {}
        where = directory / name
        done = record.get("key") == key and record.get("state") == "done"
        if done and Path(record["output"]).is_dir():
            outputs[name], digests[name] = record["output"], record["digest"]
            continue
        if where.exists() and record.get("key") != key:
            set_aside(where)
        stage_cfg, problems = cfg.stage_config(name, {**dict.fromkeys(STAGES, cfg.model), **outputs})
        if problems:
            raise ConfigError("; ".join(message for _, message in problems))
        module = stage_module(name)
        stage_cfg = module.preflight(stage_cfg)
        state[name] = {"key": key, "state": "running"}
        write_text_atomically(directory / STATE, json.dumps(state, indent=1) + "\n")
        if progress is not None:
            progress({"phase": name, "started": True, "steps": getattr(stage_cfg, "steps", None)})
        began = time.perf_counter()
        tag = None if progress is None else (lambda record, _n=name: progress({"phase": _n, **record}))
        resuming = where.exists() and (where / "config.yaml").is_file()
        module.run(stage_cfg, where, resume=resuming, progress=tag)
        checkpoint = output_checkpoint(name, where)
        outputs[name], digests[name] = str(checkpoint), digest(checkpoint)
        seconds = round(time.perf_counter() - began, 1) + (record.get("seconds", 0.0) if resuming else 0.0)
        state[name] = {"key": key, "state": "done", "output": str(checkpoint), "digest": digests[name],
                       "seconds": seconds}  # fmt: skip
        write_text_atomically(directory / STATE, json.dumps(state, indent=1) + "\n")
    if progress is not None:
        progress({"phase": "evaluation", "started": True, "steps": None})
    from aha.stages.pipeline_report import evaluate_rows, write_report

    rows = evaluate_rows(cfg, directory, outputs, digests)
    report = write_report(cfg, directory, state, rows)
    return {"first": rows[0], "last": rows[-1], "run_dir": str(directory), "summary": report}
