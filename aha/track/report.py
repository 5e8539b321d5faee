"""A one-minute `report.md` for a run: what ran, what changed, where the plots are."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def mean(records: list[dict[str, Any]], key: str) -> float | None:
    """The mean of `key` over the records that have a value for it; None when none has."""
    values = [r[key] for r in records if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def write_report(
    path: Path,
    config: dict[str, Any],
    metrics: list[dict[str, Any]],
    evals: list[dict[str, Any]],
    wall_seconds: float | None,
    benches: list[dict[str, Any]] = (),
) -> Path:
    first, last = (evals[0], evals[-1]) if evals else ({}, {})
    early, late = metrics[:5], metrics[-5:]

    warnings = [w for r in metrics for w in r.get("warnings", [])]
    lines = [
        f"# Run report: {config.get('name', 'grpo')}",
        "",
        f"Model `{config.get('model')}`, task `{config.get('task', {}).get('name')}`, {len(metrics)} steps of "
        f"{config.get('prompts_per_step')} prompts x {config.get('group_size')} samples"
        + (f", {wall_seconds / 60:.1f} minutes of steps and evaluations." if wall_seconds else "."),
        "",
        "| held-out (greedy) | start | end |",
        "| --- | --- | --- |",
        f"| accuracy | {_pct(first.get('accuracy'))} | {_pct(last.get('accuracy'))} |",
        f"| format rate | {_pct(first.get('format_rate'))} | {_pct(last.get('format_rate'))} |",
        f"| response length (tokens) | {first.get('length_mean', 0):.1f} | {last.get('length_mean', 0):.1f} |",
        f"| reflection-word rate | {_pct(first.get('reflection_rate'))} | {_pct(last.get('reflection_rate'))} |",
    ]
    if "cot_in_language" in last:
        lines += [
            f"| CoTs in the prompt's language | {_pct(first.get('cot_in_language'))} | "
            f"{_pct(last.get('cot_in_language'))} |",
            f"| language consistency (CoT words) | {_pct(first.get('language_consistency'))} | "
            f"{_pct(last.get('language_consistency'))} |",
        ]
    lines.append("")
    if evals:
        best = max(evals, key=lambda e: e["accuracy"])
        lines += [f"Best held-out accuracy: {_pct(best['accuracy'])} at step {best['step']}.", ""]
    lines += [
        "| training samples (mean of first / last 5 steps) | first | last |",
        "| --- | --- | --- |",
    ]
    for key, label in (
        ("reward_mean", "reward"),
        ("accuracy", "accuracy"),
        ("format_rate", "format rate"),
        ("length_mean", "length"),
        ("entropy", "entropy"),
        ("zero_variance_share", "groups with equal rewards"),
    ):
        lines.append(f"| {label} | {_number(mean(early, key))} | {_number(mean(late, key))} |")
    lines += ["", "![training dynamics](plots/dynamics.png)", ""]
    if benches:
        lines += ["| benchmark (problems) | metric | start | end |", "| --- | --- | --- | --- |"]
        for name in dict.fromkeys(b["benchmark"] for b in benches):
            records = [b for b in benches if b["benchmark"] == name]
            for key in ("pass@1", "greedy"):
                if key in records[0]:
                    lines.append(
                        f"| {name} ({records[0]['problems']}) | {key} | {_pct(records[0].get(key))} | "
                        f"{_pct(records[-1].get(key))} |"
                    )
        lines += ["", "![benchmarks](plots/benchmarks.png)", ""]
    if warnings:
        lines += [f"Warnings ({len(warnings)}), first: {warnings[0]}", ""]
    lines += [
        "Files: `metrics.jsonl` (per step), `eval.jsonl` (held-out), `eval_samples.jsonl` (held-out completions), "
        "`samples.jsonl` (completions), `checkpoints/` (Hugging Face layout), `plots/`"
        + ("; `bench.jsonl` and `bench/` (shipped benchmarks)." if benches else "."),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_sft_report(
    path: Path,
    config: dict[str, Any],
    metrics: list[dict[str, Any]],
    evals: list[dict[str, Any]],
    wall_seconds: float | None,
    truncation: str,
) -> Path:
    """report.md of a supervised fine-tuning run: data, held-out loss, accuracy and format, training loss."""
    first, last = (evals[0], evals[-1]) if evals else ({}, {})
    early, late = metrics[:5], metrics[-5:]

    trained = sum(m.get("tokens", 0.0) for m in metrics)
    lines = [
        f"# Run report: {config.get('name', 'sft')}",
        "",
        f"Model `{config.get('model')}`, data `{config.get('data')}`, {len(metrics)} steps of "
        f"{config.get('batch_size')} examples ({trained:.0f} trained tokens"
        + (f"), {wall_seconds / 60:.1f} minutes of steps and evaluations." if wall_seconds else ")."),
        f"Truncation: {truncation}.",
        "",
        "| held-out | start | end |",
        "| --- | --- | --- |",
        f"| loss (mean token NLL) | {_number(first.get('loss'))} | {_number(last.get('loss'))} |",
        f"| accuracy (greedy) | {_pct(first.get('accuracy'))} | {_pct(last.get('accuracy'))} |",
        f"| format rate | {_pct(first.get('format_rate'))} | {_pct(last.get('format_rate'))} |",
        f"| response length (tokens) | {_number(first.get('length_mean'))} | {_number(last.get('length_mean'))} |",
        "",
        "| training (mean of first / last 5 steps) | first | last |",
        "| --- | --- | --- |",
        f"| loss | {_number(mean(early, 'loss'))} | {_number(mean(late, 'loss'))} |",
        f"| trained tokens/s | {_number(mean(early, 'trained_tokens_per_s'))} | "
        f"{_number(mean(late, 'trained_tokens_per_s'))} |",
        "",
        "![training dynamics](plots/dynamics.png)",
        "",
        "Files: `metrics.jsonl` (per step), `eval.jsonl` (held-out), `eval_samples.jsonl` (held-out completions), "
        "`checkpoints/` (Hugging Face layout), `plots/`.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
