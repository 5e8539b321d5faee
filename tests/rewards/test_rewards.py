"""Reward registry, format rewards, answer extraction and numeric accuracy, on hand-written responses."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.rewards import REWARDS, combine, get, register
from aha.rewards.answers import final_answer, last_boxed
from aha.rewards.arithmetic import parse_number
from aha.types import Sample

S = Sample(id="t", prompt="What is 7 * 8?", answer="56")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<think> 7*8 = 56 </think> <answer> 56 </answer>", 1.0),
        ("<think>\nstep\n</think>\n<answer>56</answer>\n", 1.0),
        ("Sure! <think> x </think> <answer> 56 </answer>", 0.0),  # text outside
        ("<think> x </think> <answer> 56 </answer> bye", 0.0),
        ("<think> x <think> y </think> </think> <answer> 56 </answer>", 0.0),  # nested
        ("<think> x </think> <answer> 56 </answer><answer>57</answer>", 0.0),  # duplicated
        ("<answer> 56 </answer> <think> x </think>", 0.0),  # order
        ("<think> </think> <answer> 56 </answer>", 0.0),  # empty reasoning
        ("56", 0.0),
    ],
)
def test_strict_format(response, expected):
    assert get("format")(response, S) == expected


def test_partial_format_credit_counts_tags_in_order():
    tags = get("format_tags")
    assert tags("<think> x </think> <answer> 56 </answer>", S) == 1.0
    assert tags("<think> x </think> 56", S) == 0.5
    assert tags("</think> <think>", S) == 0.25
    assert tags("no tags", S) == 0.0


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("so \\boxed{56}", "56"),
        ("\\boxed{\\frac{1}{2}} and later \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("<think> maybe \\boxed{12} </think> the answer is \\boxed{56}", "56"),
        ("<think> maybe \\boxed{12} </think> no answer here", None),
        ("<answer> \\boxed{56} </answer>", "56"),
        ("<answer> 56 </answer>", "56"),
        ("\\boxed{unclosed", None),
    ],
)
def test_final_answer_extraction(response, answer):
    assert final_answer(response) == answer


def test_last_boxed_handles_nested_braces():
    assert last_boxed("\\boxed{\\sqrt{\\frac{a}{b}}}") == "\\sqrt{\\frac{a}{b}}"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234", Fraction(1234)),
        ("-3.5", Fraction(-7, 2)),
        ("7/2", Fraction(7, 2)),
        ("$12.", Fraction(12)),
        ("x = 4", Fraction(4)),
        ("1e3", Fraction(1000)),
        ("four", None),
        ("3 apples", None),
        ("1/0", None),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


def test_numeric_accuracy():
    acc = get("accuracy_numeric")
    assert acc("<think> x </think> <answer> 56 </answer>", S) == 1.0
    assert acc("\\boxed{56.0}", S) == 1.0
    assert acc("\\boxed{57}", S) == 0.0
    assert acc("56", S) == 0.0  # no committed answer
    assert acc("\\boxed{56}", Sample(id="x", prompt="", answer="n/a")) is None


def test_combine_weights_in_one_place_and_keeps_components():
    scorer = combine({"accuracy_numeric": 1.0, "format": 0.5})
    scored = scorer("<think> x </think> <answer> 56 </answer>", S)
    assert scored.total == 1.5 and scored.components == {"accuracy_numeric": 1.0, "format": 1.0}
    scored = scorer("\\boxed{56}", Sample(id="x", prompt="", answer="n/a"))
    assert scored.total == 0.0 and scored.components["accuracy_numeric"] is None


def test_registry_rejects_duplicates_and_names_known_rewards():
    get("format")  # loads the built-ins
    with pytest.raises(ValueError, match="twice"):
        register("format")(lambda response, sample: 0.0)
    with pytest.raises(KeyError, match="accuracy_numeric"):
        get("nope")
    assert {"format", "format_tags", "accuracy_numeric"} <= set(REWARDS)


FUZZ_SAMPLE = Sample(
    id="f",
    prompt="What is 7 * 8?",
    answer="56",
    meta={"nums": [7, 8, 1], "target": 56, "test_list": ["assert f(1) == 1"], "language": "en"},
)
FUZZ_ALPHABET = list("<>/\\{}thinkanswerboxedfrac 0123456789.,-+*()=$%:^_\n答案是１２。")
TIME_LIMIT_S = {"accuracy_math": 6.0}  # the grader's worker time limit plus a margin; others: 1 s


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(FUZZ_ALPHABET), max_size=200))
def test_no_reward_raises_or_overruns_on_arbitrary_text(text):
    import time

    get("format")  # registers the built-in rewards
    for name in sorted(REWARDS):
        if name.startswith("test_") or name.startswith("code"):
            continue  # rewards registered by other tests; the code rewards have their own fuzz test
        start = time.perf_counter()
        value = get(name)(text, FUZZ_SAMPLE)
        assert value is None or 0.0 <= value <= 1.0, name
        assert time.perf_counter() - start < TIME_LIMIT_S.get(name, 1.0), name


def test_docstring_examples_run():
    import doctest

    from aha.rewards import arithmetic, countdown
    from aha.rewards import format as format_rewards

    for module in (arithmetic, countdown, format_rewards):
        result = doctest.testmod(module, extraglobs={"Sample": Sample})
        assert result.attempted > 0 and result.failed == 0


def test_batch_forms_equal_the_single_forms():
    from aha.rewards import get_batch

    math_sample = Sample(id="m", prompt="", answer="\\frac{1}{2}")
    code_sample = Sample(id="c", prompt="", answer="", meta={"test_list": ["assert f(2) == 4", "assert f(0) == 1"]})
    cases = {
        "accuracy_math": (["\\boxed{0.5}", "\\boxed{\\sqrt{1/4}}", "\\boxed{2}", "<think> cut"], math_sample),
        "code_fraction": (
            ["```python\ndef f(x):\n    return x * x\n```", "no code", "```python\nf = 1\n```"],
            code_sample,
        ),
        "format": (["<think> a </think> <answer> 1 </answer>", "x"], S),
    }
    for name, (responses, sample) in cases.items():
        samples = [sample] * len(responses)
        assert get_batch(name)(responses, samples) == [get(name)(r, sample) for r in responses], name
    scorer = combine({"accuracy_math": 1.0, "format_tags": 0.5})
    responses = cases["accuracy_math"][0]
    assert scorer.many(responses, [math_sample] * 4) == [scorer(r, math_sample) for r in responses]
