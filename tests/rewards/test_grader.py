"""The math grader: extraction, normalisation, equivalence, time limits in threads and workers."""

from __future__ import annotations

import doctest
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import grader
from aha.rewards.equivalence import Normalized, normalize, to_number
from aha.rewards.grader import GraderPool, extract_answer, grade


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("<think> try \\boxed{3} </think> So the answer is \\boxed{4}.", "4"),
        ("<think> 2 + 2 = 4 so the answer is", None),  # cut off inside the reasoning
        ("<think> a </think> <answer> \\boxed{\\frac{1}{2}} </answer>", "\\frac{1}{2}"),
        ("<think> a </think> <answer> 7 </answer>", "7"),
        ("\\boxed{\\frac{a}{\\sqrt{b}}} is it", "\\frac{a}{\\sqrt{b}}"),
        ("Natalia sold 48 clips.\n#### 72", "72"),
        ("We add them. The final answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("所以答案是 12。", "12"),
        ("Donc la réponse est 3,5.", "3,5"),
        ("42", "42"),
        ("A long derivation\nwith several lines and the number 12 somewhere but no commitment.", None),
    ],
)
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ("\\$1,234.50.", "1234.50"),
        ("１２３", "123"),
        ("\\dfrac{3}{4}", "\\frac{3}{4}"),
        ("\\left( 1, 2 \\right]", "( 1, 2 ]"),
        ("5\\text{ cm}^2", "5"),
        ("12 apples", "12"),
        ("30^\\circ", "30"),
        ("x = -2", "-2"),
        ("2\\frac{1}{2}", "(2+\\frac{1}{2})"),
        ("-3 1/4", "-(3+\\frac{1}{4})"),
        ("1.2 \\times 10^{-3}", "1.2e-3"),
        ("3:05 p.m.", "3:05 pm"),
        ("\\text{(B)}", "B"),
        ("1 000 000", "1000000"),
    ],
)
def test_normalize(answer, text):
    assert normalize(answer).text == text


def test_percent_is_remembered():
    assert normalize("50\\%") == Normalized("50", percent=True)
    assert normalize("12.5 percent") == Normalized("12.5", percent=True)
    assert to_number("(2+\\frac{1}{2})") == to_number("5/2") == to_number("2.5")


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{0.5}", "\\frac{1}{2}", True),
        ("\\boxed{50\\%}", "0.5", True),
        ("\\boxed{2\\frac{1}{2}}", "\\frac{5}{2}", True),
        ("\\boxed{1.2 \\times 10^{-3}}", "0.0012", True),
        ("\\boxed{\\{2, 1\\}}", "\\{1,2\\}", True),
        ("\\boxed{(2, 1)}", "(1,2)", False),
        ("\\boxed{(1, 2]}", "(1,2)", False),
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\sqrt{2}/2", True),
        ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
        ("\\boxed{3.14}", "\\pi", False),
        ("\\boxed{3:45 PM}", "3:45", True),
        ("\\boxed{3:45 PM}", "3:45 a.m.", False),
        ("所以答案是 \\boxed{１２}", "12", True),
        ("Donc la réponse est 3,5.", "3.5", True),
        ("The answer is 3,500.", "3500", True),
        ("<think> \\boxed{12} </think> I am not sure.", "12", False),
        ("<think> ... the answer is 12", "12", False),
        ("\\boxed{13}", "12", False),
    ],
)
def test_grade(response, reference, correct):
    assert grade(response, reference).correct is correct


def test_timeout_is_reported_and_the_pool_recovers():
    pool = GraderPool(workers=1, timeout_s=2.0)
    try:
        slow = pool.grade("\\boxed{(x+1)^{100000}}", "\\frac{1}{3}+x")  # sympy expands for minutes
        assert slow.status == "timeout" and slow.correct is None and pool.counts["timeout"] == 1
        assert pool.grade("\\boxed{\\sqrt{4}}", "2").correct is True  # a fresh worker took over
    finally:
        pool.close()


def test_grading_works_outside_the_main_thread():
    results = []
    thread = threading.Thread(target=lambda: results.append(grade("\\boxed{\\sqrt{8}}", "2\\sqrt{2}")))
    thread.start()
    thread.join(60)
    assert [g.correct for g in results] == [True]


def test_batch_equals_one_by_one():
    pairs = [
        ("\\boxed{\\sqrt{9}}", "3"),
        ("\\boxed{x^2}", "x\\cdot x"),
        ("I cannot say.\nIt is unclear.", "1"),
        ("\\boxed{2}", "3"),
    ] * 3
    batch = grader.grade_many(pairs, workers=2)
    assert [g.status for g in batch] == [grade(*p).status for p in pairs]
    assert [g.status for g in batch[:4]] == ["correct", "correct", "no_answer", "wrong"]


def test_an_unparseable_reference_is_not_a_wrong_answer():
    assert grade("\\boxed{x^2+}", "$$").status == "bad_reference"


def test_docstrings():
    assert doctest.testmod(grader).failed == 0


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("\\{}boxedfracsqrt^_0123456789.,+-=()<>/ $%:答案是０１²°")), max_size=60))
def test_arbitrary_text_never_raises(text):
    assert grade(f"<think>a</think>{text}", "12").status in ("correct", "wrong", "no_answer", "timeout", "error")
    assert normalize(text).text is not None
