"""DeepSeek-R1's language-consistency trade-off in miniature: two `aha train r1-lang-zh` runs, with the
language reward and without it (`rewards.language=0`: still computed and logged, not in the total), compared
on the same held-out Chinese prompts: the share of chains of thought mostly in Chinese, the mean share of
Chinese words, and accuracy, at every held-out evaluation.

    python scripts/language_tradeoff.py --with runs/lang-with --without runs/lang-without --out docs/language_tradeoff

Writes OUT.png (three panels) and OUT.json (every evaluation of both runs), and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aha.track.run_dir import RunDir

PANELS = (
    ("cot_in_language", "CoTs mostly in the prompt's language (%)"),
    ("language_consistency", "language consistency: Chinese share of CoT words (%)"),
    ("accuracy", "held-out accuracy (%)"),
)


def table(runs: dict[str, list[dict]]) -> str:
    lines = [
        "| run | CoTs in the prompt's language | language consistency | held-out accuracy | format |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, evals in runs.items():
        first, last = evals[0], evals[-1]
        cells = [f"{first[k]:.1%} -> {last[k]:.1%}" for k in ("cot_in_language", "language_consistency",
                                                                "accuracy", "format_rate")]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="with_", required=True, help="the run with the language reward")
    parser.add_argument("--without", required=True, help="the same recipe with rewards.language=0")
    parser.add_argument("--out", default="docs/language_tradeoff", help="path of the plot and figures, no suffix")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {
        "with the language reward": RunDir(args.with_).read("eval.jsonl"),
        "without it": RunDir(args.without).read("eval.jsonl"),
    }
    for name, evals in runs.items():
        if not evals or "cot_in_language" not in evals[-1]:
            raise SystemExit(f"{name}: no held-out evaluation with language metrics (a zh_math run?)")
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        for name, evals in runs.items():
            axis.plot([e["step"] for e in evals], [100 * e[key] for e in evals], marker="o", label=name)
        axis.set(title=title, xlabel="step")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out.with_suffix(".png"), dpi=100)
    out.with_suffix(".json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    print(table(runs))


if __name__ == "__main__":
    main()
