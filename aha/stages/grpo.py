"""GRPO with rule rewards (DeepSeek-R1-Zero): sample -> score -> advantages -> update, one step at a time.

The stage holds what is GRPO's own: its config, the rollout of a step (with DAPO's dynamic sampling), the
update passes, its health checks and its plots. Everything around a step (run directory, cadence, held-out
and benchmark evaluation, checkpoints and exact resume) is the shared run (`aha.run`); the math lives in
`aha.algo`, the sampler in `aha.rollout`, the update in `aha.learn.step`. Every random choice derives from
(seed, step, ...), so a resumed run repeats exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aha import dist
from aha.algo.advantages import get as get_advantage
from aha.algo.shaping import soft_overlong_penalty
from aha.devices import native_bf16, resolve_dtype
from aha.errors import ConfigError
from aha.learn.batch import build_batch
from aha.learn.optim import make_optimizer
from aha.learn.step import old_logprobs, update_passes
from aha.models import LoadedModel, load
from aha.rewards.code import require_sandbox
from aha.rollout.engine import Engine
from aha.rollout.policy_copy import sampler_copy, sync_sampler
from aha.rollout.sampling import row_seed
from aha.run.benchmarks import BenchmarkEvalConfig, evaluate_benchmarks
from aha.run.cursor import Cursor
from aha.run.heldout import evaluate_held_out
from aha.run.loop import Evaluation, run_stage
from aha.run.prompts import PromptConfig, Prompter
from aha.run.scoring import Scored, Scorer
from aha.stages.grpo_config import GeneralConfig, GRPOConfig
from aha.tasks import build_task
from aha.tasks.general import SOURCE as GENERAL
from aha.tasks.general import read_general
from aha.track.health import is_collapse, step_warnings
from aha.track.metrics import rollout_metrics
from aha.track.plots import PANELS, plot_run
from aha.track.report import write_report
from aha.track.run_dir import RunDir
from aha.types import Completion, SamplingParams

__all__ = ["BenchmarkEvalConfig", "GRPOConfig", "PromptConfig", "Trainer", "run"]

log = logging.getLogger(__name__)


class Trainer:
    """One GRPO run's state around its model: sampler, optimiser, data cursor, scoring and evaluation."""

    def __init__(self, cfg: GRPOConfig, run_dir: RunDir, loaded: LoadedModel, ref: LoadedModel | None) -> None:
        self.cfg, self.run_dir, self.loaded, self.ref = cfg, run_dir, loaded, ref
        self.prompter = Prompter(cfg.prompt, loaded.tokenizer)
        self.template = self.prompter.template
        self.train, self.held_out = build_task(cfg.task, cfg.seed)
        shaping = functools.partial(_overlong, cfg.max_new_tokens, cfg.overlong_buffer, cfg.overlong_penalty)
        self.scorer = Scorer(cfg.rewards, cfg.accuracy_reward, self.prompter, shaping, cfg.format_reward)
        device = loaded.model.device
        asked = (("sampler_dtype", cfg.sampler_dtype), ("update.autocast", cfg.update.autocast))
        bf16 = [name for name, value in asked if value and resolve_dtype(value, device) == torch.bfloat16]
        if bf16 and not native_bf16(device):
            # Emulated bf16 is slower than fp32, and oneDNN cannot prepack bf16 weights for decoding at all
            # without AVX-512 or AVX-NE-CONVERT (it raises), so the run falls back to fp32 throughout.
            log.warning("%s ask for bf16, which this CPU only emulates: running in fp32 instead", " and ".join(bf16))
            update_cfg = dataclasses.replace(cfg.update, autocast=None)
            cfg = self.cfg = dataclasses.replace(cfg, sampler_dtype=None, update=update_cfg)
        self.sampler = sampler_copy(loaded.model, cfg.sampler_dtype)
        self.copy: dist.FullCopy | None = None  # under several ranks: every rank samples from whole weights
        if dist.world().size > 1:
            self.copy = dist.FullCopy(self.sampler or loaded.model)
            self.sampler = self.copy.model if self.sampler is not None else None
            dist.shard(loaded.model)
        policy = self.copy.model if self.copy else loaded.model
        self.engine: Any = Engine(self.sampler or policy, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.max_rows)
        self.vllm_dir: str | None = None
        if cfg.rollout.backend == "vllm":  # vLLM in this process samples; weights pushed after every update
            import tempfile

            from aha.rollout.vllm import VLLMBackend

            if dist.world().size > 1:
                raise ConfigError("rollout.backend=vllm runs in one process: use the native backend under torchrun")
            self.vllm_dir = tempfile.mkdtemp(prefix="aha-vllm-")
            self.engine = VLLMBackend.from_loaded(loaded, self.vllm_dir, kv_cache_gib=cfg.rollout.kv_cache_gib,
                                                  max_num_seqs=cfg.max_rows)  # fmt: skip
        self.eval_engine = Engine(policy, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.eval_max_rows)
        updates = cfg.steps * cfg.mu * cfg.minibatches
        self.optimizer, self.scheduler = make_optimizer(loaded.model, cfg.optim, updates)
        self.advantage = get_advantage(cfg.advantage)
        self.cursor = Cursor(len(self.train), cfg.seed)
        self.general: General | None = None
        if cfg.general.share > 0:
            self.general = General(cfg.general, loaded.tokenizer, shaping, cfg.seed)

    def prompter_for(self, sample: Any) -> Prompter:
        """The template of the sample's source: the recipe's `prompt`, or `general.prompt` for general prompts."""
        return self.general.prompter if self.general and sample.meta.get("source") == GENERAL else self.prompter

    def encode(self, sample: Any) -> list[int]:
        return self.prompter_for(sample).encode(sample)

    def next_samples(self, count: int) -> list[tuple[int, Any]]:
        """The next prompts in a seeded per-epoch shuffle of the training set, with their pool index."""
        return [(index, self.train[index]) for index in self.cursor.take(count)]

    def sources(self, need: int) -> list[tuple[list[tuple[int, Any]], Scorer, tuple[str, ...]]]:
        """`need` prompts split between the sources as `general.share` says: (prompts with their seed keys,
        the source's scorer, its stop strings) per source that has prompts this round."""
        general = self.general.count(need) if self.general else 0
        parts = [(self.next_samples(need - general), self.scorer, self.cfg.prompt.stop)]
        if general:
            assert self.general is not None
            offset = len(self.train)  # keys apart from the reasoning prompts' (seeds derive from them)
            chosen = [(offset + i, s) for i, s in self.general.next_samples(general)]
            parts.append((chosen, self.general.scorer, self.general.cfg.prompt.stop))
        return [part for part in parts if part[0]]

    def sampling_params(self, step: int, round_: int) -> SamplingParams:
        cfg = self.cfg
        return SamplingParams(
            n=cfg.group_size,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            max_new_tokens=cfg.max_new_tokens,
            stop=cfg.prompt.stop,
            seed=row_seed(cfg.seed, step, round_),
            ignore_eos=cfg.ignore_eos,
        )

    def collect(self, step: int) -> tuple[list[Scored], list[Scored], dict[str, float]]:
        """Sample and score P groups (with dynamic sampling: only groups whose rewards differ).

        Returns (groups to train on, every group sampled, timing and counts)."""
        cfg = self.cfg
        kept: list[Scored] = []
        seen: list[Scored] = []
        rounds = cfg.max_refill_rounds if cfg.dynamic_sampling else 1
        timing = {"sampling": 0.0, "scoring": 0.0}
        for round_ in range(rounds):
            need = cfg.prompts_per_step - len(kept)
            if need <= 0:
                break
            for chosen, scorer, stop in self.sources(need):
                start = time.perf_counter()
                groups = self.generate(
                    [self.encode(s) for _, s in chosen],
                    dataclasses.replace(self.sampling_params(step, round_), stop=stop),
                    [index for index, _ in chosen],
                )
                timing["sampling"] += time.perf_counter() - start
                start = time.perf_counter()
                for scored in self.score(scorer, [sample for _, sample in chosen], groups):
                    seen.append(scored)
                    if not cfg.dynamic_sampling or len(set(scored.rewards)) > 1:
                        kept.append(scored)
                timing["scoring"] += time.perf_counter() - start
        return kept, seen, {**timing, "groups_sampled": len(seen), "rounds": round_ + 1}

    def generate(self, prompts: list[list[int]], params: SamplingParams, keys: list[int]) -> list[list[Completion]]:
        """Each prompt's group; under several ranks each rank samples a contiguous share of the prompts and
        every rank gets every group (exchanged as JSON)."""
        world = dist.world()
        if world.size == 1:
            return self.engine.generate(prompts, params, prompt_keys=keys)
        part = world.share(len(prompts))
        mine = self.engine.generate(prompts[part], params, prompt_keys=keys[part]) if prompts[part] else []
        shares = dist.all_gather_json([[dataclasses.asdict(c) for c in group] for group in mine])
        groups = [group for share in shares for group in share]
        return [[Completion(**{**c, "prompt_index": i}) for c in group] for i, group in enumerate(groups)]

    def score(self, scorer: Scorer, samples: list[Any], groups: list[list[Completion]]) -> list[Scored]:
        """The groups scored; under several ranks by rank 0 alone (its rewards' pools, sandboxes and reward
        models, its normalisers' statistics), the scores sent to the others."""
        if dist.world().size == 1:
            return scorer.score(samples, groups)
        numbers = None
        if dist.world().main:
            numbers = [[g.rewards, g.components, g.accuracy, g.formatted] for g in scorer.score(samples, groups)]
        numbers = dist.broadcast_json(numbers)
        return [Scored(s, g, *n) for s, g, n in zip(samples, groups, numbers, strict=True)]

    def train_on(self, groups: list[Scored], step: int) -> dict[str, float]:
        """Advantages over every group, then the update; under several ranks each rank trains on a contiguous
        share of the groups (a group is never split) and the loss is normalised over all of them."""
        cfg = self.cfg
        rewards = torch.tensor([g.rewards for g in groups], dtype=torch.float32)  # [P,G]
        adv = self.advantage(rewards, cfg.advantage_eps)  # [P,G]
        if not any(
            c.token_ids and not (cfg.overlong_filter and c.finish_reason == "length")
            for g in groups
            for c in g.completions
        ):
            return {"loss": 0.0, "skipped": 1.0}
        share = dist.world().share(len(groups))
        empty = share.start == share.stop  # more ranks than groups: this one only keeps step
        if empty:
            share = slice(0, 1)
        rows = [
            (g, c, float(a))
            for g, adv_row in zip(groups[share], adv[share], strict=True)
            for c, a in zip(g.completions, adv_row, strict=True)
        ]
        completions = [
            c.token_ids if not (cfg.overlong_filter and c.finish_reason == "length") else [] for _, c, _ in rows
        ]
        batch = build_batch(
            [self.encode(g.sample) for g, _, _ in rows],
            completions,
            [c.logprobs for _, c, _ in rows],
            [a for _, _, a in rows],
            self.eval_engine.pad_id,
        ).to(self.loaded.model.device)
        # A sampler in another dtype or another engine (vLLM): old log-probs from the trainer's own numbers,
        # from the update's forward when there is one update, else from one extra forward before the first;
        # vLLM's own log-probs weight the loss (truncated importance sampling, rollout.tis_cap).
        single = cfg.mu * cfg.minibatches == 1
        vllm = self.vllm_dir is not None
        if vllm:
            batch.sampler_logp = batch.old_logp
        foreign = self.sampler is not None or vllm
        if foreign and not single:
            batch.old_logp = old_logprobs(self.loaded.model, batch, cfg.update, cfg.temperature)
        ref_model = None if self.ref is None else self.ref.model
        stats = update_passes(
            self.loaded.model, self.optimizer, self.scheduler, batch, cfg.update, mu=cfg.mu,
            minibatches=cfg.minibatches, seed=cfg.seed, step=step, ref_model=ref_model, temperature=cfg.temperature,
            old_from_current=foreign and single, empty=empty, tis_cap=cfg.rollout.tis_cap if vllm else 0.0,
        )  # fmt: skip
        if self.copy is not None:
            self.copy.refresh(self.loaded.model)
        elif self.sampler is not None:
            sync_sampler(self.sampler, self.loaded.model)
        if vllm:
            self.engine.load_state(self.loaded)
        return stats

    def step(self, step: int) -> dict[str, Any]:
        """Sample, score and update; the step's metrics record (a few completions go to samples.jsonl)."""
        groups, sampled, timing = self.collect(step)
        begin = time.perf_counter()
        train = self.train_on(groups, step) if groups else {"loss": 0.0, "skipped": 1.0}
        timing["training"] = time.perf_counter() - begin
        lr = self.scheduler.get_last_lr()[0]
        metrics = rollout_metrics(step, groups, sampled, train, timing, lr, self.cfg.reflection_words)
        for g in sampled[:1]:
            for c, r in list(zip(g.completions, g.rewards, strict=True))[: self.cfg.log_samples]:
                record = {"step": step, "prompt": g.sample.prompt, "answer": g.sample.answer}
                response = self.prompter_for(g.sample).response(c.text)
                record |= {"response": response, "reward": r, "finish_reason": c.finish_reason}
                self.run_dir.append("samples.jsonl", record)
        return metrics

    def health(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
        cfg = self.cfg
        return step_warnings(
            metrics,
            history[-cfg.collapse_window :],
            max_new_tokens=cfg.max_new_tokens,
            truncation_warning=cfg.truncation_warning,
            collapse_window=cfg.collapse_window,
        )

    def stop_reason(self, metrics: dict[str, Any]) -> str | None:
        collapsed = [note for note in metrics["warnings"] if is_collapse(note)]
        return f"stop_on_collapse: {collapsed[0]}" if self.cfg.stop_on_collapse and collapsed else None

    def evaluate(self, step: int) -> dict[str, Any]:
        """Greedy held-out accuracy, format rate, length and reflection rate (eval.jsonl)."""
        cfg = self.cfg
        return evaluate_held_out(
            step, self.held_out, self.eval_engine, self.scorer, self.run_dir,
            max_new_tokens=cfg.max_new_tokens, stop=cfg.prompt.stop, reflection_words=cfg.reflection_words,
        )  # fmt: skip

    def evaluate_benchmarks(self, step: int) -> list[dict[str, Any]]:
        """pass@1 (and greedy accuracy) of the policy on the configured shipped benchmarks (bench.jsonl)."""
        return evaluate_benchmarks(
            step, self.cfg.benchmarks, self.eval_engine, self.template, self.loaded.tokenizer, self.run_dir,
            model=self.cfg.model, seed=self.cfg.seed,
        )  # fmt: skip

    def evaluate_general(self, step: int) -> dict[str, Any]:
        """Held-out general prompts, greedy, scored by their reward models (general_eval.jsonl)."""
        assert self.general is not None
        return self.general.evaluate(step, self.eval_engine, self.run_dir, self.cfg.max_new_tokens)

    def evaluations(self) -> list[Evaluation]:
        found = [Evaluation("eval", self.cfg.eval_every, self.evaluate)]
        if self.general:
            found.append(Evaluation("general", self.cfg.eval_every, self.evaluate_general))
        if self.cfg.benchmarks.names:
            found.append(Evaluation("bench", self.cfg.benchmarks.every, self.evaluate_benchmarks))
        return found

    def finish(self, run_dir: RunDir) -> None:
        evals, metrics, benches = run_dir.read("eval.jsonl"), run_dir.read("metrics.jsonl"), run_dir.read("bench.jsonl")
        panels = PANELS
        if any("cot_in_language" in e for e in evals):  # a set with a reasoning language: show it kept to
            panels = (*PANELS[:5], ("eval", "cot_in_language", "held-out CoTs in the prompt's language"))
        plot_run(metrics, evals, run_dir.plots, benches, panels)
        wall = sum(m["time_sampling"] + m["time_scoring"] + m["time_training"] for m in metrics)
        wall += sum(e["seconds"] for e in evals) + sum(b["seconds"] for b in benches)
        write_report(run_dir.path / "report.md", run_dir.config(), metrics, evals, wall, benches)

    def stage_state(self) -> dict[str, Any]:
        """The reward normalisers' statistics (`normalize: true` rewards) and the general prompts' cursor."""
        state: dict[str, Any] = {"reward_norms": self.scorer.combined.state()}
        if self.general:
            state["general"] = {
                "cursor": self.general.cursor.position,
                "reward_norms": self.general.scorer.combined.state(),
            }
        return state

    def load_stage_state(self, state: dict[str, Any]) -> None:
        self.scorer.combined.load_state(state.get("reward_norms", {}))
        if self.general:
            general = state.get("general")
            if not isinstance(general, dict) or not isinstance(general.get("cursor"), int):
                raise ValueError("the checkpoint has no general prompts' cursor: it is of a run without them")
            self.general.cursor.position = general["cursor"]
            self.general.scorer.combined.load_state(general.get("reward_norms", {}))

    def close(self) -> None:
        self.scorer.close()
        if self.general:
            self.general.scorer.close()
        if self.vllm_dir is not None:
            import shutil

            self.engine.close()
            shutil.rmtree(self.vllm_dir, ignore_errors=True)


class General:
    """All-scenario RL's general prompts (`general:` of the recipe): their pool and cursor, template,
    reward-model scorer and held-out evaluation."""

    def __init__(self, cfg: GeneralConfig, tokenizer: Any, shaping: Any, seed: int) -> None:
        self.cfg = cfg
        self.train, self.held_out = read_general(cfg.data, cfg.held_out)
        self.prompter = Prompter(cfg.prompt, tokenizer)
        self.scorer = Scorer(cfg.rewards, None, self.prompter, shaping, format_reward="format_readable")
        self.cursor = Cursor(len(self.train), seed + 1)

    def count(self, need: int) -> int:
        """General prompts among `need`: round(need * share), at least one, and never all when need > 1
        (a round of one prompt, a dynamic-sampling refill, takes a reasoning prompt)."""
        if need < 2:
            return 0
        return min(max(1, round(need * self.cfg.share)), need - 1)

    def next_samples(self, count: int) -> list[tuple[int, Any]]:
        return [(index, self.train[index]) for index in self.cursor.take(count)]

    def evaluate(self, step: int, engine: Engine, run_dir: RunDir, max_new_tokens: int) -> dict[str, Any]:
        start = time.perf_counter()
        params = SamplingParams(temperature=0, max_new_tokens=max_new_tokens, stop=self.cfg.prompt.stop)
        groups = engine.generate([self.prompter.encode(s) for s in self.held_out], params)
        scored = self.scorer.score(self.held_out, groups, learn=False)
        components: dict[str, list[float]] = {}
        for group in scored:
            for name, value in group.components[0].items():
                if value is not None:
                    components.setdefault(name, []).append(value)
        record = {
            "step": step,
            "prompts": len(scored),
            "reward_mean": sum(g.rewards[0] for g in scored) / len(scored),
            **{f"reward/{name}": sum(v) / len(v) for name, v in components.items()},
            "format_rate": sum(g.formatted[0] for g in scored) / len(scored),
            "length_mean": sum(len(g.completions[0].token_ids) for g in scored) / len(scored),
            "seconds": round(time.perf_counter() - start, 2),
        }
        run_dir.append("general_eval.jsonl", record)
        for sample, group in zip(self.held_out, scored, strict=True):
            completion = group.completions[0]
            run_dir.append("general_eval_samples.jsonl", {
                "step": step, "id": sample.id, "prompt": sample.prompt,
                "response": self.prompter.response(completion.text), "rewards": group.components[0],
                "length": len(completion.token_ids), "finish_reason": completion.finish_reason,
            })  # fmt: skip
        return record


def preflight(cfg: GRPOConfig) -> GRPOConfig:
    """The model, token budgets and task data, checked before a run directory or a model exists."""
    import importlib.util

    from aha.options import check_recipe

    check_recipe(cfg)
    if cfg.rollout.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError('rollout.backend=vllm: vLLM is not installed (pip install -e ".[vllm]", README)')
    return cfg


def _overlong(limit: int, buffer: int, weight: float, completion: Any) -> float:
    return soft_overlong_penalty(len(completion.token_ids), limit, buffer, weight)


def _reference(cfg: GRPOConfig) -> LoadedModel | None:
    """The frozen reference policy of the KL term, when there is one."""
    if cfg.update.beta <= 0:
        return None
    ref = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    ref.model.requires_grad_(False)
    return ref


def run(
    cfg: GRPOConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train; the first and last held-out evaluations (`aha.run.loop.run_stage` says how runs resume)."""
    require_sandbox([*cfg.rewards, cfg.accuracy_reward])  # before the model loads: a refusal costs nothing

    def prepare() -> Callable[[LoadedModel, RunDir], Trainer]:
        ref = _reference(cfg)
        return lambda loaded, directory: Trainer(cfg, directory, loaded, ref)

    return run_stage(cfg, run_dir, prepare, resume_run=resume, progress=progress)
