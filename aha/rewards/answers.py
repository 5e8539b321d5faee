"""The pieces answer extraction is made of: the text after the reasoning, boxes with balanced braces, the
`<answer>...</answer>` element. `aha.rewards.extraction.extract_answer` puts them together (the one
extractor); a \\boxed{} inside the reasoning is a draft, not the answer.
"""

from __future__ import annotations

import re

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_BOXED = re.compile(r"\\(?:[A-Za-z]*boxed|fbox)\s*\{")  # also "\\beginboxed{", a box glued to a command
MAX_RESPONSE_CHARS = 100_000  # longer responses are cut from the front before searching


def after_reasoning(response: str) -> str:
    """The part of a response after its last `</think>` (the whole response when there is none)."""
    response = response[-MAX_RESPONSE_CHARS:]
    cut = response.rfind("</think>")
    return response if cut < 0 else response[cut + len("</think>") :]


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) with balanced braces; None if there is none."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, len(text)):
            char = text[index]
            depth += (char == "{") - (char == "}")
            if depth == 0:
                return text[start:index].strip()
    return None


_CONNECTOR = re.compile(r"\\text\s*\{[^{}]*\}|\\quad|\\qquad|\\[\[\]()]|\$|[\s,;.]|\band\b|\bor\b|\bet\b|和|或")
_LABEL = re.compile(r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[\w\\]+\}?)?(?:\([A-Za-z]\))?\s*=\s*$")  # "y_1 = " before a box


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every \\boxed{...}/\\fbox{...} with balanced braces, in order."""
    spans = []
    for match in _BOXED.finditer(text):
        depth = 1
        for index in range(match.end(), len(text)):
            depth += (text[index] == "{") - (text[index] == "}")
            if depth == 0:
                spans.append((match.start(), index + 1, text[match.end() : index].strip()))
                break
    return spans


def final_boxed(text: str) -> tuple[int, str] | None:
    """(position, content) of the final answer in boxes: the last \\boxed{}, together with the boxes before
    it that are only joined to it by "and", commas or \\quad ("\\boxed{-2} and \\boxed{1}" -> "-2, 1"), unless
    one of them repeats another ("\\boxed{9} \\boxed{9} \\boxed{42}" -> "42"). When
    each of several boxes is labelled ("x = \\boxed{1}, y = \\boxed{2}"), the labels are kept: "x = 1, y = 2"."""
    spans = boxed_spans(text)
    if not spans:
        return None
    chosen = [spans[-1]]
    labels = []
    for previous in reversed(spans[:-1]):
        between = text[previous[1] : chosen[0][0]]
        label = _LABEL.search(between)
        labels.insert(0, label.group(0) if label else "")
        if label:
            between = between[: label.start()]
        if _CONNECTOR.sub("", between).strip():
            labels.pop(0)
            break
        chosen.insert(0, previous)
    first = _LABEL.search(text[max(0, chosen[0][0] - 40) : chosen[0][0]])
    labels.insert(0, first.group(0) if first else "")
    contents = [content for _, _, content in chosen]
    if len(chosen) > 1 and not all(labels) and len(set(contents)) < len(contents):
        return chosen[-1][0], contents[-1]  # one box written again and again is a loop, not a list: the last counts
    if len(chosen) > 1 and all(labels):
        contents = [f"{label.strip()} {content}" for label, content in zip(labels, contents, strict=True)]
    return chosen[0][0], ", ".join(contents)


def answer_tag(text: str) -> str | None:
    """Content of the last <answer>...</answer>; None if there is none."""
    matches = _ANSWER_TAG.findall(text)
    return matches[-1].strip() if matches else None
