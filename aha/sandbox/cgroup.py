"""A memory cgroup for one sandboxed program's whole process tree (root only).

Standalone (standard library only): the launcher imports it under `python -I -S`, and the parent uses it
to clean up after a launcher it had to kill. cgroup v2 is used where its memory controller can be enabled
for a group of ours; else cgroup v1's memory hierarchy, where mounted and writable. Without either, a
program's tree is bounded by the per-process limits instead (address space x process count).

Groups live under the caller's own group, in a directory `aha-sandbox/<launcher pid>`, so any limit the
host puts on us also holds for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

PARENT = "aha-sandbox"


@dataclass(frozen=True)
class Group:
    path: str
    version: int  # 1 or 2

    def _read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as file:
            return file.read()

    def oom_kills(self) -> int:
        """How many processes of the group the kernel killed for memory."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in self._read(name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def peak_bytes(self) -> int:
        """The most memory the group held at once (0 when the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int(self._read(name))
        return 0

    def join(self, pid: int) -> None:
        with open(os.path.join(self.path, "cgroup.procs"), "w") as file:
            file.write(str(pid))


def _mounts() -> list[tuple[str, str, list[str]]]:
    """(mount point, filesystem type, super options) of each cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            fields = line.split()
            separator = fields.index("-")
            fstype, options = fields[separator + 1], fields[separator + 3].split(",")
            if fstype in ("cgroup", "cgroup2"):
                found.append((fields[4], fstype, options))
    return found


def _own_path(version: int) -> str | None:
    """Our group's path within the hierarchy of `version` (v1: the memory one)."""
    with open("/proc/self/cgroup") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (version == 2 and controllers == "") or (version == 1 and "memory" in controllers.split(",")):
                return path
    return None


def locations() -> list[tuple[str, int]]:
    """(directory holding our `aha-sandbox` groups, cgroup version), best first."""
    places = []
    for point, fstype, options in _mounts():
        version = 2 if fstype == "cgroup2" else 1
        if version == 1 and "memory" not in options:
            continue
        own = _own_path(version)
        if own is None:
            continue
        base = os.path.join(point, own.lstrip("/"))
        if version == 2:
            try:
                with open(os.path.join(point, "cgroup.controllers")) as file:
                    if "memory" not in file.read().split():
                        continue
            except OSError:
                continue
        places.append((os.path.join(base, PARENT), version))
    return sorted(places, key=lambda place: -place[1])


def create(name: str, memory_bytes: int) -> Group | None:
    """A new group `name` limited to `memory_bytes` (swap included where the kernel counts it), or None
    where no hierarchy lets us make one."""
    for parent, version in locations():
        path = os.path.join(parent, name)
        try:
            os.makedirs(parent, exist_ok=True)
            if version == 2:
                with open(os.path.join(parent, "cgroup.subtree_control"), "w") as file:
                    file.write("+memory")
            os.mkdir(path)
        except OSError:
            continue
        try:
            if version == 2:
                _write(path, "memory.max", memory_bytes)
                with contextlib.suppress(OSError):
                    _write(path, "memory.swap.max", 0)
            else:
                _write(path, "memory.limit_in_bytes", memory_bytes)
                with contextlib.suppress(OSError):
                    _write(path, "memory.memsw.limit_in_bytes", memory_bytes)
            return Group(path, version)
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(path)
    return None


def _write(path: str, name: str, value: int) -> None:
    with open(os.path.join(path, name), "w") as file:
        file.write(str(value))


def remove(path: str, timeout_s: float = 5.0) -> bool:
    """Kill what is left in the group at `path` and remove it; whether it is gone."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with open(os.path.join(path, "cgroup.procs")) as file:
                pids = [int(pid) for pid in file.read().split()]
        except FileNotFoundError:
            return True
        except OSError:
            pids = []
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def leftover(launcher_pid: int) -> list[str]:
    """Paths of groups named for `launcher_pid` that still exist."""
    return [p for parent, _ in locations() if os.path.isdir(p := os.path.join(parent, str(launcher_pid)))]
