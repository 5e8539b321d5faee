"""The R1 pipeline's final table: every checkpoint (the base model's included) evaluated the same way, and
whether each stage moved its own metric in the paper's direction.

Per checkpoint, greedy on held-out prompts: the reasoning RL task's prompts in its template (accuracy by
its accuracy reward, the readable format rate, mean length in tokens, language consistency: the share of
chain-of-thought words in the prompt's language), and the all-scenario stage's held-out general prompts
in their template, scored by the trained harmlessness reward model on the whole response. No
helpfulness reward model is trained (no helpfulness preference data ships: aha/data/sets/SOURCES.md), so
that column says so. Each row's evaluation is cached in evaluation/<row>/ by its checkpoint's digest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aha.files import write_text_atomically
from aha.track.run_dir import RunDir

ROWS = ("base", "coldstart", "reasoning_rl", "rejection", "all_scenario_rl")  # the table's checkpoints
COLUMNS = (
    ("accuracy", "held-out accuracy"),
    ("format_rate", "readable format"),
    ("length_mean", "mean length (tokens)"),
    ("language_consistency", "language consistency"),
    ("harmlessness", "harmlessness reward"),
)
# what each stage is for, and the column that says whether it did it (the paper's direction: up)
PURPOSE = {
    "coldstart": ("format_rate", "readable answers (reasoning, then a summary)"),
    "reasoning_rl": ("accuracy", "reasoning accuracy"),
    "rejection": ("accuracy", "accuracy of the base model fine-tuned on curated samples, against the cold start"),
    "all_scenario_rl": ("harmlessness", "harmlessness on general prompts, reasoning accuracy kept"),
}


def evaluate_row(cfg: Any, model: str, key: str, inputs: dict[str, str], where: Path) -> dict[str, Any]:
    """One checkpoint's figures (see the module docstring), cached in `where` under `key` (its weights'
    digest); `inputs` are the stages' output checkpoints, from which the evaluated stages' configs come."""
    from aha.models import load
    from aha.rewards.language import language_consistency
    from aha.rollout.engine import Engine
    from aha.run.heldout import evaluate_held_out
    from aha.run.prompts import Prompter
    from aha.run.scoring import Scorer
    from aha.stages.grpo import General
    from aha.tasks import build_task

    cached = where / "row.json"
    if cached.is_file():
        found = json.loads(cached.read_text(encoding="utf-8"))
        if found.get("key") == key:
            return found
    reasoning, _ = cfg.stage_config("reasoning_rl", inputs)
    scenario, _ = cfg.stage_config("all_scenario_rl", inputs)
    run_dir = RunDir(where)
    run_dir.create({"model": model})
    loaded = load(model)
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids)
    _, held_out = build_task(reasoning.task, reasoning.seed)
    held_out = held_out[: cfg.evaluation.held_out]
    prompter = Prompter(reasoning.prompt, loaded.tokenizer)
    scorer = Scorer(reasoning.rewards, reasoning.accuracy_reward, prompter, format_reward="format_readable")
    record = evaluate_held_out(
        0, held_out, engine, scorer, run_dir, max_new_tokens=cfg.evaluation.max_new_tokens,
        stop=reasoning.prompt.stop, reflection_words=reasoning.reflection_words,
    )  # fmt: skip
    scorer.close()
    texts = [line["completion"] for line in run_dir.read("eval_samples.jsonl")]
    shares = [language_consistency(prompter.response(t), s) for t, s in zip(texts, held_out, strict=True)]
    general = General(scenario.general, loaded.tokenizer, None, scenario.seed)
    harmless = general.evaluate(0, engine, run_dir, cfg.evaluation.max_new_tokens)
    general.scorer.close()
    found = {
        "key": key,
        "model": model,
        "accuracy": record["accuracy"],
        "format_rate": record["format_rate"],
        "length_mean": record["length_mean"],
        "language_consistency": sum(shares) / len(shares),
        "harmlessness": harmless.get("reward/harmlessness"),
        "prompts": record["prompts"],
        "general_prompts": harmless["prompts"],
    }
    write_text_atomically(cached, json.dumps(found, indent=1) + "\n")
    return found


def evaluate_rows(cfg: Any, directory: Path, outputs: dict[str, str], digests: dict[str, str]) -> list[dict[str, Any]]:
    """Every row of the table: the base model, then each stage's output checkpoint but the reward model's."""
    found = []
    for row in ROWS:
        model, key = (cfg.model, cfg.model) if row == "base" else (outputs[row], digests[row])
        found.append({"row": row, **evaluate_row(cfg, model, key, outputs, directory / "evaluation" / row)})
    return found


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in ("accuracy", "format_rate", "language_consistency"):
        return f"{value:.1%}"
    return f"{value:.1f}" if key == "length_mean" else f"{value:.3f}"


def verdicts(rows: list[dict[str, Any]], reward_model: dict[str, Any]) -> list[str]:
    """Per stage: did it move its own metric up, against the row before it (the cold start for rejection
    sampling, whose student is the base model, as the paper's is)."""
    by_row = {r["row"]: r for r in rows}
    before = {"coldstart": "base", "reasoning_rl": "coldstart", "rejection": "coldstart",
              "all_scenario_rl": "rejection"}  # fmt: skip
    lines = []
    for stage, (key, what) in PURPOSE.items():
        old, new = by_row[before[stage]].get(key), by_row[stage].get(key)
        if old is None or new is None:
            lines.append(f"- {stage}: {what}: not measured")
            continue
        moved = "up" if new > old else "not up"
        lines.append(f"- {stage}: {what}: {_cell(key, old)} -> {_cell(key, new)} ({moved})")
    if reward_model:
        first, last = reward_model["first"], reward_model["last"]
        moved = "up" if last > first else "not up"
        lines.append(f"- reward_model: held-out pair accuracy {first:.1%} -> {last:.1%} ({moved})")
    scenario, rejection = by_row["all_scenario_rl"], by_row["rejection"]
    kept = scenario["accuracy"] >= rejection["accuracy"] - 0.05
    lines.append(
        f"- all_scenario_rl: reasoning accuracy {_cell('accuracy', rejection['accuracy'])} -> "
        f"{_cell('accuracy', scenario['accuracy'])} ({'kept' if kept else 'lost more than 5 points'})"
    )
    return lines


def write_report(cfg: Any, directory: Path, state: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    evals = RunDir(directory / "reward_model").read("eval.jsonl")
    reward_model = {"first": evals[0]["accuracy"], "last": evals[-1]["accuracy"]} if evals else {}
    minutes = sum(r.get("seconds", 0.0) for r in state.values() if isinstance(r, dict)) / 60
    header = "| checkpoint | " + " | ".join(label for _, label in COLUMNS) + " | helpfulness reward |"
    lines = [
        f"# Pipeline report: {cfg.name}",
        "",
        f"Base model `{cfg.model}`; stages {' -> '.join(state)}; {minutes:.1f} minutes of stage runs. Each "
        f"checkpoint greedy on {rows[0]['prompts']} held-out reasoning prompts and {rows[0]['general_prompts']} "
        "held-out general prompts (harmlessness: the pipeline's reward model on the whole response).",
        "",
        header,
        "| --- " * (len(COLUMNS) + 2) + "|",
    ]
    for row in rows:
        cells = " | ".join(_cell(key, row.get(key)) for key, _ in COLUMNS)
        lines.append(f"| {row['row']} | {cells} | n/a (no helpfulness pairs ship) |")
    lines += ["", "Each stage's own metric:", "", *verdicts(rows, reward_model), ""]
    for stage in ("reasoning_rl", "all_scenario_rl"):
        if (directory / stage / "plots" / "dynamics.png").is_file():
            lines += [f"{stage} curves: ![{stage}]({stage}/plots/dynamics.png)", ""]
    report = {"rows": rows, "reward_model": reward_model, "stages": state, "minutes": minutes}
    write_text_atomically(directory / "report.json", json.dumps(report, indent=1) + "\n")
    write_text_atomically(directory / "report.md", "\n".join(lines))
    return report
