"""Benchmark evaluation settings are checked when the config is built (the evaluation itself runs in
tests/stages/test_grpo.py, through a run)."""

from __future__ import annotations

import pytest

from aha.errors import ConfigError
from aha.run.benchmarks import BenchmarkEvalConfig


@pytest.mark.parametrize(("field", "value"), [("every", -1), ("limit", 0), ("samples", 0), ("top_p", 0.0)])
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        BenchmarkEvalConfig(**{field: value})


def test_unknown_benchmarks_are_refused_with_the_shipped_names():
    with pytest.raises(ConfigError, match="gsm8k"):
        BenchmarkEvalConfig(names=("gsm9k",))
    assert BenchmarkEvalConfig(names=("gsm8k", "countdown"), limit=None).limit is None
