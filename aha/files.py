"""Files that matter are written to a temporary name and renamed: a kill leaves the old file or the new one.
Also where aha keeps what it computes once per machine (`cache_root`)."""

from __future__ import annotations

import os
from pathlib import Path

TMP_MARK = ".tmp-"


def write_text_atomically(path: str | Path, text: str) -> None:
    """Replace the file at path with text; a kill leaves the old content or the new, never a cut file."""
    path = Path(path)
    tmp = path.parent / f".{path.name}{TMP_MARK}{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_temporary(path: Path) -> bool:
    """True for the temporary file of a write that a kill interrupted."""
    return path.name.startswith(".") and TMP_MARK in path.name


def cache_root() -> Path:
    """Where aha keeps what it computes once per machine (dequantized GGUF models, the decode kernels
    measured for this CPU): $AHA_CACHE, else ~/.cache/aha."""
    return Path(os.environ.get("AHA_CACHE") or Path.home() / ".cache" / "aha")
