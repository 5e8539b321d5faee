"""The run directory: which checkpoints count, falling back past unreadable ones, when a directory is taken."""

from __future__ import annotations

import logging

import pytest

from aha.errors import AhaError, CheckpointError
from aha.track.run_dir import RunDir


def _checkpoint(directory: RunDir, step: int):
    path = directory.checkpoint_path(step)
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text("{}")
    return path


def test_only_finished_checkpoints_count_in_step_order(tmp_path):
    directory = RunDir(tmp_path)
    directory.create({})
    good = _checkpoint(directory, 2)
    ten = _checkpoint(directory, 10)
    (directory.checkpoints / ".step-000012.tmp-123").mkdir()  # a write killed before its rename
    (directory.checkpoints / "unreadable-step-000011").mkdir()  # set aside by an earlier resume
    no_state = directory.checkpoint_path(6)
    no_state.mkdir()
    assert directory.checkpoint_dirs() == [good, no_state, ten]  # by step, not by name: 10 after 6
    assert directory.complete_checkpoints() == [good, ten]
    assert directory.latest_checkpoint() == ten


def test_resume_point_falls_back_past_unreadable_checkpoints_and_says_so(tmp_path, caplog):
    directory = RunDir(tmp_path)
    directory.create({})
    for step in (2, 4, 6):
        _checkpoint(directory, step)

    def open_checkpoint(path):
        if path.name != "step-000002":
            raise CheckpointError(f"{path.name} is broken")
        return "opened"

    with caplog.at_level(logging.WARNING, logger="aha.track.run_dir"):
        assert directory.resume_point(open_checkpoint) == (directory.checkpoint_path(2), "opened")
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skipped == [
        "resume: skipping checkpoint step-000006: step-000006 is broken",
        "resume: skipping checkpoint step-000004: step-000004 is broken",
    ]
    # the unreadable ones are kept, under names no listing counts (a later save of step 4 cannot collide)
    assert [p.name for p in directory.checkpoint_dirs()] == ["step-000002"]
    assert sorted(p.name for p in directory.checkpoints.iterdir()) == [
        "step-000002", "unreadable-step-000004", "unreadable-step-000006"
    ]  # fmt: skip


def test_resume_point_when_nothing_reads_is_an_error_that_moves_nothing(tmp_path):
    directory = RunDir(tmp_path)
    directory.create({})
    assert directory.resume_point(lambda path: path) is None  # no checkpoint at all
    _checkpoint(directory, 2)

    def unreadable(path):
        raise CheckpointError("trainer_state.json is missing")

    with pytest.raises(AhaError, match=r"no readable checkpoint to resume from \(step-000002: trainer_state.json is"):
        directory.resume_point(unreadable)
    assert [p.name for p in directory.checkpoints.iterdir()] == ["step-000002"]


def test_a_directory_is_taken_once_a_step_is_logged(tmp_path):
    directory = RunDir(tmp_path / "run")
    directory.claim({"seed": 1})
    directory.append("eval.jsonl", {"step": 0, "accuracy": 0.5})  # the run then failed in step 1
    (directory.path / ".config.yaml.tmp-99").write_text("")  # and an atomic write was cut by a kill
    directory.claim({"seed": 2})  # a rerun takes the directory and drops the failed attempt's records
    assert directory.config() == {"seed": 2} and directory.read("eval.jsonl") == []
    directory.append("metrics.jsonl", {"step": 1})
    with pytest.raises(AhaError, match="already holds a run: resume it with --resume"):
        directory.claim({"seed": 3})
    assert directory.config() == {"seed": 2}


def test_a_directory_with_a_checkpoint_is_taken(tmp_path):
    directory = RunDir(tmp_path / "run")
    directory.claim({})
    _checkpoint(directory, 2)
    with pytest.raises(AhaError, match="already holds a run"):
        directory.claim({})


def test_a_directory_holding_other_files_is_never_taken(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AhaError, match=r"is not empty and not a run directory \(it holds notes.txt"):
        RunDir(tmp_path).claim({})
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_failed_rewrite_of_a_log_leaves_it_whole(tmp_path, monkeypatch):
    import os

    directory = RunDir(tmp_path)
    directory.create({})
    for step in (1, 2, 3):
        directory.append("metrics.jsonl", {"step": step})
    before = (tmp_path / "metrics.jsonl").read_bytes()

    def killed(source, target):  # the process dies before the rename
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        directory.truncate_after(1)
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "config.yaml", "metrics.jsonl"]
