"""The sandbox launcher: one program, contained, and a verdict on a descriptor the program never holds.

Run as its own interpreter, `python -I -S launcher.py CONFIG` (no site, no user paths, no PYTHON*
variables, a scrubbed environment), where CONFIG is a JSON object (see `aha.sandbox.runner._launch`).
It imports only the standard library, ctypes and its sibling modules, so it starts in a few milliseconds.
Before any untrusted code runs it:

- joins a memory cgroup of its own, when root and a cgroup hierarchy allows (`cgroup`);
- enters new namespaces (`jail`): network (no interfaces), PID (the program is PID 1 there: when it
  exits the kernel kills everything it started), mount, IPC and UTS; as an ordinary user through a user
  namespace. It builds the program's root: system directories read-only, a private /tmp, nothing else;
- sets resource limits: address space, CPU seconds, file size, open files, processes, no core dumps;
- forks the program's process, which changes root, drops every privilege (a dedicated uid as root,
  `UID_BASE` + the launcher's pid; the user namespace's capabilities otherwise), sets no_new_privs,
  installs the seccomp filter (`seccomp`: no sockets of any family, no ptrace, no new namespaces) and
  runs the code;
- waits up to the wall-clock limit, kills the program with its PID namespace, kills every process left
  under the dedicated uid, and writes the verdict, one JSON line, on the status descriptor.

Modes: `run` runs the program as `__main__` with the given stdin; `serve` runs it as module `solution`
and answers calls from a test process (`serve`); `test` runs trusted tests against such a process
(`harness`), reporting passes on a descriptor of its own.

Where the kernel refuses namespaces the launcher reports `refused` and runs nothing, unless the config
asks for the weaker mode ("isolation": "unsafe"), where only the limits, the dedicated uid (as root) and
the seccomp filter hold.
"""

# ruff: noqa: SIM105  (try/except/pass: contextlib is one import more at every launch)
import atexit
import ctypes
import importlib.util
import json
import os
import resource
import select
import signal
import sys
import time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
MEMORY_EXIT, SETUP_EXIT = 125, 126
HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    # Our sibling modules, under names no program would import by accident.
    spec = importlib.util.spec_from_file_location("aha_sandbox_" + name, os.path.join(HERE, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cgroup, jail, seccomp, wire = load("cgroup"), load("jail"), load("seccomp"), load("wire")
libc = ctypes.CDLL(None, use_errno=True)


def set_limits(config, extra_processes):
    cpu = max(1, int(config["cpu_s"] + 0.999))
    memory = config["memory_mb"] << 20
    size = config["file_size_mb"] << 20
    processes = config["max_processes"] + extra_processes
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (config["open_files"], config["open_files"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def tasks_of(uid):
    # Processes and threads of uid now: without a user namespace RLIMIT_NPROC counts them all.
    count = 0
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.stat("/proc/" + name).st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            pass
    return count


def close_other_descriptors(keep):
    for fd in sorted(int(name) for name in os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def run_main(source, argv):
    main = type(sys)("__main__")
    main.__file__ = argv[0]
    sys.modules["__main__"] = main
    sys.argv = argv
    exec(compile(source, argv[0], "exec"), main.__dict__)


def child(config, payload, root, uid, namespaces, runner):
    # The program's process: everything here runs before any untrusted code.
    os.setpgid(0, 0)  # a group of its own, killed at once at the end
    channel = config.get("channel") or []
    report = config.get("report_fd")
    keep = set(channel) | ({report} if report is not None else set())
    try:
        close_other_descriptors(keep)  # the status pipe and anything that leads outside the root
        if root is not None:
            jail.enter_root(root, "pid" in namespaces)
        elif uid >= 0:
            os.chdir(config["work"])
        jail.drop_privileges(uid)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the uid change, which clears it
        seccomp.install()
        sys.executable = os.path.realpath(sys.executable)
        if config["mode"] == "run":
            with open("program.py", "wb") as file:  # the program's own source, for its tracebacks
                file.write(payload["program"])
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"sandbox setup failed: {exc}\n")
        sys.stderr.flush()
        os._exit(SETUP_EXIT)
    try:
        mode = config["mode"]
        if mode == "run":
            run_main(payload["program"], ["program.py"])
        elif mode == "serve":
            runner.main(payload["program"], payload["setup"], channel[0], channel[1], wire)
        else:
            runner.main(json.loads(payload["tests"]), channel[0], channel[1], report, wire)
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        leave(MEMORY_EXIT)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            leave((exc.code or 0) & 0xFF)
        sys.stderr.write(f"{exc.code}\n")
        leave(1)
    except BaseException as exc:  # the traceback without the launcher's frames
        exc = exc.with_traceback(exc.__traceback__.tb_next)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        leave(1)
    leave(0)


def leave(code):
    # Exit as the interpreter would (atexit handlers, flushed output) but without its teardown of every
    # module the launcher loaded, which takes longer than most programs run.
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


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
    deadline = time.monotonic() + wall_s
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return False
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    return True


def verdict(status, timed_out, cpu, cpu_s, oom):
    if timed_out:
        return "timeout", -signal.SIGKILL
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if oom and number == signal.SIGKILL:
            return "memory", -number
        ran_out = number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= int(cpu_s + 0.999) - 0.05)
        return ("timeout" if ran_out else "killed"), -number
    code = os.WEXITSTATUS(status)
    if oom and code != 0:
        return "memory", code
    return {0: "ok", MEMORY_EXIT: "memory", SETUP_EXIT: "error"}.get(code, "failed"), code


def sweep(uid):
    # kill(-1) as the uid reaches every process of that uid, in any PID namespace, except the caller.
    # The launcher does this last: it gives up root for it (and cannot fork once its PID namespace died).
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


def report(status_fd, **fields):
    os.write(status_fd, (json.dumps(fields) + "\n").encode())


def launch(config, runners):
    """Contain and run one program (`config` as in the module docstring) and write its verdict."""
    status_fd = config["status_fd"]
    payload = {}
    for name, path in config["files"].items():
        with open(path, "rb") as file:
            payload[name] = file.read()
    runner = runners.get(config["mode"])
    root_user = os.getuid() == 0
    uid = config["uid_base"] + os.getpid() if root_user else -1
    isolation = ["uid"] if root_user else []
    group, usage_fd, oom_before = None, None, 0
    if config.get("group"):  # a server's group, which we were born in: reset its high-water mark
        group = cgroup.Group(config["group"], config["group_version"])
        usage_fd, oom_before = group.open_peak(), group.oom_kills()
    elif root_user and config.get("cgroup", True):
        group = cgroup.create(str(os.getpid()), config["memory_mb"] << 20)
        if group is not None:
            group.join(os.getpid())
    if group is not None:
        isolation.append(f"cgroup{group.version}")
    root, namespaces = None, []
    if config["isolation"] in ("full", "fallback"):
        try:
            namespaces = jail.enter_namespaces()
        except OSError as exc:
            if config["isolation"] == "full":
                report(status_fd, status="refused", message=str(exc), isolation=isolation)
                return
        if namespaces:  # once inside the namespaces, failing to build the root is never a reason to go on
            prefixes = {sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}  # not a venv: -S skips it
            try:
                root = jail.build_root(config["scratch"], prefixes, config["tmp_mb"], uid if root_user else -1)
            except OSError as exc:
                report(status_fd, status="refused", message=str(exc), isolation=isolation)
                return
    if root is None and root_user:
        os.chown(config["work"], uid, uid)
    extra = 0
    if not root_user:  # RLIMIT_NPROC counts the launcher, and without a user namespace all our processes
        extra = 1 if "pid" in namespaces else tasks_of(os.getuid())
    set_limits(config, extra)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come to us, not to the host's init
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        child(config, payload, root, uid, namespaces, runner)  # never returns
    for fd in (config.get("channel") or []) + ([config["report_fd"]] if config.get("report_fd") is not None else []):
        os.close(fd)  # only the program holds these, so the other side sees the end when it is gone
    timed_out = wait_for(pid, config["wall_s"])
    try:
        os.killpg(pid, signal.SIGKILL)  # what is left of its group; the unreaped leader holds the group id
    except OSError:
        pass
    _, status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    kill_descendants()
    oom = group is not None and group.oom_kills() > oom_before
    kind, code = verdict(status, timed_out, cpu, config["cpu_s"], oom)
    peak = group.peak_bytes(usage_fd) / (1 << 20) if group is not None else 0.0
    isolation += [*namespaces, "seccomp"]
    if not namespaces:
        isolation.append("unsafe")
    report(status_fd, status=kind, returncode=code, cpu_s=round(cpu, 3), isolation=isolation, memory_peak_mb=peak)
    os.close(status_fd)
    if root_user:
        sweep(uid)


def serve_requests(sock_fd, group_path, group_version, runners):
    # A server: one request per program ({"config": ..., "fds": [names]} with the descriptors attached);
    # each is launched in a fresh fork of this process, which has every module loaded already and, when
    # it holds one, sits in its memory cgroup (a fork joins its parent's group at no cost; moving a
    # process into a group costs milliseconds). The answer is the launcher's pid. {"reap": pid} reaps a
    # launcher the parent is done with: until then its pid (and so its dedicated uid) cannot be reused.
    import socket

    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the parent is gone: so are we
    if group_path:
        cgroup.Group(group_path, group_version).join(os.getpid())
    channel = socket.socket(fileno=sock_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 16)
        except OSError:
            return
        if not message:
            return
        request = json.loads(message)
        if "reap" in request:
            try:
                os.waitpid(int(request["reap"]), 0)
            except ChildProcessError:
                pass
            channel.sendall(b"{}")
            continue
        config = request["config"]
        named = dict(zip(request["fds"], fds, strict=True))
        pid = os.fork()
        if pid == 0:
            channel.close()
            os.setsid()
            for target, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
                os.dup2(named.pop(name), target)
            config["status_fd"] = named["status"]
            if config.get("channel"):
                config["channel"] = [named["channel_in"], named["channel_out"]]
            if config.get("report_fd") is not None:
                config["report_fd"] = named["report"]
            config.update(group=group_path, group_version=group_version)
            launch(config, runners)
            os._exit(0)
        for fd in fds:
            os.close(fd)
        channel.sendall(json.dumps({"pid": pid}).encode())


def main():
    if sys.argv[1] == "sweep":
        sweep(int(sys.argv[2]))
        return
    runners = {"serve": load("serve"), "test": load("harness")}
    if sys.argv[1] == "server":
        serve_requests(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), runners)
    else:
        launch(json.loads(sys.argv[1]), runners)
    os._exit(0)  # nothing to flush; skip the interpreter's teardown


if __name__ == "__main__":
    main()
