"""The run directory: config, metrics, samples, held-out evaluations, checkpoints, plots and report.

run/
  config.yaml        the resolved config
  metrics.jsonl      one record per training step
  samples.jsonl      a few completions per step
  eval.jsonl         one record per held-out evaluation
  eval_samples.jsonl every held-out completion of every evaluation (prompt id, answer, completion, correct)
  bench.jsonl        shipped-benchmark evaluations (pass@1, greedy, ...), one record per benchmark and step
  bench/step-000020/ their samples and summaries, as `aha eval` writes them
  checkpoints/step-000020/   Hugging Face layout + trainer_state.json/.safetensors, written atomically
  plots/*.png, report.md
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from aha.data.jsonl import write_record
from aha.models.checkpoint import is_partial

LOGS = ("metrics.jsonl", "samples.jsonl", "eval.jsonl", "eval_samples.jsonl", "bench.jsonl")


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.plots = self.path / "plots"

    def create(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        (self.path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "config.yaml").read_text())

    def append(self, log: str, record: dict[str, Any]) -> None:
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
        for log in LOGS:
            records = [r for r in self.read(log) if r.get("step", 0) <= step]
            path = self.path / log
            if path.exists():
                path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        bench = self.path / "bench"
        for directory in bench.glob("step-*") if bench.is_dir() else ():
            if int(directory.name.removeprefix("step-")) > step:
                shutil.rmtree(directory)

    def bench_path(self, step: int) -> Path:
        return self.path / "bench" / f"step-{step:06d}"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:06d}"

    def complete_checkpoints(self) -> list[Path]:
        """Finished checkpoints, oldest first; temporary directories of interrupted writes are skipped."""
        if not self.checkpoints.is_dir():
            return []
        found = [p for p in self.checkpoints.iterdir() if p.name.startswith("step-") and not is_partial(p)]
        return sorted(p for p in found if (p / "trainer_state.json").is_file())

    def latest_checkpoint(self) -> Path | None:
        complete = self.complete_checkpoints()
        return complete[-1] if complete else None
