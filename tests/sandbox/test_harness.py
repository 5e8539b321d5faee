"""The test side of a function test, end to end through `run_tests`: what the tests see of the candidate
(plain values, stand-ins for its objects, in-place changes, exceptions), and which names it may not
replace (builtins, standard modules, trusted helpers)."""

from __future__ import annotations

import pytest

from aha.sandbox import SandboxLimits, run_tests
from aha.sandbox.harness import builtins_under_test, free_names

LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=256)


def passed(program: str, tests: list[str], **kwargs: str) -> list[int]:
    return sorted(run_tests(program, tests, limits=LIMITS, **kwargs).passed)


def test_names_the_tests_use():
    names = free_names(["assert f(x) == math.pi", "def g(y):\n    return h(y)", "syntax error("])
    assert names >= {"f", "x", "math", "h"}
    assert builtins_under_test(["assert sum(10, 15) == 6", "assert sorted(f(3)) == [1]", "assert len('ab') == 2"]) == {
        "sum",
        "len",
    }


def test_plain_results_compare_as_in_python():
    program = "def f(x):\n    return {'a': [x, (x, 1.5)], 'b': {x}}"
    assert passed(program, ["assert f(2) == {'a': [2, (2, 1.5)], 'b': {2}}", "assert f(2)['a'][1][1] == 1.5",
                            "assert f(2) != {}", "assert isinstance(f(2), dict)"]) == [0, 1, 2, 3]  # fmt: skip


def test_the_candidates_objects_stay_behind_stand_ins():
    program = """
class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
def longest(pairs):
    return max(p.b - p.a for p in pairs)
def make():
    return Pair(1, 2)
"""
    tests = [
        "assert longest([Pair(1, 5), Pair(2, 3)]) == 4",  # instances made there, passed back there
        "assert make().b == 2",  # attributes answer as plain values
        "assert make() == make()",  # two of its objects compare by its own rule
        "assert make() == (1, 2)",  # never equal to a plain value
        "assert not (make() != 5)",
    ]
    assert passed(program, tests) == [0, 1, 2]


def test_in_place_changes_and_exceptions_behave_as_local_calls():
    program = "def push(xs, x):\n    xs.append(x)\ndef check_positive(n):\n    if n < 0:\n        raise ValueError(n)"
    tests = [
        "xs = [1]\npush(xs, 2)\nassert xs == [1, 2]",
        "try:\n    check_positive(-1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError",
        "check_positive(-1)",
    ]
    assert passed(program, tests) == [0, 1]


def test_generators_iterate_through_the_channel():
    program = "def evens(n):\n    for i in range(n):\n        if i % 2 == 0:\n            yield i"
    assert passed(program, ["assert list(evens(7)) == [0, 2, 4, 6]", "assert evens(3) == [0, 2]"]) == [0]


def test_builtins_and_standard_modules_cannot_be_replaced():
    program = "import math\nabs = lambda x: 0\nmath = type('M', (), {'isclose': staticmethod(lambda *a, **k: True)})\n"
    program += "def area(r):\n    return 1.0"
    tests = ["assert abs(area(1) - 3.14159) < 1e-3", "assert math.isclose(area(1), 3.14159, rel_tol=1e-3)"]
    assert passed(program, tests) == []
    assert passed("def sum(a, b):\n    return a + b", ["assert sum(2, 3) == 5"]) == [0]  # the function under test


def test_trusted_helpers_come_from_the_task_not_the_candidate():
    helpers = 'def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    """Undo encode."""\n'
    test = "def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n"
    honest = "def decode(s):\n    return s[::-1]"
    cheat = "def encode(s):\n    return s\ndef decode(s):\n    return s"
    assert passed(honest, [test], entry_point="decode", helpers=helpers) == [0]
    assert passed(cheat, [test], entry_point="decode", helpers=helpers) == []
    assert passed("def other(s):\n    return s", [test], entry_point="decode", helpers=helpers) == []


def test_setup_code_runs_after_the_program_in_its_process():
    program = "class Node:\n    def __init__(self, v):\n        self.v, self.next = v, None\n"
    program += "def length(node):\n    return 0 if node is None else 1 + length(node.next)"
    setup = "head = Node(1)\nhead.next = Node(2)"
    assert passed(program, ["assert length(head) == 2"], setup=setup) == [0]


@pytest.mark.parametrize(
    "program",
    ["def f(:\n", "import sys\nsys.exit(0)", "raise MemoryError", "import os\nos._exit(3)"],
)
def test_a_broken_program_passes_nothing(program):
    result = run_tests(program, ["assert f() is not None", "assert True"], limits=LIMITS)
    assert result.passed == frozenset() and result.total == 2
