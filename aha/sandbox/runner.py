"""Run untrusted Python (a model's program) in processes that cannot harm the machine, see secrets, or
forge their own verdict.

Each program runs under the launcher (`launcher.py`, its own interpreter started with `python -I -S`
in a scrubbed environment and a session of its own), which contains it before any of its code runs:
new namespaces and a minimal read-only root (`jail`), resource limits, a memory cgroup for the whole
process tree where the host allows one (`cgroup`), a dedicated unprivileged uid or no capabilities, and a
seccomp filter (`seccomp`). The verdict comes from the launcher on a pipe the program never holds.

Function tests (HumanEval's `check`, MBPP's asserts) run in two such processes: the candidate's program in
one (`serve`), the trusted tests in the other (`harness`), joined only by a channel of plain values
(`wire`). The tests, their expected values and the report of which passed never enter the candidate's
process, so nothing it does to its own interpreter (builtins, `sys.modules`, `atexit`, exit codes,
objects equal to everything) can change the verdict.

Hosts: as root, or as an ordinary user where unprivileged user namespaces are enabled, the isolation is
the same. Where the kernel refuses namespaces, programs are refused (`IsolationError`) unless the caller
asks for the weaker mode (`unsafe=True`, or AHA_SANDBOX_UNSAFE=1): limits, the dedicated uid (root only)
and the seccomp filter, but the host's files, processes of the same user and their environment in reach.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aha.errors import AhaError
from aha.sandbox import cgroup

UID_BASE = 2_000_000_000  # dedicated uids are UID_BASE + launcher pid; nothing else on a host uses these
STATUSES = ("ok", "failed", "timeout", "memory", "killed", "error")
UNSAFE_ENV = "AHA_SANDBOX_UNSAFE"  # "1": run programs without namespaces where the kernel refuses them
LAUNCHER = Path(__file__).with_name("launcher.py")
_GRACE_S = 5.0  # the parent's clock runs this much longer than the launcher's
_TESTS_GRACE_S = 1.0  # the test process outlives the candidate's by this much, to report after it is gone
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/tmp"}


class IsolationError(AhaError):
    """The host refuses the namespaces the sandbox needs, and the weaker mode was not asked for."""


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Limits on one program. Memory is capped for its whole process tree by a cgroup where the host
    allows one (root with a writable memory hierarchy); elsewhere each process is held to `memory_mb`,
    so the tree holds at most `memory_mb` x (`max_processes` + 1)."""

    wall_s: float = 5.0  # wall-clock seconds before the program and everything it started are killed
    cpu_s: float = 5.0  # CPU seconds per process (RLIMIT_CPU)
    memory_mb: int = 512  # MiB: the whole tree under a cgroup, and each process's address space (RLIMIT_AS)
    file_size_mb: int = 16  # largest file it may write, MiB, its stdout and stderr included (RLIMIT_FSIZE)
    tmp_mb: int = 64  # its private /tmp in all, MiB
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
    isolation: str = ""  # what held, e.g. "uid,cgroup1,net,pid,mount,ipc,uts,seccomp"
    memory_peak_mb: float = 0.0  # the most the process tree held at once (0 without a cgroup)


@dataclass(frozen=True)
class TestsResult:
    """What became of one program's function tests."""

    passed: frozenset[int]  # indices of the tests that passed
    total: int
    solution: RunResult  # the candidate's process
    tests: RunResult  # the test process (its stderr says why each failed test failed)


@dataclass(frozen=True)
class _Job:
    """One launcher: its files, its descriptors, and the process once started."""

    base: Path
    config: dict
    pass_fds: tuple[int, ...]
    started: float = field(default_factory=time.perf_counter)


def unsafe_allowed(unsafe: bool | None) -> bool:
    """The caller's choice, or AHA_SANDBOX_UNSAFE=1 when the caller leaves it open."""
    return os.environ.get(UNSAFE_ENV) == "1" if unsafe is None else unsafe


def run_python(
    code: str, stdin: str = "", limits: SandboxLimits | None = None, *, python: str | None = None,
    unsafe: bool | None = None, namespaces: bool = True,
) -> RunResult:  # fmt: skip
    """Run `code` as a Python program (`__main__`) with `stdin` as its standard input, under `limits`.

    `python` is the interpreter (default: `default_python()`). `namespaces=False` runs the weaker mode
    directly, as on a host that refuses namespaces (it needs `unsafe`).

    >>> run_python("print(input()[::-1])", stdin="abc\\n").stdout
    'cba\\n'
    """
    limits = limits or SandboxLimits()
    with tempfile.TemporaryDirectory(prefix="aha-sandbox-", ignore_cleanup_errors=True) as private:
        base = _prepare(Path(private), {"program": code.encode("utf-8", "surrogatepass")}, stdin)
        config = _config(base, "run", limits, _isolation(unsafe, namespaces))
        job = _start(python or default_python(), base, config)
        return _finish(job, limits)


def run_tests(
    program: str, tests: Sequence[str], *, entry_point: str = "", helpers: str = "", setup: str = "",
    limits: SandboxLimits | None = None, python: str | None = None, unsafe: bool | None = None,
    namespaces: bool = True,
) -> TestsResult:  # fmt: skip
    """Run function tests against `program`: the program (then `setup`) in one sandboxed process, the
    tests in another. With `entry_point` each test defines `check(candidate)` (HumanEval), called with
    the program's function of that name; else each test is run as it is (MBPP asserts). `helpers` is
    trusted code run before the tests in the test process (HumanEval's prompt).

    >>> run_tests("def add(a, b):\\n    return a + b", ["assert add(2, 3) == 5", "assert add(1, 1) == 3"]).passed
    frozenset({0})
    """
    limits = limits or SandboxLimits()
    mode = _isolation(unsafe, namespaces)
    python = python or default_python()
    spec = {"tests": list(tests), "entry_point": entry_point, "helpers": helpers}
    with contextlib.ExitStack() as stack:
        private = [Path(stack.enter_context(_private_dir())) for _ in range(2)]
        solution_base = _prepare(private[0], {"program": program.encode("utf-8", "surrogatepass"),
                                              "setup": setup.encode("utf-8", "surrogatepass")}, "")  # fmt: skip
        tests_base = _prepare(private[1], {"tests": json.dumps(spec).encode()}, "")
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        report = os.open(tests_base / "report", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            solution_config = _config(solution_base, "serve", limits, mode, channel=[requests_read, answers_write])
            tests_limits = _with_wall(limits, limits.wall_s + _TESTS_GRACE_S)
            tests_config = _config(tests_base, "test", tests_limits, mode, channel=[requests_write, answers_read])
            tests_config["report_fd"] = report
            solution_job = _start(python, solution_base, solution_config)
            try:
                tests_job = _start(python, tests_base, tests_config)
            except BaseException:
                _finish(solution_job, limits)
                raise
        finally:
            for fd in (requests_read, requests_write, answers_read, answers_write, report):
                os.close(fd)  # only the two programs hold the channel now
        tests_result = _finish(tests_job, tests_limits)
        solution_result = _finish(solution_job, limits)
        lines = _read_capped(tests_base / "report", 1 << 20).splitlines()
    count = len(spec["tests"])
    passed = frozenset(int(w[1]) for w in map(str.split, lines) if len(w) == 2 and w[0] == "pass" and w[1].isdigit())
    return TestsResult(frozenset(i for i in passed if i < count), count, solution_result, tests_result)


def check_isolation(*, python: str | None = None, unsafe: bool | None = None) -> str:
    """What isolation this host gives a program (e.g. "uid,cgroup1,net,pid,mount,ipc,uts,seccomp");
    raises IsolationError, naming the setting that allows the weaker mode, when the kernel refuses it.
    Call it before slow work that will need the sandbox."""
    limits = SandboxLimits(wall_s=10.0, cpu_s=5.0, memory_mb=256)
    result = run_python("pass", limits=limits, python=python, unsafe=unsafe)
    if result.status != "ok":
        raise AhaError(f"the code sandbox cannot run a trivial program here: {result.status}: {result.stderr[-300:]}")
    return result.isolation


class Sandbox:
    """Runs many programs at once: each of `workers` threads starts sandboxed processes and waits.

    The isolation is the subprocess; threads only wait, so the caller's own work (a training step) goes on
    while programs run. Use as a context manager, or call `close`.
    """

    def __init__(
        self, limits: SandboxLimits | None = None, workers: int | None = None, *, python: str | None = None,
        unsafe: bool | None = None, namespaces: bool = True,
    ) -> None:  # fmt: skip
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.python = python or default_python()
        self.unsafe, self.namespaces = unsafe, namespaces
        self._executor = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="aha-sandbox")

    def _options(self) -> dict:
        return {"limits": self.limits, "python": self.python, "unsafe": self.unsafe, "namespaces": self.namespaces}

    def run(self, code: str, stdin: str = "") -> RunResult:
        """Run one program in the calling thread."""
        return run_python(code, stdin, **self._options())

    def submit(self, code: str, stdin: str = "") -> concurrent.futures.Future[RunResult]:
        """Start one program on the pool; the future holds its result."""
        return self._executor.submit(self.run, code, stdin)

    def run_many(self, programs: Iterable[tuple[str, str]]) -> list[RunResult]:
        """Run (code, stdin) pairs, `workers` at a time; results in the order given."""
        futures = [self.submit(code, stdin) for code, stdin in programs]
        return [future.result() for future in futures]

    def submit_tests(self, program: str, tests: Sequence[str], **kwargs: str) -> concurrent.futures.Future[TestsResult]:
        """Start `run_tests(program, tests, **kwargs)` on the pool."""
        return self._executor.submit(run_tests, program, tests, **kwargs, **self._options())

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_python() -> str:
    """An interpreter the sandboxed program can use: this one, unless its files are out of reach (root:
    private to root, as under /root, where the dedicated uid could not import the standard library; a
    user: not executable by them); then the system's."""
    here = os.path.realpath(sys.executable)
    if os.geteuid() != 0 and os.access(here, os.X_OK) and os.access(sys.base_prefix, os.R_OK | os.X_OK):
        return sys.executable
    if os.geteuid() == 0 and all(_world_readable(Path(p)) for p in (sys.base_prefix, here)):
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


def _isolation(unsafe: bool | None, namespaces: bool) -> str:
    """The launcher's mode: "full" (namespaces or refuse), "fallback" (namespaces, else the weaker mode),
    or "unsafe" (the weaker mode directly)."""
    if not namespaces:
        if not unsafe_allowed(unsafe):
            raise IsolationError(f"the code sandbox without namespaces is unsafe; set {UNSAFE_ENV}=1 to allow it")
        return "unsafe"
    return "fallback" if unsafe_allowed(unsafe) else "full"


def _with_wall(limits: SandboxLimits, wall_s: float) -> SandboxLimits:
    fields = {name: getattr(limits, name) for name in SandboxLimits.__dataclass_fields__}
    return SandboxLimits(**{**fields, "wall_s": wall_s})


@contextlib.contextmanager
def _private_dir():
    with tempfile.TemporaryDirectory(prefix="aha-sandbox-", ignore_cleanup_errors=True) as private:
        yield private


def _prepare(base: Path, files: dict[str, bytes], stdin: str) -> Path:
    """Lay out a launcher's private directory: its input files (readable by root or this user only), the
    program's stdin, an empty working directory and an empty directory for its root's mount."""
    os.chmod(base, 0o711)  # the dedicated uid may pass through to work/, but not list or read
    for name, data in files.items():
        (base / name).write_bytes(data)
        os.chmod(base / name, 0o600)
    (base / "stdin").write_text(stdin, encoding="utf-8", errors="surrogatepass")
    (base / "work").mkdir(mode=0o700)
    (base / "scratch").mkdir(mode=0o700)
    return base


def _config(base: Path, mode: str, limits: SandboxLimits, isolation: str, channel: list[int] | None = None) -> dict:
    names = {"run": ["program"], "serve": ["program", "setup"], "test": ["tests"]}[mode]
    return {
        "mode": mode, "isolation": isolation, "wall_s": limits.wall_s, "cpu_s": limits.cpu_s,
        "memory_mb": limits.memory_mb, "file_size_mb": limits.file_size_mb, "tmp_mb": limits.tmp_mb,
        "max_processes": limits.max_processes, "open_files": limits.open_files, "uid_base": UID_BASE,
        "files": {name: str(base / name) for name in names}, "work": str(base / "work"),
        "scratch": str(base / "scratch"), "channel": channel, "report_fd": None,
    }  # fmt: skip


def _start(python: str, base: Path, config: dict) -> tuple[_Job, subprocess.Popen[bytes] | None, int]:
    """Start a launcher; (job, process or None when it could not start, the status pipe's read end)."""
    status_read, status_write = os.pipe()
    config = {**config, "status_fd": status_write}
    job = _Job(base, config, ())
    extra = (config["channel"] or []) + ([config["report_fd"]] if config["report_fd"] is not None else [])
    command = [python, "-I", "-S", str(LAUNCHER), json.dumps(config)]
    try:
        with (
            open(base / "stdin", "rb") as stdin,
            open(base / "stdout", "wb") as stdout,
            open(base / "stderr", "wb") as stderr,
        ):
            process = subprocess.Popen(
                command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=base / "work", env=_ENV,
                start_new_session=True, pass_fds=(status_write, *extra),
            )  # fmt: skip
    except OSError as exc:
        (base / "stderr").write_text(f"sandbox: cannot start {python}: {exc}\n")
        process = None
    finally:
        os.close(status_write)
    return job, process, status_read


def _finish(started: tuple[_Job, subprocess.Popen[bytes] | None, int], limits: SandboxLimits) -> RunResult:
    """Wait for a launcher to finish (or kill it at its limit plus grace) and read its verdict."""
    job, process, status_read = started
    with os.fdopen(status_read, "rb") as status:
        if process is None:
            fields, overran = {}, False
        else:
            overran = not _wait(process, job.config["wall_s"] + _GRACE_S)
            with contextlib.suppress(ProcessLookupError):  # the launcher's group, when it overran or was killed
                os.killpg(process.pid, signal.SIGKILL)
            fields = _parse_status(status.read(1 << 16))
            if os.geteuid() == 0 and (overran or not fields):  # it did not finish its own sweep
                _sweep(UID_BASE + process.pid)  # before reaping: its pid, so its uid, is not reused yet
            if os.geteuid() == 0:
                for path in cgroup.leftover(process.pid):
                    cgroup.remove(path)
            process.wait()
    stdout = _read_capped(job.base / "stdout", limits.output_bytes)
    stderr = _read_capped(job.base / "stderr", limits.output_bytes)
    wall = time.perf_counter() - job.started
    kind = fields.get("status")
    if kind == "refused":
        raise IsolationError(
            f"the code sandbox cannot isolate programs on this host ({fields.get('message')}); "
            f"set {UNSAFE_ENV}=1 to run model-written code with weaker isolation (unsafe: see the README's "
            "'Code sandbox' section)"
        )
    if kind not in STATUSES:  # the launcher failed or was killed
        return RunResult("timeout" if overran else "error", None, stdout, stderr, wall)
    return RunResult(
        kind, int(fields.get("returncode", 0)), stdout, stderr, wall, float(fields.get("cpu_s", 0.0)),
        ",".join(map(str, fields.get("isolation", []))), float(fields.get("memory_peak_mb", 0.0)),
    )  # fmt: skip


def _parse_status(data: bytes) -> dict:
    try:
        fields = json.loads(data.decode(errors="replace"))
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


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
    command = [sys.executable, "-I", "-S", str(LAUNCHER), "sweep", str(uid)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, env=_ENV, timeout=30, check=False)


def _read_capped(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as file:
            return file.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""
