"""Symbolic equivalence of math answers with math-verify (sympy): expressions, sets, intervals, matrices, and
equations compared as equations. Slow without bound, so `aha.rewards.grader` runs it in worker processes with
a time limit.
"""

from __future__ import annotations

from aha.rewards.equivalence import Normalized, equation_sides, forms


def symbolic_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool:
    """math-verify's verdict on the normalised answers (slow: call it through a GraderPool); raises ValueError
    when the reference does not parse."""
    pairs = forms(prediction, reference, decimal_comma)
    for pred, ref in pairs:
        sides = equation_sides(pred.text), equation_sides(ref.text)
        if sides[0] and sides[1]:
            if _equations_equivalent(sides[0], sides[1]):
                return True
        elif _expressions_equivalent(pred, ref, prediction, reference):
            return True
    return False


def _equations_equivalent(pred: tuple[str, str], ref: tuple[str, str]) -> bool:
    """Two equations with the same solutions: lhs - rhs of one is a nonzero constant times the other's
    ("2x + 4y - 3 = 0" and "y = -x/2 + 3/4"). Multiplying by an expression that may be zero is not allowed."""
    import sympy
    from math_verify import parse

    sides = []
    for side in (*pred, *ref):
        parsed = parse(f"${side}$", parsing_timeout=None)
        if not parsed or not isinstance(parsed[0], sympy.Expr):
            return False
        sides.append(parsed[0])
    pred_zero, ref_zero = sympy.expand(sides[0] - sides[1]), sympy.expand(sides[2] - sides[3])
    if pred_zero == 0 or ref_zero == 0:
        return bool(pred_zero == ref_zero)
    ratio = sympy.simplify(pred_zero / ref_zero)
    return bool(ratio.is_number and ratio.is_finite and ratio != 0)


def _expressions_equivalent(pred: Normalized, ref: Normalized, prediction: str, reference: str) -> bool:
    from math_verify import parse, verify

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
