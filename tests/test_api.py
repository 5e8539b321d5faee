"""The top-level API: lazy names that resolve to the real objects, and an import that loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aha


def test_exports_resolve():
    from aha.rollout.engine import Engine
    from aha.stages import grpo, sft

    assert aha.Engine is Engine and aha.train is grpo.run and aha.finetune is sft.run
    assert aha.SFTConfig is sft.SFTConfig
    assert set(aha.__all__) >= {"load", "train", "finetune", "GRPOConfig", "SFTConfig", "load_config", "recipe"}
    with pytest.raises(AttributeError):
        aha.nothing_here  # noqa: B018


def test_import_aha_does_not_import_torch():
    code = "import sys, aha, aha.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
