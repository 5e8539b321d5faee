"""aha rm: a Bradley-Terry reward model learns a preference, saves with its head, resumes exactly; bad
settings are one-line errors before any model loads."""

from __future__ import annotations

import json
import shutil

import pytest

from aha.config import load_config
from aha.errors import ConfigError
from aha.stages.reward_model import RewardModelConfig, pack_bins, pairs_path, run
from aha.track.run_dir import RunDir


def pairs_file(path, count, start=0):
    """Polite answers preferred to rude ones, over varied questions."""
    records = [{"prompt": f"Question {i}: can you help me with task {i}?", "chosen": "Of course, happy to help.",
                "rejected": "No. Go away, idiot."} for i in range(start, start + count)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def config(model, tmp_path, **extra):
    settings = {"model": str(model), "data": str(pairs_file(tmp_path / "train.jsonl", 24)),
                "held_out_data": str(pairs_file(tmp_path / "test.jsonl", 8, start=100)), "batch_size": 4,
                "steps": 6, "optim.lr": 3e-3, "optim.warmup_steps": 0, "save_every": 2, "eval_every": 3,
                "seed": 0, **extra}  # fmt: skip
    return load_config(RewardModelConfig, None, [f"{k}={v}" for k, v in settings.items()])


def untimed(records):
    return [{k: v for k, v in r.items() if "time" not in k and "second" not in k and "per_s" not in k} for r in records]


def test_a_reward_model_learns_the_preference_and_saves_with_its_head(tiny_llama_dir, tmp_path):
    result = run(config(tiny_llama_dir, tmp_path), tmp_path / "run")
    first, last = result["first"], result["last"]
    assert first["accuracy"] == 0.5 and first["reward_gap"] == 0.0  # a zero head ties every pair: each counts half
    assert last["accuracy"] == 1.0 and last["reward_gap"] > 0 and last["loss"] < first["loss"]
    final = RunDir(tmp_path / "run").latest_checkpoint()
    assert json.loads((final / "config.json").read_text())["architectures"] == ["LlamaForSequenceClassification"]
    assert (tmp_path / "run" / "report.md").read_text().count("pair accuracy") == 1


def test_a_resumed_run_repeats_the_steps_an_uninterrupted_one_takes(tiny_llama_dir, tmp_path):
    cfg = config(tiny_llama_dir, tmp_path)
    run(cfg, tmp_path / "whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step-000006")  # as if killed after the step-4 checkpoint
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step-000004")
    run(cfg, tmp_path / "cut", resume=True)  # from step 2
    for log in ("metrics.jsonl", "eval.jsonl"):
        assert untimed(RunDir(tmp_path / "cut").read(log)) == untimed(RunDir(tmp_path / "whole").read(log))


def test_pairs_are_packed_in_order_within_the_budget():
    from aha.data.pairs import Pair

    pairs = [Pair(str(i), (1,) * size, (2,) * size, None, "") for i, size in enumerate([3, 3, 5, 1])]
    assert [[p.id for p in group] for group in pack_bins(pairs, 12)] == [["0", "1"], ["2", "3"]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["batch_size=0"], "batch_size=0"),
        (["center=-1"], "center=-1"),
        (["pack_tokens=512", "max_tokens=1024"], "pack_tokens=512 must be >= max_tokens"),
        (["stage=sft"], "this config is the reward_model stage's"),
    ],
)
def test_bad_settings_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(RewardModelConfig, None, overrides)


def test_shipped_pairs_resolve_and_unknown_ones_list_what_ships():
    assert pairs_path("set:hh_harmless_pairs:test").name == "hh_harmless_pairs_test.jsonl"
    with pytest.raises(ConfigError, match="shipped: hh_harmless_pairs_test, hh_harmless_pairs_train"):
        pairs_path("set:hh_helpful_pairs:train")
