"""What produced an evaluation directory, so that its samples are never credited to another evaluation.

`aha eval --out DIR` records in DIR/fingerprint.json everything that decides its samples: the model (the
content hash of the files it loads), the prompt template, system message and <think> pre-fill, the
weights' dtype, the sampling settings and each benchmark's data file (its content hash). An evaluation into
a directory whose fingerprint differs is refused before its model loads, with a line naming what differs.

The number of samples, the prompt limit and the greedy flag are not part of it: records are only appended,
sample j of prompt i is drawn from the same seed whatever the number of samples (it derives from (seed, i,
j)), and each summary covers the samples and prompts it asks for. A benchmark not evaluated before is added.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aha.errors import ConfigError
from aha.files import write_text_atomically

FILE = "fingerprint.json"


def sha256_of(paths: list[Path]) -> str:
    """One hash over the names, sizes and contents of files, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _short(value: Any) -> str:
    return json.dumps(value)


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, one phrase each ("temperature: 0.6 there, 1.0 now")."""
    found = []
    model_then, model_now = recorded.get("model", {}), current["model"]
    if model_then.get("sha256") != model_now["sha256"]:
        found.append(f"model: {model_then.get('source')} there, {model_now['source']} now (other files)")
    for key in [*current, *(k for k in recorded if k not in current)]:  # a key only one of them has differs too
        if key not in ("model", "benchmarks") and recorded.get(key) != current.get(key):
            found.append(f"{key}: {_short(recorded.get(key))} there, {_short(current.get(key))} now")
    benchmarks = recorded.get("benchmarks", {})
    for name, sha in current["benchmarks"].items():
        if name in benchmarks and benchmarks[name] != sha:
            found.append(f"{name}: another data file (sha256 {benchmarks[name][:12]} there, {sha[:12]} now)")
    return found


def claim(out: Path, current: dict[str, Any]) -> None:
    """Record `current` in out/fingerprint.json, or check it against the one there (adding new benchmarks);
    a ConfigError, with nothing written, when they differ or out holds samples of unknown origin."""
    path = out / FILE
    if path.is_file():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path} is unreadable ({error}); evaluate into another --out") from error
        if not isinstance(recorded, dict):
            raise ConfigError(f"{path} is not a fingerprint; evaluate into another --out")
        found = differences(recorded, current)
        if found:
            raise ConfigError(
                f"{out} holds the samples of another evaluation ({'; '.join(found)}): "
                "evaluate into another --out, or repeat that evaluation's settings"
            )
        merged = {**recorded, "benchmarks": {**recorded.get("benchmarks", {}), **current["benchmarks"]}}
        if merged != recorded:
            write_text_atomically(path, json.dumps(merged, indent=1) + "\n")
        return
    samples = sorted(out.glob("*.samples.jsonl")) if out.is_dir() else []
    if samples:
        raise ConfigError(
            f"{out} holds {samples[0].name} but no {FILE} (written by an older aha or during training), so what "
            "produced it is unknown: evaluate into another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(current, indent=1) + "\n")
