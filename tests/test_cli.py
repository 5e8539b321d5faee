"""Bad input on the command line: every command's every option refuses a bad value with exit status 2 and
one `aha: error:` line naming the option, before any model loads or any work starts, leaving nothing behind.

The table runs in-process through `aha.cli.main`, with the model readers and every command's work
replaced by functions that fail the test if called; the parser itself is walked so that an option added
without a row here fails `test_every_option_has_a_row`. Two subprocess runs confirm the real exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from aha.cli import build_parser, main
from aha.errors import ConfigError
from aha.models.load import shipped_path

REPOSITORY = Path(__file__).resolve().parents[1]

# (command, option, arguments after the command, text the error line must hold (default: the option)).
# {tmp} is the test's working directory, holding in.jsonl (a valid grade input) and cut.gguf (a GGUF
# file cut inside its header).
ROWS: list[tuple[str, str, list[str], str | None]] = [
    ("", "COMMAND", ["nope"], None),
    ("bench", "BENCH", ["nope"], None),
    # generate
    ("generate", "--model", ["--prompt", "hi", "--model", "{tmp}/nope"], None),
    ("generate", "--model", ["--prompt", "hi", "--model", "{tmp}/cut.gguf"], "cut.gguf: truncated"),
    ("generate", "--device", ["--prompt", "hi", "--device", "tpu"], None),
    ("generate", "--dtype", ["--prompt", "hi", "--dtype", "float8"], None),
    ("generate", "--prompt", ["--prompt", ""], None),
    ("generate", "--prompts", ["--prompts", "{tmp}/missing.jsonl"], None),
    ("generate", "--prompt-field", ["--prompt", "hi", "--prompt-field", ""], None),
    ("generate", "--out", ["--prompt", "hi", "--out", "{tmp}"], "is a directory"),
    ("generate", "--out", ["--prompt", "hi", "--out", "{tmp}/in.jsonl/x.jsonl"], "is a file, not a directory"),
    ("generate", "--out", ["--prompt", "hi", "--out", "{tmp}/no/x.jsonl"], "does not exist"),
    ("generate", "--out", ["--prompt", "hi", "--out", "/proc/x.jsonl"], "cannot write in /proc"),
    ("generate", "--template", ["--prompt", "hi", "--template", "fancy"], None),
    ("generate", "--system", ["--prompt", "hi", "--template", "raw", "--system", "be brief"], None),
    ("generate", "--stop", ["--prompt", "hi", "--stop", ""], None),
    ("generate", "--max-rows", ["--prompt", "hi", "--max-rows", "0"], None),
    ("generate", "--n", ["--prompt", "hi", "--n", "0"], None),
    ("generate", "--temperature", ["--prompt", "hi", "--temperature", "nan"], None),
    ("generate", "--temperature", ["--prompt", "hi", "--temperature", "inf"], None),
    ("generate", "--temperature", ["--prompt", "hi", "--temperature", "-1"], None),
    ("generate", "--top-p", ["--prompt", "hi", "--top-p", "0"], None),
    ("generate", "--top-p", ["--prompt", "hi", "--top-p", "2"], None),
    ("generate", "--top-k", ["--prompt", "hi", "--top-k", "-1"], None),
    ("generate", "--max-new-tokens", ["--prompt", "hi", "--max-new-tokens", "0"], None),
    ("generate", "--max-new-tokens", ["--prompt", "hi", "--max-new-tokens", "1000000000"], "8192 positions"),
    ("generate", "--seed", ["--prompt", "hi", "--seed", "-1"], None),
    # train
    ("train", "recipe", ["nope-recipe"], "unknown recipe 'nope-recipe'"),
    ("train", "overrides", ["bogus=1"], "override bogus: unknown key"),
    ("train", "overrides", ["temperature=-1"], "override temperature: temperature=-1.0 must be"),
    ("train", "overrides", ["top_p=2"], "override top_p: top_p=2.0 must be"),
    ("train", "overrides", ["save_every=0"], "override save_every: save_every=0 must be"),
    ("train", "overrides", ["max_new_tokens=100000"], "max_new_tokens 100000: more than the 8192 positions"),
    ("train", "overrides", ["model={tmp}/nope"], "model: model"),
    ("train", "overrides", ["task.name=jsonl", "task.path={tmp}/in.jsonl", "task.held_out_path=x"], "in.jsonl:1"),
    ("train", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("train", "--out", ["--out", "/proc/run"], "cannot write in /proc"),
    ("train", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("train", "--nproc", ["--nproc", "0"], None),
    ("train", "--nproc", ["--nproc", "2", "bogus=1"], "override bogus: unknown key"),  # checked before launching
    # sft
    ("sft", "recipe", ["r1zero-arith"], "a recipe of stage 'grpo'"),
    ("sft", "overrides", ["batch_size=0"], "override batch_size: batch_size=0 must be"),
    ("sft", "--nproc", ["--nproc", "-1"], None),
    ("sft", "overrides", ["data={tmp}/nope.jsonl"], "data: "),
    ("sft", "overrides", ["max_tokens=100000", "pack_tokens=100000"], "max_tokens 100000: more than the 8192"),
    ("sft", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("sft", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("sample", "recipe", ["sft-think-arith"], "a recipe of stage 'sft'"),
    ("sample", "overrides", ["n=0"], "override n: n=0 must be"),
    ("sample", "overrides", ["prompts={tmp}/nope.jsonl"], "prompts: {tmp}/nope.jsonl: no such file"),
    ("sample", "overrides", ["prompts=gsm8k", "split=dev"], "no split 'dev'"),
    ("sample", "overrides", ["max_new_tokens=100000"], "max_new_tokens 100000: more than the 8192"),
    ("sample", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("sample", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("reject", "recipe", ["sft-think-arith"], "a recipe of stage 'sft'"),
    ("reject", "overrides", ["samples={tmp}/none"], "samples: {tmp}/none: no such file"),
    ("reject", "overrides", ["samples={tmp}", "filters.rules=[spelling]"], "unknown rule 'spelling'"),
    ("reject", "--out", ["samples={tmp}", "--out", "{tmp}/in.jsonl"], "is a file"),
    ("reject", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("reject", "--judge-url", ["samples={tmp}", "--judge-url", "ftp://judge"], "is not an http:// or https:// URL"),
    ("reject", "overrides", ["samples={tmp}", "judge.url=http://x", "judge.timeout=0"], "override judge.timeout"),
    ("reject", "overrides", ["samples={tmp}", "judge.model={tmp}/nope"], "judge.model"),
    # serve
    ("serve", "model", ["{tmp}/nope"], "model: model"),
    ("serve", "--host", ["--host", "http://x"], None),
    ("serve", "--port", ["--port", "70000"], None),
    ("serve", "--max-rows", ["--max-rows", "0"], None),
    ("serve", "--device", ["--device", "tpu"], None),
    ("serve", "--dtype", ["--dtype", "int4"], None),
    ("distill", "recipe", ["sft-think-arith"], "a recipe of stage 'sft'"),
    ("distill", "overrides", [], "teacher: give the teacher"),
    ("distill", "overrides", ["teacher={tmp}/nope"], "teacher"),
    ("distill", "overrides", ["teacher=smollm2-135m", "student={tmp}/cut.gguf"], "cut.gguf: truncated"),
    ("distill", "overrides", ["teacher=smollm2-135m", "sample.n=0"], "sample.n=0"),
    ("distill", "overrides", ["teacher=smollm2-135m", "sft.epochs=x"], "'sft.epochs' = 'x' is not float"),
    ("distill", "overrides", ["teacher=smollm2-135m", "held_out_split=dev"], "no split 'dev'"),
    ("distill", "--out", ["teacher=smollm2-135m", "--out", "{tmp}/in.jsonl"], "is a file"),
    ("distill", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("rm", "recipe", ["sft-think-arith"], "a recipe of stage 'sft'"),
    ("rm", "overrides", ["data={tmp}/nope.jsonl"], "data: {tmp}/nope.jsonl: no such file"),
    ("rm", "overrides", ["held_out_data=set:hh_helpful_pairs:test"], "no shipped pairs"),
    ("rm", "overrides", ["model={tmp}/cut.gguf"], "cut.gguf: truncated"),
    ("rm", "overrides", ["center=-0.1"], "center=-0.1"),
    ("rm", "overrides", ["train_layers=99"], "train_layers=99: the model has 30 blocks"),
    ("rm", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("rm", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    ("pipeline", "recipe", ["sft-think-arith"], "a recipe of stage 'sft'"),
    ("pipeline", "overrides", ["model={tmp}/cut.gguf"], "cut.gguf: truncated"),
    ("pipeline", "overrides", ["reasoning_rl.steps=0"], "reasoning_rl.steps"),
    ("pipeline", "overrides", ["rejection.teacher=x"], "rejection.teacher is set by the pipeline"),
    ("pipeline", "overrides", ["reward_model.data={tmp}/nope.jsonl"], "reward_model: data: {tmp}/nope.jsonl"),
    ("pipeline", "overrides", ["all_scenario_rl.general.share=0"], "give a share > 0"),
    ("pipeline", "overrides", ["all_scenario_rl.general.data={tmp}/nope.jsonl"], "nope.jsonl: no such file"),
    ("pipeline", "overrides", ["evaluation.held_out=0"], "evaluation.held_out"),
    ("pipeline", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("pipeline", "--resume", ["--resume", "{tmp}"], "not a run directory"),
    # eval
    ("eval", "model", ["{tmp}/nope"], "model: model"),
    ("eval", "--bench", ["--bench", "gsm9k"], "--bench: unknown benchmark 'gsm9k'; shipped: aime24, arithmetic"),
    ("eval", "--bench", ["--bench", ","], None),
    ("eval", "--samples", ["--samples", "0"], None),
    ("eval", "--k", ["--k", "0"], None),
    ("eval", "--k", ["--k", "1,x"], None),
    ("eval", "--k", ["--k", "8"], "--k 8: must be at most --samples (4)"),
    ("eval", "--temperature", ["--temperature", "-1"], None),
    ("eval", "--top-p", ["--top-p", "0"], None),
    ("eval", "--max-new-tokens", ["--max-new-tokens", "0"], None),
    ("eval", "--max-new-tokens", ["--max-new-tokens", "1000000000"], "8192 positions"),
    ("eval", "--template", ["--template", "fancy"], None),
    ("eval", "--system", ["--template", "r1zero", "--system", "be brief"], None),
    ("eval", "--limit", ["--limit", "-1"], None),
    ("eval", "--limit", ["--limit", "0"], None),
    ("eval", "--out", ["--out", "{tmp}/in.jsonl"], "is a file"),
    ("eval", "--seed", ["--seed", "x"], None),
    ("eval", "--max-rows", ["--max-rows", "0"], None),
    ("eval", "--device", ["--device", "gpu"], None),
    ("eval", "--dtype", ["--dtype", "int8"], None),
    ("eval", "--backend", ["--backend", "vllm2"], None),
    ("eval", "--backend", ["--backend", "openai"], "--backend openai needs --base-url"),
    ("eval", "--base-url", ["--base-url", "ftp://x"], None),
    ("eval", "--base-url", ["--base-url", "http://127.0.0.1:1/v1"], "--base-url goes with --backend openai"),
    ("eval", "--served-model", ["--served-model", ""], None),
    # grade
    ("grade", "path", ["{tmp}/missing.jsonl", "--reward", "format"], "FILE.jsonl"),
    ("grade", "--reward", ["{tmp}/in.jsonl", "--reward", "nope"], None),
    ("grade", "--reward", ["{tmp}/in.jsonl", "--reward", ","], None),
    ("grade", "--out", ["{tmp}/in.jsonl", "--reward", "format", "--out", "{tmp}"], "is a directory"),
    ("grade", "--out", ["{tmp}/in.jsonl", "--reward", "format", "--out", "{tmp}/no/x.jsonl"], "cannot write"),
    ("grade", "--response-field", ["{tmp}/in.jsonl", "--reward", "format", "--response-field", ""], None),
    ("grade", "--answer-field", ["{tmp}/in.jsonl", "--reward", "format", "--answer-field", ""], None),
    ("grade", "--workers", ["{tmp}/in.jsonl", "--reward", "format", "--workers", "0"], None),
    # bench generate
    ("bench sample", "--model", ["--model", "{tmp}/nope"], None),
    ("bench sample", "--prompts", ["--prompts", "no_such_set"], "no_such_set"),
    ("bench sample", "--split", ["--split", "dev"], "no split 'dev'"),
    ("bench sample", "--limit", ["--limit", "0"], None),
    ("bench sample", "--n", ["--n", "0"], None),
    ("bench sample", "--max-new-tokens", ["--max-new-tokens", "9000"], "8192 positions"),
    ("bench generate", "--model", ["--model", "{tmp}/nope"], None),
    ("bench generate", "--device", ["--device", "cuda:x"], None),
    ("bench generate", "--dtype", ["--dtype", "half"], None),
    ("bench generate", "--prompts", ["--prompts", "0"], None),
    ("bench generate", "--repeat", ["--repeat", "0"], None),
    ("bench generate", "--n", ["--n", "-3"], None),
    ("bench generate", "--temperature", ["--temperature", "nan"], None),
    ("bench generate", "--top-p", ["--top-p", "1.5"], None),
    ("bench generate", "--top-k", ["--top-k", "x"], None),
    ("bench generate", "--max-new-tokens", ["--max-new-tokens", "9000"], "8192 positions"),
    ("bench generate", "--seed", ["--seed", str(2**64)], None),
    # bench rewards
    ("bench rewards", "--programs", ["--programs", "0"], None),
    ("bench rewards", "--limit", ["--limit", "-1"], None),
    ("bench rewards", "--workers", ["--workers", "0"], None),
    # bench grpo-step
    ("bench grpo-step", "recipe", ["nope-recipe"], "unknown recipe"),
    ("bench grpo-step", "overrides", ["group_size=1"], "override group_size"),
    ("bench grpo-step", "--steps", ["--steps", "0"], None),
    ("bench grpo-step", "--beta", ["--beta", "0,-1"], None),
    ("bench grpo-step", "--beta", ["--beta", "x"], None),
    # bench sft
    ("bench sft", "recipe", ["nope-recipe"], "unknown recipe"),
    ("bench sft", "overrides", ["batch_size=0"], "override batch_size"),
    ("bench sft", "overrides", ["data={tmp}/none.jsonl"], "no such file"),
    ("bench sft", "--steps", ["--steps", "0"], None),
    ("bench sft", "--plot", ["--plot", "{tmp}"], "is a directory"),
    # bench rm
    ("bench rm", "recipe", ["nope-recipe"], "unknown recipe"),
    ("bench rm", "overrides", ["train_layers=-1"], "train_layers"),
    ("bench rm", "overrides", ["data={tmp}/none.jsonl"], "no such file"),
    ("bench rm", "overrides", ["held_out_data=null"], "needs held_out_data"),
    ("bench rm", "--steps", ["--steps", "-1"], None),
    # bench train
    ("bench train", "--model", ["--model", "{tmp}/cut.gguf"], None),
    ("bench train", "--device", ["--device", "tpu"], None),
    ("bench train", "--dtype", ["--dtype", "x"], None),
    ("bench train", "--autocast", ["--autocast", "auto"], None),
    ("bench train", "--prompts", ["--prompts", "0"], None),
    ("bench train", "--group-size", ["--group-size", "1"], None),
    ("bench train", "--completion-tokens", ["--completion-tokens", "0"], None),
    ("bench train", "--completion-tokens", ["--completion-tokens", "9000"], "8192 positions"),
    ("bench train", "--repeats", ["--repeats", "0"], None),
    # bench scaling
    ("bench scaling", "recipe", ["nope-recipe"], "unknown recipe"),
    ("bench scaling", "overrides", ["top_k=-1"], "override top_k"),
    ("bench scaling", "--steps", ["--steps", "0"], None),
]


def _options(parser: argparse.ArgumentParser, command: str = "") -> set[tuple[str, str]]:
    """(command, option) for every option that takes a value, found by walking the parser and its subparsers."""
    found = set()
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            found.add((command, action.metavar))
            for name, sub in action.choices.items():
                found |= _options(sub, f"{command} {name}".strip())
        elif action.nargs != 0:  # flags (store_true, help) take no value that could be wrong
            found.add((command, action.option_strings[-1] if action.option_strings else action.dest))
    return found


def test_every_option_has_a_row():
    options = _options(build_parser())
    assert len(options) > 70  # the walk found the subcommands' options
    rows = {(command, option) for command, option, _, _ in ROWS}
    assert options - rows == set(), "options without an invalid-value row"
    assert rows - options == set(), "rows naming no option of the parser"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory with in.jsonl and cut.gguf, where loading a model or starting work fails."""
    (tmp_path / "in.jsonl").write_text('{"response": "<answer> 1 </answer>", "answer": "1"}\n')
    (tmp_path / "cut.gguf").write_bytes(shipped_path("smollm2-135m").read_bytes()[:5000])
    monkeypatch.chdir(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded or work started before the bad input was reported")

    load_module = importlib.import_module("aha.models.load")  # aha.models.load is also the name of a function
    for name in ("_read_gguf", "_read_hf_dir", "read_state_dict"):
        monkeypatch.setattr(load_module, name, forbidden)
    for module, name in [
        ("aha.stages.generate", "run"),
        ("aha.stages.grpo", "run"),
        ("aha.stages.sft", "run"),
        ("aha.stages.sample", "run"),
        ("aha.stages.reject", "run"),
        ("aha.serve.server", "serve"),
        ("aha.stages.distill", "run"),
        ("aha.stages.reward_model", "run"),
        ("aha.stages.pipeline", "run"),
        ("aha.stages.evaluate", "run"),
        ("aha.stages.grade", "score"),
        ("aha.bench.generate", "run"),
        ("aha.bench.grpo_step", "run"),
        ("aha.bench.sft", "run"),
        ("aha.bench.rm", "run"),
        ("aha.bench.sample", "run"),
        ("aha.bench.scaling", "run"),
        ("aha.bench.train", "run"),
        ("aha.bench.math_grader", "run"),
        ("aha.bench.rewards", "bench_code"),
    ]:
        monkeypatch.setattr(importlib.import_module(module), name, forbidden)
    return tmp_path


def _tree(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in [*dirs, *files]}


@pytest.mark.parametrize(
    ("command", "option", "arguments", "says"), ROWS, ids=[f"{c or 'aha'} {' '.join(a)}" for c, _, a, _ in ROWS]
)
def test_bad_value_is_one_line_exit_2_before_any_work(workdir, capsys, command, option, arguments, says):
    argv = [*command.split(), *(a.replace("{tmp}", str(workdir)) for a in arguments)]
    before = _tree(workdir)
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("aha: error: "), captured.err
    assert (says or option).replace("{tmp}", str(workdir)) in err[0], err[0]
    assert captured.out == ""
    assert _tree(workdir) == before  # nothing written, no temporary file left


def _numeric_fields(cls: type, prefix: str = "") -> list[tuple[str, type]]:
    """(dotted key, int or float) for every numeric field of a config and of the configs inside it."""
    found = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            found += _numeric_fields(hint, f"{prefix}{f.name}.")
            continue
        kinds = {a for a in typing.get_args(hint) if a is not type(None)} or {hint}
        if kinds <= {int, float} and kinds:
            found.append((f"{prefix}{f.name}", float if float in kinds else int))
    return found


def test_every_numeric_recipe_key_refuses_nonsense_naming_the_key():
    """-1 suits no count, rate, size or seed of a GRPO recipe, and NaN or infinity no float of it."""
    from aha.config import load_config
    from aha.recipes import find
    from aha.stages.grpo import GRPOConfig

    fields = _numeric_fields(GRPOConfig)
    assert len(fields) > 40 and ("optim.lr", float) in fields and ("benchmarks.limit", int) in fields
    for key, kind in fields:
        for value in ["-1", ".nan", ".inf"] if kind is float else ["-1"]:
            with pytest.raises(ConfigError) as info:
                load_config(GRPOConfig, find("r1zero-arith"), [f"{key}={value}"])
            assert f"override {key}: " in str(info.value) and "\n" not in str(info.value), (key, value)


def test_bad_recipe_keys_in_a_file_name_the_file_and_line(workdir, capsys):
    recipe = workdir / "r.yaml"
    recipe.write_text("name: x\ntemperature: -1\nsampling:\n  n: 2\noptim:\n  lr: .nan\n")
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert f"{recipe}:3: unknown key 'sampling'" in err[0]
    assert f"{recipe}:6: optim.lr=nan must be a finite number >= 0" in err[0]
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--limit", "-1"],
        ["train", "save_every=0"],
        ["generate", "--prompt", "hi", "--max-new-tokens", "1000000000"],
    ],
)
def test_the_real_process_exits_2_with_one_line(tmp_path, argv):
    result = subprocess.run(
        [sys.executable, "-m", "aha", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("aha: error: "), result.stderr
    assert list(tmp_path.iterdir()) == []
