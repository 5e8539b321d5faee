"""Data-parallel training on two CPU processes (gloo, FSDP2) against one process.

- One GRPO update and one SFT update of the same global batch give the same loss, gradients and updated
  weights on 2 ranks as on 1 (fp32, 1e-5): gradients read back as w0 - w1 under SGD with lr 1, weights
  after AdamW with clipping; uneven shares (one rank runs null micro-batches to keep step) included.
- A 2-process GRPO run under torchrun killed with SIGKILL resumes to the metrics and final weights of the
  uninterrupted 2-process run; only rank 0 writes (one record per step, nothing but a run's files).
- `aha train --nproc 2` runs a recipe end to end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from aha import dist
from aha.track.run_dir import NAMES, RunDir

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- one update, 1 rank vs 2 -------------------------------------------------------------------------------


def _grpo_batch(vocab: int):
    """7 rows: a shared opening, prompts and completions of different lengths, one completion empty."""
    g = torch.Generator().manual_seed(0)
    opening = torch.randint(3, vocab, (9,), generator=g).tolist()
    prompts = [opening + torch.randint(3, vocab, (2 + i % 3,), generator=g).tolist() for i in range(7)]
    completions = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in (5, 3, 7, 0, 4, 6, 2)]
    old = [(-torch.rand(len(c), generator=g) * 3 - 8).tolist() for c in completions]
    adv = torch.randn(7, generator=g).tolist()
    return prompts, completions, old, adv


def _sft_examples(vocab: int):
    from aha.data.sft import Example

    g = torch.Generator().manual_seed(1)
    examples = []
    for i, n in enumerate((12, 20, 9, 15, 30)):
        tokens = (1, 5, 6, 7, *torch.randint(3, vocab, (n,), generator=g).tolist())
        trained = (False,) * 6 + (True,) * (len(tokens) - 6)
        examples.append(Example(f"x{i}", tokens, trained, f"made:{i}"))
    return examples


def _optimizer(model, kind: str):
    params = [p for p in model.parameters() if p.requires_grad]
    if kind == "sgd":  # w1 = w0 - grad: the gradient read back from the weights
        return torch.optim.SGD(params, lr=1.0)
    # Adam's first step is about lr * sign(grad) wherever |grad| >> eps but turns the 1e-7 rounding of a
    # gradient element near eps into up to 2% of lr: at lr 1e-4 that stays under 1e-5, while a wrong update
    # of the sharded moments would move most weights by ~1e-4.
    return torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.99), fused=True)


def _updates(model_dir: str) -> dict:
    """Every case's statistics and whole weights after one update, run in this process (one of the ranks, or
    the only one)."""
    from aha.learn.batch import build_batch
    from aha.learn.sft import bins, mean_nll, sft_update
    from aha.learn.step import UpdateConfig, update
    from aha.models import load

    world = dist.world()
    results = {}
    cases = [
        ("grpo-seq-sgd", "sgd", {"aggregation": "seq_mean_token_mean", "micro_rows": 3, "max_grad_norm": 1e9}),
        ("grpo-token-adamw-kl", "adamw", {"aggregation": "token_mean", "micro_rows": 2, "beta": 0.04}),
        ("grpo-drgrpo-sgd", "sgd", {"aggregation": "seq_mean_token_sum_norm", "max_tokens": 16, "micro_rows": 1,
                                    "max_grad_norm": 1e9}),
    ]  # fmt: skip
    for name, kind, settings in cases:
        loaded = load(model_dir)
        ref = load(model_dir).model.requires_grad_(False)
        with torch.no_grad():  # a reference apart from the policy: the KL term is not 0
            for param in ref.parameters():
                param.add_(torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel())) * 0.02)
        prompts, completions, old, adv = _grpo_batch(loaded.model.spec.vocab_size)
        share = world.share(len(prompts))
        dist.shard(loaded.model)
        optimizer = _optimizer(loaded.model, kind)
        batch = build_batch(prompts[share], completions[share], old[share], adv[share], pad_id=2)
        stats = update(loaded.model, optimizer, batch, UpdateConfig(**settings), ref_model=ref)
        results[name] = (stats, dist.full_state_dict(loaded.model))
    for name, kind in (("sft-sgd", "sgd"), ("sft-adamw", "adamw")):
        loaded = load(model_dir)
        examples = _sft_examples(loaded.model.spec.vocab_size)
        micro = bins(examples, 48)  # 4 sequences: ranks take 2 and 2 (1-proc: all 4)
        dist.shard(loaded.model)
        optimizer = _optimizer(loaded.model, kind)
        stats = sft_update(loaded.model, optimizer, micro[world.share(len(micro))], max_grad_norm=1e9 if kind == "sgd"
                           else 1.0, tokens=sum(e.trained_count for e in examples), null=micro[0])  # fmt: skip
        stats["held_out"] = mean_nll(loaded.model, examples[:3], 24)  # 3 sequences: shares of 2 and 1
        results[name] = (stats, dist.full_state_dict(loaded.model))
    return results


def _rank(rank: int, port: int, model_dir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD))  # fmt: skip
    torch.set_num_threads(1)
    assert dist.init("cpu") == dist.World(rank, WORLD, rank)
    results = _updates(model_dir)
    if rank == 0:
        stats = {name: stats for name, (stats, _) in results.items()}
        Path(out, "stats.json").write_text(json.dumps(stats))
        for name, (_, weights) in results.items():
            save_file({k: v.contiguous() for k, v in weights.items()}, str(Path(out, f"{name}.safetensors")))
    dist.shutdown()


def test_one_grpo_and_one_sft_update_on_two_ranks_equal_one_rank(tiny_llama_dir, tmp_path):
    from aha.models import load

    torch.multiprocessing.spawn(_rank, args=(_free_port(), str(tiny_llama_dir), str(tmp_path)), nprocs=WORLD)
    ranks = json.loads((tmp_path / "stats.json").read_text())
    single = _updates(str(tiny_llama_dir))
    before = load(tiny_llama_dir).model.state_dict()
    for name, (stats, weights) in single.items():
        for key in ("loss", "grad_norm", "held_out", "kl", "ratio_mean", "entropy", "clip_fraction", "tokens"):
            if key in stats:
                assert ranks[name][key] == pytest.approx(stats[key], rel=1e-5, abs=1e-6), (name, key)
        sharded = load_file(str(tmp_path / f"{name}.safetensors"))
        moved = 0.0
        for key, value in weights.items():
            assert torch.allclose(sharded[key], value, rtol=0, atol=1e-5), (name, key)
            moved = max(moved, float((value - before[key]).abs().max()))
        assert moved > 5e-5, f"{name}: the update changed nothing, so the comparison proves nothing"
    assert single["grpo-seq-sgd"][0]["loss"] != 0.0 and single["grpo-token-adamw-kl"][0]["kl"] > 0.0


def test_world_shares_are_contiguous_cover_everything_and_differ_by_at_most_one():
    for size in (1, 2, 3, 8):
        for count in (0, 1, 5, 16, 17):
            shares = [dist.World(rank, size).share(count) for rank in range(size)]
            items = [i for s in shares for i in range(count)[s]]
            assert items == list(range(count))
            lengths = [s.stop - s.start for s in shares]
            assert max(lengths) - min(lengths) <= 1


def test_one_process_is_rank_0_of_1_and_collectives_are_the_identity():
    assert dist.world() == dist.World() and dist.world().main and not dist.launched()
    assert dist.all_gather_json({"a": [1, None]}) == [{"a": [1, None]}]
    assert dist.broadcast_json("x") == "x" and dist.all_reduce([1.0, 2.0], "max") == [1.0, 2.0]
    model = torch.nn.Linear(2, 2)
    assert dist.shard(model) is model and dist.loss_scale() == 1.0


def test_a_reader_run_dir_writes_nothing(tmp_path):
    reader = RunDir(tmp_path / "run", writer=False)
    reader.claim({"a": 1})
    reader.create({"a": 1})
    reader.append("metrics.jsonl", {"step": 1})
    reader.truncate_after(0)
    assert not (tmp_path / "run").exists()


# --- whole runs under torchrun -----------------------------------------------------------------------------

JOB = """
import sys
from aha.config import load_config
from aha.rewards import REWARDS, register
from aha.stages.grpo import GRPOConfig, run
if "test_letters" not in REWARDS:
    register("test_letters")(lambda response, sample: sum(c.isalpha() for c in response) / (1 + len(response)))
overrides, out, resume = sys.argv[1].split("|"), sys.argv[2], sys.argv[3] == "resume"
cfg = load_config(GRPOConfig, None, overrides) if not resume else load_config(GRPOConfig, out + "/config.yaml")
run(cfg, out, resume=resume)
"""


def _torchrun(tmp_path, overrides: list[str], out: Path, resume: bool = False) -> subprocess.Popen:
    job = tmp_path / "job.py"
    job.write_text(JOB)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={WORLD}", str(job),
               "|".join(overrides), str(out), "resume" if resume else "new"]  # fmt: skip
    # its own session: a SIGKILL to the group takes the launcher and every rank at once, as a lost node would
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True)


def _comparable(records):
    timing = ("time_sampling", "time_scoring", "time_training", "tokens_per_s", "seconds", "warnings")
    return [{k: v for k, v in r.items() if k not in timing} for r in records]


def test_a_two_process_run_killed_with_sigkill_resumes_to_identical_metrics(tiny_llama_dir, tmp_path):
    steps = 6
    overrides = [
        f"model={tiny_llama_dir}", f"steps={steps}", "group_size=4", "prompts_per_step=3", "max_new_tokens=8",
        "task.held_out=4", "task.train_size=50", "eval_every=3", "save_every=2", "keep_checkpoints=10",
        "rewards={test_letters: {weight: 1.0, normalize: true}, format_tags: 0.5}", "optim.lr=1e-3",
        "temperature=1.0",
    ]  # fmt: skip
    reference = tmp_path / "reference"
    assert _torchrun(tmp_path, overrides, reference).wait(timeout=600) == 0
    expected = _comparable(RunDir(reference).read("metrics.jsonl"))
    assert [m["step"] for m in expected] == list(range(1, steps + 1))  # one record a step: only rank 0 writes
    assert any(m["loss"] != 0.0 for m in expected)
    assert {p.name for p in reference.iterdir()} <= NAMES  # nothing but a run's own files
    assert len(RunDir(reference).read("eval.jsonl")) == 3  # steps 0, 3, 6, each once

    killed = tmp_path / "killed"
    proc = _torchrun(tmp_path, overrides, killed)
    deadline = time.time() + 600
    while not (RunDir(killed).complete_checkpoints() and len(RunDir(killed).read("metrics.jsonl")) >= 3):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(RunDir(killed).read("metrics.jsonl")) < steps
    assert _torchrun(tmp_path, [], killed, resume=True).wait(timeout=600) == 0
    assert _comparable(RunDir(killed).read("metrics.jsonl")) == expected
    last = f"checkpoints/step-{steps:06d}/model.safetensors"
    mine, theirs = load_file(str(killed / last)), load_file(str(reference / last))
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    # the checkpoint is whole: it loads in transformers as any Hugging Face model does
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(killed / last.rsplit("/", 1)[0]).num_parameters() > 0


def test_aha_train_nproc_2_runs_a_recipe_end_to_end(tiny_llama_dir, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "aha", "train", "--nproc", "2", f"model={tiny_llama_dir}", "steps=2",
               "group_size=4", "prompts_per_step=2", "max_new_tokens=8", "task.held_out=4", "task.train_size=20",
               "save_every=2", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes (torchrun)" in result.stderr
    assert [m["step"] for m in RunDir(out).read("metrics.jsonl")] == [1, 2]
    assert (out / "report.md").is_file() and (out / "checkpoints" / "step-000002" / "model.safetensors").is_file()
    assert result.stderr.count("held-out accuracy") == 1  # the summary once: rank 1 is silent
