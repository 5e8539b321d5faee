"""The values that cross between a candidate's process and the test process, and how they travel.

Standalone (standard library only): both sandboxed processes import it. A message is a 4-byte big-endian
length and that many bytes of JSON. Values are plain data with tags for what JSON lacks:

    None, bool, int, float, str      as themselves (an int of over 4000 digits as {"I": hex})
    list                             as a JSON array
    tuple {"t"}, set {"s"}, frozenset {"fs"}, dict {"d": [[key, value], ...]}, bytes {"b": hex},
    bytearray {"ba"}, complex {"c"}, Fraction {"q"}, Decimal {"D"}, nan and infinities {"f"}
    anything else                    {"r": handle, "n": type name, "c": callable}: an object left in the
                                     candidate's process, which the test process may only call or ask
                                     simple questions of through the channel

Decoding builds only those types, so the test process never holds an object the candidate made: an
answer that claims to equal everything cannot reach it. Messages are capped in size and nesting depth.
"""

from __future__ import annotations

import decimal
import fractions
import json
import math
import os
import struct
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 8 << 20  # bytes
MAX_DEPTH = 64
_BIG = 10**4000


class WireError(Exception):
    """A message that breaks the protocol: too large, too deep, malformed, or the other side gone."""


def encode(value: Any, handle: Callable[[Any], int] | None = None, depth: int = 0) -> Any:
    """`value` as a JSON-ready tree; objects outside the plain types become handles from `handle` (None:
    they raise WireError)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        number = int(value)
        return number if -_BIG < number < _BIG else {"I": hex(number)}
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else {"f": repr(number)}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, complex):
        return {"c": [encode(value.real), encode(value.imag)]}
    if isinstance(value, fractions.Fraction):
        return {"q": [encode(value.numerator), encode(value.denominator)]}
    if isinstance(value, decimal.Decimal):
        return {"D": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"ba" if isinstance(value, bytearray) else "b": bytes(value).hex()}
    items: Callable[[Any], list[Any]] = lambda values: [encode(v, handle, depth + 1) for v in values]  # noqa: E731
    if isinstance(value, list):
        return items(value)
    if isinstance(value, tuple):
        return {"t": items(value)}
    if isinstance(value, frozenset):
        return {"fs": items(value)}
    if isinstance(value, set):
        return {"s": items(value)}
    if isinstance(value, dict):
        return {"d": [[encode(k, handle, depth + 1), encode(v, handle, depth + 1)] for k, v in value.items()]}
    if handle is None:
        raise WireError(f"cannot send a {kind.__name__}")
    return {"r": handle(value), "n": kind.__name__[:100], "c": callable(value)}


def decode(tree: Any, handle: Callable[[int, str, bool], Any] | None = None, depth: int = 0) -> Any:
    """The value a tree from `encode` stands for; handles become `handle(number, type name, callable)`
    (None: they raise WireError). Raises WireError for anything else."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [decode(item, handle, depth + 1) for item in tree]
    if type(tree) is not dict or (len(tree) != 1 and set(tree) != {"r", "n", "c"}):
        raise WireError("malformed value")
    try:
        return _decode_tagged(tree, handle, depth)
    except (TypeError, ValueError, ArithmeticError, decimal.InvalidOperation) as exc:
        raise WireError(f"malformed value: {exc}") from None


def _decode_tagged(tree: dict[str, Any], handle: Callable[[int, str, bool], Any] | None, depth: int) -> Any:
    tag, body = next(iter(tree.items())) if len(tree) == 1 else ("r", tree)

    def items() -> list[Any]:
        if type(body) is not list:
            raise WireError("malformed value")
        return [decode(item, handle, depth + 1) for item in body]

    def string() -> str:
        if type(body) is not str or len(body) > MAX_MESSAGE:
            raise WireError("malformed value")
        return body

    if tag == "t":
        return tuple(items())
    if tag == "s":
        return set(items())
    if tag == "fs":
        return frozenset(items())
    if tag == "d":
        pairs = items()
        if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
            raise WireError("malformed dict")
        return {key: value for key, value in pairs}
    if tag in ("b", "ba"):
        data = bytes.fromhex(string())
        return bytearray(data) if tag == "ba" else data
    if tag == "I":
        return int(string(), 16)
    if tag == "f":
        if body not in ("nan", "inf", "-inf"):
            raise WireError("malformed float")
        return float(body)
    if tag in ("c", "q"):
        parts = items()
        if len(parts) != 2 or not all(type(p) in ((int, float) if tag == "c" else (int,)) for p in parts):
            raise WireError("malformed number")
        return complex(*parts) if tag == "c" else fractions.Fraction(*parts)
    if tag == "D":
        return decimal.Decimal(string())
    if tag == "r" and handle is not None:
        number, name, is_callable = tree.get("r"), tree.get("n"), tree.get("c")
        if type(number) is not int or type(name) is not str or type(is_callable) is not bool:
            raise WireError("malformed handle")
        return handle(number, name, is_callable)
    raise WireError(f"unknown tag {tag!r}")


def send(fd: int, message: dict[str, Any]) -> None:
    """Write one message; raises WireError when it is too large or the other side is gone."""
    try:
        data = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"cannot send: {exc}") from None
    if len(data) > MAX_MESSAGE:
        raise WireError(f"message of {len(data)} bytes is over the limit of {MAX_MESSAGE}")
    payload = struct.pack(">I", len(data)) + data
    view = memoryview(payload)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise WireError(f"the other side is gone: {exc}") from None


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except OSError as exc:
            raise WireError(f"the other side is gone: {exc}") from None
        if not chunk:
            raise WireError("the other side is gone")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> dict[str, Any]:
    """Read one message; raises WireError for a broken, oversized or malformed one."""
    (size,) = struct.unpack(">I", _read_exactly(fd, 4))
    if size > MAX_MESSAGE:
        raise WireError(f"message of {size} bytes is over the limit of {MAX_MESSAGE}")
    try:
        message = json.loads(_read_exactly(fd, size).decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message: {exc}") from None
    if type(message) is not dict:
        raise WireError("malformed message")
    return message
