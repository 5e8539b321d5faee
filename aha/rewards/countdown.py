"""Countdown: reach the target with the given numbers, each used exactly once, with + - * / and parentheses.

The expression is parsed with Python's `ast` and walked through a whitelist (integer literals, the four
binary operators, unary minus); it is never evaluated by Python. Arithmetic is exact (fractions); a
division by zero or an over-long input scores 0. An answer written "expr = N" scores only when N is the
expression's value (a wrong stated result is a wrong answer, even when expr itself reaches the target).
"""

from __future__ import annotations

import ast
from collections import Counter
from fractions import Fraction

from aha.rewards import register
from aha.rewards.extraction import extract_answer
from aha.types import Sample

MAX_EXPRESSION_CHARS = 200
_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def evaluate(expression: str) -> tuple[Fraction, list[int]] | None:
    """(exact value, integer literals used) of an arithmetic expression, or None if it is not one."""
    expression = expression.replace("×", "*").replace("÷", "/").replace("−", "-").strip().rstrip("=").strip()
    if not expression or len(expression) > MAX_EXPRESSION_CHARS:
        return None
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError):
        return None
    numbers: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            numbers.append(node.value)
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError("not allowed")

    try:
        return walk(tree.body), numbers
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


@register("countdown")
def countdown(response: str, sample: Sample) -> float | None:
    """1.0 when the <answer> expression uses each of sample.meta["nums"] exactly once and equals the target.

    >>> task = Sample(id="", prompt="", answer="40", meta={"nums": [13, 99, 46]})
    >>> countdown("<answer> (99 - 46) - 13 </answer>", task)
    1.0
    """
    nums = sample.meta.get("nums")
    try:
        target = Fraction(sample.answer)
    except ValueError:
        return None
    if not isinstance(nums, list):
        return None
    expression = extract_answer(response, formal=True)
    if expression is None:
        return 0.0
    stated = None
    if "=" in expression.rstrip("= "):  # "a + b = 17": the left side is judged, the stated result must hold
        expression, _, rest = expression.partition("=")
        stated = _stated_result(rest)
        if stated is None:
            return 0.0
    result = evaluate(expression)
    if result is None:
        return 0.0
    value, used = result
    if stated is not None and stated != value:
        return 0.0  # "99 - 46 - 13 = 41": a wrong claim about its own value
    return 1.0 if value == target and Counter(used) == Counter(nums) else 0.0


def _stated_result(text: str) -> Fraction | None:
    """The number after "=" in "expr = N" (also "expr = N = N"); None when it is not one number."""
    sides = [side.strip() for side in text.split("=") if side.strip()]
    if not sides or len(sides[-1]) > MAX_EXPRESSION_CHARS:
        return None
    try:
        values = {Fraction(side) for side in sides}
    except (ValueError, ZeroDivisionError):
        return None
    return values.pop() if len(values) == 1 else None
