"""Equality decided by evaluation, where sympy's simplification fails or would take too long: agreement at
sample points, exact values at rational points for huge powers, constants to 40 digits (with odd roots of
negative numbers also read as real roots), and decimals read as rounded. sympy is imported inside the functions:
they run in `aha.rewards.grader`'s worker processes only.
"""

from __future__ import annotations

from aha.rewards.equivalence import rounded_from

SAMPLE_POINTS = ((0.37, -0.61), (1.29, -1.73), (2.71, -0.29), (0.83, -2.37), (1.91, -1.11))
FAR_POINTS = (-1234.7, 2345.3)  # |x + 10| - 10 and |x + 11| - 11 agree for every x > -10
MIXED_POINTS = (("-3/2", "2", "1/2", "-1"), ("-1", "2", "1/2", "3"), ("2", "-1", "-3/2", "1/2"))  # signs and integers


def close(gold: object, target: object, tolerance: float) -> bool:
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
        return gold.shape == target.shape and all(close(g, t, tolerance) for g, t in zip(gold, target, strict=True))
    if isinstance(gold, sympy.FiniteSet | sympy.Tuple) and isinstance(target, sympy.FiniteSet | sympy.Tuple):
        golds, targets = list(gold.args), list(target.args)
        if len(golds) != len(targets):
            return False
        if isinstance(gold, sympy.Tuple) and isinstance(target, sympy.Tuple):
            return all(close(g, t, tolerance) for g, t in zip(golds, targets, strict=True))
        for g in golds:  # unordered: each gold element takes one close target element
            match = next((t for t in targets if close(g, t, tolerance)), None)
            if match is None:
                return False
            targets.remove(match)
        return True
    return False


def imaginary_unit_equal(gold: object, target: object) -> bool:
    """ "i(2 - i)" and "1 + 2i": with i read as the imaginary unit (math-verify reads it as a symbol)."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return False
    gold, target = plain_symbols(gold), plain_symbols(target)
    i = sympy.Symbol("i")
    if i not in gold.free_symbols | target.free_symbols:
        return False
    return bool(sympy.simplify(gold.subs(i, sympy.I) - target.subs(i, sympy.I)) == 0)


def plain_symbols(expression: object) -> object:
    """The expression over assumption-free symbols: the parser marks c complex in one answer and real in the
    other, and two symbols named c with different assumptions are different symbols to sympy."""
    import sympy

    return expression.subs({s: sympy.Symbol(s.name) for s in expression.free_symbols})


def sampled_verdict(gold: object, target: object) -> bool | None:
    """Two expressions compared at sample points, evaluated to 30 digits: False when they differ at a point where
    both are real; True when they agree at three points or more and differ nowhere both are real; None (no
    verdict) otherwise, or without unknowns. 1/\\sqrt{n} = \\sqrt{1/n} and \\sqrt{k/m}\\sqrt{m/k} = 1 for
    k/m > 0, but |x| != x and (a^b)^c != a^{bc} (a = -1, b = 2, c = 1/2). Where either value is complex the
    principal branches may differ, and the point says nothing: \\log\\frac{x+1}{1-x} = -\\log\\frac{1-x}{x+1}."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return None
    gold, target = plain_symbols(gold), plain_symbols(target)
    symbols = sorted(gold.free_symbols | target.free_symbols, key=str)
    if not symbols or len(symbols) > 4:
        return None
    points = [
        [sympy.Float(value + (0.17 if value > 0 else -0.17) * k, 30) for k in range(len(symbols))]
        for pair in SAMPLE_POINTS
        for value in pair
    ]
    points += [[sympy.Rational(mixed[k % 4]) for k in range(len(symbols))] for mixed in MIXED_POINTS]
    points += [[sympy.Float(value * (1 + 0.13 * k), 30) for k in range(len(symbols))] for value in FAR_POINTS]
    agree = 0
    for point in points:  # evaluated to 30 digits: a polynomial with 10^13 coefficients loses all in floats
        values = [_value_at(expression, dict(zip(symbols, point, strict=True))) for expression in (gold, target)]
        if None in values:
            continue  # undefined here
        a, b = values
        scale = max(1.0, abs(a), abs(b))
        if abs(a - b) <= scale * 1e-12:  # as for constants: 12 digits
            agree += 1
        elif abs(a.imag) <= scale * 1e-20 and abs(b.imag) <= scale * 1e-20:
            return False
    return True if agree >= 3 else None


def _value_at(expression: object, point: dict[object, object]) -> complex | None:
    """The value at a point, to 30 digits (sympy itself, no code generated from the answer); None if undefined,
    in the reals too: a root or logarithm of a negative number on the way makes the point say nothing, even when
    the end value is real (\\sqrt{k/m}\\sqrt{m/k} is -1 where k/m < 0, a point where neither root exists)."""
    import sympy

    try:
        value = expression.xreplace(point)  # exact at the rational points: log(0) is -oo there, not a large number
        if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return None
        value = value.evalf(30)
        real, imaginary = value.as_real_imag()
        if abs(real) >= 1e300:
            return None
        if abs(imaginary) <= 1e-20 * max(1.0, abs(real)) and not _real_on_the_way(expression, point):
            return None
        return complex(float(real), float(imaginary))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        return None


def _real_on_the_way(expression: object, point: dict[object, object]) -> bool:
    """Whether every root (a power with a non-integer exponent), logarithm and inverse function defined on part of
    the real line only is real at the point, inside a real-valued expression."""
    import sympy

    partial = (sympy.log, sympy.asin, sympy.acos, sympy.asec, sympy.acsc, sympy.acosh, sympy.atanh, sympy.acoth)
    parts = [p for p in expression.atoms(sympy.Pow) if not p.exp.is_integer and p.free_symbols]
    parts += [f for f in expression.atoms(*partial, sympy.asech) if f.free_symbols]  # real only on part of the line
    for part in parts:
        value = part.xreplace(point).evalf(15)
        if not value.is_number:
            continue
        real, imaginary = value.as_real_imag()
        if abs(imaginary) > 1e-12 * max(1.0, abs(real)):
            return False
    return True


def numerically_consistent(gold: object, target: object) -> bool:
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


LARGE_POWER = 60  # an integer power above this is not expanded: (x - a)^{6000} would take minutes
RATIONAL_POINTS = (  # one row per point, one value per unknown: small, distinct, far enough apart that x - a is
    ("2", "5", "11", "-3", "7", "13"),  # never tiny, so that (x - a)^{6000} does not vanish beside y
    ("-3", "4", "9/2", "6", "-7/3", "8"),
    ("5/2", "-1", "7", "3", "10", "-4"),
    ("7/3", "3", "-2", "13/2", "1/2", "9"),
)


def has_large_power(*expressions: object) -> bool:
    import sympy

    return any(
        isinstance(e, sympy.Basic)
        and any(p.exp.is_Integer and abs(p.exp) > LARGE_POWER for p in e.atoms(sympy.Pow) if p.free_symbols)
        for e in expressions
    )


def values_at_rational_points(expression: object, symbols: list[object]) -> list[object] | None:
    """Exact values at a few rational points (None when there are too many unknowns, or a value is undefined)."""
    import sympy

    if len(symbols) > len(RATIONAL_POINTS[0]):
        return None
    values = []
    for row in RATIONAL_POINTS:
        value = expression.subs({s: sympy.Rational(row[j]) for j, s in enumerate(symbols)})
        if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return None
        values.append(value)
    return values


def agree_at_rational_points(gold: object, target: object) -> bool:
    """Two expressions with huge powers are equal when their exact values agree at several rational points
    (a polynomial identity test: unequal polynomials of moderate degree differ at almost every point)."""
    gold, target = plain_symbols(gold), plain_symbols(target)
    symbols = sorted(gold.free_symbols | target.free_symbols, key=str)
    a, b = values_at_rational_points(gold, symbols), values_at_rational_points(target, symbols)
    return a is not None and b is not None and all(_same_number(x, y) for x, y in zip(a, b, strict=True))


def ratio_constant_at_rational_points(a: object, b: object) -> bool:
    """Whether a / b is one nonzero constant at several rational points (two equations `a = 0` and `b = 0` with
    huge powers, compared without expanding them)."""
    a, b = plain_symbols(a), plain_symbols(b)
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    values_a, values_b = values_at_rational_points(a, symbols), values_at_rational_points(b, symbols)
    if values_a is None or values_b is None or any(v == 0 for v in values_a + values_b):
        return False
    ratios = [x / y for x, y in zip(values_a, values_b, strict=True)]
    return all(_same_number(r, ratios[0]) for r in ratios[1:])


def _same_number(a: object, b: object) -> bool:
    import sympy

    if a.is_Rational and b.is_Rational:
        return bool(a == b)  # exact: (1/14)^{6000} is not (1/14)^{5999}
    difference = a - b
    if difference == 0:
        return True
    scale = max(abs(sympy.N(a, 60)), abs(sympy.N(b, 60)))  # relative: (1/14)^{6000} is not (1/14)^{5999}
    return bool(abs(sympy.N(difference, 60)) <= scale * sympy.Float("1e-40", 60))


def real_roots(expression: object) -> object:
    """(-8)^{1/3} as -2 (the real cube root), as school algebra reads an odd root of a negative number; sympy
    takes the principal complex root."""
    import sympy

    def real(power: sympy.Pow) -> sympy.Expr:
        exponent = sympy.nsimplify(power.exp, rational=True)
        if exponent.is_Rational and exponent.q % 2 == 1 and power.base.is_negative:
            sign = -1 if exponent.p % 2 else 1
            return sign * sympy.Pow(-power.base, exponent)
        return power

    return expression.replace(lambda e: isinstance(e, sympy.Pow) and e.base.is_number, real)


def constants_equal(gold: object, target: object) -> bool:
    """Two constant expressions sympy cannot simplify to each other (nested radicals, logarithms) are equal
    when they agree to 40 significant digits, read with real odd roots too: \\sqrt{11+6\\sqrt{2}} = 3+\\sqrt{2}."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(target, sympy.Expr)):
        return False
    if gold.free_symbols or target.free_symbols:
        return False
    try:
        return _same_number(gold, target) or _same_number(real_roots(gold), real_roots(target))
    except (TypeError, ValueError):
        return False
