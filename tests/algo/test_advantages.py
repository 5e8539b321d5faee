"""Advantages against hand-computed values and the properties GRPO relies on."""

from __future__ import annotations

import math

import pytest
import torch

from aha.algo.advantages import ADVANTAGES, get, zero_variance_groups


def test_group_normalised_hand_computed():
    reward = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 0.0, 1.0, 1.0]])
    adv = get("group")(reward, 0.0)
    # group 1: mean .5, sample std sqrt(1/3); group 2: mean 1, sample std sqrt(2/3)
    expected = torch.tensor([[0.5, -0.5, -0.5, 0.5]]) / math.sqrt(1 / 3)
    assert torch.allclose(adv[0], expected[0], atol=1e-6)
    assert torch.allclose(adv[1], torch.tensor([1.0, -1.0, 0.0, 0.0]) / math.sqrt(2 / 3), atol=1e-6)


def test_dr_grpo_only_centres():
    reward = torch.tensor([[3.0, 1.0]])
    assert get("none")(reward, 1e-4).tolist() == [[1.0, -1.0]]


def test_batch_std_uses_one_scale_for_all_groups():
    reward = torch.tensor([[1.0, 0.0], [5.0, 3.0]])
    adv = get("batch_std")(reward, 0.0)
    assert torch.allclose(adv, torch.tensor([[0.5, -0.5], [1.0, -1.0]]) / reward.std(), atol=1e-6)


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_advantages_sum_to_zero_within_each_group(name):
    reward = torch.rand(6, 8)
    assert torch.allclose(get(name)(reward, 1e-4).sum(dim=1), torch.zeros(6), atol=1e-5)


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_equal_rewards_give_zero_advantage(name):
    reward = torch.tensor([[0.7] * 4, [0.0] * 4])
    assert torch.equal(get(name)(reward, 1e-4), torch.zeros(2, 4))


def test_single_sample_groups_get_zero_not_nan():
    assert torch.equal(get("group")(torch.tensor([[1.0], [0.0]]), 1e-4), torch.zeros(2, 1))


def test_zero_variance_groups_are_found():
    reward = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert zero_variance_groups(reward).tolist() == [True, False, True]


def test_unknown_estimator_lists_the_known_ones():
    with pytest.raises(KeyError, match="batch_std, group, none"):
        get("gae")
