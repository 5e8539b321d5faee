"""Language consistency (DeepSeek-R1, reasoning RL stage): the share of chain-of-thought words written in
the target language.

Words are counted by script: each CJK ideograph (and kana/hangul syllable) is one word, since Chinese and
Japanese are written without spaces; a run of Latin letters is one word. Numbers, LaTeX commands and
symbols are not words in any language and are ignored. The target is `sample.meta["language"]` ("zh" or
"en") when given, else the language of the prompt by the same count.
"""

from __future__ import annotations

import re

from aha.rewards import register
from aha.types import Sample

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"(?<![\\A-Za-zÀ-ɏ])[A-Za-zÀ-ɏ]+")  # a word not preceded by "\" (no \frac)
LANGUAGES = ("zh", "en")
MAX_CHARS = 200_000


def word_counts(text: str) -> dict[str, int]:
    """{"zh": CJK characters, "en": Latin-script words} in text.

    >>> word_counts("我们先算 2+3, then check \\\\frac{1}{2}")
    {'zh': 4, 'en': 2}
    """
    text = text[:MAX_CHARS]
    return {"zh": len(_CJK.findall(text)), "en": len(_LATIN_WORD.findall(text))}


def reasoning(response: str) -> str:
    """The chain of thought: the text inside <think>...</think> (up to the end when it is cut off)."""
    start = response.find("<think>")
    start = 0 if start < 0 else start + len("<think>")
    end = response.find("</think>", start)
    return response[start:] if end < 0 else response[start:end]


def infer_language(text: str) -> str:
    counts = word_counts(text)
    return "zh" if counts["zh"] > counts["en"] else "en"


@register("language")
def language_consistency(response: str, sample: Sample) -> float:
    """Share of the reasoning's words in the target language; 0.0 when the reasoning has no words.

    >>> language_consistency("<think> 先算 then 检查 </think> 5", Sample(id="", prompt="计算 2+3", answer="5"))
    0.8
    """
    target = sample.meta.get("language") or infer_language(sample.prompt)
    if target not in LANGUAGES:
        return 0.0
    counts = word_counts(reasoning(response))
    total = counts["zh"] + counts["en"]
    return counts[target] / total if total else 0.0
