"""The code sandbox: untrusted programs contained, their verdicts out of their reach (see `runner`)."""

from aha.sandbox.runner import (
    UID_BASE,
    UNSAFE_ENV,
    IsolationError,
    RunResult,
    Sandbox,
    SandboxLimits,
    TestsResult,
    check_isolation,
    default_python,
    run_python,
    run_tests,
)

__all__ = [
    "UID_BASE",
    "UNSAFE_ENV",
    "IsolationError",
    "RunResult",
    "Sandbox",
    "SandboxLimits",
    "TestsResult",
    "check_isolation",
    "default_python",
    "run_python",
    "run_tests",
]
