"""`aha generate` end to end through the CLI, on a tiny model and on the real default model."""

from __future__ import annotations

import json
import subprocess
import sys

from aha.cli import main


def test_generate_from_a_prompt_file_writes_one_line_per_completion(tiny_llama_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "2+2", "id": "a"}\n{"prompt": "3+3", "id": "b"}\n')
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "generate",
            "--model",
            str(tiny_llama_dir),
            "--prompts",
            str(prompts),
            "--out",
            str(out),
            "--n",
            "3",
            "--max-new-tokens",
            "6",
            "--template",
            "raw",
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6
    assert [(r["prompt_index"], r["sample_index"]) for r in records] == [(p, g) for p in range(2) for g in range(3)]
    assert {r["record"]["id"] for r in records} == {"a", "b"}
    assert all(len(r["token_ids"]) == len(r["logprobs"]) == r["num_tokens"] <= 6 for r in records)


def test_generate_names_the_bad_line_of_a_prompt_file(tiny_llama_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "ok"}\n{"question": "no prompt field"}\n')
    code = main(["generate", "--model", str(tiny_llama_dir), "--prompts", str(prompts)])
    assert code == 2
    assert "prompts.jsonl:2: missing field 'prompt'" in capsys.readouterr().err


def test_generate_on_the_default_model_from_the_command_line():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "aha",
            "generate",
            "--prompt",
            "What is 2 + 3?",
            "--n",
            "2",
            "--max-new-tokens",
            "16",
            "--temperature",
            "0",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == 2 and records[0]["completion"] == records[1]["completion"]  # greedy
    assert records[0]["finish_reason"] in ("stop", "length") and records[0]["completion"].strip()
