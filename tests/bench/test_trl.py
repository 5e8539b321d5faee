"""aha.bench.trl: TRL set up from a recipe, and a missing TRL."""

from __future__ import annotations

import pytest


def test_a_missing_trl_is_a_one_line_error(monkeypatch):
    import sys

    from aha.bench.trl import require_trl
    from aha.errors import AhaError

    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` raise ImportError
    with pytest.raises(AhaError, match=r'pip install "trl==1\.16\.0"'):
        require_trl()


def test_trl_arguments_follow_the_recipe(tmp_path):
    pytest.importorskip("trl")
    from aha import recipes
    from aha.bench.trl import trl_args
    from aha.config import load_config
    from aha.stages.grpo import GRPOConfig

    cfg = load_config(GRPOConfig, recipes.find("r1zero-arith"), ["update.beta=0.04", "update.eps_high=0.28"])
    args = trl_args(cfg, tmp_path, 7)
    assert (args.per_device_train_batch_size, args.num_generations, args.max_completion_length) == (16, 8, 64)
    assert (args.beta, args.epsilon, args.epsilon_high, args.max_steps) == (0.04, 0.2, 0.28, 7)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.loss_type == "grpo"
    assert args.reward_weights == [1.0, 0.5, 0.5]


def test_rewards_for_trl_cut_at_the_stop_string():
    from aha.bench.trl import cut_at_stop

    assert cut_at_stop("<answer> 4 </answer> more text", ("</answer>",)) == "<answer> 4 </answer>"
    assert cut_at_stop("no stop here", ("</answer>",)) == "no stop here"
