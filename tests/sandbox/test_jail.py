"""The program's root: only the system directories (read-only), its own /proc, a few devices and a
private, size-limited /tmp; nothing of the host's homes, /tmp, /var or the project."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aha.sandbox import SandboxLimits, run_python
from aha.sandbox.jail import SYSTEM_DIRECTORIES

LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=256, tmp_mb=8)


def look(code: str) -> object:
    result = run_python(code + "\nimport json, sys\njson.dump(seen, sys.stdout)", limits=LIMITS)
    assert result.status == "ok", result.stderr
    if "mount" not in result.isolation:
        pytest.skip("no mount namespace on this host")
    return json.loads(result.stdout)


def test_the_root_holds_only_the_system_directories():
    top = set(look("import os\nseen = sorted(os.listdir('/'))"))
    allowed = {Path(d).name for d in SYSTEM_DIRECTORIES if os.path.lexists(d)} | {"proc", "dev", "tmp"}
    allowed |= {Path(os.path.realpath(p)).parts[1] for p in ("/usr/bin/python3",) if os.path.exists(p)}
    assert top <= allowed | {"root", "work", "opt", "home"}  # an interpreter's prefix may sit under these
    for private in ("home", "root", "work", "var", "run", "srv", "mnt", "media", "opt"):
        if private in top:  # only as the path to the interpreter's own prefix, never its siblings
            listing = look(f"import os\nseen = os.listdir('/{private}')")
            assert len(listing) <= 1, (private, listing)
    assert "home" not in top or look("import os\nseen = os.listdir('/home')") == []


def test_system_directories_are_read_only_and_tmp_is_private_and_capped():
    seen = look("""
import os
seen = {}
for path in ("/usr/aha-x", "/etc/aha-x", "/aha-x", "/proc/aha-x"):
    try:
        open(path, "w")
        seen[path] = "written"
    except OSError as exc:
        seen[path] = exc.errno
seen["cwd"] = os.getcwd()
seen["tmp"] = sorted(os.listdir("/tmp"))
try:
    with open("/tmp/big", "wb") as file:
        file.write(bytes(9 << 20))
    seen["big"] = "written"
except OSError as exc:
    seen["big"] = exc.errno
""")
    assert all(seen[p] != "written" for p in ("/usr/aha-x", "/etc/aha-x", "/aha-x", "/proc/aha-x"))
    assert seen["cwd"] == "/tmp" and seen["tmp"] == ["program.py"] and seen["big"] == 28  # ENOSPC at 8 MiB


def test_devices_work_and_proc_shows_only_the_program():
    seen = look("""
import os
open("/dev/null", "w").write("x")
seen = [len(open("/dev/urandom", "rb").read(16)), open("/dev/zero", "rb").read(2).hex(), os.getpid(),
        sorted(int(p) for p in os.listdir("/proc") if p.isdigit())]
""")
    assert seen == [16, "0000", 1, [1]]


def test_the_hosts_tmp_and_this_project_are_out_of_sight(tmp_path):
    marker = tmp_path / "visible"
    marker.write_text("x")
    marker.chmod(0o644)
    seen = look(f"import os\nseen = [os.path.exists(p) for p in ({str(marker)!r}, {os.getcwd()!r}, '/var/tmp')]")
    assert seen == [False, False, False]
