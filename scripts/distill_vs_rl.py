"""Distillation against RL on the same student, as DeepSeek-R1 compares them (its table of distilled
models against RL on Qwen-32B), in miniature: held-out accuracy against wall time and against trained
tokens for an `aha train` run and an `aha distill` run whose student is that run's starting model.

    python scripts/distill_vs_rl.py --rl runs/teacher --distill runs/distill --out docs/distill_vs_rl

Writes OUT.png (two panels) and OUT.json (every point), and prints a Markdown table. What counts as work
and as trained tokens: `aha.track.curves`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from aha.track.curves import Point, distill_curve, rl_curve


def first_reaching(points: list[Point], accuracy: float) -> Point | None:
    return next((p for p in points if p.accuracy >= accuracy), None)


def table(curves: dict[str, list[Point]]) -> str:
    rl_final = curves["RL (GRPO)"][-1].accuracy
    lines = [
        "| run | held-out accuracy | work (min) | trained tokens | first at >= RL's final accuracy |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, points in curves.items():
        start, end = points[0], points[-1]
        reach = first_reaching(points, rl_final)
        said = f"{reach.seconds / 60:.1f} min, {reach.tokens:,.0f} tokens" if reach else "not reached"
        lines.append(f"| {name} | {start.accuracy:.1%} -> {end.accuracy:.1%} | {end.seconds / 60:.1f} | "
                     f"{end.tokens:,.0f} | {said} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rl", required=True, help="an `aha train` run directory")
    parser.add_argument("--distill", required=True, help="an `aha distill` run directory")
    parser.add_argument("--out", default="docs/distill_vs_rl", help="path of the plot and figures, no suffix")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {"RL (GRPO)": rl_curve(args.rl), "distillation (SFT on the teacher samples)": distill_curve(args.distill)}
    figure, (by_time, by_tokens) = plt.subplots(1, 2, figsize=(11, 4))
    for name, points in curves.items():
        accuracy = [100 * p.accuracy for p in points]
        by_time.plot([p.seconds / 60 for p in points], accuracy, marker="o", label=name)
        by_tokens.plot([p.tokens for p in points], accuracy, marker="o", label=name)
    by_time.set(xlabel="work: wall minutes (held-out evaluations excluded)", ylabel="held-out accuracy (%)")
    by_tokens.set(xlabel="trained tokens", ylabel="held-out accuracy (%)")
    for axis in (by_time, by_tokens):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Student SmolLM2-135M-Instruct: RL on it vs distilling the RL teacher into it (200 held-out sums)")
    figure.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out.with_suffix(".png"), dpi=110)
    record = {name: [asdict(p) for p in points] for name, points in curves.items()}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(table(curves))


if __name__ == "__main__":
    main()
