"""aha.bench.configs: each bench's settings, checked when made, and the command line's defaults taken from
them (said once)."""

from __future__ import annotations

import dataclasses

import pytest

from aha.bench.configs import (
    GenerateBenchConfig,
    GRPOStepBenchConfig,
    ScalingBenchConfig,
    SFTBenchConfig,
    TrainBenchConfig,
)
from aha.errors import ConfigError


@pytest.mark.parametrize(
    ("config", "bad", "message"),
    [
        (GenerateBenchConfig, {"repeat": 0}, "repeat=0 must be an integer >= 1"),
        (GenerateBenchConfig, {"top_p": 1.5}, "top_p"),
        (GRPOStepBenchConfig, {"betas": ()}, "at least one KL coefficient"),
        (GRPOStepBenchConfig, {"betas": (-0.1,)}, "betas: -0.1"),
        (ScalingBenchConfig, {"group_sizes": (1, 8)}, "group_sizes: 1 must be >= 2"),
        (SFTBenchConfig, {"steps": 0}, "steps=0"),
        (TrainBenchConfig, {"group_size": 1}, "group_size=1"),
    ],
)
def test_a_setting_out_of_range_is_refused_when_made(config, bad, message):
    config()  # the defaults hold
    with pytest.raises(ConfigError, match=message):
        config(**bad)


def parsed_defaults(argv):
    import argparse

    from aha.bench.command import add_bench_commands

    parser = argparse.ArgumentParser()
    add_bench_commands(parser.add_subparsers(dest="command"))
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize(
    ("argv", "config", "fields"),
    [
        (["bench", "generate"], GenerateBenchConfig, {"prompts": "prompts", "n": "n", "repeat": "repeat",
                                                      "max_new_tokens": "max_new_tokens", "model": "model"}),
        (["bench", "grpo-step"], GRPOStepBenchConfig, {"recipe": "recipe", "steps": "steps", "beta": "betas"}),
        (["bench", "sft"], SFTBenchConfig, {"recipe": "recipe", "steps": "steps"}),
        (["bench", "train"], TrainBenchConfig, {"model": "model", "prompts": "prompts", "group_size": "group_size",
                                                "completion_tokens": "completion_tokens", "repeats": "repeats"}),
        (["bench", "scaling"], ScalingBenchConfig, {"recipe": "recipe", "steps": "steps"}),
    ],
)  # fmt: skip
def test_the_command_line_defaults_are_the_configs(argv, config, fields):
    args, defaults = parsed_defaults(argv), {f.name: f.default for f in dataclasses.fields(config)}
    for option, field in fields.items():
        assert args[option] == defaults[field], (argv, option)
