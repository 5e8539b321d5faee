"""Every shipped data set is listed in SOURCES.md with its record count and sha256, and matches them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from aha.data.jsonl import read_jsonl

SETS = Path(__file__).resolve().parents[2] / "aha" / "data" / "sets"
TABLE = re.compile(r"^\| (\S+\.jsonl) \| (\d+) \| ([0-9a-f]{64}) \|", re.MULTILINE)
LISTED = {name: (int(count), digest) for name, count, digest in TABLE.findall((SETS / "SOURCES.md").read_text())}


def test_every_shipped_file_is_listed():
    assert sorted(p.name for p in SETS.glob("*.jsonl")) == sorted(LISTED)


@pytest.mark.parametrize("name", sorted(LISTED))
def test_file_matches_its_listed_count_and_digest(name):
    count, digest = LISTED[name]
    path = SETS / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    records = [record for _, record in read_jsonl(path)]
    assert len(records) == count
    assert len({r["id"] for r in records}) == count
