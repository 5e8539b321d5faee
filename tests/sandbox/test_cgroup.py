"""The memory cgroup: a process tree is held to `memory_mb` as a whole where the host lets root make
groups, its groups are removed afterwards, and the parent cleans up after a launcher it killed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aha.sandbox import SandboxLimits, cgroup, run_python

LIMITS = SandboxLimits(wall_s=10.0, cpu_s=10.0, memory_mb=128, max_processes=8)
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not cgroup.locations(), reason="needs root and a writable memory cgroup hierarchy"
)
TREE = """
import os, time
children = []
for _ in range(4):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        block = bytearray(60 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os.write(write, b"1")
        time.sleep(3)
        os._exit(0)
    os.close(write)
    children.append((pid, read))
reported = [pid for pid, read in children if os.read(read, 1) == b"1"]
time.sleep(0.3)  # a child may report its block and be killed for memory later: count those still holding it
print(sum(os.waitpid(pid, os.WNOHANG) == (0, 0) for pid in reported))
"""


def groups() -> list[str]:
    return [entry.path for parent, _ in cgroup.locations() if os.path.isdir(parent)
            for entry in os.scandir(parent) if entry.is_dir()]  # fmt: skip


def test_the_tree_is_held_to_the_limit_as_a_whole():
    before = set(groups())  # another test session's groups may come and go meanwhile: only ours count
    result = run_python(TREE, limits=LIMITS)
    assert "cgroup" in result.isolation
    assert int(result.stdout) * 60 <= LIMITS.memory_mb  # four children of 60 MiB: what they held at once fits
    assert 0 < result.memory_peak_mb <= LIMITS.memory_mb
    assert set(groups()) <= before


def test_one_process_over_the_limit_is_a_memory_verdict():
    before = set(groups())
    result = run_python("block = bytearray(100 << 20)\nblock2 = bytearray(100 << 20)", limits=LIMITS)
    assert result.status == "memory"
    assert set(groups()) <= before


def test_remove_kills_what_is_left_and_deletes_the_group():
    group = cgroup.create(f"test-{os.getpid()}", 64 << 20)
    assert group is not None
    pid = os.fork()
    if pid == 0:
        group.join(os.getpid())
        os.execv("/bin/sleep", ["sleep", "60"])
    while str(pid) not in Path(group.path, "cgroup.procs").read_text().split():
        pass
    assert cgroup.remove(group.path)
    assert os.waitpid(pid, 0)[1] != 0 and not os.path.exists(group.path)
    assert cgroup.remove(group.path)  # already gone


def test_groups_of_launchers_that_are_gone_are_collected():
    dead = subprocess.Popen(["true"])
    dead.wait()
    group = cgroup.create(str(dead.pid), 64 << 20)
    assert group is not None and os.path.isdir(group.path)
    assert group.path in cgroup.remove_stale()
    assert not os.path.exists(group.path)
