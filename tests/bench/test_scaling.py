"""aha bench scaling: the settings it sweeps."""

from __future__ import annotations

from aha.bench.scaling import ScalingBenchConfig, settings


def test_scaling_settings_vary_one_knob_at_a_time():
    assert settings(ScalingBenchConfig()) == [(4, 256), (8, 256), (16, 256), (8, 128), (8, 512)]
