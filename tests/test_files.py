"""aha.files: atomic text writes, temporary-file names, the cache root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aha.files import TMP_MARK, cache_root, is_temporary, write_text_atomically


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    write_text_atomically(path, "new ünïcode")
    assert path.read_text(encoding="utf-8") == "new ünïcode"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_content_and_removes_its_temporary(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def interrupted(src, dst):
        raise KeyboardInterrupt  # a kill between writing and renaming

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_temporary_names_are_recognised():
    assert is_temporary(Path(f".step-000010{TMP_MARK}1234"))
    assert not is_temporary(Path("step-000010"))
    assert not is_temporary(Path(f"step{TMP_MARK}1"))  # not hidden: a user's file, never ours


def test_the_cache_root_follows_aha_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("AHA_CACHE", str(tmp_path / "cache"))
    assert cache_root() == tmp_path / "cache"
    monkeypatch.delenv("AHA_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "aha"
