"""Write the shipped SFT set `sft_think_arith_{train,test}.jsonl`: two-digit sums answered in the R1
readable format, the reasoning (column addition, carries spelled out) inside <think> </think>, then a
one-line summary with the answer boxed. Deterministic: the same files every run (sha256 in SOURCES.md).

    python scripts/make_sft_arith.py
"""

from __future__ import annotations

import json
from pathlib import Path

from aha.tasks.arithmetic import generate

SETS = Path(__file__).resolve().parents[1] / "aha" / "data" / "sets"


def reasoning(a: int, b: int) -> str:
    ones = a % 10 + b % 10
    carry = ones // 10
    tens = a // 10 + b // 10 + carry
    steps = [f"The ones: {a % 10} + {b % 10} = {ones}" + (f", write {ones % 10} and carry 1." if carry else ".")]
    steps.append(f"The tens: {a // 10} + {b // 10}" + (" + 1" if carry else "") + f" = {tens}.")
    steps.append(f"So {a} + {b} = {a + b}. Check: {a + b} - {b} = {a}, right.")
    return " ".join(steps)


def record(sample) -> dict:
    a, b = (int(n) for n in sample.prompt.removeprefix("What is ").removesuffix("?").split(" + "))
    response = f"<think>\n{reasoning(a, b)}\n</think>\nThe sum of {a} and {b} is \\boxed{{{a + b}}}."
    return {"id": sample.id, "prompt": sample.prompt, "response": response, "answer": sample.answer}


def main() -> None:
    train = generate(600, seed=7, difficulty=2, prefix="sft-arith")
    test = generate(100, seed=8, difficulty=2, prefix="sft-arith-test", exclude=frozenset(s.prompt for s in train))
    for name, samples in (("train", train), ("test", test)):
        path = SETS / f"sft_think_arith_{name}.jsonl"
        path.write_text("".join(json.dumps(record(s)) + "\n" for s in samples), encoding="utf-8")
        print(path, len(samples))


if __name__ == "__main__":
    main()
