"""Starting launchers and collecting their verdicts: directly (a new interpreter per program) or through a
server (a warm interpreter that forks one launcher per program, already in its memory cgroup).

A launcher started directly costs an interpreter's start and its imports, and as root a move into a new
memory cgroup, which the kernel makes slow (an RCU grace period, 10-20 ms here). A `Server` pays those
once: it imports everything, joins a cgroup of its own, then forks a launcher for each program it is
sent; the fork is born in the group. A `ServerPool` keeps one server per program running at once (a
function test runs two: the candidate's and the tests'), and each server's group holds one program tree
at a time, so the memory cap stays per program.

Every launcher's pid stays unreaped until its verdict is read (`finish`), so neither its pid, its process
group nor its dedicated uid (`UID_BASE` + pid) can be reused while the parent may still signal them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aha.sandbox import cgroup

LAUNCHER = Path(__file__).with_name("launcher.py")
UID_BASE = 2_000_000_000  # dedicated uids are UID_BASE + launcher pid; nothing else on a host uses these
GRACE_S = 5.0  # the parent's clock runs this much longer than the launcher's
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/tmp"}
_COUNTER = itertools.count()


@dataclass
class Launched:
    """A launcher on its way: what it runs, how to wait for it and where its verdict comes."""

    base: Path
    config: dict
    started: float
    status_read: int
    pid: int | None = None  # None: it never started (stderr says why)
    process: subprocess.Popen[bytes] | None = None  # when started directly
    server: Server | None = None  # when forked by a server


@dataclass(frozen=True)
class Verdict:
    fields: dict  # the launcher's status line; empty when it wrote none
    overran: bool  # the parent's clock ran out and killed it


def _descriptors(base: Path, config: dict, status_write: int) -> dict[str, int]:
    """The launcher's descriptors by name: status pipe, stdin/stdout/stderr files, channel and report."""
    named = {"status": status_write}
    named["stdin"] = os.open(base / "stdin", os.O_RDONLY | os.O_CLOEXEC)
    for name in ("stdout", "stderr"):
        named[name] = os.open(base / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    if config.get("channel"):
        named["channel_in"], named["channel_out"] = config["channel"]
    if config.get("report_fd") is not None:
        named["report"] = config["report_fd"]
    return named


def start(python: str, base: Path, config: dict, server: Server | None = None) -> Launched:
    """Start a launcher for the program laid out in `base`: through `server`, or as a new interpreter."""
    status_read, status_write = os.pipe()
    launched = Launched(base, config, time.perf_counter(), status_read, server=server)
    named = _descriptors(base, config, status_write)
    try:
        if server is not None:
            launched.pid = server.launch(config, named)
        else:
            command = [python, "-I", "-S", str(LAUNCHER), json.dumps({**config, "status_fd": status_write})]
            launched.process = subprocess.Popen(
                command, stdin=named["stdin"], stdout=named["stdout"], stderr=named["stderr"], cwd=base / "work",
                env=ENV, start_new_session=True, pass_fds=tuple(v for k, v in named.items() if "std" not in k),
            )  # fmt: skip
            launched.pid = launched.process.pid
    except OSError as exc:
        (base / "stderr").write_text(f"sandbox: cannot start {python}: {exc}\n")
    finally:
        for name in ("status", "stdin", "stdout", "stderr"):
            os.close(named[name])
    return launched


def finish(launched: Launched) -> Verdict:
    """Wait for the launcher (killing it at its limit plus grace), read its verdict and clean up after it."""
    with os.fdopen(launched.status_read, "rb") as status:
        if launched.pid is None:
            return Verdict({}, False)
        overran = not _wait(launched, launched.config["wall_s"] + GRACE_S)
        with contextlib.suppress(ProcessLookupError):  # the launcher's session, when it overran or was killed
            os.killpg(launched.pid, signal.SIGKILL)
        fields = _parse_status(status.read(1 << 16))
        root = os.geteuid() == 0
        if root and (overran or not fields):  # it did not finish its own sweep
            _sweep(UID_BASE + launched.pid)  # before reaping: its pid, so its uid, is not reused yet
        if launched.server is not None:
            launched.server.reap(launched.pid)
        else:
            if root:
                for path in cgroup.leftover(launched.pid):
                    cgroup.remove(path)
            assert launched.process is not None
            launched.process.wait()
    return Verdict(fields, overran)


def _wait(launched: Launched, timeout_s: float) -> bool:
    """Wait until the launcher exits or `timeout_s` passes, without reaping it; whether it exited."""
    assert launched.pid is not None
    try:
        fd = os.pidfd_open(launched.pid)
    except (AttributeError, OSError):  # no pidfd (kernel < 5.3): only direct launches happen there
        assert launched.process is not None
        try:
            launched.process.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(fd)


def _parse_status(data: bytes) -> dict:
    try:
        fields = json.loads(data.decode(errors="replace"))
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def _sweep(uid: int) -> None:
    """Kill every process running as `uid` (when the launcher's own sweep did not happen)."""
    command = [sys.executable, "-I", "-S", str(LAUNCHER), "sweep", str(uid)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, env=ENV, timeout=30, check=False)


def servers_work() -> bool:
    """Whether this kernel and Python can run servers (pidfds to wait on processes we did not start)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return hasattr(socket, "send_fds")


class Server:
    """A warm launcher process that forks one launcher per program, inside its own memory cgroup (root)."""

    def __init__(self, python: str, memory_mb: int) -> None:
        self.group = None
        if os.geteuid() == 0:
            self.group = cgroup.create(f"s{os.getpid()}-{next(_COUNTER)}", memory_mb << 20)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket, self._lock = ours, threading.Lock()
        group = [self.group.path, str(self.group.version)] if self.group else ["", "0"]
        try:
            self.process = subprocess.Popen(
                [python, "-I", "-S", str(LAUNCHER), "server", str(theirs.fileno()), *group], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env=ENV, start_new_session=True, pass_fds=(theirs.fileno(),),
            )  # fmt: skip
        except OSError:
            self.close()
            raise
        finally:
            theirs.close()

    def _ask(self, request: dict, fds: list[int] = ()) -> dict:  # type: ignore[assignment]
        with self._lock:
            socket.send_fds(self._socket, [json.dumps(request).encode()], list(fds))
            answer = self._socket.recv(1 << 16)
        if not answer:
            raise OSError("the sandbox server is gone")
        return json.loads(answer)

    def launch(self, config: dict, named: dict[str, int]) -> int:
        """Fork a launcher for `config` with the named descriptors; its pid."""
        return int(self._ask({"config": config, "fds": list(named)}, list(named.values()))["pid"])

    def reap(self, pid: int) -> None:
        """Reap a launcher the parent is done with; then make sure nothing but the server is in its group."""
        with contextlib.suppress(OSError, ValueError):
            self._ask({"reap": pid})
        if self.group is not None:
            with contextlib.suppress(OSError, ValueError):
                for other in Path(self.group.path, "cgroup.procs").read_text().split():
                    if int(other) != self.process.pid:
                        os.kill(int(other), signal.SIGKILL)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self._socket.close()  # the server sees the end and exits
        process = getattr(self, "process", None)
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.group is not None:
            cgroup.remove(self.group.path)


class ServerPool:
    """Servers for the programs running at once; one program per server at a time."""

    def __init__(self, python: str, memory_mb: int) -> None:
        self.python, self.memory_mb = python, memory_mb
        self._idle: list[Server] = []
        self._all: list[Server] = []
        self._lock = threading.Lock()

    def acquire(self) -> Server:
        with self._lock:
            while self._idle:
                server = self._idle.pop()
                if server.alive():
                    return server
        server = Server(self.python, self.memory_mb)
        with self._lock:
            self._all.append(server)
        return server

    def release(self, server: Server) -> None:
        with self._lock:
            self._idle.append(server)

    def close(self) -> None:
        with self._lock:
            servers, self._all, self._idle = self._all, [], []
        for server in servers:
            server.close()
