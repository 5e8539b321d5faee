"""Math answer grading: find the answer a response commits to, normalise it, decide equivalence.

Three stages, cheapest first:

1. `extract_answer` (`aha.rewards.extraction`): the final answer of a response. Only text after the
   reasoning counts; then `<answer>...</answer>`, the final `\\boxed{}`, GSM8K's `#### x`, a closing
   phrase ("the answer is", "答案是", "la réponse est", ...), a short response that is an answer itself, or a
   number alone on the last line. A response that is the reference word for word is correct as it stands.
2. `normalize` (`aha.rewards.equivalence`, with the equivalence tests): full-width characters, `\\dfrac`,
   `\\left`/`\\right`, `\\text{}`, units, degrees, thousands separators, trailing punctuation, `x = 3`,
   mixed numbers, `a \\times 10^{b}`, times of day, and math typed as plain text (`aha.rewards.plaintext`:
   `sqrt(x)`, `abs(x)`, `3^-x`, `1/3p`).
3. `equivalent`: equal strings, or equal numbers (exact rationals; percentages also as fractions of 100),
   decided here in microseconds; everything else goes to `aha.rewards.symbolic` (math-verify, with
   `aha.rewards.compound` for answers made of parts and `aha.rewards.numeric` for evaluation at points) in a
   worker process that is killed at the time limit, so a pathological expression never hangs the caller.

`grade` returns a `Grade` whose status tells a wrong answer from a timeout or an internal error, and
`GraderPool.grade_many` grades a batch across worker processes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Literal

from aha.rewards.equivalence import normalize, quick_equivalent
from aha.rewards.extraction import decimal_comma, extract_answer
from aha.rewards.symbolic import symbolic_equivalent

MAX_ANSWER_CHARS = 1000  # a longer "answer" is not one; it is graded wrong without parsing
DEFAULT_TIMEOUT_S = 5.0

Status = Literal["correct", "wrong", "no_answer", "bad_reference", "timeout", "error"]


@dataclass(frozen=True)
class Grade:
    status: Status
    answer: str | None = None  # what was extracted from the response
    detail: str = ""  # for errors: what went wrong

    @property
    def correct(self) -> bool | None:
        """True/False when decided; None when it could not be (timeout, error, unusable reference)."""
        if self.status in ("timeout", "error", "bad_reference"):
            return None
        return self.status == "correct"


# ------------------------------------------------------------------------------------------- worker pool


def _serve(read_fd: int, write_fd: int) -> None:
    """A worker's loop (a child interpreter of its own): one symbolic comparison at a time."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # its own timeouts are off: the parent kills
    tasks, answers = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    while True:
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            answers.send(("ok", symbolic_equivalent(*task)))
        except ValueError as exc:
            answers.send(("bad_reference", str(exc)))
        except Exception as exc:  # any failure of sympy is reported, never passed off as a wrong answer
            answers.send(("error", f"{type(exc).__name__}: {exc}"[:300]))


class _Worker:
    """A fresh interpreter running `_serve` (not a fork: no torch threads or locks inherited, and unlike
    multiprocessing's spawn it never re-imports the caller's main script)."""

    def __init__(self) -> None:
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        paths = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env = {**os.environ, "PYTHONPATH": paths}
        code = f"from aha.rewards.grader import _serve; _serve({task_read}, {answer_write})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(task_read, answer_write), stdin=subprocess.DEVNULL, env=env
            )
        finally:
            os.close(task_read)
            os.close(answer_write)
        self.tasks = Connection(task_write, readable=False)
        self.conn = Connection(answer_read, writable=False)

    def send(self, task: tuple[str, str, bool] | None) -> None:
        self.tasks.send(task)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        self.tasks.close()
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(None)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.tasks.close()
        self.conn.close()


class GraderPool:
    """Worker processes for the symbolic stage; each comparison has a hard time limit (the worker is
    killed and replaced when it runs over), so it works from any thread of the caller."""

    def __init__(self, workers: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.size = max(1, workers)
        self.timeout_s = timeout_s
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._cache = _Cache()  # symbolic verdicts of this pool's comparisons
        self.counts = {"timeout": 0, "error": 0}

    def _take(self) -> _Worker:
        with self._lock:
            return self._idle.pop() if self._idle else _Worker()

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(worker)
                return
        worker.close()

    def _symbolic(self, tasks: Sequence[tuple[str, str, bool]]) -> list[tuple[str, object]]:
        """Run symbolic comparisons on up to `size` workers at once; (status, verdict or message) each."""
        results: list[tuple[str, object] | None] = [None] * len(tasks)
        pending = list(range(len(tasks)))[::-1]
        running: dict[Connection, tuple[_Worker, int, float]] = {}
        while pending or running:
            while pending and len(running) < self.size:
                index = pending.pop()
                worker = self._take()
                try:
                    worker.send(tasks[index])
                except OSError:
                    worker.kill()
                    worker = _Worker()
                    worker.send(tasks[index])
                running[worker.conn] = (worker, index, time.monotonic() + self.timeout_s)
            deadline = min(d for _, _, d in running.values())
            ready = wait(list(running), timeout=max(0.0, deadline - time.monotonic()))
            for conn in ready:
                worker, index, _ = running.pop(conn)  # type: ignore[index]
                try:
                    results[index] = worker.conn.recv()
                    self._give(worker)
                except (EOFError, OSError):  # the worker died (e.g. out of memory)
                    results[index] = ("error", "grader worker died")
                    worker.kill()
            now = time.monotonic()
            for conn, (worker, index, deadline) in list(running.items()):
                if now >= deadline:
                    del running[conn]
                    worker.kill()
                    results[index] = ("timeout", f"over {self.timeout_s:g} s")
        return [r if r is not None else ("error", "lost") for r in results]

    def grade_many(self, pairs: Iterable[tuple[str, str]]) -> list[Grade]:
        """Grade (response, reference) pairs; the symbolic stage runs in parallel worker processes."""
        grades: list[Grade | None] = []
        tasks: list[tuple[str, str, bool]] = []
        waiting: list[tuple[int, str]] = []
        for response, reference in pairs:
            if response.strip() == reference.strip() and normalize(reference).text:
                grades.append(Grade("correct", reference.strip()))  # the reference itself, word for word
                continue
            answer = extract_answer(response)
            if answer is None or not normalize(answer).text:  # "\\boxed{}" states nothing
                grades.append(Grade("no_answer"))
                continue
            if not normalize(reference).text:
                grades.append(Grade("bad_reference", answer, "the reference is empty"))
                continue
            if len(answer) > MAX_ANSWER_CHARS:
                grades.append(Grade("wrong", answer[:100]))
                continue
            comma = decimal_comma(response)
            try:
                quick = quick_equivalent(answer, reference, comma)
            except Exception as exc:
                grades.append(Grade("error", answer, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if quick is not None:
                grades.append(Grade("correct" if quick else "wrong", answer))
                continue
            cached = self._cache.get((answer, reference, comma))
            if cached is not None:
                grades.append(Grade("correct" if cached else "wrong", answer))
                continue
            waiting.append((len(grades), answer))
            tasks.append((answer, reference, comma))
            grades.append(None)
        for (index, answer), task, (status, value) in zip(waiting, tasks, self._symbolic(tasks), strict=True):
            if status == "ok":
                self._cache.put(task, bool(value))
                grades[index] = Grade("correct" if value else "wrong", answer)
            else:
                if status in self.counts:
                    self.counts[status] += 1
                grades[index] = Grade(status, answer, str(value))  # type: ignore[arg-type]
        return [g for g in grades if g is not None]

    def grade(self, response: str, reference: str) -> Grade:
        return self.grade_many([(response, reference)])[0]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def __enter__(self) -> GraderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Cache:
    def __init__(self, size: int = 65536) -> None:
        self.size, self.data, self.lock = size, {}, threading.Lock()

    def get(self, key: tuple[str, str, bool]) -> bool | None:
        return self.data.get(key)

    def put(self, key: tuple[str, str, bool], value: bool) -> None:
        with self.lock:
            if len(self.data) >= self.size:
                self.data.clear()
            self.data[key] = value


def grade(response: str, reference: str) -> Grade:
    """Grade one response against a reference answer (see `Grade.status`) on a pool of its own, started
    only if the symbolic stage is needed and closed before returning; to grade many, keep one
    `GraderPool` open (or use the `accuracy_math` reward)."""
    with GraderPool(workers=1) as pool:
        return pool.grade(response, reference)


def grade_many(pairs: Iterable[tuple[str, str]], workers: int = 2) -> list[Grade]:
    """Grade many (response, reference) pairs with `workers` symbolic workers."""
    with GraderPool(workers=workers) as pool:
        return pool.grade_many(pairs)
