"""aha.curate.filters: each rule on hand-written cases it must catch and cases it must let through; the
per-rule counts add up to the rows removed."""

from __future__ import annotations

import pytest

from aha.curate.filters import (
    ROW_RULES,
    FilterConfig,
    apply_filters,
    foreign_segments,
    jaccard,
    longest_paragraph,
    segments,
    shingles,
)
from aha.errors import ConfigError
from aha.rewards.format import split_readable

GOOD = "<think>\nThe ones: 3 + 6 = 9. The tens: 1 + 5 = 6.\n</think>\nThe sum is \\boxed{69}."


def words(count):
    """`count` words of English in which no run of 4 words comes back (so no repetition loop)."""
    text = " ".join(f"the value {i + 1} is larger than {i}" for i in range(count))
    return " ".join(text.split()[:count])


def row(response, prompt=0, finish="stop"):
    return {"response": response, "prompt_index": prompt, "finish_reason": finish}


def caught_by(response, finish="stop", **settings):
    """The rule that removes a lone completion, or None when it is kept."""
    result = apply_filters([row(response, finish=finish)], FilterConfig(**settings))
    return next((rule for rule, rows in result.removed.items() if rows), None)


CASES = [
    # (rule, caught, let through)
    ("truncated", (GOOD, "length"), (GOOD, "stop")),
    ("format", ("The sum is 69.", "stop"), (GOOD, "stop")),
    ("format", ("<think>a</think> b <think>c</think> d", "stop"), ("<think>\nplan\n</think>\nanswer", "stop")),
    ("format", ("<think>   </think> The sum is 69.", "stop"), ("<think>x</think>y", "stop")),
    ("format", ("<think>Only reasoning, no summary.</think>\n", "stop"), (GOOD, "stop")),
    ("mixed_language", ("<think>\nThe ones: 3 + 6 = 9. 所以十位是一加五等于六。\n</think>\n69", "stop"),
     # the summary is not judged
     ("<think>\nThe ones: 3 + 6 = 9. The tens: 1 + 5 = 6.\n</think>\n所以答案是六十九。", "stop")),
    # code-switching inside a sentence
    ("mixed_language", ("<think>\nLet me compute 这个加法很简单 then check it.\n</think>\n69", "stop"),
     ("<think>\nWait, let me re-check: 69 - 56 = 13, right. So the sum is 69.\n</think>\n69", "stop")),
    ("code_block", ("<think>\nLet me compute:\n```python\nprint(13 + 56)\n```\n</think>\n69", "stop"),
     ("<think>\nThe sum is 13 + 56.\n</think>\n```python\nprint(69)\n```", "stop")),  # code in the summary is fine
    ("code_block", ("<think>\n~~~\n13 + 56\n~~~\n</think>\n69", "stop"),
     ("<think>\nuse `x + y` here\n</think>\n69", "stop")),
    ("long_paragraph", ("<think>\n" + words(201) + "\n</think>\nDone.", "stop"),
     ("<think>\n" + (words(150) + "\n\n") * 3 + "</think>\nDone.", "stop")),  # three paragraphs of 150
    ("repetition", ("<think>\n" + "wait let me check again " * 5 + "\n</think>\n69", "stop"),
     ("<think>\nwait, let me check: 69 - 56 = 13, right.\n</think>\n69", "stop")),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "caught", "kept"), CASES)
def test_each_rule_catches_its_case_and_lets_the_other_through(rule, caught, kept):
    assert caught_by(caught[0], caught[1]) == rule
    assert caught_by(kept[0], kept[1]) is None
    others = tuple(r for r in ROW_RULES if r != rule)
    assert caught_by(caught[0], caught[1], rules=others) is None  # switched off, the rule catches nothing


def test_group_rules_compare_a_prompts_kept_completions_only():
    near = GOOD + " Done."  # Jaccard 0.92
    rows = [
        row(GOOD, 0),
        row(GOOD.replace("\n", "  \n "), 0),  # the same text, whitespace aside
        row(near, 0),  # nearly the same
        row(GOOD, 1),  # the same text for another prompt: kept
        row("<think>\nAdd the tens first: 10 + 50 = 60, then 3 + 6 = 9.\n</think>\n\\boxed{69}", 0),
        row("<think>\nCount up from 56 by 13: 57, 58, ... 69.\n</think>\n\\boxed{69}", 0),
    ]
    result = apply_filters(rows, FilterConfig(max_per_prompt=2))
    assert result.kept == [rows[0], rows[3], rows[4]]
    assert result.removed["duplicate"] == [rows[1]]
    assert result.removed["near_duplicate"] == [rows[2]]
    assert result.removed["per_prompt"] == [rows[5]]
    assert jaccard(shingles(GOOD), shingles(near)) >= 0.9 > jaccard(shingles(GOOD), shingles(rows[4]["response"]))


def test_the_counts_add_up_to_the_rows_removed_and_a_row_is_counted_once():
    rows = [row(response, p, finish) for p in range(3) for response, finish in [c for case in CASES for c in case[1:]]]
    result = apply_filters(rows, FilterConfig())
    removed = [r for rows_of_rule in result.removed.values() for r in rows_of_rule]
    assert sum(result.counts().values()) == len(removed) == len(rows) - len(result.kept)
    assert sorted(map(id, removed + result.kept)) == sorted(map(id, rows))
    # a truncated completion in a bad format is counted once, under the first rule in order
    both = apply_filters([row("no think block", finish="length")], FilterConfig())
    assert both.counts()["truncated"] == 1 and both.counts()["format"] == 0


def test_helpers_by_hand():
    assert split_readable(GOOD) == ("\nThe ones: 3 + 6 = 9. The tens: 1 + 5 = 6.\n", "\nThe sum is \\boxed{69}.")
    assert longest_paragraph("<think>\na b c\n\nd e\n</think>\nx") == 3
    assert jaccard(shingles("abcdef"), shingles("abcdef")) == 1.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"rules": ("truncated", "lang")}, "unknown rule 'lang'"), ({"max_per_prompt": 0}, ">= 1"),
     ({"near_duplicate": 0.0}, "near_duplicate")],
)  # fmt: skip
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        FilterConfig(**settings)


def test_the_reasoning_language_is_judged_segment_by_segment():
    english = "The ones: 3 + 6 = 9. The tens: 1 + 5 = 6. So 13 + 56 = 69. Check: 69 - 56 = 13, right."
    chinese = "个位：三加六等于九。十位：一加五等于六。所以答案是六十九。"
    assert foreign_segments(english, "en") == [] and foreign_segments(chinese, "zh") == []
    assert [language for _, language in foreign_segments(chinese, "en")] == ["zh", "zh", "zh"]
    assert foreign_segments(english, "zh")  # English reasoning where Chinese was asked for
    # code-switching inside one sentence is cut where the script changes
    assert segments("Let me compute 这个加法 then check.") == ["Let me compute", "这个加法", "then check"]
    assert [s for s, _ in foreign_segments("Let me compute 这个加法很简单 then check it.", "en")] == ["这个加法很简单"]
    # short segments (numbers, one word) are not judged: too little text to tell
    assert foreign_segments("So 13 + 56 = 69. Ok. 好", "en") == []
    # the language is a setting: Chinese reasoning kept when Chinese is the target
    response = f"<think>\n{chinese}\n</think>\n答案是 69。"
    assert apply_filters([row(response)], FilterConfig(language="zh")).kept
    assert not apply_filters([row(response)], FilterConfig(language="en")).kept
