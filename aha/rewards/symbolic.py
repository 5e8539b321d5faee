"""Symbolic equivalence of math answers with math-verify (sympy): expressions, sets, intervals, matrices,
equations compared as equations, inequalities as inequalities. Slow without bound, so `aha.rewards.grader` runs
it in worker processes with a time limit; `aha.rewards.numeric` decides by evaluation where sympy cannot.
"""

from __future__ import annotations

import functools
import re

from aha.rewards.compound import system_of_equations
from aha.rewards.equivalence import Normalized, equation_sides, forms, normalize, relation_chain, rounded_decimals
from aha.rewards.numeric import (
    agree_at_rational_points,
    close,
    constants_equal,
    has_large_power,
    imaginary_unit_equal,
    numerically_consistent,
    plain_symbols,
    ratio_constant_at_rational_points,
    real_roots,
    sampled_verdict,
)


def symbolic_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool:
    """math-verify's verdict on the normalised answers (slow: call it through a GraderPool); raises ValueError
    when the reference does not parse."""
    if _letters_differ_only_in_case(normalize(prediction, decimal_comma).text, normalize(reference).text):
        return False  # X is not x (the parser folds the case of single letters)
    systems = (
        system_of_equations(normalize(prediction, decimal_comma, keep_equation=True).text),
        system_of_equations(normalize(reference, keep_equation=True).text),
    )
    if systems[0] and systems[1]:
        return _systems_equivalent(systems[0], systems[1], decimal_comma)
    pairs = forms(prediction, reference, decimal_comma)
    for pred, ref in pairs:
        sides = equation_sides(pred.text), equation_sides(ref.text)
        chains = relation_chain(pred.text), relation_chain(ref.text)
        if chains[0] and chains[1]:
            if _inequalities_equivalent(chains[0], chains[1]):
                return True
        elif sides[0] and sides[1]:
            if _equations_equivalent(sides[0], sides[1]):
                return True
        elif _expressions_equivalent(pred, ref, prediction, reference):
            return True
    return False


def _letters_differ_only_in_case(prediction: str, reference: str) -> bool:
    letters = [set(re.findall(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", " ", text))) for text in (prediction, reference)]
    return letters[0] != letters[1] and {c.lower() for c in letters[0]} == {c.lower() for c in letters[1]}


def _systems_equivalent(pred: list[str], ref: list[str], decimal_comma: bool) -> bool:
    """Two systems (`\\begin{cases}`) of as many equations, each equation of one equivalent to its own of the
    other, in any order."""
    if len(pred) != len(ref):
        return False
    unmatched = list(ref)
    for equation in pred:
        match = next((r for r in unmatched if symbolic_equivalent(equation, r, decimal_comma)), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _equations_equivalent(pred: tuple[str, str], ref: tuple[str, str]) -> bool:
    """Two equations with the same solutions: lhs - rhs of one is a nonzero constant times the other's
    ("2x + 4y - 3 = 0" and "y = -x/2 + 3/4"), or that times a power of an unknown that stands in a denominator,
    as when denominators are cleared ("1 = \\frac{x}{2y} + \\frac{5}{y}" and "y = \\frac{x}{2} + 5"). Multiplying
    by an expression that may be zero is not allowed ("x^2 = x" is not "x = 1")."""
    import sympy

    sides = [_parse_expression(side) for side in (*pred, *ref)]
    if any(side is None for side in sides):
        return False
    if has_large_power(*sides):  # not expanded: compared by exact values at rational points
        return ratio_constant_at_rational_points(sides[0] - sides[1], sides[2] - sides[3])
    pred_zero, ref_zero = sympy.expand(sides[0] - sides[1]), sympy.expand(sides[2] - sides[3])
    if not pred_zero.free_symbols or not ref_zero.free_symbols:  # "2 = 2", "2x = 2x + 4": no unknowns left
        same = (_same_value(sides[0], sides[2]) and _same_value(sides[1], sides[3])) or (
            _same_value(sides[0], sides[3]) and _same_value(sides[1], sides[2])
        )
        return bool(same)
    ratio = sympy.simplify(pred_zero / ref_zero)
    if ratio.is_number:
        return bool(ratio.is_finite and ratio != 0)
    denominators = set().union(*(sympy.denom(sympy.together(side)).free_symbols for side in sides))
    coefficient, rest = ratio.as_coeff_Mul()
    powers = rest.as_powers_dict()
    return bool(coefficient != 0 and coefficient.is_finite) and all(
        base in denominators and exponent.is_Integer for base, exponent in powers.items()
    )


def _inequalities_equivalent(pred: list[tuple[str, str, str]], ref: list[tuple[str, str, str]]) -> bool:
    """Two chains of inequalities with the same solutions, part by part: each part as "expression > 0" (or
    ">= 0") is a positive constant times a part of the other ("4x + 6y \\leq 8 + 2y" and "2x + 3y \\leq 4 + y";
    "9 \\geq r \\geq -3" and "-99 \\leq 9 - 12r \\leq 45")."""
    import sympy

    def positive_parts(chain: list[tuple[str, str, str]]) -> list[tuple[sympy.Expr, bool]] | None:
        parts = []
        for left, relation, right in chain:
            sides = [_parse_expression(left), _parse_expression(right)]
            if sides[0] is None or sides[1] is None:
                return None
            larger, smaller = (sides[1], sides[0]) if relation in ("<", "\\leq") else (sides[0], sides[1])
            parts.append((sympy.expand(larger - smaller), relation in ("<", ">")))
        return parts

    pred_parts, ref_parts = positive_parts(pred), positive_parts(ref)
    if pred_parts is None or ref_parts is None:
        return False
    if len(pred_parts) == len(ref_parts) and _pair_up(pred_parts, ref_parts):
        return True
    return _same_solution_set(pred_parts, ref_parts)


def _pair_up(pred_parts: list[tuple[object, bool]], ref_parts: list[tuple[object, bool]]) -> bool:
    unmatched = list(ref_parts)
    for expression, strict in pred_parts:
        match = next(
            (part for part in unmatched if part[1] == strict and _positive_multiple(expression, part[0])), None
        )
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _same_solution_set(pred_parts: list[tuple[object, bool]], ref_parts: list[tuple[object, bool]]) -> bool:
    """Inequalities in one and the same unknown with the same real solutions: "x^4 \\geq 16" and "x^2 \\geq 4"
    (both |x| >= 2). Not across unknowns: "a > 1" does not answer "x > 1"."""
    import sympy

    expressions = [expression for expression, _ in pred_parts + ref_parts]
    symbols = [e.free_symbols for e in expressions]
    if has_large_power(*expressions) or any(len(found) != 1 for found in symbols) or len(set().union(*symbols)) != 1:
        return False
    unknown = next(iter(symbols[0]))
    if all(sympy.degree(e, unknown) <= 1 for e in expressions if e.is_polynomial(unknown)) and all(
        e.is_polynomial(unknown) for e in expressions
    ):
        return False  # linear parts: pairing them up (above) already decided

    def solutions(parts: list[tuple[object, bool]]) -> object:
        relations = [(expression > 0) if strict else (expression >= 0) for expression, strict in parts]
        return sympy.And(*relations).as_set().intersect(sympy.S.Reals)

    try:
        real = sympy.Symbol(unknown.name, real=True)
        pred_set = solutions([(e.subs(unknown, real), strict) for e, strict in pred_parts])
        ref_set = solutions([(e.subs(unknown, real), strict) for e, strict in ref_parts])
    except (NotImplementedError, TypeError, ValueError):  # sympy cannot solve every system: not shown equal
        return False
    return bool(pred_set == ref_set)


def _positive_multiple(a: object, b: object) -> bool:
    import sympy

    if b == 0 or not (a.free_symbols or b.free_symbols):
        return False
    ratio = sympy.simplify(a / b)
    return bool(ratio.is_number and ratio.is_finite and ratio.is_positive)


@functools.lru_cache(maxsize=1)
def _extraction_config() -> list[object]:
    import dataclasses

    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    latex = LatexExtractionConfig()
    return [
        dataclasses.replace(latex, normalization_config=dataclasses.replace(latex.normalization_config, units=False)),
        ExprExtractionConfig(),
    ]


def _parse(text: str) -> list[object]:
    """math-verify's parse, without its unit removal: it reads "3t" as 3 (tonnes) and "2m" as 2 (metres), where
    t and m are unknowns. Units after a number are aha's to drop (`aha.rewards.equivalence.normalize`)."""
    from math_verify import parse

    return parse(text, extraction_config=_extraction_config(), parsing_timeout=None)


@functools.lru_cache(maxsize=4096)
def _parse_expression(text: str) -> object | None:
    import sympy

    parsed = _parse(f"${text}$")
    if not parsed or not isinstance(parsed[0], sympy.Expr):
        return None
    return sympy.nsimplify(plain_symbols(parsed[0]), rational=True)  # 1.54 as 154/100: proportions come out exact


def _same_value(a: object, b: object) -> bool:
    import sympy

    return bool(sympy.simplify(a - b) == 0)


def _expressions_equivalent(pred: Normalized, ref: Normalized, prediction: str, reference: str) -> bool:
    from math_verify import verify

    gold = _parse(f"${ref.text}$") or _parse(f"${reference}$")
    if not gold:
        raise ValueError(f"reference {reference!r} does not parse")
    target = _parse(f"${pred.text}$") or _parse(f"${prediction}$")
    if not target:
        return False
    if has_large_power(gold[0], target[0]):
        return agree_at_rational_points(gold[0], target[0])  # (a - x)^{6000}: never expanded
    sampled = sampled_verdict(gold[0], target[0]) if pred.percent == ref.percent else None
    if sampled is not None and (sampled or not _has_letter_i(gold[0], target[0])):
        return sampled  # before math-verify's simplification, which can take seconds on trigonometry
    last_place, ref_place = rounded_decimals(pred.text, ref.text), rounded_decimals(ref.text, pred.text)
    if verify(gold, target, timeout_seconds=None):
        return numerically_consistent(gold[0], target[0]) or bool(
            last_place and close(gold[0], target[0], float(last_place))
        )
    if pred.percent != ref.percent:
        scaled = f"{pred.text}/100" if pred.percent else f"100*({pred.text})"
        return bool(verify(gold, _parse(f"${scaled}$"), timeout_seconds=None))
    if last_place and close(gold[0], target[0], float(last_place)):
        return True  # 125.663 for 40\\pi, "1/3, 1.732, 3.1416" for "\\frac13, \\sqrt3, \\pi"
    if ref_place and _rounds_to(target[0], gold[0], float(ref_place)):
        return True  # the reference is the decimal: -1.709975946 for (-5)^{1/3}
    return imaginary_unit_equal(gold[0], target[0]) or constants_equal(gold[0], target[0])


def _has_letter_i(*expressions: object) -> bool:
    """Whether a symbol i appears: it may be the imaginary unit, which the sample points take for a variable."""
    return any(getattr(symbol, "name", "") == "i" for e in expressions for symbol in getattr(e, "free_symbols", ()))


def _rounds_to(exact: object, decimal: object, last_place: float) -> bool:
    """Whether a decimal reference is the exact answer rounded or cut (an odd root of a negative number read as
    the real root too)."""
    import sympy

    if not (isinstance(exact, sympy.Expr) and exact.is_number):
        return close(exact, decimal, last_place)
    return close(exact, decimal, last_place) or close(real_roots(exact), decimal, last_place)
