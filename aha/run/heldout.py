"""Held-out evaluation during a run: greedy completions of the held-out prompts, scored by the run's own
rewards; one record per evaluation in eval.jsonl and every completion in eval_samples.jsonl."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aha.rewards.language import language_consistency
from aha.rollout.engine import Engine
from aha.run.scoring import Scorer
from aha.track.reflection import reflection_rate
from aha.track.run_dir import RunDir
from aha.types import Sample, SamplingParams


def language_metrics(texts: Sequence[str], samples: Sequence[Sample]) -> dict[str, float]:
    """For prompt sets that name their reasoning's language (`meta["language"]`, e.g. zh_math): the mean
    share of chain-of-thought words in that language (`language_consistency`), and the share of
    chains of thought mostly in it (`cot_in_language`: more than half their words); {} for other sets."""
    if not any(s.meta.get("language") for s in samples):
        return {}
    shares = [language_consistency(t, s) for t, s in zip(texts, samples, strict=True)]
    return {
        "language_consistency": sum(shares) / len(shares),
        "cot_in_language": sum(share > 0.5 for share in shares) / len(shares),
    }


def evaluate_held_out(
    step: int,
    samples: Sequence[Sample],
    engine: Engine,
    scorer: Scorer,
    run_dir: RunDir,
    *,
    max_new_tokens: int,
    stop: tuple[str, ...],
    reflection_words: tuple[str, ...],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Greedy held-out accuracy, format rate, length and reflection rate at `step`; the eval.jsonl record
    (with `extra`'s fields, such as a held-out loss, in front)."""
    start = time.perf_counter()
    params = SamplingParams(temperature=0, max_new_tokens=max_new_tokens, stop=stop)
    groups = engine.generate([scorer.prompter.encode(s) for s in samples], params)
    scored = scorer.score(samples, groups, learn=False)
    texts = [scorer.prompter.response(g.completions[0].text) for g in scored]
    checked = [g.accuracy[0] for g in scored if g.accuracy[0] is not None]
    record = {
        **(extra or {}),
        "step": step,
        "accuracy": sum(checked) / len(checked) if checked else 0.0,
        "unverifiable": len(scored) - len(checked),
        "format_rate": sum(g.formatted[0] for g in scored) / len(scored),
        "length_mean": sum(len(g.completions[0].token_ids) for g in scored) / len(scored),
        "reflection_rate": reflection_rate(texts, reflection_words),
        "prompts": len(scored),
        **language_metrics(texts, samples),
        "seconds": round(time.perf_counter() - start, 2),
    }
    run_dir.append("eval.jsonl", record)
    for sample, group in zip(samples, scored, strict=True):
        completion = group.completions[0]
        run_dir.append(
            "eval_samples.jsonl",
            {
                "step": step,
                "id": sample.id,
                "answer": sample.answer,
                "completion": completion.text,
                "correct": group.accuracy[0],
                "formatted": group.formatted[0],
                "length": len(completion.token_ids),
                "finish_reason": completion.finish_reason,
            },
        )
    return record
