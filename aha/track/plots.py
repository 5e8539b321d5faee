"""PNG plots of a run's training dynamics: held-out accuracy, reward, response length, reflection rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PANELS = (
    ("eval", "accuracy", "held-out accuracy (greedy)"),
    ("metrics", "reward_mean", "reward (mean over samples)"),
    ("metrics", "length_mean", "response length (tokens)"),
    ("metrics", "reflection_rate", "reflection-word rate"),
    ("eval", "format_rate", "held-out format rate"),
    ("metrics", "zero_variance_share", "share of groups with equal rewards"),
)


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(r["step"], r[key]) for r in records if key in r and r[key] is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _draw(axis: Any, steps: list[float], values: list[float], title: str, points: bool) -> None:
    axis.plot(steps, values, marker="o" if points else None, markersize=3)
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)


def plot_benchmarks(benches: list[dict[str, Any]], path: Path) -> Path:
    """`benchmarks.png`: pass@1 (solid) and greedy accuracy (dashed) of each shipped benchmark over steps."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.8))
    for name in dict.fromkeys(b["benchmark"] for b in benches):
        records = [b for b in benches if b["benchmark"] == name]
        for key, style in (("pass@1", "-"), ("greedy", "--")):
            steps, values = _series(records, key)
            if steps:
                axis.plot(steps, values, style, marker="o", markersize=3, label=f"{name} {key}")
    axis.set_title("benchmarks during training", fontsize=10)
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_run(
    metrics: list[dict[str, Any]],
    evals: list[dict[str, Any]],
    out_dir: Path,
    benches: list[dict[str, Any]] = (),
    panels: tuple[tuple[str, str, str], ...] = PANELS,
) -> list[Path]:
    """`dynamics.png` with every panel (six: GRPO's by default), plus one PNG per panel (and `benchmarks.png`
    when shipped benchmarks were evaluated); returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {"metrics": metrics, "eval": evals}
    figure, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    written = [out_dir / "dynamics.png"]
    for axis, (source, key, title) in zip(axes.flat, panels, strict=True):
        steps, values = _series(sources[source], key)
        _draw(axis, steps, values, title, source == "eval")
        single, single_axis = plt.subplots(figsize=(5, 3.4))
        _draw(single_axis, steps, values, title, source == "eval")
        single.tight_layout()
        path = out_dir / f"{source}_{key}.png"
        single.savefig(path, dpi=110)
        plt.close(single)
        written.append(path)
    figure.tight_layout()
    figure.savefig(written[0], dpi=110)
    plt.close(figure)
    if benches:
        written.append(plot_benchmarks(list(benches), out_dir / "benchmarks.png"))
    return written
