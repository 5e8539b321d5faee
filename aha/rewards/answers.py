"""Finding the final answer in a response: the last \\boxed{...} or the <answer>...</answer> block.

Only text after the reasoning counts: when a response contains `</think>`, a \\boxed{} inside the
reasoning is a draft, not the answer.
"""

from __future__ import annotations

import re

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
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


def answer_tag(text: str) -> str | None:
    """Content of the last <answer>...</answer>; None if there is none."""
    matches = _ANSWER_TAG.findall(text)
    return matches[-1].strip() if matches else None


def final_answer(response: str) -> str | None:
    """The answer a response commits to: a \\boxed{} inside <answer>, else the <answer> text, else the
    last \\boxed{} after the reasoning; None when it gives none."""
    text = after_reasoning(response)
    tagged = answer_tag(text)
    if tagged is not None:
        boxed = last_boxed(tagged)
        return boxed if boxed is not None else tagged
    return last_boxed(text)
