"""The run directory: config, metrics, samples, held-out evaluations, checkpoints, plots and report.

run/
  config.yaml        the resolved config
  metrics.jsonl      one record per training step
  samples.jsonl      a few completions per step
  eval.jsonl         one record per held-out evaluation
  completions.jsonl  `aha sample`: every completion of every prompt, prompt group by prompt group
  curated.jsonl      `aha reject`: the completions kept (removed.jsonl, report.json: what went and why;
                     judge_cache.jsonl: the judge's verdicts by content hash)
  eval_samples.jsonl every held-out completion of every evaluation (prompt id, answer, completion, correct)
  bench.jsonl        shipped-benchmark evaluations (pass@1, greedy, ...), one record per benchmark and step
  bench/step-000020/ their samples and summaries, as `aha eval` writes them
  checkpoints/step-000020/   Hugging Face layout + trainer_state.json/.safetensors, written atomically
  checkpoints/unreadable-step-000040/  a checkpoint a resume skipped as unreadable, kept for inspection
  plots/*.png, report.md

A directory counts as holding a run once a step is logged or a checkpoint written. Before that (a run that
failed while loading its model, or in its first step) it holds nothing a rerun would not redo, so a rerun
with the same directory starts afresh in it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from aha.data.jsonl import write_record
from aha.errors import AhaError, CheckpointError, ModelLoadError
from aha.files import is_temporary, write_text_atomically

log = logging.getLogger(__name__)

LOGS = (
    "metrics.jsonl",
    "samples.jsonl",
    "eval.jsonl",
    "eval_samples.jsonl",
    "bench.jsonl",
    "general_eval.jsonl",  # all-scenario RL: held-out general prompts scored by their reward models
    "general_eval_samples.jsonl",
)
COMPLETIONS = "completions.jsonl"  # a sampling run's output (aha.stages.sample), kept by prompt groups
CURATED = "curated.jsonl"  # a rejection run's output (aha.stages.reject), with removed.jsonl and report.json
NAMES = {
    "config.yaml",
    "checkpoints",
    "bench",
    "plots",
    "report.md",
    "report.json",
    COMPLETIONS,
    CURATED,
    "removed.jsonl",
    "judge_cache.jsonl",
    *LOGS,
}  # what a run writes; fmt: skip
STEP = re.compile(r"step-(\d+)")
T = TypeVar("T")


class RunDir:
    """A run's directory. `writer` False: a reader of a run that another process writes (every rank of a
    data-parallel run but rank 0): everything that would write or move a file does nothing."""

    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self.checkpoints = self.path / "checkpoints"
        self.plots = self.path / "plots"

    def create(self, config: dict[str, Any]) -> None:
        """Write the config, dropping the records of an earlier attempt that never finished a step."""
        if not self.writer:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        self.truncate_after(-1)
        write_text_atomically(self.path / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    def is_run(self) -> bool:
        return (self.path / "config.yaml").is_file()

    def started(self) -> bool:
        """True once a step is logged, a checkpoint written or a completion sampled."""
        return (
            bool(self.read("metrics.jsonl"))
            or bool(self.checkpoint_dirs())
            or bool(self.read(COMPLETIONS))
            or (self.path / CURATED).is_file()
        )

    def claim(self, config: dict[str, Any]) -> None:
        """Create the run here, unless the directory holds a run that got going or files no run writes."""
        if self.path.is_dir() and self.writer:
            foreign = sorted(p.name for p in self.path.iterdir() if p.name not in NAMES and not is_temporary(p))
            if foreign:
                raise AhaError(f"{self.path} is not empty and not a run directory (it holds {foreign[0]})")
            if self.started():
                raise AhaError(f"{self.path} already holds a run: resume it with --resume or choose another out dir")
        self.create(config)

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "config.yaml").read_text())

    def append(self, log: str, record: dict[str, Any]) -> None:
        if not self.writer:
            return
        with open(self.path / log, "a", encoding="utf-8") as handle:
            write_record(handle, record)

    def read(self, log: str) -> list[dict[str, Any]]:
        path = self.path / log
        if not path.is_file():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: everything before it is kept
                break
        return records

    def truncate_after(self, step: int) -> None:
        """Drop log records of steps after `step` (they are redone when a run resumes from that step)."""
        if not self.writer:
            return
        for log in LOGS:
            records = [r for r in self.read(log) if r.get("step", 0) <= step]
            path = self.path / log
            if path.exists():
                write_text_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        bench = self.path / "bench"
        for directory in bench.glob("step-*") if bench.is_dir() else ():
            if int(directory.name.removeprefix("step-")) > step:
                shutil.rmtree(directory)

    def bench_path(self, step: int) -> Path:
        return self.path / "bench" / f"step-{step:06d}"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:06d}"

    def checkpoint_dirs(self) -> list[Path]:
        """Every checkpoint under its final name, oldest first; temporary directories of interrupted writes
        are skipped. A checkpoint damaged after it was written is listed too: reading it tells."""
        if not self.checkpoints.is_dir():
            return []
        found = [p for p in self.checkpoints.iterdir() if STEP.fullmatch(p.name) and p.is_dir()]
        return sorted(found, key=step_of)

    def complete_checkpoints(self) -> list[Path]:
        """Checkpoints holding trainer state (weights and trainer state are written in one atomic step)."""
        return [p for p in self.checkpoint_dirs() if (p / "trainer_state.json").is_file()]

    def latest_checkpoint(self) -> Path | None:
        complete = self.complete_checkpoints()
        return complete[-1] if complete else None

    def resume_point(self, open_checkpoint: Callable[[Path], T]) -> tuple[Path, T] | None:
        """The newest checkpoint that `open_checkpoint` reads (it raises CheckpointError or ModelLoadError on
        one it cannot), or None when there is no checkpoint at all.

        Each checkpoint skipped is named in a warning with the reason, and moved to unreadable-step-N/ so that
        no later listing counts it; when no checkpoint reads, nothing is moved and an AhaError lists why.
        """
        skipped: list[tuple[Path, str]] = []
        for path in reversed(self.checkpoint_dirs()):
            try:
                opened = open_checkpoint(path)
            except (CheckpointError, ModelLoadError) as error:
                log.warning("resume: skipping checkpoint %s: %s", path.name, error)
                skipped.append((path, str(error)))
                continue
            log.info("resume: from %s", path)
            for bad, _ in skipped if self.writer else ():
                aside = self._aside(bad)
                bad.rename(aside)
                log.warning("resume: moved the unreadable %s to %s", bad.name, aside.name)
            return path, opened
        if skipped:
            reasons = "; ".join(f"{path.name}: {reason}" for path, reason in skipped)
            raise AhaError(f"{self.path}: no readable checkpoint to resume from ({reasons})")
        return None

    def _aside(self, path: Path) -> Path:
        target, number = self.checkpoints / f"unreadable-{path.name}", 1
        while target.exists():
            number += 1
            target = self.checkpoints / f"unreadable-{path.name}-{number}"
        return target


def step_of(checkpoint: Path) -> int:
    """The step number in a checkpoint directory's name (step-000020 -> 20)."""
    match = STEP.fullmatch(checkpoint.name)
    if match is None:
        raise ValueError(f"{checkpoint.name} is not a checkpoint name")
    return int(match.group(1))
