"""The candidate's side of a function test: run the program, then answer the test process's calls.

Standalone: the launcher runs `main` in the sandboxed process of the candidate, after dropping every
privilege. Nothing here is trusted by the other side: this process runs the model's code, which may
rewrite anything in it, and the test process only ever decodes plain values from it (`wire`).

Requests (from the test process) and answers:
    {"op": "call", "target": T, "args": [...], "kwargs": [[name, value], ...]}
        -> {"value": V, "changed": [[index, V], ...]}   (mutable arguments the call changed in place)
    {"op": "getattr", "target": T, "name": str} -> {"value": V}
    {"op": "method", "target": T, "name": one of METHODS, "args": [...]} -> {"value": V}
    any of them may answer {"raise": exception type name, "message": str}
    {"op": "names", "names": [str, ...]} -> {"value": {name: V or {"m": module name}}}   (those defined)
T is a handle number, or a top-level name of the program. The first message, before any request, is
{"ready": true} once the program (and the tests' setup code) ran, or {"raise": ..., "message": ...}.
"""

from __future__ import annotations

import operator
import sys
from typing import Any

METHODS = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge, "len": len, "str": str, "repr": repr, "bool": bool, "iter": iter, "next": next,
    "getitem": operator.getitem, "contains": operator.contains, "hash": hash,
}  # fmt: skip


def main(program: bytes, setup: bytes, requests: int, answers: int, wire: Any) -> None:
    """Run `program` then `setup` as module `solution`, then serve requests on the two descriptors."""
    objects: list[Any] = []

    def handle(value: Any) -> int:
        objects.append(value)
        return len(objects) - 1

    def to_wire(value: Any) -> Any:
        return wire.encode(value, handle)

    def from_wire(tree: Any) -> Any:
        return wire.decode(tree, lambda number, name, is_callable: objects[number])

    module = type(sys)("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    namespace = module.__dict__
    try:
        exec(compile(program, "solution.py", "exec"), namespace)
        if setup.strip():
            exec(compile(setup, "setup.py", "exec"), namespace)
        wire.send(answers, {"ready": True})
    except BaseException as exc:  # the program failed to load: say why, and serve nothing
        wire.send(answers, {"raise": type(exc).__name__, "message": str(exc)[:2000]})
        return
    while True:
        try:
            request = wire.receive(requests)
        except wire.WireError:
            return  # the test process is done
        wire.send(answers, _answer(request, namespace, objects, to_wire, from_wire, wire))


def _answer(request: dict[str, Any], namespace: dict[str, Any], objects: list[Any], to_wire, from_wire, wire):
    try:
        op = request.get("op")
        target = request.get("target")
        target = namespace[target] if isinstance(target, str) else objects[target] if op != "names" else None
        if op == "names":
            return {"value": _names(request["names"], namespace, to_wire, objects)}
        if op == "getattr":
            return {"value": to_wire(getattr(target, request["name"]))}
        if op == "method":
            return {"value": to_wire(METHODS[request["name"]](target, *from_wire(request["args"])))}
        if op != "call":
            raise ValueError(f"unknown request {op!r}")
        trees = request["args"]
        args = from_wire(trees)
        kwargs = {str(name): value for name, value in from_wire(request["kwargs"])}
        value = target(*args, **kwargs)
        changed = []
        for index, (tree, arg) in enumerate(zip(trees, args, strict=False)):
            if isinstance(arg, (list, dict, set, bytearray)):
                after = to_wire(arg)
                if after != tree:
                    changed.append([index, after])
        return {"value": to_wire(value), "changed": changed}
    except BaseException as exc:  # the candidate's exception, or one of ours; the test process decides
        if isinstance(exc, wire.WireError):
            return {"raise": "TypeError", "message": f"cannot return this value: {exc}"}
        return {"raise": type(exc).__name__, "message": str(exc)[:2000]}


def _names(wanted: list[str], namespace: dict[str, Any], to_wire, objects: list[Any]) -> dict[str, Any]:
    """The values of the `wanted` top-level names the program defines; modules by name, and anything too
    large or deep to send as a handle."""
    found = {}
    for name in wanted:
        if not isinstance(name, str) or name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, type(sys)):
            found[name] = {"m": str(value.__name__)}
            continue
        try:
            found[name] = to_wire(value)
        except Exception:  # too deep for the wire: leave it here
            objects.append(value)
            found[name] = {"r": len(objects) - 1, "n": type(value).__name__[:100], "c": callable(value)}
    return found
