"""The seccomp filter: its syscall numbers against the kernel's headers, and what it refuses and allows
in a real process (a forked child, so the filter never touches the test process)."""

from __future__ import annotations

import ctypes
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from aha.sandbox import seccomp
from tests.sandbox.forked import in_child

HEADERS = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")}
pytestmark = pytest.mark.skipif(seccomp.machine() not in seccomp.ARCHES, reason="no filter for this architecture")


def in_filtered_child(probe: Callable[[], object]) -> object:
    """probe()'s JSON result, computed in a forked child after installing the filter."""
    return in_child(probe, seccomp.install)


@pytest.mark.parametrize("arch", sorted(HEADERS))
def test_syscall_numbers_match_the_kernel_headers(arch):
    if not HEADERS[arch].exists():
        pytest.skip("no kernel headers here")
    text = HEADERS[arch].read_text()
    numbers = dict(re.findall(r"#define __NR_(\w+)\s+(\d+)", text))
    _, table, clone, clone3, _ = seccomp.ARCHES[arch]
    assert {name: str(number) for name, number in table.items()} == {name: numbers[name] for name in table}
    assert (str(clone), str(clone3)) == (numbers["clone"], numbers["clone3"])


@pytest.mark.parametrize("arch", sorted(seccomp.ARCHES))
def test_the_program_is_well_formed(arch):
    instructions = seccomp.program(arch)
    assert len(instructions) < 4096  # the kernel's BPF_MAXINSNS
    for index, (code, jt, jf, _) in enumerate(instructions):
        if code & 0x07 == 0x05:  # a jump: both targets inside the program
            assert index + 1 + max(jt, jf) < len(instructions)
    assert instructions[-3:] == [(0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x50001), (0x06, 0, 0, 0x50026)]


def _sockets() -> dict[str, str]:
    outcome = {}
    families = ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET", "AF_VSOCK"]
    for name in families:
        try:
            socket.socket(getattr(socket, name), socket.SOCK_DGRAM if name != "AF_PACKET" else socket.SOCK_RAW)
            outcome[name] = "made"
        except OSError as exc:
            outcome[name] = (exc.errno == 1 and "refused") or f"errno {exc.errno}"
    try:
        socket.socketpair()
        outcome["socketpair"] = "made"
    except OSError as exc:
        outcome["socketpair"] = (exc.errno == 1 and "refused") or f"errno {exc.errno}"
    return outcome


def test_every_socket_family_is_refused():
    outcome = in_filtered_child(_sockets)
    assert set(outcome.values()) == {"refused"}, outcome


def _namespaces_and_tracing() -> dict[str, int]:
    libc = ctypes.CDLL(None, use_errno=True)

    def errno_of(result: int) -> int:
        return 0 if result >= 0 else ctypes.get_errno()

    return {
        "unshare user": errno_of(libc.unshare(0x10000000)),
        "unshare mount": errno_of(libc.unshare(0x00020000)),
        "ptrace parent": errno_of(libc.ptrace(16, os.getppid(), 0, 0)),
        "clone3": errno_of(libc.syscall(435, 0, 0)),
        "mount": errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    }


def test_namespaces_tracing_and_mounts_are_refused():
    outcome = in_filtered_child(_namespaces_and_tracing)
    assert outcome == {"unshare user": 1, "unshare mount": 1, "ptrace parent": 1, "clone3": 38, "mount": 1}


def _ordinary_work() -> list[object]:
    done = []
    thread = threading.Thread(target=lambda: done.append("thread"))
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    done.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    done.append(subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout)
    read, write = os.pipe()
    os.write(write, b"pipe")
    done.append(os.read(read, 4).decode())
    return done


def test_ordinary_programs_still_work():
    assert in_filtered_child(_ordinary_work) == ["thread", 7, "42\n", "pipe"]
