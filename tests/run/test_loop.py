"""The shared run on a stand-in stage: cadence of evaluations and checkpoints, rotation, exact resume of
the cursor, a stage's stop reason, divergence, and a run that failed before its first step."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aha.errors import AhaError
from aha.learn.optim import OptimConfig, make_optimizer
from aha.run.cursor import Cursor
from aha.run.loop import Evaluation, due, run_stage
from aha.track.run_dir import RunDir


@dataclass(frozen=True, kw_only=True)
class CountingConfig:
    model: str
    device: str = "cpu"
    dtype: str | None = None
    seed: int = 0
    steps: int = 5
    save_every: int = 2
    keep_checkpoints: int = 2
    eval_every: int = 2
    stop_at: int = 0  # a step after which the stage asks to stop
    nan_at: int = 0  # a step whose loss is NaN


class CountingStage:
    """Takes one example a step and nudges the weights; evaluation counts its calls."""

    def __init__(self, cfg: CountingConfig, run_dir: RunDir, loaded) -> None:
        self.cfg, self.run_dir, self.loaded = cfg, run_dir, loaded
        self.optimizer, self.scheduler = make_optimizer(loaded.model, OptimConfig(lr=1e-3), cfg.steps)
        self.cursor = Cursor(10, cfg.seed)

    def step(self, step: int) -> dict:
        [index] = self.cursor.take(1)
        loss = sum(p.float().square().mean() for p in self.loaded.model.parameters())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"step": step, "example": index, "loss": float("nan") if step == self.cfg.nan_at else float(loss)}

    def health(self, metrics, history):
        return [f"{len(history)} before"]

    def stop_reason(self, metrics):
        return "asked to" if metrics["step"] == self.cfg.stop_at else None

    def evaluations(self):
        def evaluate(step):
            record = {"step": step, "accuracy": step / 10}
            self.run_dir.append("eval.jsonl", record)
            return record

        return [Evaluation("eval", self.cfg.eval_every, evaluate)]

    def finish(self, run_dir):
        (run_dir.path / "report.md").write_text("done")

    def close(self):
        CLOSED.append(self.run_dir.path.name)


CLOSED: list[str] = []  # run directories whose stage was closed, in order


def run(cfg, path, resume=False):
    return run_stage(cfg, path, lambda: lambda loaded, d: CountingStage(cfg, d, loaded), resume_run=resume)


def test_due():
    assert [s for s in range(1, 8) if due(s, 3, 7)] == [3, 6, 7]
    assert [s for s in range(1, 8) if due(s, 0, 7)] == [7]


def test_cadence_rotation_and_exact_resume(tiny_llama_dir, tmp_path):
    cfg = CountingConfig(model=str(tiny_llama_dir))
    result = run(cfg, tmp_path / "whole")
    whole = RunDir(tmp_path / "whole")
    assert [e["step"] for e in whole.read("eval.jsonl")] == [0, 2, 4, 5]  # the start, every 2, the end
    assert result["first"]["step"] == 0 and result["last"]["step"] == 5
    assert [p.name for p in whole.complete_checkpoints()] == ["step-000004", "step-000005"]  # 2, 4, 5; keep 2
    assert [m["warnings"] for m in whole.read("metrics.jsonl")] == [[f"{n} before"] for n in range(5)]
    assert (whole.path / "report.md").read_text() == "done"

    short = CountingConfig(model=str(tiny_llama_dir), steps=3)  # stops at 3 (saved), then resumes to 5
    run(short, tmp_path / "split")
    run(cfg, tmp_path / "split", resume=True)
    examples = [m["example"] for m in RunDir(tmp_path / "split").read("metrics.jsonl")]
    assert examples == [m["example"] for m in whole.read("metrics.jsonl")]  # the cursor resumed exactly


def test_a_stop_reason_saves_then_stops_and_divergence_stops(tiny_llama_dir, tmp_path):
    with pytest.raises(AhaError, match=r"step 2: stopped \(asked to\)"):
        run(CountingConfig(model=str(tiny_llama_dir), stop_at=2, save_every=5), tmp_path / "stop")
    assert [p.name for p in RunDir(tmp_path / "stop").complete_checkpoints()] == ["step-000002"]
    with pytest.raises(AhaError, match="step 3: training diverged"):
        run(CountingConfig(model=str(tiny_llama_dir), nan_at=3), tmp_path / "nan")
    assert CLOSED[-2:] == ["stop", "nan"]  # a run that ends in an error still closes its stage (its rewards)


def test_a_run_that_never_started_is_rerun_in_its_directory(tmp_path, tiny_llama_dir):
    with pytest.raises(AhaError):
        run(CountingConfig(model=str(tmp_path / "missing-model")), tmp_path / "run")
    run(CountingConfig(model=str(tiny_llama_dir), steps=1), tmp_path / "run")
    assert len(RunDir(tmp_path / "run").read("metrics.jsonl")) == 1
