"""Math typed as plain text, rewritten as the LaTeX the parser reads: `sqrt((x+1)/2)`, `abs(x)`, `sin^2(x)`,
`csc x`, `exp(2)`, `pi`, `3^-x`, `x^log(y)`, `1/3p`. Pure string functions, called by
`aha.rewards.equivalence.normalize` once the answer is otherwise normalised.

Plain-text conventions followed (those of calculators, CAS input and Python): a function name may stand
without a backslash, and `log` without one is the natural logarithm (as in Maxima, Python and JavaScript);
`asin` and `sin^(-1)` are the inverse function; an exponent is the one operand after `^`, a parenthesised group
or a function call included (`x^(1/2)`, `3^-x`, `x^log(y)`); `a/b` followed by a variable or a bracket is the
fraction times it, read left to right (`1/3p` is p/3, `1/2(y+5)` is (y+5)/2).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

MAX_CHARS = 2000  # longer text is no answer (the grader gives up on 1000 characters)
MAX_DEPTH = 12  # calls nested deeper are left as they are

_FUNCTION_NAMES = r"sqrt|(?:arc)?(?:sin|cos|tan|cot|sec|csc)h?|log|ln"
_BARE_FUNCTION = re.compile(  # sqrt(3), sin^2(x), csc x: a function name without its backslash
    rf"(?<![\\A-Za-z])({_FUNCTION_NAMES})(?=\s*[(^]|\s+[\w\\])"
)
_EXP_CALL = re.compile(r"(?<![\\A-Za-z])exp\s*\(")
_ABS_CALL = re.compile(r"(?<![\\A-Za-z])abs\s*\(")
_SQRT_CALL = re.compile(r"\\sqrt\s*(\[[^\[\]]*\])?\s*\(")
_ROOT_DIGIT = re.compile(r"\\sqrt\s*(\[[^\[\]]*\])\s*(\d+)")
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_FRACTION_COEFFICIENT = re.compile(r"(?<![\w.}^/\\])(\d+)\s*/\s*(\d+)(?=\s*[A-Za-z(])")
_RECIPROCAL = re.compile(  # not LaTeX commands: 1/sinh, ...; with a power: sech^2 x
    r"(?<![A-Za-z])\\?(csch|sech|coth)(?:\^(\{[^{}]*\}|\([^()]*\)|\d+|[A-Za-z]))?\s*(?=[(\w\\])"
)
_INVERSE = re.compile(  # asin(x), cos^(-1)(x), \\sinh^{-1} x: the inverse function, written arcsin
    r"(?<![A-Za-z])(\\?)(?:a(sin|cos|tan|cot|sec|csc)(h?)(?=\s*\()|(sin|cos|tan|cot|sec|csc)(h?)\^(?:\(-1\)|\{-1\}|-1))"
)
_RECIPROCAL_OF = {"csch": "\\sinh", "sech": "\\cosh", "coth": "\\tanh"}
_DECIMAL_EXPONENT = re.compile(r"\^\{\(?\s*(-?)(\d*\.\d+)\s*\)?\}")
_SHORT_LETTERS = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{1,2}(?![A-Za-z])")  # "d", "da", "ad": letters, not words
_OPERAND = re.compile(r"[-+]?\s*(?:\d+(?:\.\d+)?|[A-Za-z](?![A-Za-z])|\\[A-Za-z]+)")


def closing(text: str, start: int, pair: str = "()") -> int | None:
    """Index of the bracket closing the one at `start`; None when it is never closed."""
    depth = 0
    for index in range(start, len(text)):
        depth += (text[index] == pair[0]) - (text[index] == pair[1])
        if depth == 0:
            return index
    return None


def _calls(text: str, pattern: re.Pattern[str], rewrite: object, depth: int) -> str:
    """Rewrite each `name(argument)` found by `pattern` (which ends at the opening bracket) with balanced
    brackets: rewrite(match, argument) replaces the whole call."""
    out, position = [], 0
    for match in pattern.finditer(text):
        if match.start() < position:
            continue
        end = closing(text, match.end() - 1)
        if end is None:
            break
        out.append(text[position : match.start()])
        argument = text[match.end() : end]
        argument = latex_from_plain(argument, depth + 1) if depth < MAX_DEPTH else argument
        out.append(rewrite(match, argument))  # type: ignore[operator]
        position = end + 1
    return "".join(out) + text[position:]


def _braced_exponents(text: str) -> str:
    """ "3^-x" -> "3^{-x}", "x^(1/2)" -> "x^{(1/2)}", "x^\\log(y)" -> "x^{\\log(y)}"; braced ones are kept."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        out.append(char)
        index += 1
        if char != "^" or index >= len(text) or text[index] in "{ ":
            continue
        end = _operand_end(text, index)
        if end is not None and end > index:
            out.append("{" + text[index:end] + "}")
            index = end
    return "".join(out)


def _operand_end(text: str, start: int) -> int | None:
    """End of the one operand starting at `start`: a number, a letter, a command with its arguments, or a
    bracketed group."""
    if text[start] == "(":
        end = closing(text, start)
        return None if end is None else end + 1
    operand = _OPERAND.match(text, start)
    if not operand:
        return None
    end = operand.end()
    if operand.group(0).lstrip("-+ ").startswith("\\"):  # a command: take its arguments too
        while end < len(text) and text[end] in "({":
            close = closing(text, end, "()" if text[end] == "(" else "{}")
            if close is None:
                return None
            end = close + 1
            if text[end - 1] == ")":
                break
    return end


def _reciprocals(text: str) -> str:
    """ "csch x" -> "\\frac{1}{\\sinh(x)}", "sech^2(x)" -> "\\left(\\frac{1}{\\cosh((x))}\\right)^{2}": the reciprocal
    hyperbolic functions, which LaTeX has no command for."""
    out, position = [], 0
    for match in _RECIPROCAL.finditer(text):
        if match.start() < position:
            continue
        end = _operand_end(text, match.end())
        if end is None:
            continue
        out.append(text[position : match.start()])
        reciprocal = f"\\frac{{1}}{{{_RECIPROCAL_OF[match.group(1)]}({text[match.end() : end]})}}"
        power = match.group(2)
        if power:
            reciprocal = f"\\left({reciprocal}\\right)^{{{power.strip('{}')}}}"
        out.append(reciprocal)
        position = end
    return "".join(out) + text[position:]


def _arc(match: re.Match[str]) -> str:
    """ "asin" and "sin^(-1)" -> "arcsin" (a backslash kept where there was one)."""
    backslash, name, hyperbolic = match.group(1), match.group(2), match.group(3)
    if name is None:
        name, hyperbolic = match.group(4), match.group(5)
    return f"{backslash}arc{name}{hyperbolic}"


def _exact_exponent(match: re.Match[str]) -> str:
    fraction = Fraction(Decimal(match.group(2)))
    return f"^{{{match.group(1)}\\frac{{{fraction.numerator}}}{{{fraction.denominator}}}}}"


def latex_from_plain(text: str, depth: int = 0) -> str:
    """The LaTeX reading of plain-text math (see the module docstring); LaTeX input passes unchanged, except
    that a decimal exponent becomes a fraction (x^{0.2} is x^{1/5}, an exact root) and the letter d, alone or beside
    one more letter, becomes a plain symbol (the parser would read "da" and "\\frac{d}{2}" as differentials)."""
    if len(text) > MAX_CHARS:
        return text  # not an answer; left as it is, and in linear time
    text = _INVERSE.sub(_arc, text)
    text = _BARE_FUNCTION.sub(lambda m: "\\ln" if m.group(1) == "log" else "\\" + m.group(1), text)
    text = _calls(text, _EXP_CALL, lambda _, argument: f"e^{{{argument}}}", depth)
    text = _calls(text, _ABS_CALL, lambda _, argument: f"|{argument}|", depth)
    text = _calls(text, _SQRT_CALL, lambda match, argument: f"\\sqrt{match.group(1) or ''}{{{argument}}}", depth)
    text = _ROOT_DIGIT.sub(r"\\sqrt\1{\2}", text)
    text = _BARE_PI.sub(r"\\pi", text)
    text = _FRACTION_COEFFICIENT.sub(r"\\frac{\1}{\2}", text)
    text = _reciprocals(text) if _RECIPROCAL.search(text) else text
    if "d" in text and re.search(r"[^A-Za-z\s]", text):  # the letter d as an unknown; not in prose ("dog")
        text = _SHORT_LETTERS.sub(lambda letters: letters.group(0).replace("d", "d_{v}"), text)
    if "^" in text:
        text = _DECIMAL_EXPONENT.sub(_exact_exponent, _braced_exponents(text))
    return text
