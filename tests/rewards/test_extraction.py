"""Finding the final answer of a response: precedence of boxes and phrases, labelled boxes, other languages,
answers inside a closing sentence, bare answers followed by what they count. Cases written for aha."""

from __future__ import annotations

import pytest

from aha.rewards.extraction import extract_answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        # a box is a commitment; a later "the answer is" in a check or remark does not replace it
        ("The perimeter is \\boxed{18}. Checking: the answer is consistent with the figure.", "18"),
        ("We get \\boxed{-4}.\n\nNote that the answer is negative because the slope falls.", "-4"),
        # Minerva's closing line is as formal as a box, so the later one wins
        ("Step 1 gives $\\boxed{30}$ per hour. Final Answer: The final answer is $240$. I hope it is correct.", "240"),
        ("Final Answer: The final answer is $11$. Then \\boxed{12}", "12"),
    ],
)
def test_a_box_beats_a_later_answer_phrase(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("The pool fills up.\nFinal Answer: She needs 14 buckets to fill it.", "14"),
        ("Answer: the train arrives 45 minutes late, not 30", "45"),
        ("Final answer: Tom has 7 marbles left after giving 5 away.", "7"),
    ],
)
def test_an_answer_sentence_yields_the_number_it_states(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Сложим все части. Ответ: 15", "15"),
        ("Vậy đáp án là 24.", "24"),
        ("Somando tudo, a resposta é 9.", "9"),
        ("Quindi la risposta è 3/4.", "3/4"),
        ("Dus het antwoord is 81.", "81"),
        ("Jadi jawabannya adalah 64.", "64"),
        ("したがって、答えは 6 です。", "6"),
        ("따라서 정답은 25", "25"),
        ("Kwa hiyo jibu ni 40.", "40"),
    ],
)
def test_answer_phrases_in_other_languages(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Hence $a = \\boxed{3}$ and $b = \\boxed{-1}$.", "a = 3, b = -1"),
        ("\\( p = \\boxed{2} \\), \\( q = \\boxed{7} \\)", "p = 2, q = 7"),
        ("\\boxed{x=4}, \\boxed{y=-2}", "x=4, y=-2"),
        ("The roots are \\boxed{-3} and \\boxed{5}.", "-3, 5"),
        ("First $m = \\boxed{2}$ is a draft. So the slope is \\boxed{6}.", "6"),  # prose between: only the last
    ],
)
def test_several_labelled_boxes_are_kept_together(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("12 marbles", "12"),
        ("36 square feet", "36"),
        ("3.5 hours.", "3.5 hours."),  # units the normaliser drops itself
        ("7\\text{ km}", "7\\text{ km}"),
        ("9 or 10", "9 or 10"),
    ],
)
def test_a_bare_answer_followed_by_what_it_counts(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("Add the two prices.\n17", "17"),
        ("We have 3 + 4.\n$7$", "7"),
        ("Steps:\n1. add\n2. halve", None),  # a numbered step is not an answer
    ],
)
def test_a_number_alone_on_the_last_line_is_the_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("\\boxed{5} \\boxed{5} \\boxed{5} \\boxed{8}", "8"),  # a box written again and again: the last
        ("\\boxed{-2} and \\boxed{1}", "-2, 1"),  # different boxes: a list
        ("x = \\boxed{1}, y = \\boxed{1}", "x = 1, y = 1"),  # labelled boxes: a list, even when equal
        ("so \\finalboxed{7}", "7"),  # a box glued to a command name
    ],
)
def test_repeated_and_glued_boxes(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("The side length is [12].", "[12]"),  # one value in brackets reads as that value
        ("So the slope is ( -3/4 ).", "( -3/4 )"),
        ("Tried [6] first, then the width is [8].", "[8]"),  # the last bracketed value
        ("The solution set is (2, 5].", "(2, 5]"),
        ("The vertex is (1, -9).", "(1, -9)"),  # not its last number, -9
        ("The derivative is g(t).", None),  # a function's argument, not a bracketed answer
        ("This follows from equation (4).", None),  # a label
    ],
)
def test_a_sentence_ending_in_a_bracketed_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("<think>3 + 4 = 7\n<answer>7</answer>", "7"),  # the reasoning was never closed, the answer was
        ("<think>first <answer>6</answer>, no: <answer>8</answer>\n", "8"),
        ("<think>so far <answer>7</answer> but wait, 3 + 5 is", None),  # it goes on thinking: cut off
        ("<think>the answer is 7", None),
    ],
)
def test_a_complete_answer_element_closes_unclosed_reasoning(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("\\text{volume} = 36\\pi", "\\text{volume} = 36\\pi"),  # a bare answer naming its quantity in words
        ("\\text{width}\\ =\\ 2r\\cos\\phi", "\\text{width}\\ =\\ 2r\\cos\\phi"),
        ("\\text{area} = 6 or more", None),  # words after the value: not a bare answer
    ],
)
def test_a_bare_answer_labelled_in_words(response, answer):
    assert extract_answer(response) == answer
