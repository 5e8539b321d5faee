"""The filters of rejection sampling (DeepSeek-R1's curated SFT set): what is dropped from sampled
completions before they become training data, and why.

Every filter is a named rule, switchable, and applied in a fixed order; a completion is removed by the
first rule that catches it, so the per-rule counts add up to the rows removed. Per-completion rules look at
one completion; group rules look at one prompt's completions in sample order (duplicates, at most m kept).

  truncated       the completion hit max_new_tokens (its reasoning or answer is cut)
  format          not the readable format: `<think>` reasoning `</think>` then a non-empty summary
  mixed_language  a segment of the reasoning in another language than `language` (see foreign_segments)
  code_block      a fenced code block inside the reasoning
  long_paragraph  a paragraph of the reasoning longer than `max_paragraph_words` words
  repetition      a decoding loop: some run of 4 words occurs 4 times or more
  duplicate       the same text (whitespace aside) as an earlier kept completion of the prompt
  near_duplicate  character 5-gram overlap (Jaccard) with an earlier kept completion >= `near_duplicate`
  per_prompt      more than `max_per_prompt` completions of one prompt already kept

Rows are `aha sample` records (`response`, `finish_reason`, `prompt_index`); rules read them, never change them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aha.errors import ConfigError
from aha.rewards.format import split_readable
from aha.track.health import is_repetitive

Row = dict[str, Any]
ROW_RULES = ("truncated", "format", "mixed_language", "code_block", "long_paragraph", "repetition")
GROUP_RULES = ("duplicate", "near_duplicate", "per_prompt")
RULES = ROW_RULES + GROUP_RULES

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE = re.compile(r"[^.!?;\n。！？；，、]+")  # the text between sentence marks (CJK commas count)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def reasoning_of(response: str) -> str:
    """The text inside the think block (the whole response when it has none)."""
    parts = split_readable(response)
    return parts[0] if parts else response


def has_code_block(response: str) -> bool:
    """A fenced (``` or ~~~) code block in the reasoning."""
    return bool(_FENCE.search(reasoning_of(response)))


def longest_paragraph(response: str) -> int:
    """Words in the reasoning's longest paragraph (paragraphs are separated by blank lines)."""
    return max((len(p.split()) for p in _PARAGRAPH_BREAK.split(reasoning_of(response))), default=0)


def segments(text: str) -> list[str]:
    """Sentences of the text, each further cut where the script changes between CJK and other letters, so
    that a Chinese phrase inside an English sentence (code-switching) is a segment of its own."""
    found = []
    for sentence in _SENTENCE.findall(text):
        current, cjk = "", None
        for char in sentence:
            if char.isalpha() and cjk is not None and bool(_CJK.match(char)) != cjk:
                found.append(current)
                current = ""
            if char.isalpha():
                cjk = bool(_CJK.match(char))
            current += char
        found.append(current)
    return [segment.strip() for segment in found if segment.strip()]


def weight(segment: str) -> int:
    """Letters of a segment, a CJK character counting as two (it is a word on its own)."""
    return sum(2 if _CJK.match(char) else 1 for char in segment if char.isalpha())


@functools.cache
def _detector() -> Any:
    """Lingua's detector over all its 75 languages: offline models inside the wheel, loaded on first use,
    read-only afterwards (so one per process)."""
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().build()


def identify(segment: str) -> dict[str, float]:
    """{ISO 639-1 code: confidence} of every language for a segment, likeliest first (lingua-language-
    detector; on short Latin-script segments the confidences are spread thin over related languages)."""
    values = _detector().compute_language_confidence_values(segment)
    return {value.language.iso_code_639_1.name.lower(): float(value.value) for value in values}


def foreign_segments(
    text: str, language: str, min_letters: int = 6, min_score: float = 0.5, min_own: float = 0.01
) -> list[tuple[str, str]]:
    """(segment, likeliest language) for every segment of the text with at least `min_letters` letters (a
    CJK character counting two) that is in another language than `language`: another language is the
    likeliest with a confidence >= min_score, or `language` itself is all but excluded (< min_own: a
    segment in another script, such as English where Chinese is asked for)."""
    found = []
    for segment in segments(text):
        if weight(segment) < min_letters:
            continue
        confidences = identify(segment)
        top = next(iter(confidences), "")
        if top != language and (confidences[top] >= min_score or confidences.get(language, 0.0) < min_own):
            found.append((segment, top))
    return found


def shingles(text: str, size: int = 5) -> set[str]:
    """Character `size`-grams of the text with whitespace collapsed."""
    text = " ".join(text.split())
    return {text[i : i + size] for i in range(max(1, len(text) - size + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True, kw_only=True)
class FilterConfig:
    rules: tuple[str, ...] = RULES  # the rules applied, in RULES order whatever the order given
    language: str = "en"  # the reasoning's language (ISO 639-1)
    language_min_letters: int = 6  # shorter segments (numbers, "So", "Check:") are not judged
    language_score: float = 0.5  # a segment counts as foreign from this identifier score on
    max_paragraph_words: int = 200
    near_duplicate: float = 0.9  # Jaccard of character 5-grams
    max_per_prompt: int = 4

    def __post_init__(self) -> None:
        unknown = [rule for rule in self.rules if rule not in RULES]
        if unknown:
            raise ConfigError(f"rules: unknown rule {unknown[0]!r}; rules: {', '.join(RULES)}")
        if self.max_paragraph_words < 1 or self.max_per_prompt < 1:
            raise ConfigError("max_paragraph_words and max_per_prompt must be >= 1")
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ConfigError(f"near_duplicate={self.near_duplicate} must be in (0, 1]")


@dataclass
class Filtered:
    kept: list[Row] = field(default_factory=list)
    removed: dict[str, list[Row]] = field(default_factory=dict)  # rule -> rows it removed, in input order

    def counts(self) -> dict[str, int]:
        return {rule: len(rows) for rule, rows in self.removed.items()}


def row_rules(cfg: FilterConfig) -> list[tuple[str, Callable[[Row], bool]]]:
    checks: dict[str, Callable[[Row], bool]] = {
        "truncated": lambda row: row.get("finish_reason") == "length",
        "format": lambda row: split_readable(row["response"]) is None,
        "mixed_language": lambda row: bool(
            foreign_segments(reasoning_of(row["response"]), cfg.language, cfg.language_min_letters, cfg.language_score)
        ),
        "code_block": lambda row: has_code_block(row["response"]),
        "long_paragraph": lambda row: longest_paragraph(row["response"]) > cfg.max_paragraph_words,
        "repetition": lambda row: is_repetitive(row["response"]),
    }
    return [(rule, checks[rule]) for rule in ROW_RULES if rule in cfg.rules]


def _group_rule(cfg: FilterConfig, row: Row, kept: Sequence[tuple[Row, str, set[str]]]) -> str | None:
    text = " ".join(row["response"].split())
    if "duplicate" in cfg.rules and any(text == other for _, other, _ in kept):
        return "duplicate"
    if "near_duplicate" in cfg.rules:
        grams = shingles(text)
        if any(jaccard(grams, other) >= cfg.near_duplicate for _, _, other in kept):
            return "near_duplicate"
    if "per_prompt" in cfg.rules and len(kept) >= cfg.max_per_prompt:
        return "per_prompt"
    return None


def apply_filters(rows: Sequence[Row], cfg: FilterConfig) -> Filtered:
    """Kept rows (input order) and, per rule, the rows it removed; every rule in cfg.rules has an entry."""
    result = Filtered(removed={rule: [] for rule in RULES if rule in cfg.rules})
    checks = row_rules(cfg)
    groups: dict[Any, list[tuple[Row, str, set[str]]]] = {}
    for row in rows:
        rule = next((name for name, caught in checks if caught(row)), None)
        if rule is None:
            kept = groups.setdefault(row.get("prompt_index"), [])
            rule = _group_rule(cfg, row, kept)
            if rule is None:
                text = " ".join(row["response"].split())
                kept.append((row, text, shingles(text)))
                result.kept.append(row)
                continue
        result.removed[rule].append(row)
    return result
