"""`aha eval`: pass@1 over k samples, unbiased pass@k, cons@k and greedy accuracy on shipped benchmarks.

Every completion is appended to `<out>/<benchmark>.samples.jsonl` as soon as its prompt's group is graded,
so a killed evaluation resumes where it stopped: samples on disk are not drawn again, and seeds derive
from each prompt's position in the benchmark and each sample's index, so the resumed samples are the ones
an uninterrupted run draws. Records are never removed or rewritten: a rerun with fewer samples or a
smaller limit summarises the samples it asks for and keeps the others. `aha eval` binds the directory to
what produced it (`aha.evaluation.fingerprint`): another model, template or sampling setting is refused.
The summary goes to `summary.json`, `summary.md` and the terminal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aha.data.jsonl import write_record
from aha.data.templates import get_template
from aha.errors import ConfigError, DataError
from aha.evaluation.benchmarks import get_benchmark, load_benchmark, set_fingerprint
from aha.evaluation.fingerprint import claim, sha256_of
from aha.evaluation.metrics import Estimate, cons_at_k, mean_with_stderr, pass_at_1, pass_at_k_over_problems
from aha.files import write_text_atomically
from aha.models import DEFAULT_MODEL
from aha.ranges import COUNT, SEED, TEMPERATURE, TOP_P, out_of_range, raise_problems
from aha.rewards import build
from aha.rewards.code import require_sandbox


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    model: str = DEFAULT_MODEL  # shipped name, model directory, .gguf, checkpoint or an `aha train` run directory
    benchmarks: tuple[str, ...] = ("gsm8k",)
    samples: int = 4  # k samples per prompt for pass@1 / pass@k / cons@k
    ks: tuple[int, ...] = (1,)  # pass@k reported for these k, each in 1..samples
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 1024
    greedy: bool = True  # also one greedy completion per prompt
    template: str = "chat"
    system: str | None = None
    think: bool = False
    limit: int | None = None  # the first n prompts of each benchmark
    out: str = "eval"
    seed: int = 0
    max_rows: int = 64
    device: str = "cpu"
    dtype: str | None = None
    backend: str = "native"  # native (aha's engine), openai (an OpenAI-compatible server at base_url)
    base_url: str | None = None  # backend openai: the server, e.g. http://127.0.0.1:8000/v1
    served_model: str | None = None  # backend openai: the model's name on the server (None: the first it lists)
    api_key_env: str | None = None  # backend openai: the environment variable holding its API key, if any
    concurrency: int = 8  # backend openai: requests in flight

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.backend == "openai":
            from aha.serve.client import base_url

            if self.base_url is None:
                raise ConfigError("base_url: backend openai needs the server's URL (--base-url)")
            base_url(self.base_url)
        if not self.benchmarks:
            raise ConfigError("benchmarks: give at least one benchmark name")
        for name in self.benchmarks:
            get_benchmark(name)
        problems: list[tuple[str, str] | None] = [*out_of_range(self, EVAL_RANGES, optional=("limit",))]
        for k in self.ks:
            if not 1 <= k <= self.samples:
                problems.append(("ks", f"ks: k={k} must be in 1..samples ({self.samples})"))
        try:
            get_template(self.template, system=self.system, think=self.think)
        except ConfigError as error:
            problems.append(("template", f"template: {error}"))
        raise_problems(problems)


BACKENDS = ("native", "openai")

EVAL_RANGES = {  # EvalConfig's numeric fields
    "samples": COUNT,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_new_tokens": COUNT,
    "limit": COUNT,
    "seed": SEED,
    "max_rows": COUNT,
    "concurrency": COUNT,
}


def resolve_model(spec: str) -> str:
    """An `aha train` run directory means its last complete checkpoint."""
    from aha.track.run_dir import RunDir

    path = Path(spec)
    if (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
        checkpoint = RunDir(path).latest_checkpoint()
        if checkpoint is None:
            raise ConfigError(f"{path}: run directory without a complete checkpoint")
        return str(checkpoint)
    return spec


def extracted_answer(reward: str, response: str) -> str | None:
    """The answer the benchmark's reward read, as written (None for code): the one extractor, in the formal
    mode where the reward asks for a format (numeric accuracy, Countdown)."""
    if reward not in ("accuracy_math", "accuracy_numeric", "countdown"):
        return None
    from aha.rewards.extraction import extract_answer

    return extract_answer(response, formal=reward != "accuracy_math")


def sampling_runs(cfg: EvalConfig) -> list[tuple[str, Any]]:
    """(mode, SamplingParams) of each kind of record: k samples, and one greedy completion when asked."""
    from aha.types import SamplingParams

    runs = [("sampled", SamplingParams(n=cfg.samples, temperature=cfg.temperature, top_p=cfg.top_p,
                                       max_new_tokens=cfg.max_new_tokens, seed=cfg.seed))]  # fmt: skip
    if cfg.greedy:
        runs.append(("greedy", SamplingParams(n=1, temperature=0.0, max_new_tokens=cfg.max_new_tokens)))
    return runs


def fingerprint(cfg: EvalConfig, model_path: str) -> dict[str, Any]:
    """What decides the samples of this evaluation (see aha.evaluation.fingerprint); reads no model."""
    from aha.devices import resolve_device, resolve_dtype
    from aha.models.load import model_files

    (_, sampled), *_ = sampling_runs(cfg)
    return {
        "model": {"sha256": sha256_of(model_files(model_path)), "source": model_path},
        "template": cfg.template,
        "system": cfg.system,
        "think": cfg.think,
        "dtype": str(resolve_dtype(cfg.dtype, resolve_device(cfg.device))).removeprefix("torch."),
        "temperature": sampled.temperature,
        "top_p": sampled.top_p,
        "top_k": sampled.top_k,
        "max_new_tokens": sampled.max_new_tokens,
        "seed": sampled.seed,
        "benchmarks": {name: set_fingerprint(name) for name in cfg.benchmarks},
    } | ({} if cfg.backend == "native" else {"backend": {"name": cfg.backend, "url": cfg.base_url,
                                                          "served_model": cfg.served_model}})  # fmt: skip


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError, or UnicodeDecodeError from a character cut in two
        return False


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a samples file, in file order.

    A writer killed mid-line leaves an unfinished last line, which holds no finished record: it is cut off
    (or, when it is a whole record short of its newline only, the newline is added), so that appends start
    on a line of their own. Nothing else is ever removed."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            if _is_record(data[end:]):
                handle.seek(0, os.SEEK_END)
                handle.write(b"\n")
                data += b"\n"
            else:
                handle.truncate(end)
                data = data[:end]
    records = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: invalid JSON ({error.msg}); evaluate into another --out") from error
    return records


def sample_benchmark(cfg: EvalConfig, name: str, engine: Any, template: Any, tokenizer: Any, progress=None) -> list:
    """Sample and grade what is not on disk yet; return every record of the benchmark, those of earlier
    runs that this one does not ask for included."""
    bench = get_benchmark(name)
    samples = load_benchmark(name, cfg.limit)
    path = Path(cfg.out) / f"{name}.samples.jsonl"
    records = read_records(path)
    done = {(r["id"], r["mode"], r["sample_index"]) for r in records}
    with open(path, "a", encoding="utf-8") as handle, build(bench.reward) as reward:
        for mode, params in sampling_runs(cfg):
            todo = [(i, s) for i, s in enumerate(samples) if any((s.id, mode, j) not in done for j in range(params.n))]
            if not todo:
                continue
            ids = [template.encode(s.prompt, tokenizer) for _, s in todo]
            groups = engine.iter_generate(ids, params, prompt_keys=[i for i, _ in todo])
            for (_, sample), drawn in zip(todo, groups, strict=True):
                group = [c for c in drawn if (sample.id, mode, c.sample_index) not in done]  # only what is missing
                responses = [template.response(c.text) for c in group]
                values = reward.score(responses, [sample] * len(group))
                for completion, response, value in zip(group, responses, values, strict=True):
                    record = {
                        "id": sample.id,
                        "mode": mode,
                        "sample_index": completion.sample_index,
                        "prompt": sample.prompt,
                        "reference": sample.answer,
                        "response": response,
                        "answer": extracted_answer(bench.reward, response),
                        "correct": value,
                        "length": completion.length,
                        "finish_reason": completion.finish_reason,
                    }
                    write_record(handle, record)
                    records.append(record)
                    done.add((sample.id, mode, completion.sample_index))
                if progress is not None:
                    progress(name, mode, 1)
    return records


def requested(cfg: EvalConfig, name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records this evaluation asks for: of its first `limit` prompts, sample indices below `samples`,
    greedy ones when asked; the first record of each (prompt, mode, index)."""
    ids = {sample.id for sample in load_benchmark(name, cfg.limit)}
    sizes = {mode: params.n for mode, params in sampling_runs(cfg)}
    chosen: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in records:
        if r["id"] in ids and r["sample_index"] < sizes.get(r["mode"], 0):
            chosen.setdefault((r["id"], r["mode"], r["sample_index"]), r)
    return list(chosen.values())


def summarize(cfg: EvalConfig, name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of one benchmark over the records this evaluation asks for (see `requested`)."""
    bench = get_benchmark(name)
    order = {sample.id: index for index, sample in enumerate(load_benchmark(name, cfg.limit))}
    records = requested(cfg, name, records)
    sampled: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["mode"] == "sampled":
            sampled.setdefault(r["id"], []).append(r)
    rows = [sorted(sampled[i], key=lambda r: r["sample_index"]) for i in sorted(sampled, key=order.__getitem__)]
    correct = [[bool(r["correct"]) for r in row] for row in rows]
    summary: dict[str, Any] = {"benchmark": name, "problems": len(rows), "samples": cfg.samples}
    estimates: dict[str, Estimate] = {"pass@1": pass_at_1(correct)}
    for k in cfg.ks:
        if 1 < k <= cfg.samples:
            estimates[f"pass@{k}"] = pass_at_k_over_problems(correct, k)
    if bench.reward in ("accuracy_math", "accuracy_numeric") and cfg.samples > 1:
        from aha.rewards.grader import GraderPool

        with GraderPool(workers=1) as pool:

            def same(a: str, b: str) -> bool:
                return pool.grade(f"\\boxed{{{a}}}", b).correct is True

            answers = [[r["answer"] for r in row] for row in rows]
            estimates[f"cons@{cfg.samples}"] = cons_at_k(answers, [row[0]["reference"] for row in rows], same)
    greedy = sorted((r for r in records if r["mode"] == "greedy"), key=lambda r: order[r["id"]])
    if greedy:
        estimates["greedy"] = mean_with_stderr([float(bool(r["correct"])) for r in greedy])
    every = [r for row in rows for r in row]
    estimates["length"] = mean_with_stderr([float(r["length"]) for r in every])
    if bench.reward != "code":
        estimates["answered"] = mean_with_stderr([float(r["answer"] is not None) for r in every])
    summary["metrics"] = {key: asdict(value) for key, value in estimates.items()}
    summary["unchecked"] = sum(r["correct"] is None for r in records)
    return summary


def markdown(summaries: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for s in summaries for k in s["metrics"]))
    lines = ["| benchmark | problems | " + " | ".join(keys) + " |", "| --- | ---: |" + " ---: |" * len(keys)]
    for s in summaries:
        cells = []
        for key in keys:
            m = s["metrics"].get(key)
            if m is None:
                cells.append("")
            elif key == "length":
                cells.append(f"{m['value']:.1f} ± {m['stderr']:.1f}")
            else:
                cells.append(f"{100 * m['value']:.1f}% ± {100 * m['stderr']:.1f}")
        lines.append(f"| {s['benchmark']} | {s['problems']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_with(
    cfg: EvalConfig,
    engine: Any,
    template: Any,
    tokenizer: Any,
    progress: Callable[[str, str, int], None] | None = None,
    *,
    model_path: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate the engine's model on cfg.benchmarks into cfg.out (samples, summary.json, summary.md).

    The training loop calls this with its own engine and template, so the policy is evaluated in place.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in cfg.benchmarks:
        records = sample_benchmark(cfg, name, engine, template, tokenizer, progress)
        summaries.append(summarize(cfg, name, records))
    config = {**asdict(cfg), "model_path": model_path or cfg.model}
    write_text_atomically(out / "summary.json", json.dumps({"config": config, "benchmarks": summaries}, indent=2))
    write_text_atomically(out / "summary.md", markdown(summaries))
    return summaries


def run(cfg: EvalConfig, progress: Callable[[str, str, int], None] | None = None) -> list[dict[str, Any]]:
    from aha.devices import keep_freed_memory
    from aha.models import load
    from aha.rollout.engine import Engine

    keep_freed_memory()  # every micro-batch allocates a fresh key/value cache of the same size
    path = resolve_model(cfg.model)
    require_sandbox([get_benchmark(name).reward for name in cfg.benchmarks])  # before the model loads,
    claim(Path(cfg.out), fingerprint(cfg, path))  # and before the directory is bound: a refusal costs nothing
    template = get_template(cfg.template, system=cfg.system, think=cfg.think)
    if cfg.backend == "openai":  # the server samples; the model's tokenizer renders the prompts here
        from aha.models.load import load_tokenizer
        from aha.rollout.remote import EndpointBackend
        from aha.serve.client import ChatEndpoint

        tokenizer = load_tokenizer(path)
        endpoint = ChatEndpoint(cfg.base_url or "", model=cfg.served_model, api_key_env=cfg.api_key_env, timeout=600)
        backend = EndpointBackend(endpoint, tokenizer, cfg.concurrency)
        return evaluate_with(cfg, backend, template, tokenizer, progress, model_path=path)
    loaded = load(path, device=cfg.device, dtype=cfg.dtype)
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=cfg.max_rows, frozen_weights=True)
    return evaluate_with(cfg, engine, template, loaded.tokenizer, progress, model_path=path)
