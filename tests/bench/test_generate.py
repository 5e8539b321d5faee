"""aha bench generate: token counting on the transformers side, rounds and their median."""

from __future__ import annotations

import pytest

from aha.errors import ConfigError


def test_hf_tokens_count_up_to_and_including_the_first_eos():
    import torch

    from aha.bench.generate import count_generated

    generated = torch.tensor([[5, 7, 2, 0, 0], [5, 3, 9, 9, 9], [2, 0, 0, 0, 0]])  # EOS 2, pad 0
    assert count_generated(generated, {2}, ignore_eos=False) == 3 + 5 + 1
    assert count_generated(generated, {2}, ignore_eos=True) == 15


def test_bench_generate_reports_the_median_of_its_rounds(tiny_llama_dir):
    from aha.bench.generate import GenerateBenchConfig, run

    # vLLM left out: the tiny model's 16-wide heads are below what its CPU attention takes (32)
    cfg = GenerateBenchConfig(
        model=str(tiny_llama_dir), prompts=2, n=2, max_new_tokens=6, ignore_eos=True, repeat=3, vllm=False
    )
    result = run(cfg)
    # EOS ignored: both sides generate every token, 2 prompts x 2 samples x 6
    assert result["transformers_tokens"] == result["aha_tokens"] == 24
    assert result["vllm_skipped"] == "left out (--no-vllm)" and "vllm_tokens" not in result
    assert len(result["round_ratios"]) == 3
    assert result["ratio"] == sorted(result["round_ratios"])[1]
    with pytest.raises(ConfigError, match="repeat=0 must be an integer >= 1"):
        GenerateBenchConfig(repeat=0)


def test_bench_generate_with_no_rounds_is_a_one_line_error(capsys):
    from aha.cli import main

    assert main(["bench", "generate", "--repeat", "0"]) == 2
    assert "argument --repeat: 0 is not an integer >= 1" in capsys.readouterr().err


def test_bench_generate_says_why_vllm_is_left_out(tiny_llama_dir, capsys):
    from aha.cli import main

    argv = ["bench", "generate", "--model", str(tiny_llama_dir), "--prompts", "1", "--n", "1"]
    assert main([*argv, "--max-new-tokens", "2", "--no-vllm"]) == 0
    out = capsys.readouterr().out
    assert "vllm: skipped, left out (--no-vllm)" in out and "ratio aha / vllm" not in out


@pytest.mark.vllm
def test_bench_generate_times_vllm_on_the_same_work_where_installed():
    pytest.importorskip("vllm", reason="vLLM is not installed here (it has its own venv: see aha/rollout/vllm.py)")
    from aha.bench.generate import GenerateBenchConfig, run

    result = run(GenerateBenchConfig(prompts=1, n=2, max_new_tokens=4, ignore_eos=True))  # the default model
    assert result["vllm_skipped"] is None
    assert result["vllm_tokens"] == result["aha_tokens"] == result["transformers_tokens"] == 1 * 2 * 4
    assert result["aha_vllm_ratio"] > 0
