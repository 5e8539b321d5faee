"""Language consistency and the R1 readable format."""

from __future__ import annotations

import doctest

import pytest

from aha.rewards import format as format_rewards
from aha.rewards import get, language
from aha.types import Sample

ZH = Sample(id="z", prompt="小明有 3 个苹果，又买了 2 个，一共有几个？", answer="5")
EN = Sample(id="e", prompt="Tom has 3 apples and buys 2 more. How many?", answer="5")


@pytest.mark.parametrize(
    ("response", "sample", "value"),
    [
        ("<think> 三加二等于五 </think> 5", ZH, 1.0),  # 6 CJK words, no Latin
        ("<think> three plus two is five </think> 5", ZH, 0.0),
        ("<think> three plus two is five </think> 5", EN, 1.0),
        ("<think> 三加二 is five </think> 5", EN, 0.4),  # 3 zh + 2 en: 2 of 5 in English
        ("<think> 三加二 is five </think> 5", ZH, 0.6),
        ("<think> \\frac{3}{2} + 2 = 3.5 </think> 3.5", EN, 0.0),  # no words at all
        ("<think> 先想一想，cut off", ZH, 4 / 6),  # a cut-off reasoning is still reasoning
    ],
)
def test_language_share(response, sample, value):
    assert get("language")(response, sample) == pytest.approx(value)


def test_target_language_from_meta_overrides_the_prompt():
    sample = Sample(id="x", prompt=EN.prompt, answer="5", meta={"language": "zh"})
    assert get("language")("<think> 三加二 </think> 5", sample) == 1.0


def test_answer_text_outside_the_reasoning_is_not_counted():
    assert get("language")("<think> 三加二 </think> The answer is five.", ZH) == 1.0


@pytest.mark.parametrize(
    ("response", "value"),
    [
        ("<think> 2 + 3 = 5 </think> The total is 5.", 1.0),
        ("<think>\n2 + 3 = 5\n</think>\n\n**Summary:** 5", 1.0),
        ("<think> 2 + 3 = 5 </think>", 0.0),  # no summary
        ("<think>  </think> 5", 0.0),  # empty reasoning
        ("2 + 3 = 5 </think> 5", 0.0),  # opening tag missing
        ("<think> a <think> b </think> 5", 0.0),  # duplicated
        ("<think> a </think> 5 </think>", 0.0),
        ("The total is 5. <think> 2 + 3 </think> 5", 0.0),  # text before the reasoning
    ],
)
def test_readable_format(response, value):
    assert get("format_readable")(response, EN) == value


@pytest.mark.parametrize(
    ("response", "value"),
    [
        ("<think> a </think> <answer> 5 </answer>", 1.0),
        ("<think> a <answer> 4 </answer> </think> <answer> 5 </answer>", 0.0),  # nested / duplicated
        ("<think> <think> a </think> </think> <answer> 5 </answer>", 0.0),
        ("<think> a </think> <answer> 5 </answer> more", 0.0),
    ],
)
def test_strict_format_rejects_duplicated_and_nested_tags(response, value):
    assert get("format")(response, EN) == value


def test_prefilled_think_is_put_back_before_the_format_check():
    from aha.data.templates import get_template

    template = get_template("r1zero", think=True)
    assert get("format")(template.response(" a </think> <answer> 5 </answer>"), EN) == 1.0
    assert get("format_readable")(template.response(" a </think> So 5."), EN) == 1.0


def test_docstrings():
    assert doctest.testmod(language).failed == 0
    assert doctest.testmod(format_rewards, extraglobs={"Sample": Sample}).failed == 0
