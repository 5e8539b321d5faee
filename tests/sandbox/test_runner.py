"""The sandbox: limits, isolation and cleanup, each attack contained and the parent process unharmed.

Most attacks run twice: with namespaces (the normal path) and without (the fallback some containers
force). Limits are small so that the whole file runs in a few seconds.
"""

from __future__ import annotations

import doctest
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aha.errors import AhaError
from aha.sandbox import UID_BASE, Sandbox, SandboxLimits, default_python, run_python
from aha.sandbox import runner as sandbox_module

FAST = SandboxLimits(wall_s=3.0, cpu_s=3.0, memory_mb=256, max_processes=16)  # ample for what should finish
SHORT = SandboxLimits(wall_s=1.0, cpu_s=1.0, memory_mb=256, max_processes=16)  # for what must time out
ROOT = os.geteuid() == 0
BOTH = pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "fallback"])


def leftover_processes() -> list[str]:
    """Sandbox processes still alive anywhere: a dedicated uid, or a launcher's command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            uid = entry.stat().st_uid
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if uid >= UID_BASE or "aha-sandbox-" in command:
            found.append(f"{entry.name} uid={uid} {command[:80]}")
    return found


@pytest.fixture(autouse=True)
def parent_unharmed():
    """After every test: no sandbox process left, and the parent's cwd and environment as they were."""

    def environment():
        return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}

    cwd, before = os.getcwd(), environment()
    yield
    assert leftover_processes() == []
    assert os.getcwd() == cwd and environment() == before
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0  # can still fork


def test_runs_a_program_with_stdin():
    result = run_python("print(sum(map(int, input().split())))", stdin="2 40\n", limits=FAST)
    assert (result.status, result.returncode, result.stdout) == ("ok", 0, "42\n")
    assert result.cpu_s < result.wall_s < FAST.wall_s


def test_exit_codes_and_tracebacks():
    result = run_python("import sys\nprint('x')\nsys.exit(3)", limits=FAST)
    assert (result.status, result.returncode, result.stdout) == ("failed", 3, "x\n")
    result = run_python("def f():\n    return 1 / 0\n\nf()", limits=FAST)
    assert result.status == "failed" and result.returncode == 1
    assert "ZeroDivisionError" in result.stderr and 'program.py", line 2, in f' in result.stderr
    assert "<string>" not in result.stderr  # the launcher's frames are not shown
    assert run_python("def broken(:", limits=FAST).status == "failed"


def test_the_program_runs_unprivileged_in_a_scrubbed_environment():
    result = run_python("import os, sys\nprint(os.getuid(), sorted(os.environ), sys.flags.isolated)", limits=FAST)
    uid, names, isolated = result.stdout.split(" ", 1)[0], *result.stdout.rsplit(" ", 1)
    assert int(uid) != 0 and int(isolated) == 1
    assert "AHA" not in names and "PYTHONPATH" not in names


@BOTH
def test_infinite_loop_times_out(namespaces):
    result = run_python("while True:\n    pass", limits=SHORT, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "timeout" and result.returncode is not None and result.returncode < 0
    assert result.wall_s < SHORT.wall_s + 1.5


def test_sleeping_program_is_killed_at_the_wall_clock_limit():
    limits = SandboxLimits(wall_s=0.5, cpu_s=5.0, memory_mb=256)
    result = run_python("import time\ntime.sleep(30)", limits=limits)
    assert result.status == "timeout" and result.wall_s < 2.5


@BOTH
def test_fork_bomb_is_contained_and_cleaned_up(namespaces):
    bomb = """
import os
while True:
    try:
        if os.fork() == 0:
            os.setsid()  # leave the process group too
    except OSError:
        pass
"""
    result = run_python(bomb, limits=SHORT, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "timeout"
    # the autouse fixture checks that nothing survived


@BOTH
def test_process_limit_holds(namespaces):
    if not (ROOT or namespaces):
        pytest.skip("without a user namespace or a dedicated uid, the limit counts all of this user's processes")
    program = """
import os, time
started = 0
for _ in range(40):
    try:
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        started += 1
    except OSError:
        break
print(started)
"""
    result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "ok" and 0 < int(result.stdout) < FAST.max_processes


@BOTH
def test_background_process_dies_with_the_program(namespaces):
    daemon = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('started')"
    result = run_python(daemon, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
    assert (result.status, result.stdout) == ("ok", "started\n")


@BOTH
@pytest.mark.parametrize(
    "program", ["x = bytearray(4 << 30)", "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 24))"]
)
def test_memory_bomb_hits_the_memory_limit(program, namespaces):
    result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "memory" and "MemoryError" in result.stderr


def test_file_size_and_output_are_capped():
    limits = SandboxLimits(wall_s=1.0, cpu_s=1.0, memory_mb=256, file_size_mb=1, output_bytes=1000)
    result = run_python("open('big', 'wb').write(bytes(2 << 20))", limits=limits)
    assert result.status == "failed" and "File too large" in result.stderr
    result = run_python("print('x' * 100_000)", limits=limits)
    assert result.status == "ok" and result.stdout == "x" * 1000


@BOTH
def test_writes_outside_the_working_directory_fail(tmp_path, namespaces):
    token = secrets.token_hex(8)
    targets = [Path("/etc") / f"aha-escape-{token}"]
    if ROOT or namespaces:  # this user's own files: a dedicated uid or the mount namespace protects them
        targets.append(tmp_path / "escape")
    if namespaces:  # world-writable places: only the mount namespace protects them
        targets += [Path(f"/var/tmp/aha-escape-{token}"), Path(f"/dev/shm/aha-escape-{token}")]
    program = f"""
written = []
for path in {[str(t) for t in targets]!r}:
    try:
        with open(path, "w") as file:
            file.write("escaped")
        written.append(path)
    except OSError:
        pass
with open("own.txt", "w") as file:  # the program's own directory is writable
    file.write("fine")
print(written, open("own.txt").read())
"""
    result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "ok"
    assert result.stdout.strip().endswith("fine")
    try:
        assert [t for t in targets if t.exists()] == []
    finally:
        for target in targets:
            target.unlink(missing_ok=True)


def test_the_private_tmp_is_empty_and_discarded():
    token = secrets.token_hex(8)
    result = run_python(f"import os\nprint(os.listdir('/tmp'))\nopen('/tmp/{token}', 'w').write('x')", limits=FAST)
    if "mount" not in result.isolation:
        pytest.skip("no mount namespace here")
    assert result.stdout.strip() == "['program.py']"
    assert not Path(f"/tmp/{token}").exists()


@BOTH
def test_no_network(namespaces):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"
        result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.status == "failed" and "connected" not in result.stdout
    assert ("net" in result.isolation) == namespaces and "seccomp" in result.isolation


@BOTH
def test_destructive_shell_command_cannot_touch_the_host(namespaces):
    if not (ROOT or namespaces):
        pytest.skip("without namespaces or a dedicated uid, the program runs as this very user")
    canary = Path(f"/var/tmp/aha-canary-{secrets.token_hex(8)}")  # visible to the sandbox, root's, mode 0755
    canary.mkdir(mode=0o755)
    (canary / "keep").write_text("precious")
    try:
        program = f"import os, shutil\nos.system('rm -rf {canary}')\nshutil.rmtree('{canary}', ignore_errors=True)"
        result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
        assert result.status == "ok"
        assert (canary / "keep").read_text() == "precious"
    finally:
        shutil.rmtree(canary)


@BOTH
def test_parent_environment_secrets_stay_hidden(monkeypatch, namespaces):
    secret = secrets.token_hex(16)
    monkeypatch.setenv("AHA_TEST_SECRET", secret)
    program = """
import os
print(dict(os.environ))
for pid in os.listdir("/proc"):
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as file:
                print(pid, name, file.read())
        except OSError:
            pass
"""
    result = run_python(program, limits=FAST, namespaces=namespaces, unsafe=not namespaces)
    assert result.status == "ok" and "AHA_TEST_SECRET" not in result.stdout
    assert secret not in result.stdout + result.stderr


def test_a_launcher_that_overruns_is_killed_by_the_parent(tmp_path, monkeypatch):
    monkeypatch.setattr("aha.sandbox.runner._GRACE_S", 0.5)
    stuck = tmp_path / "stuck-python"
    stuck.write_text("#!/bin/sh\nsleep 60\n")
    stuck.chmod(0o755)
    result = run_python("print('never')", limits=SHORT, python=str(stuck))
    assert result.status == "timeout" and result.returncode is None and result.wall_s < 3.0


def test_run_many_runs_in_parallel_and_keeps_order():
    programs = [(f"import time\ntime.sleep(0.3)\nprint({index})", "") for index in range(4)]
    with Sandbox(FAST, workers=4) as sandbox:
        results = sandbox.run_many(programs)
        assert sandbox.submit("print(input())", "hi").result().stdout == "hi\n"
    assert [r.stdout for r in results] == [f"{index}\n" for index in range(4)]
    assert sum(r.wall_s for r in results) > 1.2  # four 0.3 s sleeps...
    assert max(r.wall_s for r in results) < 1.2  # ...that overlapped


def test_limits_are_validated_and_an_interpreter_is_found():
    with pytest.raises(AhaError, match="positive"):
        SandboxLimits(wall_s=0)
    with pytest.raises(AhaError, match="too small"):
        SandboxLimits(memory_mb=8)
    assert os.access(default_python(), os.X_OK)
    result = run_python("pass", python="/nonexistent/python", limits=FAST)
    assert result.status == "error" and "cannot start" in result.stderr


def test_docstring_example_runs():
    result = doctest.testmod(sandbox_module)
    assert result.attempted > 0 and result.failed == 0
