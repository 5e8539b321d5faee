"""Math grader throughput and agreement: aha's grader vs math-verify used directly, on the same pairs.

The pairs are typical answers: every shipped MATH-500 and GSM8K test solution graded against its own
reference (should be correct) and against the next problem's reference (should be wrong, except where
two references coincide). Both graders see the same strings; the symbolic cache starts empty.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aha.data.jsonl import read_jsonl

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "rewards" / "data"  # in a source checkout only
CORPUS_PARTS = {"tuning": "grader_cases.jsonl", "held-out": "grader_cases_heldout.jsonl"}


def typical_pairs(limit: int | None = None) -> list[tuple[str, str, bool]]:
    """(response, reference, expected) from the shipped MATH-500 and GSM8K test solutions."""
    pairs: list[tuple[str, str, bool]] = []
    from aha.tasks.sets import get_set

    for path in (get_set("math500").path("test"), get_set("gsm8k").path("test")):
        if not path.is_file():
            continue
        records = [record for _, record in read_jsonl(path)][:limit]
        for index, record in enumerate(records):
            following = records[(index + 1) % len(records)]
            pairs.append((record["solution"], record["answer"], True))
            pairs.append((record["solution"], following["answer"], record["answer"] == following["answer"]))
    return pairs


def run(limit: int | None = None, workers: int = 2) -> dict[str, Any]:
    from math_verify import parse, verify

    from aha.rewards import grader

    pairs = typical_pairs(limit)
    grader._SYMBOLIC_CACHE.data.clear()
    pool = grader.GraderPool(workers=workers)
    pool.grade("\\boxed{\\sqrt{4}}", "2")  # start the workers outside the timed part
    grader._SYMBOLIC_CACHE.data.clear()
    start = time.perf_counter()
    grades = pool.grade_many((response, reference) for response, reference, _ in pairs)
    aha_seconds = time.perf_counter() - start
    pool.close()

    start = time.perf_counter()
    baseline = [bool(verify(parse(reference), parse(response))) for response, reference, _ in pairs]
    baseline_seconds = time.perf_counter() - start

    expected = [e for _, _, e in pairs]
    statuses: dict[str, int] = {}
    for g in grades:
        statuses[g.status] = statuses.get(g.status, 0) + 1
    return {
        "pairs": len(pairs),
        "workers": workers,
        "aha_seconds": round(aha_seconds, 3),
        "aha_pairs_per_s": round(len(pairs) / aha_seconds, 1),
        "aha_agreement": sum(g.correct == e for g, e in zip(grades, expected, strict=True)) / len(pairs),
        "aha_statuses": statuses,
        "math_verify_seconds": round(baseline_seconds, 3),
        "math_verify_pairs_per_s": round(len(pairs) / baseline_seconds, 1),
        "math_verify_agreement": sum(b == e for b, e in zip(baseline, expected, strict=True)) / len(pairs),
        "ratio": round(baseline_seconds / aha_seconds, 2),
    }


def corpus(path: Path, workers: int = 2) -> dict[str, Any]:
    """Agreement of aha's grader and of math-verify alone (`verify(parse(reference), parse(response))`, default
    settings) with the labels of one part of the grader corpus, overall and per source repository."""
    from math_verify import parse, verify

    from aha.rewards import grader

    cases = [record for _, record in read_jsonl(path)]
    pool = grader.GraderPool(workers=workers)
    try:
        grades = pool.grade_many((case["response"], case["reference"]) for case in cases)
    finally:
        pool.close()
    per_source: dict[str, list[int]] = {}
    aha_agree = baseline_agree = 0
    for case, grade in zip(cases, grades, strict=True):
        try:
            baseline = bool(verify(parse(case["reference"]), parse(case["response"])))
        except Exception:  # math-verify's own failures count as "not equal", as its callers treat them
            baseline = False
        ok = grade.correct == case["expected"]
        aha_agree += ok
        baseline_agree += baseline == case["expected"]
        counts = per_source.setdefault(case["source"].split(":")[0], [0, 0, 0])
        counts[0] += ok
        counts[1] += baseline == case["expected"]
        counts[2] += 1
    return {
        "cases": len(cases),
        "aha_agreement": aha_agree / len(cases),
        "math_verify_agreement": baseline_agree / len(cases),
        "per_source": {
            name: {"aha": a, "math_verify": b, "cases": n} for name, (a, b, n) in sorted(per_source.items())
        },
    }
