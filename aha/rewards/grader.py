"""Math answer grading: find the answer a response commits to, normalise it, decide equivalence.

Three stages, cheapest first:

1. `extract_answer`: the final answer of a response. Only text after the reasoning counts (a response
   cut off inside `<think>` has no answer, whatever numbers it holds); then `<answer>...</answer>`,
   the last `\\boxed{}`/`\\fbox{}` (nested braces), GSM8K's `#### x`, a closing phrase ("the answer is",
   "答案是", "la réponse est", ...), or the whole text when it is short enough to be an answer itself.
2. `normalize`: full-width characters, `\\dfrac`, `\\left`/`\\right`, `\\text{}`, units, degrees, thousands
   separators, trailing punctuation, `x = 3`, mixed numbers, `a \\times 10^{b}`, times of day.
3. `equivalent`: equal strings, or equal numbers (exact rationals; percentages also as fractions of 100),
   decided here in microseconds; everything else goes to math-verify (sympy) in a worker process that
   is killed at the time limit, so a pathological expression never hangs the caller, in any thread.

`grade` returns a `Grade` whose status tells a wrong answer from a timeout or an internal error, and
`GraderPool.grade_many` grades a batch across worker processes.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from multiprocessing.connection import Connection, wait
from typing import Literal

from aha.rewards.answers import _BOXED as _BOXED_START
from aha.rewards.answers import MAX_RESPONSE_CHARS, answer_tag, last_boxed

MAX_ANSWER_CHARS = 1000  # a longer "answer" is not one; it is graded wrong without parsing
SHORT_ANSWER_CHARS = 300  # a one-line response this short that reads as math is taken as the answer itself
DEFAULT_TIMEOUT_S = 5.0

Status = Literal["correct", "wrong", "no_answer", "bad_reference", "timeout", "error"]


@dataclass(frozen=True)
class Grade:
    status: Status
    answer: str | None = None  # what was extracted from the response
    detail: str = ""  # for errors: what went wrong

    @property
    def correct(self) -> bool | None:
        """True/False when decided; None when it could not be (timeout, error, unusable reference)."""
        if self.status in ("timeout", "error", "bad_reference"):
            return None
        return self.status == "correct"


# ---------------------------------------------------------------------------------------------- extraction

_GSM8K = re.compile(r"####\s*([^\n]+)")
_PHRASES = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?"
    r"|\banswer\s*(?=\\\[|\$)"
    r"|答案\s*(?:是|为|為|：|:)"
    r"|(?:la )?réponse(?: finale)?\s*(?:est|:)"
    r"|(?:la )?respuesta(?: final)?\s*(?:es|:)"
    r"|(?:die )?antwort\s*(?:ist|lautet|:)",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^[#*\s]*(?:final answer|answer)[*:\s]*\n+\s*([^\n]+)", re.IGNORECASE | re.MULTILINE)
_SENTENCE_END = re.compile(r"\n|\.(?=\s|$)|。|(?<=[^\\])\$\s*[.,]?\s*(?:\n|$)")
_SENTENCES = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+|\n|$)")
_CONCLUSION = re.compile(
    r"\b(?:therefore|thus|hence|so|in conclusion|finally|donc|en conclusion|por lo tanto|also)\b"
    r"|所以|因此|因而|结论|綜上|综上|لذا|इसलिए",
    re.IGNORECASE,
)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$((?:[^$\\]|\\.)+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
_UNIT_TAIL = re.compile(r"^\s*(?:\\?\$|€|%|[^\W\d_]{1,3}(?![^\W\d_])[²³]?|[.,;!。]|\s)*$")
_PROSE = re.compile(r"^[^\W_]*(?:[\s,.:;!?$€%'’]+[^\W_]*)*$")  # words and punctuation only: no code, no math
_LEAKED_TOKENS = re.compile(r"<\|[a-z_]+\|>.*$", re.DOTALL)  # a chat template's next turn, leaked
_CONNECTOR = re.compile(r"\\text\s*\{[^{}]*\}|\\quad|\\qquad|\\[\[\]()]|\$|[\s,;.]|\band\b|\bor\b|\bet\b|和|或")
_BARE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_MATH_WORDS = frozenset(
    {
        "sqrt",
        "pi",
        "exp",
        "log",
        "ln",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "infty",
        "inf",
        "frac",
        "cdot",
        "times",
        "pmatrix",
        "bmatrix",
        "matrix",
        "array",
        "cases",
        "ldots",
        "cdots",
        "dots",
    }
)
_FRENCH = re.compile(r"réponse|donc|est\b", re.IGNORECASE)


def _boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every \\boxed{...}/\\fbox{...} with balanced braces, in order."""
    spans = []
    for match in _BOXED_START.finditer(text):
        depth = 1
        for index in range(match.end(), len(text)):
            depth += (text[index] == "{") - (text[index] == "}")
            if depth == 0:
                spans.append((match.start(), index + 1, text[match.end() : index].strip()))
                break
    return spans


def _final_boxed(text: str) -> tuple[int, str] | None:
    """(position, content) of the last \\boxed{}; boxes just before it that are only joined to it by
    "and", commas or \\quad ("\\boxed{-2} and \\boxed{1}") are one answer: "-2, 1"."""
    spans = _boxed_spans(text)
    if not spans:
        return None
    chosen = [spans[-1]]
    for previous in reversed(spans[:-1]):
        between = text[previous[1] : chosen[0][0]]
        if _CONNECTOR.sub("", between).strip():
            break
        chosen.insert(0, previous)
    return chosen[0][0], ", ".join(content for _, _, content in chosen)


_CJK_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]+")
_NAME = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+){0,2}$")
_LEADING = re.compile(r"^(?:\$((?:[^$\\]|\\.)+?)\$|(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?))(?=\s+[^\W\d_]{2,})")


def _looks_like_an_answer(text: str) -> bool:
    """Math only: no bare words beyond function names (after units are dropped), no CJK text."""
    normalized = normalize(text).text
    if _CJK_TEXT.search(normalized):
        return False
    return all(word.lower() in _MATH_WORDS for word in _BARE_WORD.findall(normalized))


def _clean(answer: str) -> str:
    """The answer inside a phrase's rest of sentence: "42 the reasoning ..." -> "42", "the volume is 120"
    -> "120", "每份应该是 (\\frac{2}{5}) 吨" -> "(\\frac{2}{5})"."""
    answer = answer.strip()
    if _looks_like_an_answer(answer) or _NAME.match(normalize(answer).text):
        return answer
    leading = _LEADING.match(answer)
    if leading:
        return (leading.group(1) or leading.group(2)).strip()
    for copula in (" is ", " equals ", " est ", "是", "为", "為"):
        if copula in answer:
            return _clean(answer.rsplit(copula, 1)[1])
    span = _MATH_SPAN.search(answer)
    if span:
        return next(g for g in span.groups() if g is not None).strip()
    bold = _BOLD.findall(answer)
    if bold:
        return bold[-1].strip()
    without_cjk = _CJK_TEXT.sub(" ", answer).strip(" .,。")
    if without_cjk and _looks_like_an_answer(without_cjk):
        return without_cjk
    number = _LAST_NUMBER.match(answer)
    return number.group(0) if number else answer


def _from_sentence(sentence: str) -> str | None:
    """The answer a concluding sentence states: its last math span, bold text or number."""
    spans = _MATH_SPAN.findall(sentence)
    if spans:
        return next(g for g in spans[-1] if g).strip()
    bold = _BOLD.findall(sentence)
    if bold:
        return bold[-1].strip()
    numbers = _LAST_NUMBER.findall(sentence)
    return numbers[-1] if numbers else None


def extract_answer(response: str) -> str | None:
    """The answer a response commits to, as written (not normalised); None when it gives none.

    >>> extract_answer("<think> maybe \\\\boxed{3} </think> The answer is \\\\boxed{4}.")
    '4'
    >>> extract_answer("<think> 2 + 2 = 4, so")  # cut off inside the reasoning: no answer
    """
    response = _LEAKED_TOKENS.sub("", response[-MAX_RESPONSE_CHARS:])
    if "<think>" in response and "</think>" not in response:
        return None
    cut = response.rfind("</think>")
    text = response if cut < 0 else response[cut + len("</think>") :]
    tagged = answer_tag(text)
    if tagged is not None:
        boxed = last_boxed(tagged)
        return boxed if boxed is not None else tagged
    phrases = list(_PHRASES.finditer(text))
    boxed = _final_boxed(text)
    if boxed is not None and not (phrases and phrases[-1].start() > boxed[0]):
        return boxed[1]
    gsm8k = _GSM8K.findall(text)
    if gsm8k:
        return gsm8k[-1].strip()
    heading = list(_HEADING.finditer(text))
    if heading and (not phrases or heading[-1].start() > phrases[-1].start()):
        return _clean(heading[-1].group(1))
    if phrases:
        rest = text[phrases[-1].end() :].strip()
        span = _MATH_SPAN.match(rest)
        if span:
            return next(g for g in span.groups() if g is not None).strip()
        end = _SENTENCE_END.search(rest)
        answer = (rest[: end.start()] if end else rest).strip()
        if answer:
            return _clean(answer)
    stripped = text.strip()
    if stripped and "\n" not in stripped and len(stripped) <= SHORT_ANSWER_CHARS:
        if _looks_like_an_answer(stripped) or _NAME.match(normalize(stripped).text):
            return stripped
        without_cjk = _CJK_TEXT.sub(" ", stripped).strip(" .,。")
        one_clause = len(stripped) <= 60 and not re.search("[。！？；，：]", stripped.rstrip("。"))
        if one_clause and without_cjk != stripped and without_cjk and _looks_like_an_answer(without_cjk):
            return without_cjk  # "计划的比例为13/28", "地块面积 = 72000 / 18 = 4000千克"
        numbers = list(_LAST_NUMBER.finditer(stripped))
        if numbers and not _MATH_SPAN.search(stripped):  # a sentence ending in its answer: "so it is 1,000.99m²"
            last = numbers[-1]
            before, after = stripped[: last.start()], stripped[last.end() :]
            if _PROSE.match(before) and not before[-1:].isalpha() and _UNIT_TAIL.match(after):
                return last.group(0)
    spans = list(_MATH_SPAN.finditer(text))
    if spans and len(text) - spans[-1].end() < 60 and not re.search(r"\d", text[spans[-1].end() :]):
        last_sentence = _SENTENCES.findall(text.strip())[-1:] or [""]
        if spans[-1].group(0) in last_sentence[0] or len(text) - spans[-1].end() < 3:
            return next(g for g in spans[-1].groups() if g is not None).strip()
    sentences = [s.strip() for s in _SENTENCES.findall(text) if s.strip()]
    for sentence in sentences[-2:][::-1]:
        marker = list(_CONCLUSION.finditer(sentence))
        if marker:
            found = _from_sentence(sentence[marker[-1].end() :])
            if found:
                return found
    return None


# ------------------------------------------------------------------------------------------- normalisation

_REPLACE = {
    "。": ".",
    "、": ",",
    "−": "-",
    "–": "-",
    "×": "\\times ",
    "÷": "\\div ",
    "·": "\\cdot ",
    "°": "^\\circ",
    "π": "\\pi ",
    "√": "\\sqrt",
    "∞": "\\infty ",
    "≤": "\\le ",
    "≥": "\\ge ",
}
_DROP = re.compile(r"\\left|\\right|\\displaystyle|\\!|\\,|\\;|\\:|\\quad|\\qquad")
_TEXT = re.compile(r"\\(?:text|textbf|textrm|textnormal|textit|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|\\circ|\\degree|\s*degrees?\b")
_UNITS = (
    "cm|m|km|mm|kg|g|mg|lb|lbs|pounds?|ounces?|oz|s|sec|seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|"
    "months?|years?|dollars?|cents?|euros?|yuan|units?|inches|inch|in|feet|foot|ft|yards?|yd|meters?|metres?|"
    "miles?|mph|km/h|liters?|litres?|l|ml|gallons?|square units|sq units|cubic units|people|students?|apples?|"
    "books?|pages?|points?|元|个|米|厘米|千米|公里|克|千克|秒|分钟|小时|天|人|岁"
)
_TRAILING_UNIT = re.compile(rf"^(.*?[\d}}])\s*(?:\\?\s*(?:{_UNITS}))(?:\s*\^\s*\{{?[23]\}}?|²|³)?$", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)")
_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_SPACED_THOUSANDS = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_MIXED_LATEX = re.compile(r"^(-?)(\d+)\s*\\frac\s*\{(\d+)\}\s*\{(\d+)\}$")
_MIXED_PLAIN = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
_SCIENTIFIC = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*(-?\d+)\s*\}?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})\s*(?:\\?\s*(a\.?\s*m\.?|p\.?\s*m\.?))?$", re.IGNORECASE)
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_RELATIONS = (
    (re.compile(r"\\lt\b"), "<"),
    (re.compile(r"\\gt\b"), ">"),
    (re.compile(r">="), "\\geq "),
    (re.compile(r"<="), "\\leq "),
    (re.compile(r"!="), "\\neq "),
    (re.compile(r"\\ge\b(?!q)"), "\\geq"),
    (re.compile(r"\\le\b(?!q)"), "\\leq"),
)
_MATRIX = re.compile(
    r"\[?\s*\\begin\{array\}\{[^{}]*\}(.*?)\\end\{array\}\s*\]?|\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.DOTALL
)
_MARKDOWN_BOLD = re.compile(r"\*\*(.+?)\*\*")
_PERCENT_WORDS = re.compile(r"\s*\b(?:percent|percentage|pct)\b\.?$", re.IGNORECASE)
_SQRT_PAREN = re.compile(r"\\sqrt\s*\(([^()]*)\)")
_EXP_CALL = re.compile(r"(?<![\\A-Za-z])exp\s*\(([^()]*)\)")
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_BETWEEN = re.compile(r"(-?[\w.\\{}]+)\s*(\\leq|<)\s*([a-zA-Z])\s*(\\leq|<)\s*(-?[\w.\\{}]+)")
_SCALE = re.compile(r"^(-?\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion)$", re.IGNORECASE)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$")


@dataclass(frozen=True)
class Normalized:
    text: str  # canonical string form
    percent: bool = False  # the answer was written as a percentage


def _unwrap(text: str) -> str:
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    boxed = last_boxed(text) if text.startswith(("\\boxed", "\\fbox")) else None
    return boxed if boxed is not None else text


@functools.lru_cache(maxsize=65536)
def normalize(answer: str, decimal_comma: bool = False) -> Normalized:
    """A canonical form of an answer string (see the module docstring for what is undone).

    >>> normalize("\\\\$1,234.50.")
    Normalized(text='1234.50', percent=False)
    >>> normalize("２\\\\dfrac{1}{2} cm")
    Normalized(text='(2+\\\\frac{1}{2})', percent=False)
    """
    text = unicodedata.normalize("NFKC", answer)
    for old, new in _REPLACE.items():
        text = text.replace(old, new)
    text = _unwrap(text)
    text = re.sub(r",\\!\s*", ",", text).replace("{,}", ",")  # 10,\!000 and 10{,}000: thousands
    text = _DROP.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"(?<!\\)\\ ", " ", text).replace("~", " ")
    for _ in range(3):
        text = _TEXT.sub(r"\1", text)
    text = text.replace("\\$", "").replace("$", "").strip()
    text = _MARKDOWN_BOLD.sub(r"\1", text)
    text = text.rstrip(" .,;!:").lstrip(":").strip()
    text = _DEGREES.sub("", text).strip()
    percent = False
    text = _PERCENT_WORDS.sub("%", text)
    if text.endswith(("\\%", "%")):
        percent, text = True, text.removesuffix("%").removesuffix("\\").strip()
    unit = _TRAILING_UNIT.match(text)
    if unit:
        text = unit.group(1).strip()
    if text.endswith(("\\%", "%")):
        percent, text = True, text.removesuffix("%").removesuffix("\\").strip()
    text = _ASSIGNMENT.sub("", text).strip()
    for relation, symbol in _RELATIONS:
        text = relation.sub(lambda _, symbol=symbol: symbol, text)
    text = _MATRIX.sub(lambda m: "\\begin{pmatrix}" + (m.group(1) or m.group(2)) + "\\end{pmatrix}", text)
    text = re.sub(r"(?<=\d),?\s+and\s+(?=-?\d)", ", ", text)
    text = _SQRT_PAREN.sub(r"\\sqrt{\1}", text)
    text = _EXP_CALL.sub(r"e^{\1}", text)
    text = _BARE_PI.sub(r"\\pi", text)
    text = re.sub(r"\+\s*-", "-", text)
    text = re.sub(r"(?<![\d.])(\d+)\.0+(?![\d.])", r"\1", text)  # 14.0 -> 14
    text = re.sub(r"(?<![\w.])1(?=[a-z]\b)", "", text)  # 14 - 1i -> 14 - i
    between = _BETWEEN.fullmatch(text)
    if between:
        low, left, right, high = between.group(1, 2, 4, 5)
        text = f"{'(' if left == '<' else '['}{low},{high}{')' if right == '<' else ']'}"
    member = re.fullmatch(r"[a-zA-Z]\s*\\in\s*(.+)", text)
    if member:
        text = member.group(1).strip()
    scale = _SCALE.match(text)
    if scale:
        text = str(Decimal(scale.group(1).replace(",", "")) * _SCALES[scale.group(2).lower()])
    complex_j = re.fullmatch(r"([-+]?[\d.]+\s*[-+]\s*[\d.]*)j", text)
    if complex_j:
        text = complex_j.group(1) + "i"
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    elif decimal_comma and _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    elif _SPACED_THOUSANDS.match(text):
        text = text.replace(" ", "")
    mixed = _MIXED_LATEX.match(text) or _MIXED_PLAIN.match(text)
    if mixed:
        sign, whole, num, den = mixed.groups()
        text = f"{sign}({whole}+\\frac{{{num}}}{{{den}}})"
    scientific = _SCIENTIFIC.match(text)
    if scientific:
        text = f"{scientific.group(1)}e{scientific.group(2)}"
    clock = _TIME.match(text)
    if clock:
        hours, minutes, half = clock.groups()
        half = "" if half is None else " " + half.replace(".", "").replace(" ", "").lower()
        text = f"{int(hours)}:{minutes}{half}"
    choice = _CHOICE.match(text)
    if choice:
        text = choice.group(1).upper()
    return Normalized(text, percent)


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)
_FRACTION = re.compile(r"([-+]?)\\frac\s*\{\s*([-+]?\d+)\s*\}\s*\{\s*([-+]?\d+)\s*\}|([-+]?\d+)\s*/\s*([-+]?\d+)")
_MIXED_CANON = re.compile(r"(-?)\((\d+)\+\\frac\{(\d+)\}\{(\d+)\}\)")


def to_number(text: str) -> Fraction | None:
    """The exact value of a plain number ("-3.5", "1.2e-3", "7/2", "\\frac{7}{2}", "(2+\\frac{1}{2})")."""
    if len(text) > 64:
        return None
    try:
        if _NUMBER.fullmatch(text):
            return Fraction(Decimal(text))
        fraction = _FRACTION.fullmatch(text)
        if fraction:
            sign, num, den, plain_num, plain_den = fraction.groups()
            value = Fraction(int(num), int(den)) if num is not None else Fraction(int(plain_num), int(plain_den))
            return -value if sign == "-" else value
        mixed = _MIXED_CANON.fullmatch(text)
        if mixed:
            sign, whole, num, den = mixed.groups()
            value = int(whole) + Fraction(int(num), int(den))
            return -value if sign else value
    except (ValueError, ZeroDivisionError, InvalidOperation, OverflowError):
        return None
    return None


def _numbers_equal(pred: Normalized, ref: Normalized) -> bool | None:
    """True/False when both sides are plain numbers; None when either is not."""
    p, r = to_number(pred.text), to_number(ref.text)
    if p is None or r is None:
        return None
    candidates = {p}
    if pred.percent != ref.percent:  # 50% and 0.5 are the same answer; so are 50% and 50
        candidates |= {p / 100} if pred.percent else {p * 100}
    return any(c == r or abs(c - r) <= abs(r) * Fraction(1, 10**6) for c in candidates)


_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]+$")
_COMMA_DECIMAL = re.compile(r"^-?0,\d+$|^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$")  # never a thousands separator


def _last_side(pred: Normalized, ref: Normalized) -> tuple[Normalized, Normalized]:
    """ "a = b = 10/9" answers with its last side, unless the reference is an equation too."""
    if "=" in pred.text and "=" not in ref.text and not re.search(r"[<>!]=|\\[lg]eq|\\neq", pred.text):
        return Normalized(pred.text.rsplit("=", 1)[1].strip(), pred.percent), ref
    return pred, ref


def _comma_decimal(text: str) -> str:
    return text.replace(",", ".") if _COMMA_DECIMAL.match(text) else text


def quick_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool | None:
    """Equivalence decided without sympy (strings, numbers, times); None when sympy must decide."""
    pred, ref = _last_side(normalize(prediction, decimal_comma), normalize(reference))
    if pred.text == ref.text or pred.text.replace(" ", "") == ref.text.replace(" ", ""):
        return True
    if any(dots in text for dots in ("\\ldots", "\\cdots", "\\dots", "...") for text in (pred.text, ref.text)):
        return False  # sequences "1, 3, 5, \\ldots": only the same terms written the same way
    if _WORDS.match(pred.text) and _WORDS.match(ref.text) and len(ref.text) > 1:
        return pred.text.lower().split() == ref.text.lower().split()
    if to_number(ref.text) is not None and to_number(pred.text) is None:
        pred = Normalized(_comma_decimal(pred.text), pred.percent)
    elif to_number(pred.text) is not None and to_number(ref.text) is None:
        ref = Normalized(_comma_decimal(ref.text), ref.percent)
    numbers = _numbers_equal(pred, ref)
    if numbers is not None:
        return numbers
    if to_number(ref.text) is not None and any(w.lower() not in _MATH_WORDS for w in _BARE_WORD.findall(pred.text)):
        return False  # words where a number is due ("__import__('os').system(...) or 5")
    p_time, r_time = _TIME.match(pred.text), _TIME.match(ref.text)
    if p_time and r_time:
        p_half, r_half = p_time.group(3), r_time.group(3)
        same_clock = p_time.group(1, 2) == r_time.group(1, 2)
        return same_clock and (p_half is None or r_half is None or p_half.lower() == r_half.lower())
    return None


def symbolic_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool:
    """math-verify's verdict on the normalised answers (slow: call it through a GraderPool)."""
    from math_verify import parse, verify

    pred, ref = _last_side(normalize(prediction, decimal_comma), normalize(reference))
    gold = parse(f"${ref.text}$", parsing_timeout=None) or parse(f"${reference}$", parsing_timeout=None)
    if not gold:
        raise ValueError(f"reference {reference!r} does not parse")
    target = parse(f"${pred.text}$", parsing_timeout=None) or parse(f"${prediction}$", parsing_timeout=None)
    if not target:
        return False
    if verify(gold, target, timeout_seconds=None):
        return _numerically_consistent(gold[0], target[0])
    if pred.percent != ref.percent:
        scaled = f"{pred.text}/100" if pred.percent else f"100*({pred.text})"
        return bool(verify(gold, parse(f"${scaled}$", parsing_timeout=None), timeout_seconds=None))
    return False


def _numerically_consistent(gold: object, target: object) -> bool:
    """math-verify compares numbers after rounding to 6 decimals, so 1/2006! "equals" 1/2004!; two constant
    expressions must also agree to 12 significant digits."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return True
    if not (gold.is_number and target.is_number):
        return True
    a, b = sympy.N(gold, 30), sympy.N(target, 30)
    try:
        scale = max(abs(a), abs(b))
        return bool(abs(a - b) <= scale * sympy.Float("1e-12", 30))
    except TypeError:  # not comparable (complex with symbols left, nan): keep math-verify's verdict
        return True


# ------------------------------------------------------------------------------------------- worker pool


def _serve(read_fd: int, write_fd: int) -> None:
    """A worker's loop (a child interpreter of its own): one symbolic comparison at a time."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # its own timeouts are off: the parent kills
    tasks, answers = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    while True:
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            answers.send(("ok", symbolic_equivalent(*task)))
        except ValueError as exc:
            answers.send(("bad_reference", str(exc)))
        except Exception as exc:  # any failure of sympy is reported, never passed off as a wrong answer
            answers.send(("error", f"{type(exc).__name__}: {exc}"[:300]))


class _Worker:
    """A fresh interpreter running `_serve` (not a fork: no torch threads or locks inherited, and unlike
    multiprocessing's spawn it never re-imports the caller's main script)."""

    def __init__(self) -> None:
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        paths = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env = {**os.environ, "PYTHONPATH": paths}
        code = f"from aha.rewards.grader import _serve; _serve({task_read}, {answer_write})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(task_read, answer_write), stdin=subprocess.DEVNULL, env=env
            )
        finally:
            os.close(task_read)
            os.close(answer_write)
        self.tasks = Connection(task_write, readable=False)
        self.conn = Connection(answer_read, writable=False)

    def send(self, task: tuple[str, str, bool] | None) -> None:
        self.tasks.send(task)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        self.tasks.close()
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(None)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.tasks.close()
        self.conn.close()


class GraderPool:
    """Worker processes for the symbolic stage; each comparison has a hard time limit (the worker is
    killed and replaced when it runs over), so it works from any thread of the caller."""

    def __init__(self, workers: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.size = max(1, workers)
        self.timeout_s = timeout_s
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.counts = {"timeout": 0, "error": 0}

    def _take(self) -> _Worker:
        with self._lock:
            return self._idle.pop() if self._idle else _Worker()

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(worker)
                return
        worker.close()

    def _symbolic(self, tasks: Sequence[tuple[str, str, bool]]) -> list[tuple[str, object]]:
        """Run symbolic comparisons on up to `size` workers at once; (status, verdict or message) each."""
        results: list[tuple[str, object] | None] = [None] * len(tasks)
        pending = list(range(len(tasks)))[::-1]
        running: dict[Connection, tuple[_Worker, int, float]] = {}
        while pending or running:
            while pending and len(running) < self.size:
                index = pending.pop()
                worker = self._take()
                try:
                    worker.send(tasks[index])
                except OSError:
                    worker.kill()
                    worker = _Worker()
                    worker.send(tasks[index])
                running[worker.conn] = (worker, index, time.monotonic() + self.timeout_s)
            deadline = min(d for _, _, d in running.values())
            ready = wait(list(running), timeout=max(0.0, deadline - time.monotonic()))
            for conn in ready:
                worker, index, _ = running.pop(conn)  # type: ignore[index]
                try:
                    results[index] = worker.conn.recv()
                    self._give(worker)
                except (EOFError, OSError):  # the worker died (e.g. out of memory)
                    results[index] = ("error", "grader worker died")
                    worker.kill()
            now = time.monotonic()
            for conn, (worker, index, deadline) in list(running.items()):
                if now >= deadline:
                    del running[conn]
                    worker.kill()
                    results[index] = ("timeout", f"over {self.timeout_s:g} s")
        return [r if r is not None else ("error", "lost") for r in results]

    def grade_many(self, pairs: Iterable[tuple[str, str]]) -> list[Grade]:
        """Grade (response, reference) pairs; the symbolic stage runs in parallel worker processes."""
        grades: list[Grade | None] = []
        tasks: list[tuple[str, str, bool]] = []
        waiting: list[tuple[int, str]] = []
        for response, reference in pairs:
            answer = extract_answer(response)
            if answer is None:
                grades.append(Grade("no_answer"))
                continue
            if len(answer) > MAX_ANSWER_CHARS:
                grades.append(Grade("wrong", answer[:100]))
                continue
            comma = _decimal_comma(response)
            try:
                quick = quick_equivalent(answer, reference, comma)
            except Exception as exc:
                grades.append(Grade("error", answer, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if quick is not None:
                grades.append(Grade("correct" if quick else "wrong", answer))
                continue
            cached = _SYMBOLIC_CACHE.get((answer, reference, comma))
            if cached is not None:
                grades.append(Grade("correct" if cached else "wrong", answer))
                continue
            waiting.append((len(grades), answer))
            tasks.append((answer, reference, comma))
            grades.append(None)
        for (index, answer), task, (status, value) in zip(waiting, tasks, self._symbolic(tasks), strict=True):
            if status == "ok":
                _SYMBOLIC_CACHE.put(task, bool(value))
                grades[index] = Grade("correct" if value else "wrong", answer)
            else:
                if status in self.counts:
                    self.counts[status] += 1
                grades[index] = Grade(status, answer, str(value))  # type: ignore[arg-type]
        return [g for g in grades if g is not None]

    def grade(self, response: str, reference: str) -> Grade:
        return self.grade_many([(response, reference)])[0]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def _decimal_comma(response: str) -> bool:
    """Whether "3,5" means 3.5 here: only in French text (where a thousands separator is a space)."""
    return bool(_FRENCH.search(response[-300:])) and "réponse" in response.lower()


class _Cache:
    def __init__(self, size: int = 65536) -> None:
        self.size, self.data, self.lock = size, {}, threading.Lock()

    def get(self, key: tuple[str, str, bool]) -> bool | None:
        return self.data.get(key)

    def put(self, key: tuple[str, str, bool], value: bool) -> None:
        with self.lock:
            if len(self.data) >= self.size:
                self.data.clear()
            self.data[key] = value


_SYMBOLIC_CACHE = _Cache()
_DEFAULT: GraderPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> GraderPool:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = GraderPool(workers=1)
            atexit.register(_DEFAULT.close)
        return _DEFAULT


def grade(response: str, reference: str) -> Grade:
    """Grade one response against a reference answer (see `Grade.status`)."""
    return default_pool().grade(response, reference)


def grade_many(pairs: Iterable[tuple[str, str]], workers: int = 2) -> list[Grade]:
    """Grade many (response, reference) pairs with `workers` symbolic workers."""
    pool = GraderPool(workers=workers)
    try:
        return pool.grade_many(pairs)
    finally:
        pool.close()
