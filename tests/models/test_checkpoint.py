"""Checkpoints: Hugging Face layout, loadable by plain transformers, atomic under failure and SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aha.models import load, save_checkpoint
from aha.models.checkpoint import is_partial, write_atomically


def test_saved_checkpoint_loads_in_transformers_with_same_logits(smollm, chat_prompts, tmp_path):
    path = save_checkpoint(smollm, tmp_path / "ckpt")
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    ) == smollm.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    ids = torch.tensor([chat_prompts[0]])
    with torch.no_grad():
        assert (hf(input_ids=ids).logits - smollm.model(ids)).abs().max().item() <= 1e-5
        assert torch.equal(load(path).model(ids), smollm.model(ids))


def test_round_trip_of_a_trained_tiny_model_is_exact(tiny_llama_dir, tmp_path):
    loaded = load(tiny_llama_dir)
    with torch.no_grad():
        for param in loaded.model.parameters():
            param.add_(0.01)
    save_checkpoint(loaded, tmp_path / "a")
    again = load(tmp_path / "a")
    for (name, a), b in zip(loaded.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_failed_write_leaves_no_checkpoint_and_no_debris(tmp_path):
    def write(directory):
        (directory / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(tmp_path / "ckpt", write)
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_the_old_checkpoint(tmp_path):
    write_atomically(tmp_path / "ckpt", lambda d: (d / "v").write_text("1"))
    write_atomically(tmp_path / "ckpt", lambda d: (d / "v").write_text("2"))
    assert (tmp_path / "ckpt" / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_sigkill_during_save_never_leaves_a_complete_looking_checkpoint(tiny_llama_dir, tmp_path):
    """Kill the writer while it is inside the atomic write: the final name must not exist."""
    code = f"""
import time
from pathlib import Path
from aha.models import load, save_checkpoint
loaded = load({str(tiny_llama_dir)!r})
def slow(directory):
    Path({str(tmp_path / "inside")!r}).write_text("x")
    time.sleep(60)
save_checkpoint(loaded, {str(tmp_path / "ckpt")!r}, extra=slow)
"""
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    while not (tmp_path / "inside").exists():
        assert proc.poll() is None and time.time() < deadline, "writer died before reaching the write"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "ckpt").exists()
    leftovers = [p for p in tmp_path.iterdir() if p.name != "inside"]
    assert leftovers and all(is_partial(p) for p in leftovers)
    assert (leftovers[0] / "model.safetensors").is_file()  # the model was written, yet nothing looks complete


def _trained_optimizer(seed=0, steps=2):
    from aha.learn.optim import OptimConfig, make_optimizer

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    optimizer, scheduler = make_optimizer(model, OptimConfig(lr=1e-2, warmup_steps=3, schedule="cosine"), 10)
    for _ in range(steps):
        model(torch.randn(5, 3)).square().sum().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return model, optimizer, scheduler


def test_trainer_state_round_trips_exactly_as_safetensors_and_json(tmp_path):
    from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state

    model, optimizer, scheduler = _trained_optimizer()
    torch.rand(3)  # move the global RNG away from its seed
    captured = TrainerState.capture(7, 42, optimizer, scheduler)
    captured.stage = {"reward_norms": {"helpfulness": {"count": 3, "mean": 0.1 + 0.2, "squares": 1 / 3}}}
    write_trainer_state(tmp_path, captured)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer_state.json", "trainer_state.safetensors"]
    expected_draw = torch.rand(4)

    state = read_trainer_state(tmp_path)
    assert (state.step, state.cursor) == (7, 42)
    assert state.stage == captured.stage  # floats exactly, through JSON
    saved = optimizer.state_dict()
    assert state.optimizer["param_groups"] == saved["param_groups"]  # betas a tuple again, initial_lr kept
    assert state.optimizer["state"].keys() == saved["state"].keys()
    for index, values in saved["state"].items():
        for name, value in values.items():
            assert torch.equal(state.optimizer["state"][index][name], value), (index, name)
    assert state.scheduler == scheduler.state_dict()

    # Applied to a fresh optimizer, the next update and the next draws equal the original's.
    twin, twin_optimizer, twin_scheduler = _trained_optimizer(seed=1, steps=0)
    twin.load_state_dict(model.state_dict())
    state.apply(twin_optimizer, twin_scheduler)
    assert torch.equal(torch.rand(4), expected_draw)
    batch = torch.randn(5, 3)
    for net, opt, sched in ((model, optimizer, scheduler), (twin, twin_optimizer, twin_scheduler)):
        net(batch).square().sum().backward()
        opt.step()
        sched.step()
    assert twin_scheduler.get_last_lr() == scheduler.get_last_lr()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_trainer_state_of_another_model_does_not_fit(tmp_path):
    from aha.errors import CheckpointError
    from aha.learn.optim import OptimConfig, make_optimizer
    from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state

    _, optimizer, scheduler = _trained_optimizer()
    write_trainer_state(tmp_path, TrainerState.capture(2, 0, optimizer, scheduler))
    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2))  # same count, other shapes
    other_optimizer, other_scheduler = make_optimizer(other, OptimConfig(), 10)
    before = other_optimizer.state_dict()
    with pytest.raises(CheckpointError, match=r"exp_avg of parameter 0 has shape \(4, 3\), the model's is \(5, 3\)"):
        read_trainer_state(tmp_path).apply(other_optimizer, other_scheduler)
    assert other_optimizer.state_dict() == before  # nothing loaded


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "trainer_state.json").write_text('{"format": 1, "step": '), "not readable JSON"),
        (lambda d: (d / "trainer_state.json").unlink(), "trainer_state.json is missing"),
        (lambda d: _truncate(d / "trainer_state.safetensors"), "trainer_state.safetensors is truncated or corrupt"),
        (lambda d: (d / "trainer_state.safetensors").unlink(), "trainer_state.safetensors is missing"),
    ],
)
def test_damaged_trainer_state_is_a_checkpoint_error(tmp_path, damage, reason):
    from aha.errors import CheckpointError
    from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state

    _, optimizer, scheduler = _trained_optimizer()
    write_trainer_state(tmp_path, TrainerState.capture(2, 0, optimizer, scheduler))
    read_trainer_state(tmp_path)
    damage(tmp_path)
    with pytest.raises(CheckpointError, match=reason):
        read_trainer_state(tmp_path)


def test_the_decode_kernels_a_run_chose_travel_with_its_state(tmp_path, monkeypatch):
    """Sampling rounds by the kernels chosen (aha.models.packed): the state records them, a resume pins them."""
    import json

    from aha.errors import CheckpointError
    from aha.models import packed
    from aha.models.checkpoint import TrainerState, read_trainer_state, write_trainer_state

    monkeypatch.setattr(packed, "_chosen", {"576,576,float32,32,2": "mm", "960,576,float32,32,2": "onednn"})
    _, optimizer, scheduler = _trained_optimizer()
    write_trainer_state(tmp_path, TrainerState.capture(2, 0, optimizer, scheduler))
    assert read_trainer_state(tmp_path).kernels == {"576,576,float32,32,2": "mm", "960,576,float32,32,2": "onednn"}
    scalars = json.loads((tmp_path / "trainer_state.json").read_text())
    del scalars["kernels"]  # a checkpoint written before kernels were recorded
    (tmp_path / "trainer_state.json").write_text(json.dumps(scalars))
    assert read_trainer_state(tmp_path).kernels == {}
    scalars["kernels"] = ["mm"]
    (tmp_path / "trainer_state.json").write_text(json.dumps(scalars))
    with pytest.raises(CheckpointError, match="kernels must map"):
        read_trainer_state(tmp_path)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_no_module_of_aha_unpickles():
    """torch.load, pickle and friends run code found in a file; aha reads checkpoints without them."""
    from pathlib import Path

    import aha

    unpicklers = r"torch\.load\(|pickle\.(loads?|Unpickler)\b"
    pattern = re.compile(unpicklers + r"|^\s*(import|from) (_?pickle|dill|joblib|cloudpickle)\b")
    offenders = [
        f"{path}:{number}"
        for path in Path(aha.__file__).parent.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
