"""Symbolic equivalence of math answers with math-verify (sympy): expressions, sets, intervals, matrices, and
equations compared as equations. Slow without bound, so `aha.rewards.grader` runs it in worker processes with
a time limit.
"""

from __future__ import annotations

from aha.rewards.compound import system_of_equations
from aha.rewards.equivalence import (
    Normalized,
    equation_sides,
    forms,
    normalize,
    relation_chain,
    rounded_decimals,
    rounded_from,
)


def symbolic_equivalent(prediction: str, reference: str, decimal_comma: bool = False) -> bool:
    """math-verify's verdict on the normalised answers (slow: call it through a GraderPool); raises ValueError
    when the reference does not parse."""
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
    ("2x + 4y - 3 = 0" and "y = -x/2 + 3/4"). Multiplying by an expression that may be zero is not allowed."""
    import sympy

    sides = [_parse_expression(side) for side in (*pred, *ref)]
    if any(side is None for side in sides):
        return False
    pred_zero, ref_zero = sympy.expand(sides[0] - sides[1]), sympy.expand(sides[2] - sides[3])
    if not pred_zero.free_symbols or not ref_zero.free_symbols:  # "2 = 2", "2x = 2x + 4": no unknowns left
        same = (_same_value(sides[0], sides[2]) and _same_value(sides[1], sides[3])) or (
            _same_value(sides[0], sides[3]) and _same_value(sides[1], sides[2])
        )
        return bool(same)
    ratio = sympy.simplify(pred_zero / ref_zero)
    return bool(ratio.is_number and ratio.is_finite and ratio != 0)


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
    if pred_parts is None or ref_parts is None or len(pred_parts) != len(ref_parts):
        return False
    for expression, strict in pred_parts:
        match = next(
            (part for part in ref_parts if part[1] == strict and _positive_multiple(expression, part[0])), None
        )
        if match is None:
            return False
        ref_parts.remove(match)
    return True


def _positive_multiple(a: object, b: object) -> bool:
    import sympy

    if b == 0 or not (a.free_symbols or b.free_symbols):
        return False
    ratio = sympy.simplify(a / b)
    return bool(ratio.is_number and ratio.is_finite and ratio.is_positive)


def _parse_expression(text: str) -> object | None:
    import sympy
    from math_verify import parse

    parsed = parse(f"${text}$", parsing_timeout=None)
    if not parsed or not isinstance(parsed[0], sympy.Expr):
        return None
    return sympy.nsimplify(parsed[0], rational=True)  # 1.54 as 154/100, so that proportions come out exact


def _same_value(a: object, b: object) -> bool:
    import sympy

    return bool(sympy.simplify(a - b) == 0)


def _expressions_equivalent(pred: Normalized, ref: Normalized, prediction: str, reference: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${ref.text}$", parsing_timeout=None) or parse(f"${reference}$", parsing_timeout=None)
    if not gold:
        raise ValueError(f"reference {reference!r} does not parse")
    target = parse(f"${pred.text}$", parsing_timeout=None) or parse(f"${prediction}$", parsing_timeout=None)
    if not target:
        return False
    last_place = rounded_decimals(pred.text, ref.text)
    if verify(gold, target, timeout_seconds=None):
        return _numerically_consistent(gold[0], target[0]) or bool(
            last_place and _close(gold[0], target[0], float(last_place))
        )
    if pred.percent != ref.percent:
        scaled = f"{pred.text}/100" if pred.percent else f"100*({pred.text})"
        return bool(verify(gold, parse(f"${scaled}$", parsing_timeout=None), timeout_seconds=None))
    if last_place and _close(gold[0], target[0], float(last_place)):
        return True  # 125.663 for 40\\pi, "1/3, 1.732, 3.1416" for "\\frac13, \\sqrt3, \\pi"
    return _imaginary_unit_equal(gold[0], target[0]) or _equal_at_sample_points(gold[0], target[0])


SAMPLE_POINTS = ((0.37, -0.61), (1.29, -1.73), (2.71, -0.29), (0.83, -2.37), (1.91, -1.11))


def _close(gold: object, target: object, tolerance: float) -> bool:
    """Numbers that read as the gold rounded or cut to `tolerance` (one unit in the last place, see
    `rounded_from`), real and imaginary parts apart; sets, tuples and matrices element by element."""
    import sympy

    if isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr):
        if not (gold.is_number and target.is_number):
            return False
        try:
            a, b = complex(sympy.N(gold)), complex(sympy.N(target))
        except (TypeError, ValueError):
            return False
        return rounded_from(b.real, a.real, tolerance) and rounded_from(b.imag, a.imag, tolerance)
    if isinstance(gold, sympy.MatrixBase) and isinstance(target, sympy.MatrixBase):
        return gold.shape == target.shape and all(_close(g, t, tolerance) for g, t in zip(gold, target, strict=True))
    if isinstance(gold, sympy.FiniteSet | sympy.Tuple) and isinstance(target, sympy.FiniteSet | sympy.Tuple):
        golds, targets = list(gold.args), list(target.args)
        if len(golds) != len(targets):
            return False
        if isinstance(gold, sympy.Tuple) and isinstance(target, sympy.Tuple):
            return all(_close(g, t, tolerance) for g, t in zip(golds, targets, strict=True))
        for g in golds:  # unordered: each gold element takes one close target element
            match = next((t for t in targets if _close(g, t, tolerance)), None)
            if match is None:
                return False
            targets.remove(match)
        return True
    return False


def _imaginary_unit_equal(gold: object, target: object) -> bool:
    """ "i(2 - i)" and "1 + 2i": with i read as the imaginary unit (math-verify reads it as a symbol)."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return False
    gold, target = _plain_symbols(gold), _plain_symbols(target)
    i = sympy.Symbol("i")
    if i not in gold.free_symbols | target.free_symbols:
        return False
    return bool(sympy.simplify(gold.subs(i, sympy.I) - target.subs(i, sympy.I)) == 0)


def _plain_symbols(expression: object) -> object:
    """The expression over assumption-free symbols: the parser marks c complex in one answer and real in the
    other, and two symbols named c with different assumptions are different symbols to sympy."""
    import sympy

    return expression.subs({s: sympy.Symbol(s.name) for s in expression.free_symbols})


def _equal_at_sample_points(gold: object, target: object) -> bool:
    """Two expressions in the same variables that sympy could not simplify to each other (powers of sums,
    radicals) are equal when they agree at positive sample points, and at negative ones wherever both are
    real there: 1/\\sqrt{n} = \\sqrt{1/n}, but |x| != x."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return False
    gold, target = _plain_symbols(gold), _plain_symbols(target)
    symbols = sorted(gold.free_symbols | target.free_symbols, key=str)
    if not symbols or gold.free_symbols != target.free_symbols or len(symbols) > 4:
        return False
    for positive, negative in SAMPLE_POINTS:
        for value, must_agree in ((positive, True), (negative, False)):
            point = {
                s: sympy.Float(value + 0.17 * k) if value > 0 else sympy.Float(value - 0.17 * k)
                for k, s in enumerate(symbols)
            }
            try:
                a, b = complex(sympy.N(gold.subs(point))), complex(sympy.N(target.subs(point)))
            except (TypeError, ValueError, ZeroDivisionError):
                return False
            real = abs(a.imag) < 1e-12 and abs(b.imag) < 1e-12
            if (must_agree or real) and not abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)):
                return False
    return True


def _numerically_consistent(gold: object, target: object) -> bool:
    """math-verify compares numbers after rounding to 6 decimals, so 1/2006! "equals" 1/2004!; two constant
    expressions must also agree to 12 significant digits."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return True
    if not (gold.is_number and target.is_number):
        return True
    if 0 in (gold, target) and (gold - target).is_zero:  # sin(pi) and 0, though N(sin(pi)) is 0.e-152
        return True
    a, b = sympy.N(gold, 30), sympy.N(target, 30)
    try:
        scale = max(abs(a), abs(b))
        return bool(abs(a - b) <= scale * sympy.Float("1e-12", 30))
    except TypeError:  # not comparable (complex with symbols left, nan): keep math-verify's verdict
        return True
