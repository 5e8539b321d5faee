"""Shipped benchmarks evaluated during a run, through the same code as `aha eval` (`evaluate_with`), in the
run's own prompt template: samples and summaries under run/bench/step-N/, one record per benchmark in
bench.jsonl."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aha.data.templates import Template
from aha.ranges import COUNT, TEMPERATURE, TOP_P, Range, check
from aha.rollout.engine import Engine
from aha.track.run_dir import RunDir

BENCHMARK_RANGES = {  # BenchmarkEvalConfig's numeric fields
    "every": Range(int, 0, note="0 = at the start and the end only"),
    "limit": COUNT,
    "samples": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_new_tokens": COUNT,
}


@dataclass(frozen=True, kw_only=True)
class BenchmarkEvalConfig:
    """Shipped benchmarks (`aha eval`'s metrics) evaluated on the policy during training."""

    names: tuple[str, ...] = ()  # e.g. [gsm8k, math500]; empty = none
    every: int = 0  # steps between evaluations; 0 = at the start and the end only
    limit: int | None = 50  # first n prompts of each benchmark
    samples: int = 1  # k samples per prompt for pass@1 (and cons@k when k > 1)
    temperature: float = 0.6  # the paper's evaluation setting
    top_p: float = 0.95
    max_new_tokens: int = 256
    greedy: bool = True  # also one greedy completion per prompt

    def __post_init__(self) -> None:
        from aha.evaluation.benchmarks import get_benchmark

        for name in self.names:
            get_benchmark(name)
        check(self, BENCHMARK_RANGES, optional=("limit",))


def evaluate_benchmarks(
    step: int,
    spec: BenchmarkEvalConfig,
    engine: Engine,
    template: Template,
    tokenizer: Any,
    run_dir: RunDir,
    *,
    model: str,
    seed: int,
) -> list[dict[str, Any]]:
    """pass@1 (and greedy accuracy) of the engine's model on the benchmarks of `spec`; bench.jsonl records."""
    from aha.stages.evaluate import EvalConfig, evaluate_with

    start = time.perf_counter()
    eval_cfg = EvalConfig(
        model=model,
        benchmarks=spec.names,
        samples=spec.samples,
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_new_tokens=spec.max_new_tokens,
        greedy=spec.greedy,
        limit=spec.limit,
        out=str(run_dir.bench_path(step)),
        seed=seed,
    )
    summaries = evaluate_with(eval_cfg, engine, template, tokenizer)
    seconds = round((time.perf_counter() - start) / max(1, len(summaries)), 2)
    records = []
    for summary in summaries:
        record = {
            "step": step,
            "benchmark": summary["benchmark"],
            "problems": summary["problems"],
            **{key: m["value"] for key, m in summary["metrics"].items()},
            **{f"{key}_stderr": m["stderr"] for key, m in summary["metrics"].items()},
            "unchecked": summary["unchecked"],
            "seconds": seconds,
        }
        run_dir.append("bench.jsonl", record)
        records.append(record)
    return records
