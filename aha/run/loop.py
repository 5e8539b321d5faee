"""The run every training stage shares: claim or resume the run directory, load the model (or the newest
checkpoint that reads), evaluate at the start, then step, log, check health, evaluate and save on their
cadence, and write plots and report at the end.

A stage supplies a `StageTrainer` (its model, optimizer, scheduler and data cursor, one `step`, its health
checks, its evaluations and its plots and report); this module owns everything around them, so a stage
module holds only what is its own. Checkpoints hold the weights in the Hugging Face layout and the trainer
state (optimizer, scheduler, RNG, cursor, decode kernels) as safetensors and JSON, written atomically; a
resume repeats exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from aha import dist
from aha.config import to_dict
from aha.devices import keep_freed_memory
from aha.errors import AhaError, CheckpointError
from aha.models import LoadedModel, load, save_checkpoint
from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state
from aha.models.packed import pin_kernels
from aha.run.cursor import Cursor
from aha.track.run_dir import RunDir, step_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """An evaluation a stage runs at the start, every `every` steps (0: only at the start) and at the end;
    its result goes into the step's progress record under `key`."""

    key: str
    every: int
    run: Callable[[int], Any]
    collective: bool = False  # under several ranks: every rank runs it (it uses the sharded model); else rank 0


class StageTrainer(Protocol):
    """What a stage gives the shared run. A stage with state of its own besides the weights, optimiser,
    schedule and cursor (GRPO's reward normalisers) also has `stage_state() -> dict` (JSON, saved in each
    checkpoint's trainer state) and `load_stage_state(state)` (ValueError when it does not fit)."""

    loaded: LoadedModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    cursor: Cursor

    def step(self, step: int) -> dict[str, Any]:
        """Train one step; its metrics.jsonl record."""
        ...

    def health(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
        """Warnings about this step, given every earlier step's record."""
        ...

    def stop_reason(self, metrics: dict[str, Any]) -> str | None:
        """Why the run must stop after this step (it is saved first); None to go on."""
        ...

    def evaluations(self) -> list[Evaluation]: ...

    def finish(self, run_dir: RunDir) -> None:
        """Plots and report of the finished run."""
        ...

    def close(self) -> None:
        """Release what the stage holds besides the model (its rewards' worker pools and sandboxes); called
        when the run ends, finished or not."""
        ...


class RunConfig(Protocol):
    """The fields of a stage's config the shared run reads."""

    model: str
    device: str
    dtype: str | None
    seed: int
    steps: int
    save_every: int
    keep_checkpoints: int


Factory = Callable[[LoadedModel, RunDir], StageTrainer]


def with_steps(cfg: Any, records: int) -> Any:
    """A config whose `steps` is 0 with the steps `epochs` passes over `records` take in batches of
    `batch_size` (at least one); a config that names its steps, as it is."""
    if cfg.steps:
        return cfg
    return dataclasses.replace(cfg, steps=max(1, math.ceil(cfg.epochs * records / cfg.batch_size)))


def due(step: int, every: int, last: int) -> bool:
    """Whether something done every `every` steps (0: never in between) and at the last step is due."""
    return bool(every and step % every == 0) or step == last


def save(trainer: StageTrainer, run_dir: RunDir, step: int, keep: int) -> None:
    """Checkpoint the weights and the trainer state at `step`; keep only the newest `keep` checkpoints.

    Under several ranks every rank calls it: the weights and optimiser moments are gathered whole, and rank 0
    writes them as one process would (so the checkpoint loads anywhere, and resumes under the same ranks)."""
    state = TrainerState.capture(step, trainer.cursor.position, trainer.optimizer, trainer.scheduler)
    if hasattr(trainer, "stage_state"):  # a stage with state of its own (GRPO's reward normalisers)
        state.stage = trainer.stage_state()
    whole = dist.full_state_dict(trainer.loaded.model) if dist.world().size > 1 else None
    if dist.world().main:
        path = run_dir.checkpoint_path(step)
        save_checkpoint(
            trainer.loaded, path, extra=lambda directory: write_trainer_state(directory, state), whole=whole
        )
        for old in run_dir.complete_checkpoints()[:-keep]:
            shutil.rmtree(old)
    dist.barrier()


def resume(cfg: RunConfig, run_dir: RunDir, factory: Factory) -> tuple[StageTrainer, int] | None:
    """A trainer restored from the newest checkpoint whose weights and state read and fit, and its step;
    None when the run has no checkpoint yet (unreadable ones are skipped with a warning)."""

    def open_checkpoint(path: Path) -> tuple[StageTrainer, int]:
        state = read_trainer_state(path)
        if state.step != step_of(path):
            raise CheckpointError(f"its trainer state is of step {state.step}")
        trainer = factory(load(path, device=cfg.device, dtype=cfg.dtype), run_dir)
        state.apply(trainer.optimizer, trainer.scheduler)  # a CheckpointError when it does not fit
        pin_kernels(state.kernels)  # sample with the kernels the run chose, whatever this machine would measure
        trainer.cursor.position = state.cursor
        if hasattr(trainer, "load_stage_state"):
            try:
                trainer.load_stage_state(state.stage)
            except ValueError as error:
                raise CheckpointError(str(error)) from None
        return trainer, state.step

    point = run_dir.resume_point(open_checkpoint)
    return None if point is None else point[1]


def evaluate(trainer: StageTrainer, step: int, main: bool, last: int | None = None) -> dict[str, Any]:
    """The evaluations due at `step` (all of them at the start, `last` None); their results by key. Under
    several ranks, rank 0 runs those that use its own full copy of the weights, every rank the collective ones."""
    results = {}
    for evaluation in trainer.evaluations():
        if (last is None or due(step, evaluation.every, last)) and (main or evaluation.collective):
            results[evaluation.key] = evaluation.run(step)
    return results


def run_stage(
    cfg: RunConfig,
    run_dir: str | Path,
    prepare: Callable[[], Factory],
    *,
    resume_run: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a stage to `cfg.steps`; the first and last held-out evaluations and the run directory.

    `prepare()` runs once the directory is claimed and the seed set, and returns the factory that builds
    the stage's trainer around a loaded model (a reference model, say, is loaded there, once). With
    `resume_run` the run continues from the newest checkpoint that reads, or from the start, with a warning,
    when it has none yet; without, the directory may be new or hold a run that failed before its first step.
    """
    world = dist.init(cfg.device)
    directory = RunDir(run_dir, writer=world.main)  # only rank 0 writes; the others read what it wrote
    if resume_run and not directory.is_run():
        raise AhaError(f"{directory.path}: not a run directory (no config.yaml)")
    if not resume_run:
        directory.claim(to_dict(cfg))
    dist.barrier()
    torch.manual_seed(cfg.seed)
    if cfg.device == "cpu":
        keep_freed_memory()
    factory = prepare()
    resumed = resume(cfg, directory, factory) if resume_run else None
    if resumed is not None:
        trainer, start = resumed
        directory.truncate_after(start)
    else:
        if resume_run:
            log.warning("%s has no checkpoint yet: starting from step 1", directory.path)
            directory.create(to_dict(cfg))
        trainer, start = factory(load(cfg.model, device=cfg.device, dtype=cfg.dtype), directory), 0
    dist.barrier()  # rank 0 has trimmed the logs to the resumed step
    try:
        if resumed is None:
            evaluate(trainer, 0, world.main)
        history = directory.read("metrics.jsonl")
        for step in range(start + 1, cfg.steps + 1):
            metrics = dist.broadcast_json(trainer.step(step))  # rank 0's timings: every rank decides alike
            metrics["warnings"] = trainer.health(metrics, history)
            history.append(metrics)
            for note in metrics["warnings"]:
                log.warning("step %d: %s", step, note)
            if any(not math.isfinite(metrics.get(k, 0.0)) for k in ("loss", "grad_norm")):  # checked before the log:
                raise AhaError(f"step {step}: training diverged ({'; '.join(metrics['warnings'])})")  # no NaN in JSON
            directory.append("metrics.jsonl", metrics)
            reason = trainer.stop_reason(metrics)
            if reason is not None:
                save(trainer, directory, step, cfg.keep_checkpoints)
                raise AhaError(f"step {step}: stopped ({reason})")
            metrics.update(evaluate(trainer, step, world.main, cfg.steps))
            if due(step, cfg.save_every, cfg.steps):
                save(trainer, directory, step, cfg.keep_checkpoints)
            if progress is not None and world.main:
                progress(metrics)
        if world.main:
            trainer.finish(directory)
    finally:
        trainer.close()
    dist.barrier()  # rank 0 has written the last evaluation and the report
    evals = directory.read("eval.jsonl")
    return {"first": evals[0] if evals else None, "last": evals[-1] if evals else None, "run_dir": str(directory.path)}
