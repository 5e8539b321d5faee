"""Namespaces, a minimal read-only root and the dropping of privileges, for one sandboxed program.

Standalone (standard library and ctypes only): the launcher imports it under `python -I -S`. Root enters
the namespaces directly; an ordinary user first enters a user namespace that maps only its own ids, which
gives it, inside that namespace alone, the rights to mount and to build the root below.

The root the program sees is a small read-only tmpfs holding read-only bind mounts of the system
directories (/usr, /bin, /lib*, /etc) and of the interpreter's own prefix, a /dev with null, zero, full,
random and urandom, a /proc of the program's own PID namespace, and a writable, size-limited tmpfs at /tmp
(also /dev/shm) that is its working directory. Home directories, /root, /run, /var, /srv, /mnt, /opt, the
host's /tmp and the project itself are not there: neither their files nor the Unix sockets in them.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1 << 10, 1 << 11, 1 << 12, 1 << 14
MS_PRIVATE, MS_RELATIME = 1 << 18, 1 << 21
ST_RELATIME = 1 << 12
PR_SET_NO_NEW_PRIVS = 38
SYSTEM_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    result = _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    _check(result, f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def enter_namespaces() -> list[str]:
    """Enter new mount, PID (for the children), network, IPC and UTS namespaces, and as a user a user
    namespace first; the names of those entered. Raises OSError when the kernel refuses."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags | (0 if uid == 0 else CLONE_NEWUSER)), "unshare")
    if uid != 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return ["net", "pid", "mount", "ipc", "uts"] + ([] if uid == 0 else ["user"])


def _unescape(path: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as \ooo
    for code in ("040", "011", "012", "134"):
        path = path.replace("\\" + code, chr(int(code, 8)))
    return path


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as file:
        targets = {_unescape(line.split()[4]) for line in file}
    return sorted(t for t in targets if t == prefix or t.startswith(prefix.rstrip("/") + "/"))


def _remount_read_only(target: str) -> None:
    """Make the bind mount at `target` and every mount below it read-only, keeping the flags the kernel
    locks in a user namespace (nosuid, nodev, noexec, atime)."""
    for path in _mounts_under(target):
        kept = os.statvfs(path).f_flag
        flags = kept & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
        flags |= MS_RELATIME if kept & ST_RELATIME else 0
        mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | flags)


def _bind(source: str, root: str, read_only: bool = True) -> None:
    target = root + source
    if os.path.isdir(source):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _remount_read_only(target)


def build_root(scratch: str, prefixes: Iterable[str], tmp_mb: int, owner: int) -> str:
    """Build the program's root under `scratch` (an empty directory) and return its path.

    `prefixes` are the interpreter's directories (read-only); `owner` owns /tmp (-1: the caller).
    Must run inside the mount namespace of `enter_namespaces`.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below reaches the host's mount table
    root = os.path.join(scratch, "root")
    os.mkdir(root, 0o755)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for directory in SYSTEM_DIRECTORIES:
        if os.path.islink(directory):  # merged /usr: /bin -> usr/bin
            os.symlink(os.readlink(directory), root + directory)
        elif os.path.isdir(directory):
            _bind(directory, root)
    for prefix in sorted({os.path.realpath(p) for p in prefixes}):
        if os.path.isdir(prefix) and not os.path.exists(root + prefix):
            _bind(prefix, root)
    os.makedirs(root + "/dev", 0o755, exist_ok=True)
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            _bind("/dev/" + name, root, read_only=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(target, f"{root}/dev/{name}")
    os.symlink("/proc/self/fd/2", root + "/dev/stderr")
    for directory in ("/proc", "/tmp", "/dev/shm"):
        os.makedirs(root + directory, 0o755, exist_ok=True)
    options = f"size={tmp_mb}m,mode=0700" + (f",uid={owner},gid={owner}" if owner >= 0 else "")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
    mount(root + "/tmp", root + "/dev/shm", None, MS_BIND)
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    return root


def enter_root(root: str, pid_namespace: bool) -> None:
    """Mount a /proc of our PID namespace in `root` (when we are its first process), change root into
    it and go to /tmp. Called by the program's process, which must hold no descriptor to a directory
    outside `root`."""
    if pid_namespace:
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    os.chroot(".")
    os.chdir("/tmp")


def drop_privileges(uid: int) -> None:
    """Become `uid` (root: a dedicated unprivileged uid, which clears every capability), or with uid < 0
    drop the capabilities a user namespace gave; then no_new_privs, so nothing can gain them back."""
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError(f"uid is still {os.geteuid()}")
    else:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
        _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
