"""Option types and pre-load checks on their own (the table in test_cli drives them through `aha`)."""

from __future__ import annotations

import argparse

import pytest

from aha import options
from aha.errors import ConfigError
from aha.ranges import COUNT


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (options.nonempty, "x", ""),
        (options.device_name, "cuda:1", "gpu"),
        (options.number_list(COUNT), "1, 4,16", "1,0"),
        (options.number_list(COUNT), "8", " , "),
    ],
)
def test_option_types_accept_and_refuse(parse, good, bad):
    parse(good)
    with pytest.raises(argparse.ArgumentTypeError):
        parse(bad)
    assert options.number_list(COUNT)("1, 4,16") == (1, 4, 16)


def test_input_files_must_exist_and_be_files(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    assert options.input_file(str(tmp_path / "a.jsonl")) == str(tmp_path / "a.jsonl")
    for bad, why in ((tmp_path / "missing.jsonl", "no such file"), (tmp_path, "not a file")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            options.input_file(str(bad))


def test_output_locations_are_checked_and_leave_nothing_behind(tmp_path):
    (tmp_path / "file").write_text("x")
    options.check_output_file("--out", str(tmp_path / "new.jsonl"))
    options.check_output_dir("--out", str(tmp_path / "new" / "run"))
    cases = [
        (options.check_output_file, tmp_path, "is a directory"),
        (options.check_output_file, tmp_path / "file" / "x.jsonl", "is a file, not a directory"),
        (options.check_output_file, tmp_path / "nowhere" / "x.jsonl", "does not exist"),
        (options.check_output_dir, tmp_path / "file", "is a file; give a directory"),
        (options.check_output_dir, tmp_path / "file" / "run", "is a file, not a directory"),
    ]
    for check, path, why in cases:
        with pytest.raises(ConfigError, match=why):
            check("--out", str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the write probes were removed


def test_a_template_without_system_messages_refuses_one():
    options.check_template("chat", "Be brief.")
    with pytest.raises(ConfigError, match="takes no system message"):
        options.check_template("raw", "Be brief.")


def test_an_override_in_the_recipe_position_means_the_default_recipe():
    assert options.recipe_and_overrides("steps=5", ["seed=1"], "r1zero-arith") == (
        "r1zero-arith",
        ("steps=5", "seed=1"),
    )
    assert options.recipe_and_overrides("my.yaml", ["seed=1"], "r1zero-arith") == ("my.yaml", ("seed=1",))
