"""Run untrusted Python (a model's program) in a subprocess that cannot harm the machine or see secrets.

Each program runs under a small launcher script, started with `python -I -S` (no site, no user paths, no
PYTHON* variables) in a scrubbed environment and its own session. The launcher, before any untrusted code:

- enters new namespaces: network (no interfaces, so no network at all), PID (the program is PID 1 there:
  when it exits, the kernel kills everything it started), mount and IPC. As root these come directly; as
  an ordinary user through a user namespace that maps only the user's own ids. In the mount namespace
  every mount is remounted read-only and a size-limited tmpfs becomes /tmp (the working directory) and
  /dev/shm, so a write outside the program's own directory fails and nothing it writes outlives it.
- sets resource limits: address space, CPU seconds, file size, open files, processes, no core dumps.
- forks the program's process, which drops every privilege before running the code: as root it becomes a
  dedicated unprivileged uid (`UID_BASE` + the launcher's pid: unique while it runs, so the process limit
  is enforced per program and the uid's processes can all be killed at the end); as a user it drops the
  capabilities the user namespace gave it. `no_new_privs` stops set-uid programs from gaining any.
- waits up to the wall-clock limit, kills the program (and with it its PID namespace), kills every
  process left under the dedicated uid, and reports a verdict on a pipe the program never sees.

Where the kernel refuses namespaces (some containers), the program still runs under the limits and the
dedicated uid (as root), sockets are refused by an audit hook installed before the program starts, and the
working directory is a fresh temporary directory; `RunResult.isolation` names what held.

The parent keeps a second clock: if the launcher itself overruns, its process group and the dedicated uid
are killed. Standard output and error go to files whose size the file-size limit bounds; the parent reads
at most `output_bytes` of each.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aha.errors import AhaError

UID_BASE = 2_000_000_000  # dedicated uids are UID_BASE + launcher pid; nothing else on a host uses these
STATUSES = ("ok", "failed", "timeout", "memory", "killed", "error")
_GRACE_S = 5.0  # the parent's clock runs this much longer than the launcher's
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/tmp"}


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Limits on one program; every process it starts is held to the same per-process limits."""

    wall_s: float = 5.0  # wall-clock seconds before the program and everything it started are killed
    cpu_s: float = 5.0  # CPU seconds per process (RLIMIT_CPU)
    memory_mb: int = 512  # address space per process, MiB (RLIMIT_AS)
    file_size_mb: int = 16  # largest file it may write, MiB, its stdout and stderr included (RLIMIT_FSIZE)
    tmp_mb: int = 64  # its private /tmp in all, MiB (a tmpfs, where the kernel allows a mount namespace)
    max_processes: int = 16  # processes and threads at once (RLIMIT_NPROC)
    open_files: int = 64  # file descriptors per process (RLIMIT_NOFILE)
    output_bytes: int = 1 << 16  # stdout and stderr are each cut to this many bytes

    def __post_init__(self) -> None:
        if min(self.wall_s, self.cpu_s) <= 0 or min(self.file_size_mb, self.tmp_mb, self.max_processes) < 1:
            raise AhaError(f"sandbox limits must be positive: {self}")
        if self.memory_mb < 64 or self.open_files < 16:
            raise AhaError(f"sandbox limits too small for Python (memory_mb >= 64, open_files >= 16): {self}")


@dataclass(frozen=True)
class RunResult:
    """What became of one program."""

    status: str  # ok | failed (non-zero exit) | timeout (wall or CPU) | memory | killed (a signal) | error
    returncode: int | None  # exit code, or minus the signal that ended it; None when it never ran
    stdout: str
    stderr: str
    wall_s: float  # seconds from launch to verdict, startup included
    cpu_s: float = 0.0  # CPU seconds of the program's process and the children it waited for
    isolation: str = ""  # what held, e.g. "uid,net,pid,mount,ipc"; "audit" means sockets blocked by a hook


def run_python(
    code: str,
    stdin: str = "",
    limits: SandboxLimits | None = None,
    *,
    python: str | None = None,
    namespaces: bool = True,
) -> RunResult:
    """Run `code` as a Python program with `stdin` as its standard input, under `limits`.

    `python` is the interpreter (default: `default_python()`); `namespaces=False` skips the namespaces, to
    exercise the fallback isolation.

    >>> run_python("print(input()[::-1])", stdin="abc\\n").stdout
    'cba\\n'
    """
    limits = limits or SandboxLimits()
    python = python or default_python()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aha-sandbox-", ignore_cleanup_errors=True) as private:
        os.chmod(private, 0o711)  # the dedicated uid may pass through to work/, but not list or read
        base = Path(private)
        (base / "work").mkdir(mode=0o700)
        (base / "program.py").write_text(code, encoding="utf-8", errors="surrogatepass")
        (base / "stdin").write_text(stdin, encoding="utf-8", errors="surrogatepass")
        verdict, overran = _launch(python, base, limits, namespaces)
        stdout = _read_capped(base / "stdout", limits.output_bytes)
        stderr = _read_capped(base / "stderr", limits.output_bytes)
    wall = time.perf_counter() - start
    if len(verdict) != 4 or verdict[0] not in STATUSES:  # the launcher failed or was killed
        return RunResult("timeout" if overran else "error", None, stdout, stderr, wall)
    status, returncode, cpu, isolation = verdict
    return RunResult(status, int(returncode), stdout, stderr, wall, float(cpu), isolation)


class Sandbox:
    """Runs many programs at once: each of `workers` threads starts a sandboxed process and waits for it.

    The isolation is the subprocess; threads only wait, so the caller's own work (a training step) goes on
    while programs run. Use as a context manager, or call `close`.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        workers: int | None = None,
        *,
        python: str | None = None,
        namespaces: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.python = python or default_python()
        self.namespaces = namespaces
        self._executor = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="aha-sandbox")

    def run(self, code: str, stdin: str = "") -> RunResult:
        """Run one program in the calling thread."""
        return run_python(code, stdin, self.limits, python=self.python, namespaces=self.namespaces)

    def submit(self, code: str, stdin: str = "") -> concurrent.futures.Future[RunResult]:
        """Start one program on the pool; the future holds its result."""
        return self._executor.submit(self.run, code, stdin)

    def run_many(self, programs: Iterable[tuple[str, str]]) -> list[RunResult]:
        """Run (code, stdin) pairs, `workers` at a time; results in the order given."""
        futures = [self.submit(code, stdin) for code, stdin in programs]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_python() -> str:
    """An interpreter the sandboxed program can use: this one, unless its files are private to root (as
    under /root), where the dedicated uid could not import the standard library; then the system's."""
    if os.geteuid() != 0 or all(_world_readable(Path(p)) for p in (sys.base_prefix, os.path.realpath(sys.executable))):
        return sys.executable
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK) and _world_readable(Path(os.path.realpath(candidate))):
            return candidate
    raise AhaError("no Python interpreter readable by an unprivileged uid; pass python=... to the sandbox")


def _world_readable(path: Path) -> bool:
    """Whether any user may reach and read `path` (every parent directory searchable by others)."""
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


def _launch(python: str, base: Path, limits: SandboxLimits, namespaces: bool) -> tuple[list[str], bool]:
    """Run the launcher on the files in `base`: (its verdict line's fields, whether the parent's own
    clock ran out and killed it)."""
    status_read, status_write = os.pipe()
    numbers = (limits.wall_s, limits.cpu_s, limits.memory_mb, limits.file_size_mb, limits.tmp_mb)
    numbers += (limits.max_processes, limits.open_files, status_write, int(namespaces), UID_BASE)
    command = [python, "-I", "-S", "-c", _LAUNCHER, "run", *map(str, numbers), str(base / "program.py")]
    try:
        with (
            open(base / "stdin", "rb") as stdin,
            open(base / "stdout", "wb") as stdout,
            open(base / "stderr", "wb") as stderr,
        ):
            process = subprocess.Popen(
                command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=base / "work", env=_ENV,
                start_new_session=True, pass_fds=(status_write,),
            )  # fmt: skip
    except OSError as exc:
        os.close(status_read)
        (base / "stderr").write_text(f"sandbox: cannot start {python}: {exc}\n")
        return [], False
    finally:
        os.close(status_write)
    with os.fdopen(status_read, "rb") as status:
        finished = _wait(process, limits.wall_s + _GRACE_S)
        with contextlib.suppress(ProcessLookupError):  # the launcher's group, when it overran or was killed
            os.killpg(process.pid, signal.SIGKILL)
        fields = status.read().decode(errors="replace").split()
        if os.geteuid() == 0 and (not finished or len(fields) != 4):  # it did not finish its own sweep
            _sweep(UID_BASE + process.pid)  # before reaping: its pid, so its uid, is not reused yet
        process.wait()
    return fields, not finished


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait until `process` exits or `timeout_s` passes, without reaping it; whether it exited."""
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd (kernel < 5.3): poll
        try:
            process.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(fd)


def _sweep(uid: int) -> None:
    """Kill every process running as `uid` (when the launcher's own sweep did not happen)."""
    command = [sys.executable, "-I", "-S", "-c", _LAUNCHER, "sweep", str(uid)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, env=_ENV, timeout=30, check=False)


def _read_capped(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as file:
            return file.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


# The launcher runs as its own interpreter (`python -I -S -c _LAUNCHER run ...`), importing only builtin
# modules and ctypes so it starts in about 10 ms. `sweep UID` mode only kills the uid's processes.
_LAUNCHER = r"""
import ctypes, os, resource, select, signal, sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 1 << 17, 1 << 27, 1 << 28, 1 << 29, 1 << 30
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 2, 4, 8, 32, 1 << 10, 1 << 11
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME, ST_RELATIME = 1 << 12, 1 << 14, 1 << 18, 1 << 21, 1 << 12
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38
MEMORY_EXIT, SETUP_EXIT = 125, 126
libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, what + ": " + os.strerror(errno))


def mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else text.encode()
    result = libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    check(result, "mount " + target)


def write(path, text):
    with open(path, "w") as file:
        file.write(text)


def enter_namespaces(wanted):
    # Root enters them directly; a user first enters a user namespace mapping only its own uid and gid.
    uid, gid = os.getuid(), os.getgid()
    if not wanted:
        return []
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | (0 if uid == 0 else CLONE_NEWUSER)
    if libc.unshare(flags) != 0:
        return []
    if uid != 0:
        write("/proc/self/setgroups", "deny")
        write("/proc/self/uid_map", f"{uid} {uid} 1")
        write("/proc/self/gid_map", f"{gid} {gid} 1")
    return ["net", "pid", "mount", "ipc"]


def unescape(path):
    # /proc/self/mountinfo writes space, tab, newline and backslash as \ooo
    for code in ("040", "011", "012", "134"):
        path = path.replace("\\" + code, chr(int(code, 8)))
    return path


def seal_filesystem(tmp_mb, owner):
    # Private propagation first, so nothing below reaches the host's mount table.
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("/", "/", None, MS_BIND | MS_REC)
    os.chdir("/")
    os.chroot(".")  # make the new, read-only copy our root: /proc/self/root must not lead to the old one
    with open("/proc/self/mountinfo") as file:
        targets = sorted({unescape(line.split()[4]) for line in file})
    for target in targets:
        try:
            kept = os.statvfs(target).f_flag
            flags = kept & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
            flags |= MS_RELATIME if kept & ST_RELATIME else 0
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
        except OSError:
            pass
    options = f"size={tmp_mb}m,mode=0700" + (f",uid={owner},gid={owner}" if owner >= 0 else "")
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
    if os.path.isdir("/dev/shm"):
        mount("/tmp", "/dev/shm", None, MS_BIND)
    os.chdir("/tmp")


def tasks_of(uid):
    # Processes and threads of uid now: RLIMIT_NPROC counts them all when no namespace separates us.
    count = 0
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.stat("/proc/" + name).st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            pass
    return count


def set_limits(cpu_s, memory_mb, file_size_mb, max_processes, open_files):
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_mb << 20, file_size_mb << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid):
    if uid >= 0:  # root: become the dedicated uid, which clears every capability
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("uid still " + str(os.geteuid()))
    else:  # a user namespace gave us capabilities inside it: drop them all
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        check(libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def no_network(event, args):
    if event.startswith("socket."):
        raise PermissionError("the sandbox has no network")


def child(source, uid, namespaces, status_fd):
    os.close(status_fd)
    os.setpgid(0, 0)  # a group of its own, killed at once at the end
    try:
        if "pid" in namespaces:  # a /proc showing only this namespace's processes
            try:
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError:
                pass
        drop_privileges(uid)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the uid change, which clears it
        if "net" not in namespaces:
            sys.addaudithook(no_network)
        with open("program.py", "wb") as file:  # for tracebacks; the program runs from memory
            file.write(source)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"sandbox setup failed: {exc}\n")
        sys.stderr.flush()
        os._exit(SETUP_EXIT)
    main = type(sys)("__main__")
    main.__file__ = "program.py"
    sys.modules["__main__"] = main
    sys.argv = ["program.py"]
    try:
        exec(compile(source, "program.py", "exec"), main.__dict__)
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        sys.stderr.flush()
        os._exit(MEMORY_EXIT)
    except SystemExit:
        raise
    except BaseException as exc:  # the traceback without the launcher's frames
        exc = exc.with_traceback(exc.__traceback__.tb_next)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        sys.exit(1)


def wait_for(pid, wall_s):
    # True when the wall-clock limit ran out and the program (PID 1 of its namespace) was killed
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if poller.poll(wall_s * 1000):
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    import time
    deadline = time.monotonic() + wall_s
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return False
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    return True


def verdict(status, timed_out, cpu, cpu_s):
    if timed_out:
        return "timeout", -signal.SIGKILL
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        ran_out = number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= int(cpu_s + 0.999) - 0.05)
        return ("timeout" if ran_out else "killed"), -number
    code = os.WEXITSTATUS(status)
    kind = {0: "ok", MEMORY_EXIT: "memory", SETUP_EXIT: "error"}.get(code, "failed")
    return kind, code


def sweep(uid):
    # kill(-1) as the uid reaches every process of that uid, in any PID namespace, except the caller
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    for _ in range(2):
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass


def children():
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as file:
            return [int(pid) for pid in file.read().split()]
    except OSError:  # no CONFIG_PROC_CHILDREN: scan for our children
        mine, found = os.getpid(), []
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/stat") as file:
                    if name.isdigit() and int(file.read().rsplit(")", 1)[1].split()[1]) == mine:
                        found.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
        return found


def kill_descendants():
    # As a subreaper we inherit every orphan below us: kill our children until none is left. A child
    # cannot be reused by another process before we reap it, so these kills never hit a stranger.
    while True:
        for pid in children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main():
    if sys.argv[1] == "sweep":
        sweep(int(sys.argv[2]))
        return
    wall_s, cpu_s = float(sys.argv[2]), float(sys.argv[3])
    memory_mb, file_size_mb, tmp_mb, max_processes, open_files, status_fd, wanted, uid_base = map(int, sys.argv[4:12])
    with open(sys.argv[12], "rb") as file:
        source = file.read()
    root = os.getuid() == 0
    uid = uid_base + os.getpid() if root else -1
    namespaces = enter_namespaces(wanted)
    if "mount" in namespaces:
        try:
            seal_filesystem(tmp_mb, uid)
        except OSError:
            namespaces.remove("mount")
    if "mount" not in namespaces and root:
        os.chown(".", uid, uid)
    if not root:  # RLIMIT_NPROC counts the launcher, and without a user namespace all our processes
        max_processes += 1 if "pid" in namespaces else tasks_of(os.getuid())
    set_limits(cpu_s, memory_mb, file_size_mb, max_processes, open_files)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come to us, not to the host's init
    pid = os.fork()
    if pid == 0:
        child(source, uid, namespaces, status_fd)
        return
    timed_out = wait_for(pid, wall_s)
    try:
        os.killpg(pid, signal.SIGKILL)  # what is left of its group; the unreaped leader holds the group id
    except OSError:
        pass
    _, status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    kind, code = verdict(status, timed_out, cpu, cpu_s)
    isolation = (["uid"] if root else []) + namespaces + ([] if "net" in namespaces else ["audit"])
    os.write(status_fd, f"{kind} {code} {cpu:.3f} {','.join(isolation)}\n".encode())
    os.close(status_fd)
    if root:
        sweep(uid)
    kill_descendants()
    os._exit(0)  # nothing to flush; skip the interpreter's teardown


main()
"""
