"""`aha eval`: per-sample records, the summary table, a killed evaluation resuming to the same table, an
output directory bound to the evaluation that wrote it, records never removed."""

from __future__ import annotations

import json
import shutil

import pytest

from aha.cli import main
from aha.errors import ConfigError
from aha.stages.evaluate import EvalConfig, read_records, run


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
    shutil.copy(tmp_path / "full" / "fingerprint.json", killed)  # written before the first sample
    (killed / "gsm8k.samples.jsonl").write_text("\n".join(gsm8k[:5]) + "\n" + gsm8k[5][:20])
    resumed = run(_config(tiny_llama_dir, killed))
    assert resumed == reference
    lines = (killed / "gsm8k.samples.jsonl").read_text().splitlines()
    assert lines[:5] == gsm8k[:5]  # appended to: the finished records stay as they were

    def keys(rows):
        return sorted((r["id"], r["mode"], r["sample_index"]) for r in map(json.loads, rows))

    assert keys(lines) == keys(gsm8k)  # every sample once: the cut one and the missing ones drawn, no more
    assert (killed / "summary.md").read_text() == (tmp_path / "full" / "summary.md").read_text()


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_eval_into_the_directory_of_another_evaluation_is_refused_before_loading(
    tiny_llama_dir, tmp_path, capsys, monkeypatch
):
    from tests.helpers import write_tiny_model

    out = tmp_path / "e"
    args = ["eval", str(tiny_llama_dir), "--bench", "gsm8k", "--limit", "2", "--samples", "2",
            "--max-new-tokens", "6", "--temperature", "1.0", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    before = _files(out)
    assert set(before) == {"fingerprint.json", "gsm8k.samples.jsonl", "summary.json", "summary.md"}

    other = tmp_path / "other-model"  # same architecture and tokenizer, other weights
    shutil.copytree(tiny_llama_dir, other)
    config = json.loads((other / "config.json").read_text())
    from transformers import AutoConfig, AutoTokenizer

    write_tiny_model(other, AutoConfig.from_pretrained(tiny_llama_dir), AutoTokenizer.from_pretrained(other), seed=1)
    assert json.loads((other / "config.json").read_text()) == config

    import aha.models

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the fingerprint was checked")

    monkeypatch.setattr(aha.models, "load", no_loading)
    capsys.readouterr()
    for change, named in [
        (["--temperature", "0.7"], "temperature: 1.0 there, 0.7 now"),
        (["--max-new-tokens", "7"], "max_new_tokens: 6 there, 7 now"),
        (["--template", "raw"], 'template: "chat" there, "raw" now'),
        (["--system", "Be brief."], 'system: null there, "Be brief." now'),
        (["--seed", "1"], "seed: 0 there, 1 now"),
        (["--model", str(other)], f"model: {tiny_llama_dir} there, {other} now (other files)"),
    ]:
        changed = [*args, *change] if change[0] != "--model" else [args[0], change[1], *args[2:]]
        assert main(changed) == 2, change
        err = capsys.readouterr().err  # the progress bar, then one line
        assert "Traceback" not in err and err.count("aha: error") == 1 and err.endswith("\n")
        line = err.splitlines()[-1]
        assert line.startswith(f"aha: error: {out} holds the samples of another evaluation") and named in line
        assert _files(out) == before

    # the same model in another place is the same model (its files are hashed, not its path)
    monkeypatch.undo()
    moved = tmp_path / "moved"
    shutil.copytree(tiny_llama_dir, moved)
    assert main([args[0], str(moved), *args[2:]]) == 0
    assert (out / "gsm8k.samples.jsonl").read_bytes() == before["gsm8k.samples.jsonl"]  # nothing redrawn


def test_eval_into_a_directory_of_samples_without_a_fingerprint_is_refused(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "gsm8k.samples.jsonl").write_text('{"id": "x"}\n')
    args = ["eval", str(tiny_llama_dir), "--bench", "gsm8k", "--max-new-tokens", "8"]  # the model has 512 positions
    assert main([*args, "--out", str(out)]) == 2
    assert "holds gsm8k.samples.jsonl but no fingerprint.json" in capsys.readouterr().err
    assert _files(out) == {"gsm8k.samples.jsonl": b'{"id": "x"}\n'}


def test_a_rerun_with_fewer_samples_or_prompts_keeps_every_record(tiny_llama_dir, tmp_path):
    out = tmp_path / "e"
    run(_config(tiny_llama_dir, out, benchmarks=("gsm8k",)))
    path = out / "gsm8k.samples.jsonl"
    first = path.read_bytes()
    assert len(first.splitlines()) == 3 * 3 + 3

    (fewer,) = run(_config(tiny_llama_dir, out, benchmarks=("gsm8k",), samples=2, limit=2, greedy=False))
    assert path.read_bytes() == first  # nothing removed, nothing drawn again
    records = [json.loads(line) for line in first.splitlines()]
    ids = list(dict.fromkeys(r["id"] for r in records))[:2]
    subset = [r for r in records if r["id"] in ids and r["mode"] == "sampled" and r["sample_index"] < 2]
    assert len(subset) == 4 and fewer["problems"] == 2 and "greedy" not in fewer["metrics"]
    assert fewer["metrics"]["pass@1"]["value"] == pytest.approx(sum(bool(r["correct"]) for r in subset) / 4)

    (more,) = run(_config(tiny_llama_dir, out, benchmarks=("gsm8k",), samples=4))
    grown = path.read_bytes()
    assert grown.startswith(first)  # only appended: sample 3 of each prompt
    added = [json.loads(line) for line in grown[len(first) :].splitlines()]
    assert sorted((r["id"], r["sample_index"]) for r in added) == sorted((i, 3) for i in dict.fromkeys(
        r["id"] for r in records))  # fmt: skip
    assert more["problems"] == 3 and more["samples"] == 4


def test_read_records_cuts_only_an_unfinished_last_line(tmp_path):
    path = tmp_path / "x.samples.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "resp')
    assert read_records(path) == [{"id": "a"}, {"id": "b"}]
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    path.write_text('{"id": "a"}\n{"id": "b"}')  # whole, only its newline lost
    assert read_records(path) == [{"id": "a"}, {"id": "b"}]
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert read_records(tmp_path / "none.jsonl") == []


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


def test_eval_through_an_openai_compatible_server_equals_eval_in_process(smollm_server, tmp_path):
    """`aha eval --backend openai --base-url`: the same greedy records as the native engine's, and the
    directory is bound to the server it was made with."""
    from aha.cli import main

    common = ["smollm2-135m", "--bench", "gsm8k", "--limit", "3", "--samples", "1", "--max-new-tokens", "48"]
    assert main(["eval", *common, "--out", str(tmp_path / "native")]) == 0
    url = smollm_server.url
    assert main(["eval", *common, "--out", str(tmp_path / "remote"), "--backend", "openai", "--base-url", url]) == 0
    keep = ("id", "mode", "response", "answer", "correct", "length", "finish_reason")
    read = lambda d: [{k: r[k] for k in keep} for r in map(json.loads, (tmp_path / d / "gsm8k.samples.jsonl").open())]  # noqa: E731
    assert [r for r in read("remote") if r["mode"] == "greedy"] == [r for r in read("native") if r["mode"] == "greedy"]
    assert main(["eval", *common, "--out", str(tmp_path / "remote")]) == 2  # another backend: refused
