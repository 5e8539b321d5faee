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

SETS = Path(__file__).resolve().parent.parent / "data" / "sets"


def typical_pairs(limit: int | None = None) -> list[tuple[str, str, bool]]:
    """(response, reference, expected) from the shipped MATH-500 and GSM8K test solutions."""
    pairs: list[tuple[str, str, bool]] = []
    for name in ("math500.jsonl", "gsm8k_test.jsonl"):
        path = SETS / name
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
