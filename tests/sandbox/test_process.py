"""Launchers started through warm servers: the same verdicts as a direct start, one program per server at
a time with its own memory cap, nothing carried from one program to the next, and servers that die are
replaced."""

from __future__ import annotations

import os
import signal

import pytest

from aha.sandbox import Sandbox, SandboxLimits, cgroup, process, run_python

LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=128, max_processes=8)
pytestmark = pytest.mark.skipif(not process.servers_work(), reason="no pidfds on this kernel")


def test_a_server_gives_the_verdicts_of_a_direct_start():
    programs = [("print(input()[::-1])", "abc\n"), ("import sys\nsys.exit(3)", ""), ("while True:\n    pass", "")]
    limits = SandboxLimits(wall_s=1.0, cpu_s=1.0, memory_mb=128)
    with Sandbox(limits, workers=1) as sandbox:
        warm = [sandbox.run(code, stdin) for code, stdin in programs]
    cold = [run_python(code, stdin, limits) for code, stdin in programs]
    assert [(r.status, r.returncode, r.stdout) for r in warm] == [(r.status, r.returncode, r.stdout) for r in cold]
    assert [r.status for r in warm] == ["ok", "failed", "timeout"]
    assert {r.isolation for r in warm} == {r.isolation for r in cold}


def test_nothing_carries_over_from_one_program_to_the_next():
    write = "import os\nopen('/tmp/left', 'w').write('x')\nos.environ['LEFT'] = '1'\nprint(os.getpid())"
    read = "import os\nprint(os.path.exists('/tmp/left'), os.environ.get('LEFT'), os.getpid())"
    with Sandbox(LIMITS, workers=1) as sandbox:
        first, second = sandbox.run(write), sandbox.run(read)
        assert len(sandbox._servers._all) == 1  # the same server ran both
    assert first.stdout == "1\n" and second.stdout == "False None 1\n"


@pytest.mark.skipif(os.geteuid() != 0 or not cgroup.locations(), reason="needs root and a memory cgroup")
def test_each_program_has_the_whole_cap_and_its_own_high_water_mark():
    hog = "block = bytearray(100 << 20)\nfor i in range(0, len(block), 4096):\n    block[i] = 1"
    with Sandbox(LIMITS, workers=1) as sandbox:
        results = [sandbox.run(hog) for _ in range(3)] + [sandbox.run("pass")]
        assert len(sandbox._servers._all) == 1
    assert [r.status for r in results] == ["ok", "ok", "ok", "ok"]  # 100 MiB under 128, each time again
    assert all(100 <= r.memory_peak_mb <= LIMITS.memory_mb for r in results[:3])
    assert results[3].memory_peak_mb < 50  # reset: not the earlier programs' mark
    over = "a = bytearray(100 << 20)\nfor i in range(0, len(a), 4096):\n    a[i] = 1\nb = bytearray(60 << 20)\n"
    over += "for i in range(0, len(b), 4096):\n    b[i] = 1"
    with Sandbox(LIMITS, workers=1) as sandbox:
        assert sandbox.run(over).status == "memory"


def test_a_server_that_dies_is_replaced_and_groups_are_removed():
    with Sandbox(LIMITS, workers=1) as sandbox:
        assert sandbox.run("print(1)").stdout == "1\n"
        server = sandbox._servers._all[0]
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        assert sandbox.run("print(2)").stdout == "2\n"
        assert len(sandbox._servers._all) == 2
        groups = [s.group.path for s in sandbox._servers._all if s.group is not None]
    assert not any(os.path.exists(path) for path in groups)
