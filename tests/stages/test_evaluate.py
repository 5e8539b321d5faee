"""`aha eval`: per-sample records, the summary table, and a killed evaluation resuming to the same table."""

from __future__ import annotations

import json

import pytest

from aha.cli import main
from aha.errors import ConfigError
from aha.stages.evaluate import EvalConfig, run


def _config(model, out, **extra):
    fields = dict(model=str(model), benchmarks=("gsm8k", "countdown"), samples=3, ks=(1, 2), limit=3,
                  max_new_tokens=12, temperature=1.0, out=str(out))  # fmt: skip
    return EvalConfig(**{**fields, **extra})


def test_eval_writes_samples_and_a_summary_and_resumes_exactly(tiny_llama_dir, tmp_path):
    reference = run(_config(tiny_llama_dir, tmp_path / "full"))
    gsm8k = (tmp_path / "full" / "gsm8k.samples.jsonl").read_text().splitlines()
    assert len(gsm8k) == 3 * 3 + 3  # 3 prompts x 3 samples, plus one greedy completion each
    record = json.loads(gsm8k[0])
    assert {"id", "mode", "response", "answer", "correct", "length", "finish_reason"} <= set(record)
    metrics = reference[0]["metrics"]
    assert {"pass@1", "pass@2", "cons@3", "greedy", "length", "answered"} <= set(metrics)
    assert 0.0 <= metrics["pass@1"]["value"] <= metrics["pass@2"]["value"] <= 1.0

    # a kill mid-way: the first benchmark half written, its last line cut short, the second not started
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "gsm8k.samples.jsonl").write_text("\n".join(gsm8k[:5]) + "\n" + gsm8k[5][:20])
    resumed = run(_config(tiny_llama_dir, killed))
    assert resumed == reference
    assert (killed / "gsm8k.samples.jsonl").read_text().splitlines() != []
    assert (killed / "summary.md").read_text() == (tmp_path / "full" / "summary.md").read_text()


def test_cli_prints_the_table_and_rejects_unknown_benchmarks(tiny_llama_dir, tmp_path, capsys):
    args = ["eval", str(tiny_llama_dir), "--bench", "math500", "--limit", "2", "--samples", "2"]
    assert main([*args, "--max-new-tokens", "8", "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| benchmark | problems | pass@1") and "| math500 | 2 |" in out
    assert main(["eval", str(tiny_llama_dir), "--bench", "gsm9k", "--out", str(tmp_path / "x")]) == 2
    assert "unknown benchmark 'gsm9k'" in capsys.readouterr().err


def test_config_refuses_what_would_be_ignored_or_misread():
    for fields, message in [
        ({"ks": (1, 8), "samples": 4}, r"ks: k=8 must be in 1..samples \(4\)"),
        ({"ks": (0,)}, r"ks: k=0 must be in 1..samples"),
        ({"limit": -1}, "limit=-1 must be an integer >= 1"),  # a slice [:-1] would have meant "all but the last"
        ({"limit": 0}, "limit=0 must be an integer >= 1"),
        ({"max_new_tokens": 0}, "max_new_tokens=0 must be an integer >= 1"),
        ({"temperature": -1.0}, "temperature=-1.0 must be a finite number >= 0"),
        ({"top_p": 1.5}, r"top_p=1.5 must be a finite number in \(0, 1\]"),
        ({"template": "raw", "system": "be brief"}, "template 'raw' takes no system message"),
        ({"benchmarks": ()}, "at least one benchmark"),
    ]:
        with pytest.raises(ConfigError, match=message):
            EvalConfig(**fields)
