"""A seccomp filter for sandboxed programs: no sockets of any family, no debugging of other processes,
no new namespaces, mounts or kernel-facing administration.

Standalone (standard library and ctypes only): the launcher imports it under `python -I -S`, before any
untrusted code runs. The filter is inherited by every process the program starts and cannot be removed.

What is refused, with EPERM, is what a program that computes an answer never needs and what an escape
or a forged verdict would: `socket` and `socketpair` for every address family (AF_INET, AF_UNIX at paths
and in the abstract namespace, AF_NETLINK, AF_PACKET, AF_VSOCK, which no network namespace covers),
`ptrace` and `process_vm_readv/writev`, `unshare`, `setns` and `clone` with namespace flags, mounts,
`chroot`, BPF, perf, keyrings, io_uring (it could open sockets past the filter), module loading, reboot
and the clocks. `clone3` answers ENOSYS, so the C library falls back to `clone`, whose flags the filter can
read. A syscall of another architecture (a 32-bit call on x86-64, or x32) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# (audit architecture, syscall numbers by name, x32 bit or 0)
_X86_64 = {
    "socket": 41, "socketpair": 53, "ptrace": 101, "syslog": 103, "uselib": 134, "vhangup": 153,
    "pivot_root": 155, "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212, "clock_settime": 227,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
    "perf_event_open": 298, "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438, "mount_setattr": 442,
    "quotactl_fd": 443,
}  # fmt: skip
_AARCH64 = {
    "socket": 198, "socketpair": 199, "ptrace": 117, "syslog": 116, "vhangup": 58, "pivot_root": 41,
    "adjtimex": 171, "chroot": 51, "acct": 89, "settimeofday": 170, "mount": 40, "umount2": 39,
    "swapon": 224, "swapoff": 225, "reboot": 142, "init_module": 105, "delete_module": 106, "quotactl": 60,
    "lookup_dcookie": 18, "clock_settime": 112, "kexec_load": 104, "add_key": 217, "request_key": 218,
    "keyctl": 219, "unshare": 97, "perf_event_open": 241, "fanotify_init": 262, "name_to_handle_at": 264,
    "open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "kcmp": 272, "finit_module": 273, "kexec_file_load": 294, "bpf": 280,
    "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
}  # fmt: skip
ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 56, 435, 0x40000000),
    "aarch64": (0xC00000B7, _AARCH64, 220, 435, 0),
}
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
# NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data, little-endian low word of args[0]
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def machine() -> str:
    """The running architecture's key in ARCHES ('x86_64', 'aarch64'), or '' when unsupported."""
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name) if name else ""


def program(arch: str) -> list[tuple[int, int, int, int]]:
    """The filter as classic BPF instructions (code, jt, jf, k) for `arch`, a key of ARCHES."""
    audit, numbers, clone, clone3, x32 = ARCHES[arch]
    denied = sorted(set(numbers.values()))
    # Layout: checks, then three returns at the end; jumps are counted forward from the next instruction.
    head = [(_LD_W_ABS, 0, 0, _OFFSET_ARCH), (_JEQ, 1, 0, audit), (_RET, 0, 0, _RET_KILL_PROCESS)]
    body: list[tuple[int, str | int, str | int, int]] = [(_LD_W_ABS, 0, 0, _OFFSET_NR)]
    if x32:
        body.append((_JGE, "deny", 0, x32))
    body += [(_JEQ, "deny", 0, number) for number in denied]
    body.append((_JEQ, "nosys", 0, clone3))
    body.append((_JEQ, 0, "allow", clone))
    body.append((_LD_W_ABS, 0, 0, _OFFSET_ARG0))
    body.append((_JSET, "deny", "allow", CLONE_NAMESPACES))
    labels = {"allow": len(body), "deny": len(body) + 1, "nosys": len(body) + 2}
    tail = [(_RET, 0, 0, _RET_ALLOW), (_RET, 0, 0, _RET_ERRNO | errno.EPERM), (_RET, 0, 0, _RET_ERRNO | errno.ENOSYS)]

    def target(at: int, jump: str | int) -> int:
        offset = labels[jump] - at - 1 if isinstance(jump, str) else jump
        if not 0 <= offset <= 255:
            raise ValueError(f"jump of {offset} out of range")
        return offset

    resolved = [(code, target(i, jt), target(i, jf), k) for i, (code, jt, jf, k) in enumerate(body)]
    return head + resolved + tail


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install() -> None:
    """Install the filter on the calling thread (and everything it starts); raises OSError if refused.

    Sets no_new_privs first, which the kernel requires of an unprivileged caller.
    """
    arch = machine()
    if arch not in ARCHES:
        raise OSError(errno.ENOSYS, f"no seccomp filter for architecture {arch or 'unknown'}")
    instructions = program(arch)
    buffer = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in instructions))
    fprog = _SockFprog(len(instructions), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    for args in ((PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)):
        if libc.prctl(*args) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"prctl({args[0]}): {__import__('os').strerror(code)}")
