"""aha reject: rule verdicts then the filters; the report's counts equal the rows removed, by hand."""

from __future__ import annotations

import json

import pytest
import yaml

from aha.config import load_config
from aha.errors import ConfigError
from aha.stages.reject import RejectConfig, run
from aha.track.run_dir import COMPLETIONS


def good(a, b, tail=""):
    return f"<think>\nThe ones and tens of {a} + {b}, column by column.{tail}\n</think>\nThe sum is \\boxed{{{a + b}}}."


def sample_run(tmp_path, responses_by_prompt, prompts="arithmetic"):
    """An `aha sample` run directory with these responses (prompt i asks 10 + i)."""
    directory = tmp_path / "sampled"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump({"stage": "sample", "prompts": prompts}))
    rows = []
    for p, responses in enumerate(responses_by_prompt):
        for g, (response, finish) in enumerate(responses):
            rows.append({"prompt_id": f"q{p}", "prompt_index": p, "sample_index": g, "prompt": f"What is 10 + {p}?",
                         "answer": str(10 + p), "meta": {}, "response": response, "completion": response,
                         "tokens": len(response.split()), "finish_reason": finish})  # fmt: skip
    (directory / COMPLETIONS).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return directory, rows


def test_verdicts_then_filters_with_counts_that_add_up(tmp_path):
    responses = [
        [  # prompt 0: 10 + 0 = 10
            (good(10, 0), "stop"),  # kept
            (good(10, 0), "stop"),  # duplicate
            (good(10, 0).replace("{10}", "{11}"), "stop"),  # incorrect
            (good(10, 0, " 所以答案是十，没有问题。"), "stop"),  # mixed language
        ],
        [  # prompt 1: 10 + 1 = 11
            (good(10, 1), "length"),  # truncated
            ("The sum is \\boxed{11}.", "stop"),  # no think block
            (good(10, 1, " Let me check it another way."), "stop"),  # kept
            (good(10, 1, " Check: 11 - 1 = 10, right."), "stop"),  # kept
        ],
        [(good(10, 2).replace("{12}", "{13}"), "stop")],  # prompt 2: nothing correct
    ]
    directory, rows = sample_run(tmp_path, responses)
    cfg = load_config(RejectConfig, None, [f"samples={directory}"])
    result = run(cfg, tmp_path / "curated")
    report = result["summary"]
    assert report["reward"] == "accuracy_numeric"  # the arithmetic set's reward, read from the sample run
    assert report["removed"] == {"incorrect": 2, "unverifiable": 0, "unparseable": 0, "judge_error": 0,
                                 "truncated": 1, "format": 1, "mixed_language": 1,
                                 "code_block": 0, "long_paragraph": 0, "repetition": 0, "duplicate": 1,
                                 "near_duplicate": 0, "per_prompt": 0}  # fmt: skip
    assert report["kept"] == 3 and report["rows"] == 9 == report["kept"] + sum(report["removed"].values())
    curated = [json.loads(line) for line in (tmp_path / "curated" / "curated.jsonl").read_text().splitlines()]
    assert [c["response"] for c in curated] == [rows[0]["response"], rows[6]["response"], rows[7]["response"]]
    assert set(curated[0]) == {"prompt_id", "prompt", "response", "answer", "source"}
    removed = [json.loads(line) for line in (tmp_path / "curated" / "removed.jsonl").read_text().splitlines()]
    assert len(removed) == 6 and {r["check"] for r in removed} == {k for k, v in report["removed"].items() if v}
    # pass rates by hand (verdicts come before the filters): prompt 0 3 of 4, prompt 1 4 of 4, prompt 2 0 of 1
    assert report["pass_rate_mean"] == pytest.approx((3 / 4 + 1 + 0) / 3)
    assert report["pass_rate_histogram"] == {"0/1": 1, "3/4": 1, "4/4": 1}
    assert report["prompts_kept"] == 2 and report["examples"]["duplicate"] == rows[1]["response"]
    text = (tmp_path / "curated" / "report.md").read_text()
    assert "**3 kept**" in text and "| mixed_language | 1 |" in text


def test_an_unverifiable_verdict_is_counted_apart(tmp_path, monkeypatch):
    from aha.rewards import FunctionReward
    from aha.stages import reject

    directory, _ = sample_run(tmp_path, [[(good(10, 0), "stop"), (good(10, 0, " Again."), "stop")]])
    unsure = FunctionReward("unsure", lambda response, sample: None if "Again" in response else 1.0)
    monkeypatch.setattr(reject, "build", lambda name: unsure)
    report = run(load_config(RejectConfig, None, [f"samples={directory}"]), tmp_path / "out")["summary"]
    assert report["removed"]["unverifiable"] == 1 and report["kept"] == 1


def test_bad_input_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="samples: give"):
        RejectConfig()
    with pytest.raises(ConfigError, match="no such file"):
        run(RejectConfig(samples=str(tmp_path / "none")), tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown reward"):
        RejectConfig(samples="x", reward="no_such_reward")
    from aha.errors import DataError

    directory, _ = sample_run(tmp_path, [[(good(10, 0), "stop")]])
    (directory / COMPLETIONS).write_text('{"prompt_id": "q0"}\nnot json\n')
    with pytest.raises(DataError, match=r"completions.jsonl:1: not an `aha sample` record \(no prompt_index\)"):
        run(RejectConfig(samples=str(directory)), tmp_path / "out")
    (directory / COMPLETIONS).write_text("5\n")
    with pytest.raises(DataError, match=r"completions.jsonl:1: not an `aha sample` record \(not a JSON object\)"):
        run(RejectConfig(samples=str(directory)), tmp_path / "out2")
    (directory / COMPLETIONS).write_text("{broken\n")
    with pytest.raises(DataError, match=r"completions.jsonl:1: not JSON"):
        run(RejectConfig(samples=str(directory)), tmp_path / "out3")


def test_sample_then_reject_from_the_command_line(tiny_llama_dir, tmp_path, capsys):
    from aha.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(3))
    )
    sampled = [
        "sample",
        f"model={tiny_llama_dir}",
        f"prompts={prompts}",
        "n=2",
        "max_new_tokens=4",
        "prompt.template=raw",
    ]
    assert main([*sampled, "--out", str(tmp_path / "sampled")]) == 0
    assert main(["reject", f"samples={tmp_path / 'sampled'}", "--out", str(tmp_path / "curated")]) == 0
    said = capsys.readouterr().out
    report = json.loads((tmp_path / "curated" / "report.json").read_text())
    assert report["rows"] == 6 and report["reward"] == "accuracy_math"  # a user's file: the math grader
    assert f"{report['kept']} of 6 completions kept" in said
    assert report["kept"] + sum(report["removed"].values()) == 6


def test_non_reasoning_examples_are_mixed_in_at_the_share_asked(tmp_path, tiny_llama_dir):
    from aha.data.sft import read_examples
    from aha.models import load

    responses = [[(good(10, p), "stop")] for p in range(3)]  # three prompts, each one correct completion
    directory, _ = sample_run(tmp_path, responses)
    cfg = load_config(RejectConfig, None, [f"samples={directory}", "mix.share=0.5", "mix.seed=3"])
    report = run(cfg, tmp_path / "mixed")["summary"]
    assert report["kept"] == 3 and report["mix"] == {"data": "general_instructions", "share": 0.5, "wanted": 3,
                                                     "mixed": 3}  # fmt: skip
    path = tmp_path / "mixed" / "curated.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["source"] for r in records] == ["reasoning"] * 3 + ["general"] * 3
    general = records[3:]
    assert all(r["prompt"] and r["response"] and "<think>" not in r["response"] for r in general)
    assert all(r["prompt_id"].startswith("self-instruct/") for r in general)
    # the same seed picks the same examples; the set is what `aha sft` trains on as it is
    again = run(cfg, tmp_path / "again")
    assert again["summary"]["mix"] == report["mix"]
    assert (tmp_path / "again" / "curated.jsonl").read_text() == path.read_text()
    examples, _ = read_examples(path, load(tiny_llama_dir).tokenizer, 512)
    assert len(examples) == 6
    # more than the data holds: all of it, and the report says so
    everything = run(load_config(RejectConfig, None, [f"samples={directory}", "mix.share=0.999"]), tmp_path / "all")
    assert everything["summary"]["mix"]["wanted"] == 2997 and everything["summary"]["mix"]["mixed"] == 427
    with pytest.raises(ConfigError, match=r"share=1.0 must be in \[0, 1\)"):
        load_config(RejectConfig, None, ["samples=x", "mix.share=1.0"])


def test_a_judge_decides_what_the_rule_cannot(tmp_path, monkeypatch, smollm_server):
    """Rows the rule reward cannot check go to a real judge (SmolLM2-135M behind aha serve); its verdicts decide,
    counted in the report, and a rerun takes them from the run's cache."""
    from aha.curate.judge import Judge, JudgeConfig
    from aha.rewards import FunctionReward
    from aha.stages import reject

    think = "<think>\nSix sevens, counted one by one.\n</think>\n"
    directory, rows = sample_run(tmp_path, [[(think + "42", "stop"), (think + "17", "stop"), (good(10, 0), "stop")]])
    for row in rows:
        row["prompt"], row["answer"] = "What is 6 times 7?", "42"
    (directory / COMPLETIONS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    unsure = FunctionReward("unsure", lambda response, sample: None if "Six" in response else 1.0)
    monkeypatch.setattr(reject, "build", lambda name: unsure)
    judged_by = [f"judge.url={smollm_server.url}", "judge.prompt=lookup-v1"]  # the prompt a 135M judge can follow
    cfg = load_config(RejectConfig, None, [f"samples={directory}", *judged_by])
    asked = smollm_server.requests["/v1/chat/completions"]
    report = run(cfg, tmp_path / "out")["summary"]
    items = [("What is 6 times 7?", "42", "42"), ("What is 6 times 7?", "42", "17")]
    expected = Judge(JudgeConfig(url=smollm_server.url, prompt="lookup-v1"), None).judge_many(items)
    assert [v.kind for v in expected.verdicts] == ["correct", "incorrect"]
    assert report["judge"] == {"asked": 2, "correct": 1, "incorrect": 1, "unparseable": 0, "error": 0, "cached": 0}
    assert report["removed"]["incorrect"] == 1 and report["removed"]["unverifiable"] == 0
    assert report["rows"] == 3 == report["kept"] + sum(report["removed"].values())
    assert "The judge was asked about 2 completions" in (tmp_path / "out" / "report.md").read_text()
    assert smollm_server.requests["/v1/chat/completions"] == asked + 4  # the run's 2 and the check's 2
    again = run(cfg, tmp_path / "out", resume=True)["summary"]
    assert again["judge"]["cached"] == 2 and smollm_server.requests["/v1/chat/completions"] == asked + 4


def test_judge_failures_are_removed_and_counted_apart(tmp_path, silent_server):
    """judge.every sends every row to the judge; a judge that never answers removes each as judge_error."""
    directory, _ = sample_run(tmp_path, [[(good(10, 0), "stop"), (good(10, 0, " Again."), "stop")]])
    cfg = load_config(RejectConfig, None, [f"samples={directory}", f"judge.url={silent_server}", "judge.timeout=0.5",
                                           "judge.every=true", "judge.endpoint_model=m"])  # fmt: skip
    report = run(cfg, tmp_path / "out")["summary"]
    assert report["judge"]["error"] == 2 and report["removed"]["judge_error"] == 2 and report["kept"] == 0
    assert not (tmp_path / "out" / "judge_cache.jsonl").exists()
