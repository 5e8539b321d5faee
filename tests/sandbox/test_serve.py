"""The candidate's side of a function test, driven in-process over real pipes: the first message, name
lookups, calls (with in-place changes to arguments), attribute and method questions, and exceptions."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from aha.sandbox import serve, wire

PROGRAM = b"""
import math
SCALE = 3
class Box:
    def __init__(self, size):
        self.size = size
    def area(self):
        return self.size * self.size
    def __len__(self):
        return self.size
def scale(values):
    values.append(len(values))
    return [v * SCALE for v in values]
def fail(kind):
    raise {"value": ValueError, "key": KeyError}[kind]("bad " + kind)
"""


class Client:
    def __init__(self, requests: int, answers: int) -> None:
        self.requests, self.answers = requests, answers

    def ask(self, **request: object) -> dict:
        wire.send(self.requests, request)
        return wire.receive(self.answers)


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Client, dict]]:
    program, setup = getattr(request, "param", (PROGRAM, b"BIG = Box(5)"))
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    thread = threading.Thread(target=serve.main, args=(program, setup, requests_read, answers_write, wire))
    thread.start()
    client = Client(requests_write, answers_read)
    first = wire.receive(answers_read)
    yield client, first
    os.close(requests_write)  # the end of the requests: the server returns
    thread.join(5)
    assert not thread.is_alive()
    for fd in (requests_read, answers_write, answers_read):
        os.close(fd)


def test_ready_then_names(served):
    client, first = served
    assert first == {"ready": True}
    names = client.ask(op="names", names=["SCALE", "math", "Box", "BIG", "missing", 7])["value"]
    assert names["SCALE"] == 3 and names["math"] == {"m": "math"}
    assert names["Box"]["c"] is True and names["BIG"]["n"] == "Box" and "missing" not in names


def test_calls_change_arguments_in_place_and_return_plain_values(served):
    client, _ = served
    scale = client.ask(op="names", names=["scale"])["value"]["scale"]["r"]
    answer = client.ask(op="call", target=scale, args=[[1, 2]], kwargs=[])
    assert answer == {"value": [3, 6, 6], "changed": [[0, [1, 2, 2]]]}
    assert client.ask(op="call", target="scale", args=[{"t": [1]}], kwargs=[])["raise"] == "AttributeError"


def test_objects_stay_behind_handles(served):
    client, _ = served
    big = client.ask(op="names", names=["BIG"])["value"]["BIG"]["r"]
    area = client.ask(op="getattr", target=big, name="area")["value"]
    assert area["c"] is True
    assert client.ask(op="call", target=area["r"], args=[], kwargs=[])["value"] == 25
    assert client.ask(op="method", target=big, name="len", args=[])["value"] == 5
    assert client.ask(op="method", target=big, name="eq", args=[{"r": big, "n": "Box", "c": False}])["value"] is True


def test_exceptions_travel_by_name(served):
    client, _ = served
    fail = client.ask(op="names", names=["fail"])["value"]["fail"]["r"]
    assert client.ask(op="call", target=fail, args=["value"], kwargs=[]) == {"raise": "ValueError", "message": "bad value"}
    assert client.ask(op="call", target=fail, args=["key"], kwargs=[])["raise"] == "KeyError"
    assert client.ask(op="method", target=fail, name="system", args=[])["raise"] == "KeyError"  # not a METHOD
    assert client.ask(op="bogus", target=fail)["raise"] == "ValueError"
    assert client.ask(op="call", target=999, args=[], kwargs=[])["raise"] == "IndexError"


@pytest.mark.parametrize("served", [(b"def f(:\n", b""), (b"x = 1", b"1 / 0")], indirect=True)
def test_a_program_that_fails_to_load_says_why(served):
    _, first = served
    assert first["raise"] in ("SyntaxError", "ZeroDivisionError") and "ready" not in first
