"""The grader against the tuning part of its corpus (1645 labelled cases from peers' grader test suites and our
own, see data/GRADER_CASES.md): agreement of at least 98%, no case at the time limit, and no disagreement
beyond the known ones listed here (each a convention peers do not share, or beyond what an answer grader can
see). The held-out part is not checked here: `aha bench rewards` reports it (and the doc says how it was used)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from aha.rewards.grader import GraderPool

CASES = Path(__file__).parent / "data" / "grader_cases.jsonl"
KNOWN_DISAGREEMENTS = {
    "le/23": "a math span holding prose ('$? just about 1$')",
    "mario/2": "'I' as the imaginary unit with a rounded coefficient beside a variable (x + 1.414I)",
    "pie/47": "\\text{eggs} inside an equation",
    "stack/8": "STACK (Maxima floats): 452 is not 4.52*10^2",
    "stack/10": "STACK: floats are exact, so 0.333333333333333 is not 1/3 (aha reads 4+ digits as rounded)",
    "stack/16": "STACK: floats are exact (0.333333333333333*x^2 against x^2/3)",
    "stack/19": "STACK: 100.4-80.0 is not 20.4 in floating point",
    "stack/72": "STACK marks log|x^2-9| = log|x-3| + log|x+3| different; they are equal where defined",
    "stack/78": "aha's convention: the answer 1 answers x = 1",
    "stack/86": "STACK: two identities (x=x, y=y) are the same; aha compares them side by side, as pie-framework",
    "stack/89": "STACK: 1/x+1/y=2 and y=x/(2x-1) (multiplied by x y (2x-1)); not the same where x = 0",
    "stack/114": "STACK: two identities (a=a, x=x) are the same equation",
    "stack/115": "STACK: two contradictions (2=3, 1=4) are the same equation",
    "stack/116": "STACK: two contradictions (2=3, 2=4) are the same equation",
    "stack/118": "STACK: |x|=|y| and (x-y)(x+y)=0 have the same solutions; not proportional",
    "stack/134": "STACK: a>1 and x>1 (another unknown) have the same solutions",
    "kas/20": "aha's convention: y = x answers x",
    "kas/21": "aha's convention: the reference y = x is answered by x",
    "kas/45": "KAS: an equation multiplied by an unknown that is in no denominator (yz = 2xz - 5z) is the same",
    "doenet/124": "atan2(y, x), a programming function, is not read (the syntax filter let it through as atan)",
    "doenet/150": "Doenet: 1E-50 sin(x) is not 1E-50 cos(x); aha compares values below 1e-12 as equal",
    "doenet/179": "Doenet reads f^2(x) as f(f(x)); aha as f(x)^2, as for sin^2(x)",
}


def test_grader_agrees_with_the_labelled_cases():
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 400
    pool = GraderPool(workers=2)
    try:
        grades = pool.grade_many((c["response"], c["reference"]) for c in cases)
    finally:
        pool.close()
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong = {}
    for case, grade in zip(cases, grades, strict=True):
        assert grade.status != "timeout", case["id"]  # the time limit is 5 s per case
        source = per_source[case["source"].split(":")[0]]
        source[1] += 1
        if grade.correct == case["expected"]:
            source[0] += 1
        else:
            wrong[case["id"]] = (grade.status, grade.answer)
    report = {name: f"{ok}/{total}" for name, (ok, total) in sorted(per_source.items())}
    agreement = 1 - len(wrong) / len(cases)
    assert agreement >= 0.98, (agreement, report, wrong)
    assert set(wrong) <= set(KNOWN_DISAGREEMENTS), {k: v for k, v in wrong.items() if k not in KNOWN_DISAGREEMENTS}
