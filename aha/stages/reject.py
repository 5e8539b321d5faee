"""`aha reject` (stage `reject`): from an `aha sample` run to a curated SFT set, DeepSeek-R1's rejection
sampling.

Every completion first gets a verdict from the rule reward of its prompt set (the set the sample run
drew from; `reward=` overrides): a score of 1 is correct, anything lower incorrect, None unverifiable.
With a judge (`judge.url=` an OpenAI-compatible endpoint, or `judge.model=` a model aha loads; see
`aha.curate.judge`), the unverifiable ones (every one, with `judge.every=true`) go to it instead, shown the
question, the reference and the response's final part (after `</think>`); its unparseable replies and its
failures are removed and counted apart, never kept. Without a judge, unverifiable ones are dropped and
counted. The correct ones then pass the filters of `aha.curate.filters` in their fixed order. A completion
is removed by the first check that catches it, so the report's counts add up to the rows removed.

With `mix.share` above 0, non-reasoning examples (shipped: Self-Instruct's human-written instructions and
answers, no chain of thought) are added until they make that share of the set, as R1 added 200k to 600k.

The run directory holds `curated.jsonl` ({prompt_id, prompt, response, answer, source}: `aha sft` trains
on it as it is), `removed.jsonl` (each removed row with the check that removed it), and `report.md` /
`report.json`: rows removed per check with one example each, the pass rate per prompt, the response
lengths before and after, and the judge's counts; `judge_cache.jsonl` keeps the judge's verdicts for a rerun.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aha.curate.filters import FilterConfig, apply_filters
from aha.curate.judge import JudgeConfig
from aha.data.jsonl import read_jsonl
from aha.errors import AhaError, ConfigError, DataError
from aha.files import write_text_atomically
from aha.ranges import raise_problems
from aha.rewards import build
from aha.rewards import problems as reward_problems
from aha.track.run_dir import COMPLETIONS, CURATED, RunDir
from aha.types import Sample

REMOVED = "removed.jsonl"
JUDGE_CACHE = "judge_cache.jsonl"
VERDICTS = ("incorrect", "unverifiable", "unparseable", "judge_error")  # the last two: the judge's replies


@dataclass(frozen=True, kw_only=True)
class MixConfig:
    """Non-reasoning examples (answers without a chain of thought) mixed into the curated set, as R1 added
    200k of them to 600k reasoning samples (share 0.25)."""

    data: str = "general_instructions"  # a shipped set in aha/data/sets, or a JSONL of {instruction, input, output}
    share: float = 0.0  # of the final set; 0 = none
    seed: int = 0  # which examples, when fewer are needed than the data holds

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise_problems([("share", f"share={self.share} must be in [0, 1)")])


def general_path(mix: MixConfig) -> Path:
    from aha.tasks.sets import SETS_DIR

    shipped = SETS_DIR / f"{mix.data}.jsonl"
    path = shipped if shipped.is_file() else Path(mix.data)
    if not path.is_file():
        raise ConfigError(f"mix.data: {mix.data}: neither a shipped set nor a file")
    return path


def general_examples(mix: MixConfig, count: int) -> list[dict[str, Any]]:
    """`count` non-reasoning examples (all there are when fewer), in a seeded order."""
    import random

    path = general_path(mix)
    examples = []
    for line, record in read_jsonl(path):
        instruction, output = (
            record.get("instruction", record.get("prompt")),
            record.get("output", record.get("response")),
        )
        if not isinstance(instruction, str) or not isinstance(output, str) or not instruction or not output:
            raise DataError(f"{path}:{line}: give instruction and output (or prompt and response) as text")
        extra = record.get("input") or ""
        prompt = f"{instruction}\n\n{extra}" if extra else instruction
        examples.append({"prompt_id": str(record.get("id", f"{path.stem}/{line}")), "prompt": prompt,
                         "response": output, "answer": None, "source": "general"})  # fmt: skip
    random.Random(mix.seed).shuffle(examples)
    return examples[:count]


@dataclass(frozen=True, kw_only=True)
class RejectConfig:
    stage: str = "reject"
    name: str = "reject"
    samples: str = ""  # an `aha sample` run directory (or its completions.jsonl)
    reward: str | None = None  # the rule deciding correctness; default: the sampled prompt set's
    filters: FilterConfig = field(default_factory=FilterConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # off unless judge.url or judge.model is given

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = []
        if self.stage != "reject":
            problems.append(("stage", f"stage={self.stage!r}: this config is the reject stage's"))
        if not self.samples:
            problems.append(("samples", "samples: give an `aha sample` run directory"))
        if self.reward is not None:
            problems.extend(("reward", message) for _, message in reward_problems({self.reward: 1.0}, self.reward))
        raise_problems(problems)


def completions_path(cfg: RejectConfig) -> Path:
    path = Path(cfg.samples)
    path = path / COMPLETIONS if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"samples: {path}: no such file (give an `aha sample` run directory)")
    return path


def reward_name(cfg: RejectConfig) -> str:
    """The reward given, else the one of the prompt set the sample run drew from."""
    if cfg.reward is not None:
        return cfg.reward
    from aha.tasks.sets import PROMPT_SETS, get_set

    source = completions_path(cfg).parent / "config.yaml"
    prompts = RunDir(source.parent).config().get("prompts", "") if source.is_file() else ""
    if prompts in PROMPT_SETS:
        return get_set(prompts).reward
    return "accuracy_math"  # a user's JSONL of {prompt, answer}, as `aha sample` reads it


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line, text in enumerate(handle, 1):
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{line}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line}: not an `aha sample` record (not a JSON object)")
            missing = [k for k in ("prompt_id", "prompt_index", "prompt", "answer", "response") if k not in row]
            if missing:
                raise DataError(f"{path}:{line}: not an `aha sample` record (no {missing[0]})")
            rows.append(row)
    return rows


def preflight(cfg: RejectConfig) -> RejectConfig:
    if cfg.judge.model is not None:
        from aha.options import check_model

        check_model("judge.model", cfg.judge.model, cfg.judge.device, {"judge.max_tokens": cfg.judge.max_tokens})
    read_rows(completions_path(cfg))
    reward_name(cfg)
    if cfg.mix.share:
        general_examples(cfg.mix, 0)  # the file reads
    return cfg


def verdicts(rows: Sequence[dict[str, Any]], reward: str) -> list[str | None]:
    """None (correct), "incorrect" or "unverifiable" for each row, by the rule reward."""
    samples = [Sample(id=r["prompt_id"], prompt=r["prompt"], answer=str(r["answer"]), meta=r.get("meta") or {})
               for r in rows]  # fmt: skip
    with build(reward) as scorer:
        scores = scorer.score([r["response"] for r in rows], samples)
    return [None if s is not None and s >= 1.0 else "incorrect" if s is not None else "unverifiable" for s in scores]


def final_part(response: str) -> str:
    """What a response answers with: the part after its last `</think>`, or all of it."""
    return response.rsplit("</think>", 1)[-1].strip()


def judge_verdicts(
    rows: Sequence[dict[str, Any]], rule: list[str | None], judge: JudgeConfig, cache: Path | None
) -> tuple[list[str | None], dict[str, int]]:
    """The rule's verdicts with the judge's in place of those it decides (every row with judge.every, else the
    unverifiable ones that have a reference), and the judge's counts."""
    from aha.curate.judge import Judge

    asked = [i for i, (row, verdict) in enumerate(zip(rows, rule, strict=True))
             if (judge.every or verdict == "unverifiable") and str(row["answer"] or "").strip()]  # fmt: skip
    judged = Judge(judge, cache).judge_many([(rows[i]["prompt"], str(rows[i]["answer"]),
                                              final_part(rows[i]["response"])) for i in asked])  # fmt: skip
    merged = list(rule)
    removal = {"correct": None, "incorrect": "incorrect", "unparseable": "unparseable", "error": "judge_error"}
    for i, verdict in zip(asked, judged.verdicts, strict=True):
        merged[i] = removal[verdict.kind]
    return merged, {"asked": len(asked), **judged.counts}


def _lengths(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    tokens = [r.get("tokens") or 0 for r in rows]  # None: an endpoint that reported no usage
    return {"rows": len(rows), "mean_tokens": statistics.fmean(tokens) if tokens else 0.0}


def curate(
    rows: list[dict[str, Any]],
    reward: str,
    filters: FilterConfig,
    judge: JudgeConfig | None = None,
    judge_cache: Path | None = None,
) -> dict[str, Any]:
    """Kept rows, removed rows by check, and the report's figures."""
    removed: dict[str, list[dict[str, Any]]] = {verdict: [] for verdict in VERDICTS}
    correct = []
    decided = verdicts(rows, reward) if judge is None or not judge.every else ["unverifiable"] * len(rows)
    judged = None
    if judge is not None and judge.enabled:
        decided, judged = judge_verdicts(rows, decided, judge, judge_cache)
    for row, verdict in zip(rows, decided, strict=True):
        (correct if verdict is None else removed[verdict]).append(row)
    filtered = apply_filters(correct, filters)
    removed.update(filtered.removed)
    prompts: dict[str, list[int]] = {}
    for row in rows:
        prompts.setdefault(row["prompt_id"], [0, 0])[1] += 1
    for row in correct:
        prompts[row["prompt_id"]][0] += 1
    rates = [right / total for right, total in prompts.values()]
    report = {
        "reward": reward,
        "judge": judged,  # None without a judge; else asked, correct, incorrect, unparseable, error, cached
        "rows": len(rows),
        "kept": len(filtered.kept),
        "removed": {check: len(found) for check, found in removed.items()},
        "examples": {check: found[0]["response"] for check, found in removed.items() if found},
        "prompts": len(prompts),
        "prompts_kept": len({r["prompt_id"] for r in filtered.kept}),
        "pass_rate_mean": statistics.fmean(rates) if rates else 0.0,
        "pass_rate_histogram": {f"{k}/{n}": v for (k, n), v in sorted(Counter(map(tuple, prompts.values())).items())},
        "before": _lengths(rows),
        "after": _lengths(filtered.kept),
    }
    return {"kept": filtered.kept, "removed": removed, "report": report}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Rejection sampling report",
        "",
        f"{report['rows']} completions of {report['prompts']} prompts, verdicts by `{report['reward']}`: "
        f"**{report['kept']} kept** ({report['prompts_kept']} prompts), "
        f"{report['rows'] - report['kept']} removed. Mean pass rate per prompt {report['pass_rate_mean']:.1%}.",
        "",
        *judge_lines(report.get("judge")),
        "| check | removed | example |",
        "| --- | --- | --- |",
    ]
    for check, count in report["removed"].items():
        example = report["examples"].get(check, "")
        example = " ".join(example.split())[:120].replace("|", "\\|")
        lines.append(f"| {check} | {count} | {example} |")
    lines += [
        "",
        "| | rows | mean tokens |",
        "| --- | --- | --- |",
        f"| before | {report['before']['rows']} | {report['before']['mean_tokens']:.1f} |",
        f"| after | {report['after']['rows']} | {report['after']['mean_tokens']:.1f} |",
        "",
        (
            f"Mixed in: {report['mix']['mixed']} non-reasoning examples from `{report['mix']['data']}` (share "
            f"{report['mix']['share']:.0%}; {report['mix']['wanted']} wanted)."
            if report.get("mix", {}).get("wanted")
            else "No non-reasoning examples mixed in."
        ),
        "",
        "Prompts by correct / sampled: "
        + ", ".join(f"{key}: {count}" for key, count in report["pass_rate_histogram"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def judge_lines(judged: dict[str, int] | None) -> list[str]:
    if not judged:
        return []
    return [f"The judge was asked about {judged['asked']} completions ({judged['cached']} answered from its cache): "
            f"{judged['correct']} correct, {judged['incorrect']} incorrect, {judged['unparseable']} unparseable "
            f"replies and {judged['error']} failures (both removed).", ""]  # fmt: skip


def run(
    cfg: RejectConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Curate the sampled completions into run_dir (redone whole on resume: it takes seconds)."""
    from aha.config import to_dict

    rows = read_rows(completions_path(cfg))
    reward = reward_name(cfg)
    directory = RunDir(run_dir)
    if resume and not directory.is_run():
        raise AhaError(f"{directory.path}: not a run directory (no config.yaml)")
    if not resume:
        directory.claim(to_dict(cfg))
    result = curate(rows, reward, cfg.filters, cfg.judge, directory.path / JUDGE_CACHE)
    curated = [{"prompt_id": r["prompt_id"], "prompt": r["prompt"], "response": r["response"], "answer": r["answer"],
                "source": "reasoning"} for r in result["kept"]]  # fmt: skip
    report = result["report"]
    wanted = round(cfg.mix.share / (1.0 - cfg.mix.share) * len(curated))
    general = general_examples(cfg.mix, wanted) if wanted else []
    report["mix"] = {"data": cfg.mix.data, "share": cfg.mix.share, "wanted": wanted, "mixed": len(general)}
    curated += general
    removed = [{"check": check, **row} for check, found in result["removed"].items() for row in found]
    for name, records in ((CURATED, curated), (REMOVED, removed)):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        write_text_atomically(directory.path / name, text)
    write_text_atomically(directory.path / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    write_text_atomically(directory.path / "report.md", markdown(report))
    return {"first": None, "last": None, "run_dir": str(directory.path), "summary": report}
