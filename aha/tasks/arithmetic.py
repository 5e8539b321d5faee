"""Seeded synthetic arithmetic ("What is 23 + 45?") with a difficulty knob.

Difficulty sets how many operands there are, how many digits each has and which operators appear;
multiplication binds tighter than addition and subtraction, as usual. The same (seed, difficulty, count)
always gives the same problems, and a held-out set can exclude the prompts of a training set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aha.errors import ConfigError
from aha.types import Sample


@dataclass(frozen=True, kw_only=True)
class ArithmeticSpec:
    digits: int  # each operand has 1..digits digits
    operands: int  # numbers in the expression
    operators: str  # drawn uniformly from these characters among "+-*"


DIFFICULTY: dict[int, ArithmeticSpec] = {
    1: ArithmeticSpec(digits=1, operands=2, operators="+"),
    2: ArithmeticSpec(digits=2, operands=2, operators="+"),
    3: ArithmeticSpec(digits=2, operands=2, operators="+-"),
    4: ArithmeticSpec(digits=2, operands=3, operators="+-"),
    5: ArithmeticSpec(digits=2, operands=3, operators="+-*"),
    6: ArithmeticSpec(digits=3, operands=3, operators="+-*"),
}


def evaluate(numbers: list[int], operators: list[str]) -> int:
    """Value of n0 op0 n1 op1 n2 ... with * before + and -.

    >>> evaluate([2, 3, 4], ["+", "*"])
    14
    """
    terms, signs = [numbers[0]], []
    for operator, number in zip(operators, numbers[1:], strict=True):
        if operator == "*":
            terms[-1] *= number
        else:
            terms.append(number)
            signs.append(1 if operator == "+" else -1)
    return terms[0] + sum(sign * term for sign, term in zip(signs, terms[1:], strict=True))


HELD_OUT_SEED = 1_000_003  # the held-out sums are the same for every run seed
HELD_OUT_PREFIX = "arith-held-out"


def generate(
    count: int, *, seed: int, difficulty: int = 2, exclude: frozenset[str] = frozenset(), prefix: str = "arith"
) -> list[Sample]:
    """`count` distinct problems at a difficulty level, none of whose prompts is in `exclude`."""
    if difficulty not in DIFFICULTY:
        raise ConfigError(f"arithmetic difficulty {difficulty} is not one of {sorted(DIFFICULTY)}")
    spec = DIFFICULTY[difficulty]
    distinct = (9 * 10 ** (spec.digits - 1)) ** spec.operands * len(spec.operators) ** (spec.operands - 1)
    if count > distinct:  # the draw below would never finish
        raise ConfigError(f"difficulty {difficulty} has fewer than {count} distinct problems (it has {distinct})")
    rng = random.Random(f"{prefix}/{seed}/{difficulty}")
    samples: list[Sample] = []
    seen = set(exclude)
    attempts = 0
    while len(samples) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise ConfigError(f"difficulty {difficulty} has fewer than {count} distinct problems left to draw")
        numbers = [
            rng.randint(1 if spec.digits == 1 else 10 ** (spec.digits - 1), 10**spec.digits - 1)
            for _ in range(spec.operands)
        ]
        operators = [rng.choice(spec.operators) for _ in range(spec.operands - 1)]
        expression = " ".join(f"{n} {o}" for n, o in zip(numbers, operators, strict=False)) + f" {numbers[-1]}"
        prompt = f"What is {expression.strip()}?"
        if prompt in seen:
            continue
        seen.add(prompt)
        answer = evaluate(numbers, operators)
        samples.append(
            Sample(
                id=f"{prefix}/{seed}/{difficulty}/{len(samples)}",
                prompt=prompt,
                answer=str(answer),
                meta={"difficulty": difficulty},
            )
        )
    return samples
