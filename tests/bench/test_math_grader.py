"""aha bench math-grader: corpus agreement counts both graders."""

from __future__ import annotations

import json


def test_corpus_agreement_counts_both_graders(tmp_path):
    from aha.bench import math_grader

    cases = [
        {"source": "a/b:t", "response": "\\boxed{\\frac{1}{2}}", "reference": "0.5", "expected": True},
        {"source": "a/b:t", "response": "\\boxed{3}", "reference": "4", "expected": False},
        {"source": "c/d:t", "response": "14:30", "reference": "2:30 PM", "expected": True},
        {"source": "c/d:t", "response": "\\boxed{}", "reference": "", "expected": False},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    result = math_grader.corpus(path, workers=1)
    assert result["cases"] == 4 and result["aha_agreement"] == 1.0
    assert result["per_source"]["a/b"] == {"aha": 2, "math_verify": 2, "cases": 2}
    assert result["per_source"]["c/d"]["aha"] == 2
