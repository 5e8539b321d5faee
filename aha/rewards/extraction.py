"""Finding the answer a response commits to, as written (normalisation is `aha.rewards.equivalence`'s job).

Only text after the reasoning counts (a response cut off inside `<think>` has no answer, whatever numbers it
holds, unless it ends with a complete `<answer>...</answer>`, which closes the reasoning); then
`<answer>...</answer>`, the final `\\boxed{}`/`\\fbox{}` (nested braces; boxes joined by "and" or commas are one
answer), GSM8K's `#### x`, a closing phrase ("the answer is", "答案是", "la réponse est", ...), the whole text when
it is short enough to be an answer itself (or a short sentence ending in it, bracketed or not), or a number alone
on the last line.
"""

from __future__ import annotations

import re

from aha.rewards.answers import MAX_RESPONSE_CHARS, answer_tag, final_boxed, last_boxed
from aha.rewards.equivalence import _BARE_WORD, _MATH_WORDS, normalize

SHORT_ANSWER_CHARS = 300  # a one-line response this short that reads as math is taken as the answer itself


_GSM8K = re.compile(r"####\s*([^\n]+)")
_PHRASES = re.compile(  # "the answer is" in the languages models are asked in
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?"
    r"|\banswer\s*(?=\\\[|\$)"
    r"|答案\s*(?:是|为|為|：|:)|答え\s*(?:は|：|:)|(?:정답|답)\s*(?:은|는|:)"
    r"|(?:la )?réponse(?: finale)?\s*(?:est|:)"
    r"|(?:la )?respuesta(?: final)?\s*(?:es|:)"
    r"|(?:a )?resposta(?: final)?\s*(?:é|:)"
    r"|(?:la )?risposta(?: finale)?\s*(?:è|:)"
    r"|(?:die )?antwort\s*(?:ist|lautet|:)|(?:het )?antwoord\s*(?:is|:)"
    r"|ответ\s*(?:равен|—|:)|odpowied[zź]\s*(?:to|:)|(?:cevap|yanıt)\s*(?::|=)"
    r"|(?:đáp án|đáp số|câu trả lời)\s*(?:là|:)|jawaban(?:nya)?\s*(?:adalah|:)|jibu\s*(?:ni|:)"
    r"|(?:الإجابة|الجواب)(?: النهائية)?\s*(?:هي|هو|:)|उत्तर\s*(?:है|:)|উত্তর\s*(?:হল|:|ঃ)|คำตอบ\s*(?:คือ|:)",
    re.IGNORECASE,
)
_MINERVA = re.compile(r"final answer:\s*the final answer is", re.IGNORECASE)  # a format as formal as a box
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
_WITH_UNITS = re.compile(  # a number, then at most four words or \\text{} groups naming what it counts
    r"^(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?\s*(?:\\?%)?)"
    r"((?:\s*(?:\\(?:text|mathrm|mbox)\s*\{[^{}]*\}|\\[,;! ]|[^\W\d_]+(?:[/^][^\W_]+)*[²³]?)[.,]?){1,4})\s*[.!]?$"
)
_CONNECTIVES = re.compile(r"\b(?:or|and|to|plus|minus|times|over|divided|by|of|ou|et|oder|und)\b", re.IGNORECASE)
_LEAKED_TOKENS = re.compile(r"<\|[a-z_]+\|>.*$", re.DOTALL)  # a chat template's next turn, leaked
_FRENCH = re.compile(r"réponse|donc|est\b", re.IGNORECASE)


_CJK_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]+")
_NAME = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+){0,2}$")
_NUMBER_LINE = re.compile(r"\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?)\s*\$?")  # a last line "42" or "$-3/4$"
_LABELLED = re.compile(r"^\\text\s*\{[^{}]{1,30}\}(?:\s|\\[ ,;:!])*=(?!=)")  # "\\text{height} = 120\\sin\\theta"
_CLOSING_ANSWER = re.compile(r"<answer>(?:(?!<answer>).)*</answer>\s*$", re.DOTALL)  # ends the response
_LAST_GROUP = re.compile(r"([\[(][^\[\]()]*[\])])[\s.!]*$")  # "... is [90].", "... is (1, 2]."
_GROUPS = re.compile(r"[\[(][^\[\]()]*[\])]")
_REFERENCE_WORD = re.compile(  # "... from equation (3).", "see [2]": a label, not a value
    r"\b(?:equations?|eqs?|lemma|theorem|steps?|figures?|figs?|parts?|cases?|lines?|see|refs?|references?"
    r"|problems?|questions?|exercises?|items?|options?|choices?)\.?\s*$",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:\$((?:[^$\\]|\\.)+?)\$|(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?))(?=\s+[^\W\d_]{2,})")


def _looks_like_an_answer(text: str) -> bool:
    """Math only: no bare words beyond function names (after units are dropped), no CJK text."""
    normalized = normalize(text).text
    if _CJK_TEXT.search(normalized):
        return False
    return all(word.lower() in _MATH_WORDS for word in _BARE_WORD.findall(normalized))


def _ends_a_sentence(before: str) -> bool:
    """Whether `before` is prose a bracketed answer can follow: words (earlier bracketed values aside), then a
    space, and no word that makes the group a label: "f(x)", "see [3]" and "by equation (2)" are not answers."""
    if not before.strip() or not before[-1:].isspace() or _REFERENCE_WORD.search(before):
        return False
    return bool(_PROSE.match(_GROUPS.sub(" ", before)))


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
    number = _LAST_NUMBER.search(answer)  # "Jane started growing it 3 hours ago": the number it states
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


def extract_answer(response: str, formal: bool = False) -> str | None:
    """The answer a response commits to, as written (not normalised); None when it gives none. aha's one
    answer extractor: the math grader, the rule rewards and evaluation all read answers through it.

    With `formal`, only an answer in the format a rule reward asks for counts (R1-Zero's accuracy reward):
    `<answer>...</answer>` (a box inside it preferred) or the final `\\boxed{}`, after the reasoning; the
    closing phrases, headings and bare numbers that follow are read only for free-form text (graders).

    >>> extract_answer("<think> maybe \\\\boxed{3} </think> The answer is \\\\boxed{4}.")
    '4'
    >>> extract_answer("<think> 2 + 2 = 4, so")  # cut off inside the reasoning: no answer
    >>> extract_answer("<think> 2 + 2 </think> The answer is 4.", formal=True)  # no box, no answer element
    """
    response = _LEAKED_TOKENS.sub("", response[-MAX_RESPONSE_CHARS:])
    if "<think>" in response and "</think>" not in response:
        closing = _CLOSING_ANSWER.search(response)
        if closing is None:
            return None  # cut off inside the reasoning
        response = response[closing.start() :]  # the reasoning was never closed, but the answer element was
    cut = response.rfind("</think>")
    text = response if cut < 0 else response[cut + len("</think>") :]
    tagged = answer_tag(text)
    if tagged is not None:
        boxed = last_boxed(tagged)
        return boxed if boxed is not None else tagged
    boxed = final_boxed(text)
    if formal:
        return None if boxed is None else boxed[1]
    phrases = list(_PHRASES.finditer(text))
    if boxed is not None and not _MINERVA.search(text, boxed[0]):
        return boxed[1]  # a box beats a later "the answer is": only Minerva's formal closing line overrides it
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
        answer = (rest[: end.start()] if end else rest).strip().rstrip("!")  # "is 42!": an exclamation in prose
        if answer:
            return _clean(answer)
    stripped = text.strip()
    if stripped and "\n" not in stripped and len(stripped) <= SHORT_ANSWER_CHARS:
        if _looks_like_an_answer(stripped) or _NAME.match(normalize(stripped).text):
            return stripped
        labelled = _LABELLED.match(stripped)
        if labelled and _looks_like_an_answer(stripped[labelled.end() :]):
            return stripped  # a quantity named in words, then its value: as in a box
        with_units = _WITH_UNITS.match(stripped)
        if with_units and not _CONNECTIVES.search(with_units.group(2)):
            return with_units.group(1).strip()  # "12 marbles", "5\\text{ cm}", "3.5 hours."
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
        group = _LAST_GROUP.search(stripped)  # a sentence ending in a bracketed answer: "The angle is [90]."
        if group and _ends_a_sentence(stripped[: group.start()]) and _looks_like_an_answer(group.group(1)):
            return group.group(1)
    last_line = stripped.rsplit("\n", 1)[-1].strip()
    number_line = _NUMBER_LINE.fullmatch(last_line) if "\n" in stripped else None
    if number_line:
        return number_line.group(1)  # "First compute 6*7.\n42": a number alone on the last line is the answer
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


def decimal_comma(response: str) -> bool:
    """Whether "3,5" means 3.5 here: only in French text (where a thousands separator is a space)."""
    return bool(_FRENCH.search(response[-300:])) and "réponse" in response.lower()
