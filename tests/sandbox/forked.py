"""Run a function in a forked child that first changes something only it should live with (installs a
seccomp filter, drops to another uid), and bring back its JSON result or its traceback."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from typing import Any


def in_child(work: Callable[[], Any], prepare: Callable[[], None] | None = None) -> Any:
    """work()'s result, computed in a forked child after prepare(); an AssertionError carries the child's
    traceback when either raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            os.close(read)
            if prepare is not None:
                prepare()
            payload = json.dumps({"result": work()})
            code = 0
        except BaseException:
            payload = json.dumps({"error": traceback.format_exc()})
        with os.fdopen(write, "w") as out:
            out.write(payload)
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as result:
        data = json.loads(result.read() or '{"error": "the child wrote nothing"}')
    os.waitpid(pid, 0)
    if "error" in data:
        raise AssertionError(f"in the forked child:\n{data['error']}")
    return data["result"]
