"""The launcher's choices on a host that refuses namespaces: refuse with one line naming the setting,
or run in the weaker mode when asked; and the verdict it reports."""

from __future__ import annotations

import os

import pytest

from aha.errors import AhaError
from aha.sandbox import UNSAFE_ENV, IsolationError, SandboxLimits, run_python, seccomp
from tests.sandbox.forked import in_child

LIMITS = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=256)


def on_a_host_without_namespaces(**kwargs: object) -> dict:
    """run_python's outcome in a forked child whose kernel refuses unshare (the seccomp filter does)."""

    def work() -> dict:
        try:
            result = run_python("import os\nprint(os.getpid() > 1)", limits=LIMITS, **kwargs)
        except IsolationError as exc:
            return {"refused": str(exc)}
        return {"status": result.status, "stdout": result.stdout, "isolation": result.isolation}

    return in_child(work, seccomp.install)


@pytest.mark.skipif(seccomp.machine() not in seccomp.ARCHES, reason="needs the seccomp filter")
def test_refused_namespaces_are_refused_with_one_line_naming_the_setting(monkeypatch):
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    outcome = on_a_host_without_namespaces()
    assert "refused" in outcome, outcome
    assert UNSAFE_ENV in outcome["refused"] and "\n" not in outcome["refused"]
    assert "unsafe" in outcome["refused"] and "Operation not permitted" in outcome["refused"]


@pytest.mark.skipif(seccomp.machine() not in seccomp.ARCHES, reason="needs the seccomp filter")
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_the_weaker_mode_runs_only_when_asked(monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv(UNSAFE_ENV, "1")
    outcome = on_a_host_without_namespaces(**({"unsafe": True} if how == "argument" else {}))
    assert outcome.get("status") == "ok", outcome
    assert outcome["stdout"] == "True\n"  # no PID namespace: the program is not PID 1
    assert "unsafe" in outcome["isolation"] and "net" not in outcome["isolation"]


def test_skipping_namespaces_needs_the_weaker_mode_to_be_allowed(monkeypatch):
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    with pytest.raises(IsolationError, match=UNSAFE_ENV):
        run_python("pass", limits=LIMITS, namespaces=False)
    assert issubclass(IsolationError, AhaError)  # the CLI prints it as one `aha: error:` line, exit 2


def test_the_verdict_names_what_held():
    result = run_python("print('hi')", limits=LIMITS)
    held = set(result.isolation.split(","))
    assert result.status == "ok" and {"net", "pid", "mount", "seccomp"} <= held
    assert ("uid" in held) == (os.geteuid() == 0) and "unsafe" not in held
