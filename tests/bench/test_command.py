"""The `aha bench` commands: every benchmark is reachable from `aha`, with its own options."""

from __future__ import annotations

import argparse

from aha.bench.command import add_bench_commands


def test_every_benchmark_is_a_subcommand_with_a_handler():
    parser = argparse.ArgumentParser(prog="aha")
    add_bench_commands(parser.add_subparsers(dest="command"))
    for name in ("generate", "rewards", "grpo-step", "sft", "sample", "train", "scaling"):
        args = parser.parse_args(["bench", name])
        assert args.bench == name and callable(args.func), name
    assert parser.parse_args(["bench", "rewards", "--programs", "5"]).programs == 5
    assert parser.parse_args(["bench", "grpo-step", "steps=2", "--beta", "0,0.1"]).beta == (0.0, 0.1)
