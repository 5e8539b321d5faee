"""An evaluation directory's fingerprint: recorded once, checked on every later run, extended by new benchmarks."""

from __future__ import annotations

import json

import pytest

from aha.errors import ConfigError
from aha.evaluation.fingerprint import claim, differences, sha256_of


def _fingerprint(**changes):
    base = {
        "model": {"sha256": "a" * 64, "source": "smollm2-135m"},
        "template": "chat",
        "temperature": 0.6,
        "benchmarks": {"gsm8k": "b" * 64},
    }
    return {**base, **changes}


def test_sha256_of_files_follows_content_not_place(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "model.safetensors").write_bytes(b"weights")
    assert sha256_of([tmp_path / "a" / "model.safetensors"]) == sha256_of([tmp_path / "b" / "model.safetensors"])
    (tmp_path / "b" / "model.safetensors").write_bytes(b"weightz")
    assert sha256_of([tmp_path / "a" / "model.safetensors"]) != sha256_of([tmp_path / "b" / "model.safetensors"])
    # the boundary between files counts: ("ab", "c") is not ("a", "bc")
    (tmp_path / "x").write_bytes(b"ab")
    (tmp_path / "y").write_bytes(b"c")
    ab_c = sha256_of([tmp_path / "x", tmp_path / "y"])
    (tmp_path / "x").write_bytes(b"a")
    (tmp_path / "y").write_bytes(b"bc")
    assert sha256_of([tmp_path / "x", tmp_path / "y"]) != ab_c


def test_differences_name_each_field_that_differs():
    recorded = _fingerprint()
    assert differences(recorded, _fingerprint()) == []
    moved = _fingerprint(model={"sha256": "a" * 64, "source": "/elsewhere"})
    assert differences(recorded, moved) == []  # same files, another path
    other = _fingerprint(model={"sha256": "c" * 64, "source": "ckpt"}, temperature=1.0, benchmarks={"gsm8k": "d" * 64})
    assert differences(recorded, other) == [
        "model: smollm2-135m there, ckpt now (other files)",
        "temperature: 0.6 there, 1.0 now",
        f"gsm8k: another data file (sha256 {'b' * 12} there, {'d' * 12} now)",
    ]
    assert differences(recorded, _fingerprint(benchmarks={"math500": "e" * 64})) == []  # a new benchmark


def test_claim_records_checks_and_extends(tmp_path):
    out = tmp_path / "eval"
    claim(out, _fingerprint())
    path = out / "fingerprint.json"
    assert json.loads(path.read_text()) == _fingerprint()
    claim(out, _fingerprint())
    claim(out, _fingerprint(benchmarks={"math500": "e" * 64}))
    assert json.loads(path.read_text())["benchmarks"] == {"gsm8k": "b" * 64, "math500": "e" * 64}
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"holds the samples of another evaluation \(temperature: 0.6 there, 0.7"):
        claim(out, _fingerprint(temperature=0.7))
    assert path.read_bytes() == before


def test_claim_refuses_samples_of_unknown_origin_and_an_unreadable_fingerprint(tmp_path):
    (tmp_path / "gsm8k.samples.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"holds gsm8k\.samples\.jsonl but no fingerprint\.json"):
        claim(tmp_path, _fingerprint())
    assert not (tmp_path / "fingerprint.json").exists()
    (tmp_path / "fingerprint.json").write_text('{"model": ')
    with pytest.raises(ConfigError, match=r"fingerprint\.json is unreadable"):
        claim(tmp_path, _fingerprint())
