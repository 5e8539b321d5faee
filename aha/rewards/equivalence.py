"""Math answers compared: normalise an answer's text, then decide cheaply whether two answers are equivalent.

`normalize` undoes notation that does not change the value (full-width characters, `\\dfrac`,
`\\left`/`\\right`, `\\text{}`, units, degrees (as radians inside trigonometric functions), thousands
separators, trailing punctuation, `x = 3`, mixed numbers, `a \\times 10^{b}`, times of day); `forms` pairs up what
to compare (two equations as equations); `quick_equivalent` decides equal strings, equal numbers (exact
rationals, or a decimal of 4+ significant digits read as rounded) and times of day in microseconds, or returns
None. `aha.rewards.symbolic` decides the rest with math-verify.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from aha.rewards.answers import final_boxed
from aha.rewards.compound import tuples_of_assignments, vector_against_list
from aha.rewards.plaintext import latex_from_plain

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
_TRIG = re.compile(r"\\?(?:arc)?(?:sin|cos|tan|cot|sec|csc)h?\b")
_ANGLE = re.compile(r"(\d+(?:\.\d+)?|\{[^{}]*\})\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree)")
_UNITS = (
    "cm|m|km|mm|kg|g|mg|lb|lbs|pounds?|ounces?|oz|s|sec|seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|"
    "months?|years?|dollars?|cents?|euros?|yuan|units?|inches|inch|in|feet|foot|ft|yards?|yd|meters?|metres?|"
    "miles?|mph|km/h|liters?|litres?|l|ml|gallons?|square units|sq units|cubic units|people|students?|apples?|"
    "books?|pages?|points?|元|个|米|厘米|千米|公里|克|千克|秒|分钟|小时|天|人|岁"
)
_TRAILING_UNIT = re.compile(rf"^(.*?[\d}}])\s*(?:\\?\s*(?:{_UNITS}))(?:\s*\^\s*\{{?[23]\}}?|²|³)?$", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)")
_REVERSED_ASSIGNMENT = re.compile(r"^([^=]+?)\s*=\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?$")
_NAME_SIDE = re.compile(  # what an equation may define: y, a_n, \\theta, f(x); not \\sin(x)
    r"^(?:[A-Za-z](?:\([A-Za-z]\))?|\\(?!(?:arc)?(?:sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt)h?\b)[A-Za-z]+)(?:_\{?[\w\\]+\}?)?$"
)
_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_GROUPED = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})+(?![\d,])")
_SPACED_THOUSANDS = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_MIXED_LATEX = re.compile(r"^(-?)(\d+)\s*\\frac\s*\{(\d+)\}\s*\{(\d+)\}$")
_MIXED_PLAIN = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
_SCIENTIFIC = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*(-?\d+)\s*\}?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\?\s*(a\.?\s*m\.?|p\.?\s*m\.?))?$", re.IGNORECASE)
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_RELATIONS = (
    (re.compile(r"\\lt\b"), "<"),
    (re.compile(r"\\gt\b"), ">"),
    (re.compile(r">="), "\\geq "),
    (re.compile(r"<="), "\\leq "),
    (re.compile(r"!=|=/="), "\\neq "),
    (re.compile(r"\\ge\b(?!q)"), "\\geq"),
    (re.compile(r"\\le\b(?!q)"), "\\leq"),
)
_MATRIX = re.compile(
    r"\[?\s*\\begin\{array\}\{[^{}]*\}(.*?)\\end\{array\}\s*\]?|\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.DOTALL
)
_MARKDOWN_BOLD = re.compile(r"(?<![\w)\]}])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w(])")  # **12**; not 2**3 + 3**2
_PERCENT_WORDS = re.compile(r"\s*\b(?:percent|percentage|pct)\b\.?$", re.IGNORECASE)
_NUMBER_TIMES_PAREN = re.compile(r"(?<![_^\w.])(\d+(?:\.\d+)?)\s*\((?=\s*[-\d\\])")
_BETWEEN = re.compile(r"(-?[\w.\\{}]+)\s*(\\leq|<)\s*([a-zA-Z])\s*(\\leq|<)\s*(-?[\w.\\{}]+)")
_SCALE = re.compile(r"^(-?\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion)$", re.IGNORECASE)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$")


@dataclass(frozen=True)
class Normalized:
    text: str  # canonical string form
    percent: bool = False  # the answer was written as a percentage


def _radians(angle: re.Match[str]) -> str:
    """ "30" (degrees) -> "\\frac{\\pi}{6}"; an angle that is not a plain number -> "\\frac{(a)\\pi}{180}"."""
    degrees = angle.group(1)
    try:
        turn = Fraction(Decimal(degrees)) / 180
    except (InvalidOperation, ValueError):
        return f"\\frac{{({degrees.strip('{}')})\\pi}}{{180}}"
    pi = "\\pi" if turn.numerator == 1 else f"{turn.numerator}\\pi"
    return pi if turn.denominator == 1 else f"\\frac{{{pi}}}{{{turn.denominator}}}"


_UNIT_WORDS_AFTER = re.compile(  # "... \\text{radians}\\ \\text{per second}" after an expression
    r"^(.*?[\w})\]])(?:\s|\\ |\\,|\\;)*"
    r"(?:\\(?:text|mathrm|mbox)\s*\{\s*(?!percent)[A-Za-z]+(?:\s+[A-Za-z]+)*\s*\}(?:\s|\\ |\\,)*)+$"
)


def _unwrap(text: str) -> str:
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    boxed = final_boxed(text) if text.startswith(("\\boxed", "\\fbox")) else None
    return boxed[1] if boxed is not None else text  # "\\boxed{2}, \\boxed{3}" is "2, 3", not "3"


@functools.lru_cache(maxsize=65536)
def _strip_trailing(text: str) -> str:
    """Punctuation closing a sentence, dropped; a factorial sign kept: "12." -> "12", "(n+1)!" stays."""
    text = text.rstrip(" .,;:")
    while text.endswith("!") and not re.search(r"(?:[\w)\]}]|\\right\))!$", text):
        text = text[:-1].rstrip(" .,;:")
    return text


def normalize(answer: str, decimal_comma: bool = False, keep_equation: bool = False) -> Normalized:
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
    units = _UNIT_WORDS_AFTER.match(text)
    if units and not _TEXT.fullmatch(units.group(1).strip()):  # "\\frac{6\\pi}{x} \\text{radians per second}"
        text = units.group(1)
    for _ in range(3):
        text = _TEXT.sub(r"\1", text)
    text = text.replace("\\$", "").replace("$", "").strip()
    text = _MARKDOWN_BOLD.sub(r"\1", text).replace("**", "^")  # what is left is Python's power: 2**(1/4)
    if "=" in text and not re.search(r"[(\[][^()\[\]]*\d,\d", text):  # 36x^2 + 64y^2 = 2,304; not (2,500)
        text = _GROUPED.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _strip_trailing(text).lstrip(":").strip()
    if _TRIG.search(text):  # \\sin 30^\\circ is \\sin(\\pi/6), not \\sin(30)
        text = _ANGLE.sub(_radians, text)
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
    if not keep_equation:  # "x = 3" and "3 = x" answer 3; an equation compared with an equation keeps both sides
        text = _ASSIGNMENT.sub("", text).strip()
        text = _value_of_reversed_assignment(text)
    for relation, symbol in _RELATIONS:
        text = relation.sub(lambda _, symbol=symbol: symbol, text)
    text = _MATRIX.sub(lambda m: "\\begin{pmatrix}" + (m.group(1) or m.group(2)) + "\\end{pmatrix}", text)
    text = re.sub(r"(?<=\d),?\s+and\s+(?=-?\d)", ", ", text)
    text = _NUMBER_TIMES_PAREN.sub(r"\1\\cdot (", text)  # 36(64) is 36 times 64 (the parser adds them)
    text = latex_from_plain(text)  # sqrt((x+1)/2), abs(x), csc x, 3^-x, 1/3p
    text = re.sub(r"\+\s*-", "-", text)
    text = re.sub(r"(?<![\d.])(\d+)\.0+(?![\d.])", r"\1", text)  # 14.0 -> 14
    text = re.sub(r"(?<![\w.])1(?=[a-z]\b)", "", text)  # 14 - 1i -> 14 - i
    between = None if keep_equation else _BETWEEN.fullmatch(text)
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
        hours, minutes, seconds, half = clock.groups()
        seconds = "" if seconds in (None, "00") else f":{seconds}"
        half = "" if half is None else " " + half.replace(".", "").replace(" ", "").lower()
        text = f"{int(hours)}:{minutes}{seconds}{half}"
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
    last_place, ref_place = rounded_decimals(pred.text, ref.text), rounded_decimals(ref.text, pred.text)
    inexact = all(re.search(r"[.eE]", text) for text in (pred.text, ref.text))  # two decimals, not 99999999999
    return any(
        c == r
        or (inexact and abs(c - r) <= abs(r) * Fraction(1, 10**6))
        or bool(last_place and rounded_from(c, r, last_place))
        or bool(ref_place and rounded_from(r, c, ref_place))  # the reference is the decimal: 3.3333 for 10/3
        for c in candidates
    )


def rounded_decimals(pred: str, ref: str) -> Fraction | None:
    """How far a prediction written in decimals may be from an exact reference (one without decimals): one
    unit in the last place of its coarsest decimal, when it writes at least 4 significant digits, so it reads
    as the value rounded or cut, as a person would (1.732 for \\sqrt{3}, 0.3333 for 1/3; 3.14 is not \\pi, and
    9999.857142857143 is not 10000). A one-digit decimal (0.5) may stand beside them. None: no such reading."""
    decimals = re.findall(r"\d*\.\d+", pred)
    if not decimals or re.search(r"\d\.\d", ref):
        return None
    digits = [len(d.replace(".", "").lstrip("0")) for d in decimals]
    if max(digits) < 4 or any(2 <= n <= 3 for n in digits):
        return None
    return Fraction(1, 10 ** min(len(d.split(".")[1]) for d in decimals))


def rounded_from(value: Fraction | float, exact: Fraction | float, last_place: Fraction | float) -> bool:
    """Whether `value`, written to `last_place`, is `exact` rounded (within half a unit) or cut toward zero
    (within one unit, on the side of zero): 1.732 and 1.7321 for \\sqrt{3}, but not 5.001 for 5."""
    gap = exact - value
    if abs(gap) <= last_place / 2:
        return True
    return value != 0 and (gap > 0) == (value > 0) and abs(gap) < last_place


_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]+$")
_COMMA_DECIMAL = re.compile(r"^-?0,\d+$|^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$")  # never a thousands separator


def _last_side(pred: Normalized, ref: Normalized) -> tuple[Normalized, Normalized]:
    """ "a = b = 10/9" answers with its last side, unless the reference is an equation too."""
    chain = "=" in pred.text and not _top_level_separator(pred.text)  # "x = 1, y = 2" is a list, not a chain
    if chain and "=" not in ref.text and not re.search(r"[<>!]=|\\[lg]eq|\\neq", pred.text):
        return Normalized(pred.text.rsplit("=", 1)[1].strip(), pred.percent), ref
    return pred, ref


def _comma_decimal(text: str) -> str:
    return text.replace(",", ".") if _COMMA_DECIMAL.match(text) else text


def _value_of_reversed_assignment(text: str) -> str:
    """ "12 = x" -> "12": a constant assigned to a name, written the other way round."""
    reversed_assignment = _REVERSED_ASSIGNMENT.match(text)
    if reversed_assignment and not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", reversed_assignment.group(1))):
        return reversed_assignment.group(1).strip()
    return text


def _top_level_separator(text: str) -> bool:
    """Whether a comma or semicolon outside brackets makes the text a list."""
    depth = 0
    for char in text:
        depth += (char in "([{") - (char in ")]}")
        if char in ",;" and depth == 0:
            return True
    return False


def equation_sides(text: str) -> tuple[str, str] | None:
    """(left, right) of one equation "lhs = rhs"; None for anything else (a value, a list, a chain, a relation)."""
    if text.count("=") != 1 or re.search(r"[<>!]=|\\[lg]eq|\\neq", text):
        return None
    if _top_level_separator(text):
        return None  # "x = 1, y" is a list
    left, right = (side.strip() for side in text.split("="))
    return (left, right) if left and right else None


_RELATION = re.compile(r"\\leq|\\geq|<|>")


def relation_chain(text: str) -> list[tuple[str, str, str]] | None:
    """ "1 < 2x \\leq 3" -> [("1", "<", "2x"), ("2x", "\\leq", "3")]; None unless the text is one chain of
    inequalities (no "=", no list)."""
    if "=" in text or _top_level_separator(text):
        return None
    parts = _RELATION.split(text)
    relations = _RELATION.findall(text)
    if not relations or any(not part.strip() for part in parts):
        return None
    return [(parts[k].strip(), relations[k], parts[k + 1].strip()) for k in range(len(relations))]


def forms(prediction: str, reference: str, decimal_comma: bool = False) -> list[tuple[Normalized, Normalized]]:
    """The (prediction, reference) forms to compare; the answers are equivalent when any pair is.

    Two equations are compared as equations ("2x + 4y = 3" and "y = -x/2 + 3/4"), and also by their right
    sides when both left sides are names ("f(x) = 2x + 3" and "y = 2x + 3") or the same ("a - b = 1.732" and
    "a - b = \\sqrt{3}"); two chains of inequalities as inequalities ("1 < 2x \\leq 3" and "1/2 < x \\leq 1.5")
    and as intervals; groups of assignments as sets of tuples, and a one-column matrix against a list as tuples
    (`aha.rewards.compound`). Otherwise an assignment answers with its value ("x = 3" is 3) and "a = b = 10/9"
    with its last side.
    """
    pred_equation = normalize(prediction, decimal_comma, keep_equation=True)
    ref_equation = normalize(reference, keep_equation=True)
    pred_sides, ref_sides = equation_sides(pred_equation.text), equation_sides(ref_equation.text)
    plain = _last_side(normalize(prediction, decimal_comma), normalize(reference))
    parts = tuples_of_assignments(pred_equation.text, ref_equation.text) or vector_against_list(
        pred_equation.text, ref_equation.text
    )
    if parts:  # "p=5, q=2; p=7, q=2" as {(5, 2), (7, 2)}; a column matrix and a list as tuples
        return [(Normalized(parts[0], pred_equation.percent), Normalized(parts[1])), plain]
    if relation_chain(pred_equation.text) and relation_chain(ref_equation.text):
        return [(pred_equation, ref_equation), plain]  # as inequalities, and as intervals
    if pred_sides and ref_sides:
        pairs = [(pred_equation, ref_equation)]
        same_left = pred_sides[0].replace(" ", "") == ref_sides[0].replace(" ", "")
        if same_left or (_NAME_SIDE.match(pred_sides[0]) and _NAME_SIDE.match(ref_sides[0])):
            pairs.append((Normalized(pred_sides[1], pred_equation.percent), Normalized(ref_sides[1])))
        return pairs
    return [plain]


def quick_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool | None:
    """Equivalence decided without sympy (strings, numbers, times); None when sympy must decide."""
    verdicts = [_quick(pred, ref) for pred, ref in forms(prediction, reference, decimal_comma)]
    if True in verdicts:
        return True
    return None if None in verdicts else False


def _quick(pred: Normalized, ref: Normalized) -> bool | None:
    if not pred.text:
        return False  # an empty answer states nothing, whatever the reference
    sides = equation_sides(pred.text), equation_sides(ref.text)
    if sides[0] and sides[1] and sides[0] == sides[1][::-1]:
        return True  # "2 = x" and "x = 2"
    if pred.text == ref.text or pred.text.replace(" ", "") == ref.text.replace(" ", ""):
        return True
    if any(dots in text for dots in ("\\ldots", "\\cdots", "\\dots", "...") for text in (pred.text, ref.text)):
        return False  # sequences "1, 3, 5, \\ldots": only the same terms written the same way
    words = _WORDS.match(pred.text) and _WORDS.match(ref.text)
    if words and any(re.search("[A-Za-z]{3}", text) for text in (pred.text, ref.text)):  # "ab" is a product
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
    p_time, r_time = _clock_readings(pred.text), _clock_readings(ref.text)
    if p_time and r_time:
        return bool(p_time & r_time)
    return None


def _clock_readings(text: str) -> set[int] | None:
    """The seconds after midnight a time of day may mean: "2:30 PM" and "14:30:00" are one reading,
    "2:30" without a.m./p.m. is two (2:30 and 14:30); None when the text is not a time."""
    clock = _TIME.match(text)
    if not clock:
        return None
    hours, minutes, seconds, half = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0), clock.group(4)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    if half is not None:
        hours = hours % 12 + (12 if half.lower().startswith("p") else 0)
        return {hours * 3600 + minutes * 60 + seconds}
    readings = {hours * 3600 + minutes * 60 + seconds}
    if 1 <= hours <= 11:
        readings.add((hours + 12) * 3600 + minutes * 60 + seconds)
    return readings
