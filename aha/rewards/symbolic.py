"""Symbolic equivalence of math answers with math-verify (sympy): expressions, sets, intervals, matrices, and
equations compared as equations. Slow without bound, so `aha.rewards.grader` runs it in worker processes with
a time limit.
"""

from __future__ import annotations

from aha.rewards.equivalence import Normalized, equation_sides, forms, rounded_decimals


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
    """Numbers within an absolute tolerance; sets, tuples and matrices element by element."""
    import sympy

    if isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr):
        if not (gold.is_number and target.is_number):
            return False
        try:
            a, b = complex(sympy.N(gold)), complex(sympy.N(target))
        except (TypeError, ValueError):
            return False
        return abs(a - b) <= tolerance
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
    units = {s: sympy.I for s in gold.free_symbols | target.free_symbols if s.name == "i"}  # any assumptions
    if not units:
        return False
    return bool(sympy.simplify(gold.subs(units) - target.subs(units)) == 0)


def _equal_at_sample_points(gold: object, target: object) -> bool:
    """Two expressions in the same variables that sympy could not simplify to each other (powers of sums,
    radicals) are equal when they agree at positive sample points, and at negative ones wherever both are
    real there: 1/\\sqrt{n} = \\sqrt{1/n}, but |x| != x."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return False
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
    a, b = sympy.N(gold, 30), sympy.N(target, 30)
    try:
        scale = max(abs(a), abs(b))
        return bool(abs(a - b) <= scale * sympy.Float("1e-12", 30))
    except TypeError:  # not comparable (complex with symbols left, nan): keep math-verify's verdict
        return True
