"""The test side of a function test: run trusted tests against definitions that live in another process.

Standalone: the launcher runs `main` in a sandboxed process of its own, which never runs the model's
code and holds no descriptor the candidate's process holds except the two ends of the channel. The
candidate's top-level names the tests use become `Remote` stand-ins: calling one sends the arguments to
the candidate's process (`serve`) and decodes the answer into plain values (`wire`), so a comparison in a
test always compares plain values made here. Objects that cannot travel (instances of the candidate's
classes, generators) stay there; a `Remote` for one equals only another `Remote`, never a plain value.

Names the tests use resolve, in order, to: the tests' own definitions, trusted helper code given with the
tests (HumanEval's prompt), builtins, real standard-library modules, and only then the candidate's names.
So a candidate cannot replace `abs`, `math` or a helper such as HumanEval's `poly` that a test relies on.

Each passing test appends a line "pass INDEX" to the report descriptor, which the candidate never holds.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import os
import sys
from typing import Any

UNSAFE_MODULES = frozenset({"antigravity", "this", "webbrowser", "turtle", "turtledemo", "tkinter", "idlelib"})


class RemoteError(Exception):
    """An exception raised in the candidate's process that has no builtin counterpart here."""


def _exception(name: Any, message: Any) -> Exception:
    name, message = str(name)[:100], str(message)[:2000]
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:  # a builtin exception that takes other arguments
            pass
    return RemoteError(f"{name}: {message}")


class Channel:
    """Requests to the candidate's process; answers decoded into plain values and `Remote`s."""

    def __init__(self, requests: int, answers: int, wire: Any) -> None:
        self.requests, self.answers, self.wire = requests, answers, wire

    def _to_wire(self, value: Any) -> Any:
        def handle(obj: Any) -> int:
            if isinstance(obj, Remote):
                return obj._number
            raise self.wire.WireError(f"a {type(obj).__name__} cannot be sent to the candidate's code")

        try:
            return self.wire.encode(value, handle)
        except self.wire.WireError as exc:
            raise TypeError(str(exc)) from None

    def _from_wire(self, tree: Any) -> Any:
        return self.wire.decode(tree, lambda number, name, is_callable: Remote(self, number, name, is_callable))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.wire.send(self.requests, request)
        answer = self.wire.receive(self.answers)
        if "raise" in answer:
            raise _exception(answer.get("raise"), answer.get("message"))
        if "value" not in answer:
            raise self.wire.WireError("malformed answer")
        return answer

    def value(self, request: dict[str, Any]) -> Any:
        return self._from_wire(self.ask(request)["value"])

    def call(self, number: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        trees = [self._to_wire(arg) for arg in args]
        pairs = [[name, self._to_wire(value)] for name, value in kwargs.items()]
        answer = self.ask({"op": "call", "target": number, "args": trees, "kwargs": pairs})
        changed = answer.get("changed", [])
        if type(changed) is not list:
            raise self.wire.WireError("malformed answer")
        for item in changed:  # in-place changes to the arguments, as a local call would have made them
            if type(item) is not list or len(item) != 2 or type(item[0]) is not int or not 0 <= item[0] < len(args):
                raise self.wire.WireError("malformed answer")
            _update(args[item[0]], self._from_wire(item[1]))
        return self._from_wire(answer["value"])

    def method(self, remote: Remote, name: str, *args: Any) -> Any:
        trees = [self._to_wire(arg) for arg in args]
        return self.value({"op": "method", "target": remote._number, "name": name, "args": trees})


def _update(original: Any, new: Any) -> None:
    if type(original) is not type(new):
        raise TypeError("an argument changed type")
    if isinstance(original, (list, bytearray)):
        original[:] = new
    else:
        original.clear()
        original.update(new)


def _typed(kind: type, value: Any) -> Any:
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__} from the candidate's object, got {type(value).__name__}")
    return value


class Remote:
    """An object in the candidate's process: callable, and answering a few questions through the channel."""

    __slots__ = ("_callable", "_channel", "_number", "_type")

    def __init__(self, channel: Channel, number: int, type_name: str, is_callable: bool) -> None:
        self._channel, self._number, self._type, self._callable = channel, number, type_name, is_callable

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self._number, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._channel.value({"op": "getattr", "target": self._number, "name": name})

    def _compare(self, name: str, other: Any) -> Any:
        if not isinstance(other, Remote):  # a plain value never equals, nor orders against, the candidate's object
            if name in ("eq", "ne"):
                return name == "ne"
            raise TypeError(f"cannot compare the candidate's {self._type} with a {type(other).__name__}")
        return _typed(bool, self._channel.method(self, name, other))

    def __eq__(self, other: object) -> bool:
        return self._compare("eq", other)

    def __ne__(self, other: object) -> bool:
        return self._compare("ne", other)

    def __lt__(self, other: Any) -> bool:
        return self._compare("lt", other)

    def __le__(self, other: Any) -> bool:
        return self._compare("le", other)

    def __gt__(self, other: Any) -> bool:
        return self._compare("gt", other)

    def __ge__(self, other: Any) -> bool:
        return self._compare("ge", other)

    def __hash__(self) -> int:
        return _typed(int, self._channel.method(self, "hash"))

    def __len__(self) -> int:
        return _typed(int, self._channel.method(self, "len"))

    def __bool__(self) -> bool:
        return _typed(bool, self._channel.method(self, "bool"))

    def __str__(self) -> str:
        return _typed(str, self._channel.method(self, "str"))

    def __repr__(self) -> str:
        return _typed(str, self._channel.method(self, "repr"))

    def __getitem__(self, key: Any) -> Any:
        return self._channel.method(self, "getitem", key)

    def __contains__(self, item: Any) -> bool:
        return _typed(bool, self._channel.method(self, "contains", item))

    def __iter__(self) -> Any:
        iterator = self._channel.method(self, "iter")
        while True:
            try:
                yield self._channel.method(_typed(Remote, iterator), "next")
            except StopIteration:
                return


def free_names(sources: list[str]) -> set[str]:
    """Every name the sources mention (a superset of what they look up)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names


def builtins_under_test(sources: list[str]) -> set[str]:
    """Builtin names the tests themselves put under test: in a test that calls no other name, the first
    name it calls (MBPP's `assert sum(10, 15) == 6` tests a function named `sum`). Only these may come
    from the candidate; every other builtin a test uses is the real one."""
    found = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        calls.sort(key=lambda name: (name.lineno, name.col_offset))
        if calls and all(hasattr(builtins, name.id) for name in calls):
            found.add(calls[0].id)
    return found


def _standard_module(name: str) -> Any:
    if name in sys.stdlib_module_names and name not in UNSAFE_MODULES and not name.startswith("_"):
        try:
            return importlib.import_module(name)
        except ImportError:
            return None
    return None


def _namespace(channel: Channel, helpers: str, sources: list[str], candidate: str) -> dict[str, Any]:
    """The tests' globals: trusted helpers, real standard modules, then the candidate's names they use.

    `candidate` (the function under test) always comes from the candidate, even where the helpers define
    a stub of it (HumanEval's prompt does)."""
    namespace: dict[str, Any] = {"__name__": "tests", "__builtins__": builtins}
    if helpers.strip():
        with contextlib.suppress(Exception):  # helpers that fail leave the names they did define
            exec(compile(helpers, "helpers.py", "exec"), namespace)
        namespace.pop(candidate, None)
    wanted = []
    tested = builtins_under_test(sources) - set(namespace)
    for name in sorted(free_names(sources)):
        if name == candidate or name in tested:
            wanted.append(name)
            continue
        if name in namespace or hasattr(builtins, name):
            continue
        module = _standard_module(name)
        if module is not None:
            namespace[name] = module
        else:
            wanted.append(name)
    if wanted:
        found = channel.ask({"op": "names", "names": wanted})["value"]
        if type(found) is not dict:
            raise TypeError("malformed names")
        for name in wanted:
            if name not in found:
                continue
            tree = found[name]
            if type(tree) is dict and set(tree) == {"m"}:  # a module the candidate imported: our own copy
                module = _standard_module(str(tree["m"]))
                if module is not None:
                    namespace[name] = module
            else:
                namespace[name] = channel._from_wire(tree)
    return namespace


def main(spec: dict[str, Any], requests: int, answers: int, report: int, wire: Any) -> None:
    """Run the tests in `spec` ({"tests": [source, ...], "helpers": source, "entry_point": name or ""}).

    With an entry point, each test source defines `check(candidate)` (HumanEval), called with the
    candidate's function of that name; without one, each source is run as it is (MBPP asserts).
    """
    channel = Channel(requests, answers, wire)
    ready = wire.receive(answers)
    if ready.get("ready") is not True:
        sys.stderr.write(f"the candidate's program failed: {ready.get('raise')}: {ready.get('message')}\n")
        return
    tests, entry_point = list(spec["tests"]), str(spec.get("entry_point") or "")
    sources = [*tests, entry_point] if entry_point else tests
    namespace = _namespace(channel, str(spec.get("helpers") or ""), sources, entry_point)
    candidate = namespace.get(entry_point) if entry_point else None
    for index, source in enumerate(tests):
        try:
            exec(compile(source, f"test_{index}.py", "exec"), namespace)
            if entry_point:
                if not isinstance(candidate, Remote):
                    raise NameError(f"the program defines no function {entry_point!r}")
                namespace["check"](candidate)
        except BaseException as exc:  # a failed test, whatever it raised
            sys.stderr.write(f"test {index} failed: {type(exc).__name__}: {str(exc)[:500]}\n")
            continue
        os.write(report, f"pass {index}\n".encode())
