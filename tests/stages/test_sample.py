"""aha sample: k completions per prompt into completions.jsonl; a killed run resumed ends with the file an
uninterrupted run writes."""

from __future__ import annotations

import json

import pytest

from aha.config import load_config
from aha.errors import ConfigError
from aha.stages.sample import SampleConfig, complete_groups, read_prompts, run
from aha.track.run_dir import COMPLETIONS, RunDir


def prompts_file(tmp_path, count=5):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                            for i in range(count)))  # fmt: skip
    return path


def config(model, prompts, **extra):
    settings = {"model": str(model), "prompts": str(prompts), "n": 3, "max_new_tokens": 5, "temperature": 1.0,
                "chunk": 2, "prompt.template": "raw", **extra}  # fmt: skip
    return load_config(SampleConfig, None, [f"{k}={v}" for k, v in settings.items()])


def lines(directory):
    return (directory / COMPLETIONS).read_text().splitlines()


def test_every_prompt_gets_n_completions_with_their_settings(tiny_llama_dir, tmp_path):
    result = run(config(tiny_llama_dir, prompts_file(tmp_path)), tmp_path / "run")
    rows = [json.loads(line) for line in lines(tmp_path / "run")]
    assert [(r["prompt_index"], r["sample_index"]) for r in rows] == [(p, g) for p in range(5) for g in range(3)]
    assert rows[4]["prompt"] == "What is 1 + 1?" and rows[4]["answer"] == "2"
    assert all(0 < r["tokens"] <= 5 and r["finish_reason"] in ("stop", "length") for r in rows)
    assert rows[0]["sampling"] == {"n": 3, "temperature": 1.0, "top_p": 0.95, "top_k": 0, "max_new_tokens": 5,
                                   "seed": 0}  # fmt: skip
    assert len({r["completion"] for r in rows}) > 1  # sampled, not greedy
    assert result["summary"] == {"prompts": 5, "completions": 15, "resumed_at": 0,
                                 "tokens": sum(r["tokens"] for r in rows),
                                 "truncated": sum(r["finish_reason"] == "length" for r in rows)}  # fmt: skip


def test_a_killed_run_resumed_writes_what_an_uninterrupted_one_does(tiny_llama_dir, tmp_path):
    prompts = prompts_file(tmp_path)
    cfg = config(tiny_llama_dir, prompts)
    run(cfg, tmp_path / "whole")
    whole = lines(tmp_path / "whole")
    run(cfg, tmp_path / "killed")
    # killed while writing the second chunk (prompts 2 and 3): in the third prompt's group, half-way
    # through a line, and in the fourth's
    for kept in (7, 10):
        (tmp_path / "killed" / COMPLETIONS).write_text("\n".join(whole[:kept]) + "\n" + whole[kept][:20])
        result = run(cfg, tmp_path / "killed", resume=True)
        assert result["summary"]["resumed_at"] == 2  # the first chunk kept, the second sampled again, whole
        assert lines(tmp_path / "killed") == whole
    assert run(cfg, tmp_path / "killed", resume=True)["summary"]["resumed_at"] == 5  # nothing left to do
    assert lines(tmp_path / "killed") == whole


def test_a_finished_run_is_not_overwritten_without_resume(tiny_llama_dir, tmp_path):
    from aha.errors import AhaError

    cfg = config(tiny_llama_dir, prompts_file(tmp_path))
    run(cfg, tmp_path / "run")
    with pytest.raises(AhaError, match="already holds a run"):
        run(cfg, tmp_path / "run")


def test_complete_groups_counts_from_the_first_prompt(tmp_path):
    directory = RunDir(tmp_path)
    rows = [{"prompt_index": p, "sample_index": g} for p, g in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]]
    (tmp_path / COMPLETIONS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert complete_groups(directory, 2, chunk=1) == 2
    assert len(lines(tmp_path)) == 4
    assert complete_groups(directory, 2, chunk=3) == 0  # in whole chunks only
    assert not lines(tmp_path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["prompts=no_such_set"], "no_such_set"),
        (["prompts=gsm8k", "split=validation"], "no split 'validation'"),
        (["n=0"], "n=0"),
        (["temperature=-1"], "temperature"),
    ],
)
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        read_prompts(load_config(SampleConfig, None, settings))


def test_shipped_and_generated_sets_read(tmp_path):
    assert len(read_prompts(load_config(SampleConfig, None, ["prompts=gsm8k", "split=test", "limit=3"]))) == 3
    arithmetic = read_prompts(load_config(SampleConfig, None, ["limit=4"]))
    assert len(arithmetic) == 4 and all(s.answer for s in arithmetic)


def test_the_command_line_samples_and_resumes(tiny_llama_dir, tmp_path, capsys):
    from aha.cli import main

    prompts = prompts_file(tmp_path, 3)
    argv = [f"model={tiny_llama_dir}", f"prompts={prompts}", "n=2", "max_new_tokens=4", "prompt.template=raw"]
    assert main(["sample", *argv, "--out", str(tmp_path / "run")]) == 0
    assert "6 completions of 3 prompts" in capsys.readouterr().out
    assert main(["sample", "--resume", str(tmp_path / "run")]) == 0
    assert len(lines(tmp_path / "run")) == 6


def test_a_teacher_behind_a_chat_endpoint_samples_what_the_same_model_does_here(tiny_llama_dir, tmp_path):
    """Greedy, the same prompts in the same chat template: the completions of a real `aha serve` endpoint
    (requests in flight together, one per sample) equal the native engine's, in the same order."""
    from aha.models import load
    from aha.serve.server import ModelServer

    prompts = prompts_file(tmp_path, 4)
    chat = {"temperature": 0.0, "prompt.template": "chat", "prompt.system": "Answer briefly.", "max_new_tokens": 12,
            "prompt.stop": "['4']"}  # fmt: skip
    run(config(tiny_llama_dir, prompts, **chat), tmp_path / "local")
    with ModelServer(load(tiny_llama_dir), name="tiny") as server:
        run(config("''", prompts, url=server.url, concurrency=3, **chat), tmp_path / "remote")
        assert server.requests["/v1/chat/completions"] == 4 * 3  # one request per completion
    fields = ("prompt_id", "prompt_index", "sample_index", "completion", "response", "finish_reason")
    local, remote = ([{k: json.loads(line)[k] for k in fields} for line in lines(tmp_path / name)]
                     for name in ("local", "remote"))  # fmt: skip
    assert remote == local and len(local) == 12
    assert {r["finish_reason"] for r in local} <= {"stop", "length"}


def test_an_endpoint_is_sent_chat_messages_only():
    with pytest.raises(ConfigError, match=r"prompt\.template must be chat"):
        load_config(SampleConfig, None, ["url=http://127.0.0.1:9/v1", "prompt.template=raw"])
    with pytest.raises(ConfigError, match="url: 'ftp://x' is not an http"):
        load_config(SampleConfig, None, ["url=ftp://x"])
