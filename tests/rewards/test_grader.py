"""The math grader: extraction, normalisation, equivalence, time limits in threads and workers."""

from __future__ import annotations

import doctest
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import grader
from aha.rewards.equivalence import Normalized, normalize, to_number
from aha.rewards.grader import GraderPool, extract_answer
from tests.rewards.shared import grade


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


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("\\boxed{}", ""),
        ("\\boxed{ }", " "),
        ("\\boxed{}", "\\boxed{}"),
        ("The answer is $\\boxed{\\text{}}$.", ""),
        ("", ""),
    ],
)
def test_an_empty_answer_is_never_credited(response, reference):
    assert grade(response, reference).status == "no_answer"


def test_an_empty_reference_is_not_gradable():
    assert grade("\\boxed{7}", "").status == "bad_reference"
    assert grade("\\boxed{7}", "\\boxed{ }").status == "bad_reference"


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{3x - y = 2}", "y = 3x - 2", True),
        ("\\boxed{y = 3x - 2}", "6x - 2y - 4 = 0", True),
        ("\\boxed{2x = 10}", "x = 5", True),
        ("\\boxed{x^2 + y^2 = 25}", "y^2 = 25 - x^2", True),
        ("\\boxed{g(t) = t^2 + 1}", "y = 1 + t^2", True),  # both define the same function
        ("\\boxed{y = 3x - 2}", "3x - 2", True),  # an equation against a value: its value
        ("\\boxed{11}", "11 = n", True),
        ("\\boxed{y = 3x + 2}", "y = 3x - 2", False),
        ("\\boxed{x^2 = x}", "x = 1", False),  # multiplying by x adds the solution 0
        ("\\boxed{\\tan(x) = 2}", "\\cot(x) = 2", False),  # function names are not names being defined
    ],
)
def test_equations_against_equations(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{\\sin 30^\\circ}", "\\frac{1}{2}", True),
        ("\\boxed{\\cos(60°)}", "0.5", True),
        ("\\boxed{\\tan 45^{\\circ}}", "1", True),
        ("\\boxed{\\cos(180^\\circ - x)}", "-\\cos x", True),
        ("\\boxed{\\sin 30}", "\\frac12", False),  # 30 radians
        ("\\boxed{40^\\circ}", "40", True),  # outside a function the degree sign is a unit
    ],
)
def test_degrees_inside_trigonometric_functions(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{2:30 PM}", "14:30", True),
        ("\\boxed{14:30:00}", "2:30 p.m.", True),
        ("\\boxed{21:05}", "9:05 \\text{ pm}", True),
        ("\\boxed{12:10 AM}", "0:10", True),
        ("\\boxed{7:45}", "7:45:00", True),
        ("\\boxed{2:30 AM}", "14:30", False),
        ("\\boxed{9:15:30}", "9:15", False),
    ],
)
def test_times_in_12_and_24_hour_form_and_with_seconds(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{2, 5}", "\\boxed{2}, \\boxed{5}", True),
        ("\\boxed{5}", "\\boxed{2}, \\boxed{5}", False),
        ("So $a = \\boxed{3}$ and $b = \\boxed{-1}$.", "a = 3, b = -1", True),
        ("So $a = \\boxed{3}$ and $b = \\boxed{-1}$.", "b = -1", False),
        ("\\boxed{x=4}, \\boxed{y=-2}", "\\boxed{x=4}, \\boxed{y=-2}", True),
    ],
)
def test_several_boxes_in_answer_or_reference_are_all_kept(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("36 square feet", "36", True),
        ("8 crayons.", "8", True),
        ("5\\text{ cm}", "5", True),
        ("12 \\text{ marbles}", "12", True),
        ("8 crayons", "9", False),
    ],
)
def test_a_bare_answer_with_unit_words_is_an_answer(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{1.7321}", "\\sqrt{3}", True),  # a decimal of 4+ significant digits is read as rounded
        ("\\boxed{0.6667}", "\\frac{2}{3}", True),
        ("\\boxed{62.832}", "20\\pi", True),
        ("\\boxed{\\{0.5, 2.236\\}}", "\\{\\sqrt{5}, \\frac12\\}", True),
        ("\\boxed{1.73}", "\\sqrt{3}", False),  # too few digits to tell it from a wrong answer
        ("\\boxed{1.7340}", "\\sqrt{3}", False),
        ("\\boxed{0.6667}", "0.667", False),  # a decimal reference sets its own precision
    ],
)
def test_rounded_decimals_for_exact_references(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{i(3 + i)}", "-1 + 3i", True),  # i is the imaginary unit
        ("\\boxed{(1 - i)^2}", "-2i", True),
        ("\\boxed{i(3 + i)}", "1 + 3i", False),
        ("\\boxed{\\sqrt{a}\\sqrt{b}}", "\\sqrt{ab}", True),  # wherever both sides are real (as STACK)
        ("\\boxed{\\sqrt{a}\\sqrt{b}}", "-\\sqrt{ab}", False),
        ("\\boxed{\\frac{\\sqrt{k}}{k}}", "\\frac{1}{\\sqrt{k}}", True),
        ("\\boxed{t}", "\\sqrt{t^2}", False),  # not for negative t
        ("\\boxed{(x+1)^{0.5}(x+1)}", "(x+1)^{1.5}", True),
    ],
)
def test_complex_numbers_and_expressions_sympy_cannot_simplify(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{6x + 9y \\geq 12 + 3y}", "2x + 2y \\geq 4", True),  # scaled by a positive constant
        ("\\boxed{10 \\geq k}", "k \\leq 10", True),
        ("\\boxed{-2 < t - 5 \\leq 1}", "3 < t \\leq 6", True),
        ("\\boxed{8 \\geq 2 - 3w > -4}", "-2 \\leq w < 2", True),  # scaled by -3: the relations turn
        ("\\boxed{x > 4}", "x \\geq 4", False),
        ("\\boxed{-x > 4}", "x > -4", False),
    ],
)
def test_inequalities_against_inequalities(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("\\boxed{3 = 3}", "5 + 1 = 6", False),  # both true, but not the same statement
        ("\\boxed{6 = 5 + 1}", "5 + 1 = 6", True),
        ("\\boxed{3x = 3x + 6}", "x = x + 2", False),
        ("\\boxed{25x^2 + 4y^2 = 1,600}", "25x^2 + 4y^2 = 25(64)", True),  # thousands, and 25(64) is a product
        ("\\boxed{7(-2)}", "-14", True),
        ("\\boxed{\\sqrt[3](27)}", "3", True),
        ("\\boxed{\\sqrt[4]81}", "3", True),
        (
            "\\boxed{\\frac{3\\pi}{t} \\text{ meters per second}}",
            "\\frac{3\\pi}{t}",
            True,
        ),  # unit words after an expression
    ],
)
def test_equations_without_unknowns_and_number_notation(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("$x=2$ when $y>1$", "$x=2$ when $y>1$", True),  # prose with math: the reference itself is right
        ("$x=3$ when $y>1$", "$x=2$ when $y>1$", False),
    ],
)
def test_the_reference_word_for_word_is_correct(response, reference, correct):
    assert grade(response, reference).correct is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("The base angle is [35].", "35", True),
        ("The base angle is [35].", "55", False),
        ("The ratio comes out as [2/3].", "\\frac{2}{3}", True),
        ("Its range is [0, 4).", "[0,4)", True),
        ("Its range is [0, 4).", "[0,4]", False),  # the brackets are the answer's, not decoration
        ("<think>6 * 7 = 42\n<answer>42</answer>", "42", True),
        ("<think>6 * 7 = 42\n<answer>42</answer>", "48", False),
        ("<think>first <answer>42</answer> then 6 * 8 =", "42", False),  # cut off after a draft answer
    ],
)
def test_bracketed_answers_and_answer_elements_after_unclosed_reasoning(response, reference, correct):
    assert grade(response, reference).correct is correct


def test_timeout_is_reported_and_the_pool_recovers():
    pool = GraderPool(workers=1, timeout_s=2.0)
    try:
        slow = pool.grade("\\boxed{(a+b+c+f+g)^{40}}", "(a+b+c+f+g)^{39}")  # sympy expands for minutes
        assert slow.status == "timeout" and slow.correct is None and pool.counts["timeout"] == 1
        assert pool.grade("\\boxed{\\sqrt{4}}", "2").correct is True  # a fresh worker took over
    finally:
        pool.close()


def test_grading_works_outside_the_main_thread():
    results = []
    thread = threading.Thread(target=lambda: results.append(grader.grade("\\boxed{\\sqrt{8}}", "2\\sqrt{2}")))
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
