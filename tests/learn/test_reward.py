"""Bradley-Terry reward models: the loss against hand-computed values, and packed rewards against
transformers' LlamaForSequenceClassification on the same weights, each sequence scored alone."""

from __future__ import annotations

import math

import pytest
import torch

from aha.learn.reward import bradley_terry_loss, sequence_rewards


def softplus(x):
    return math.log1p(math.exp(x))  # -log sigmoid(-x)


def test_the_loss_is_the_mean_pairwise_log_loss_with_margin_and_centring():
    chosen, rejected = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    plain = (softplus(-1.0) + softplus(2.0)) / 2  # gaps 1 and -2
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(plain, abs=1e-6)
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(1.2200948, abs=1e-6)
    margin = torch.tensor([0.5, 0.0])
    assert bradley_terry_loss(chosen, rejected, margin).item() == pytest.approx((softplus(-0.5) + softplus(2.0)) / 2)
    centred = plain + 0.01 * (1.0**2 + 2.0**2) / 2
    assert bradley_terry_loss(chosen, rejected, center=0.01).item() == pytest.approx(centred, abs=1e-6)


def test_the_gradient_pushes_chosen_up_and_rejected_down():
    chosen = torch.tensor([0.3, -1.0], requires_grad=True)
    rejected = torch.tensor([0.1, 0.5], requires_grad=True)
    bradley_terry_loss(chosen, rejected).backward()
    gap = torch.tensor([0.2, -1.5])
    expected = -torch.sigmoid(-gap) / 2  # d/d chosen of mean softplus(-gap)
    torch.testing.assert_close(chosen.grad, expected)
    torch.testing.assert_close(rejected.grad, -expected)


def test_packed_rewards_equal_transformers_sequence_classification(tiny_llama_dir):
    from transformers import LlamaForSequenceClassification

    from aha.models import load

    loaded = load(tiny_llama_dir)
    head = loaded.model.add_score_head()
    torch.nn.init.normal_(head.weight, std=0.5)
    reference = LlamaForSequenceClassification.from_pretrained(tiny_llama_dir, num_labels=1, dtype=torch.float32)
    reference.score.weight.data.copy_(head.weight.data)
    context = list(range(100, 140))
    groups = [
        [[5, 17, 300, 2, 9]],  # alone
        [[44, 12]],
        [[*context, 7, 8, 9], [*context, 7, 11], [*context, 3]],  # a shared context of 40 tokens, then 41
        [[1, 5, 3], [1, 5, 3]],  # identical: the last token stays each one's own
        [[1, 5], [1, 5, 3, 4]],  # one a prefix of the other (token 2 is the pad: transformers stops at it)
        [[9, 1], [8, 1]],  # nothing shared
    ]
    with torch.no_grad():
        packed = sequence_rewards(loaded.model, groups)
        alone = torch.stack([reference(torch.tensor([s])).logits[0, 0] for g in groups for s in g])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-5)
    assert packed.abs().min() > 1e-3  # the head reads something


def test_sharing_a_context_gives_the_gradients_of_scoring_each_sequence_alone(tiny_llama_dir):
    from aha.models import load

    loaded = load(tiny_llama_dir)
    model = loaded.model
    torch.nn.init.normal_(model.add_score_head().weight, std=0.5)
    context = list(range(50, 80))
    pair = [[*context, 3, 4, 5], [*context, 6]]
    grads = []
    for groups in ([pair], [[pair[0]], [pair[1]]]):
        model.zero_grad()
        chosen, rejected = sequence_rewards(model, groups)
        bradley_terry_loss(chosen[None], rejected[None]).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for shared, alone in zip(*grads, strict=True):
        torch.testing.assert_close(shared, alone, atol=1e-5, rtol=1e-4)


def test_the_common_prefix_leaves_every_sequence_a_token_of_its_own():
    from aha.learn.reward import common_prefix

    assert common_prefix([[1, 2, 3], [1, 2, 4]]) == 2
    assert common_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix([[1, 2], [1, 2, 3]]) == 1
    assert common_prefix([[5], [5, 6]]) == 0
    assert common_prefix([[1, 2, 3], [1, 2, 3], [9]]) == 0


def test_an_untrained_head_scores_zero_and_an_empty_sequence_is_refused(tiny_llama_dir):
    from aha.models import load

    loaded = load(tiny_llama_dir)
    with pytest.raises(ValueError, match="no score head"):
        sequence_rewards(loaded.model, [[[1, 2, 3]]])
    loaded.model.add_score_head()
    assert sequence_rewards(loaded.model, [[[1, 2, 3]]]).tolist() == [0.0]
    with pytest.raises(ValueError, match="empty"):
        sequence_rewards(loaded.model, [[[1], []]])


def test_a_reward_model_saves_as_a_sequence_classifier_and_loads_back(tiny_llama_dir, tmp_path):
    """HF layout with its head: transformers reads it as LlamaForSequenceClassification, aha back with the head."""
    from transformers import AutoModelForSequenceClassification

    from aha.models import load, save_checkpoint

    loaded = load(tiny_llama_dir)
    torch.nn.init.normal_(loaded.model.add_score_head().weight, std=0.5)
    save_checkpoint(loaded, tmp_path / "rm")
    sequence = [[7, 8, 9, 10]]
    groups = [sequence]
    with torch.no_grad():
        ours = sequence_rewards(loaded.model, groups)
        again = sequence_rewards(load(tmp_path / "rm").model, groups)
        theirs = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm").eval()(torch.tensor(sequence))
    torch.testing.assert_close(again, ours)
    torch.testing.assert_close(theirs.logits[:, 0], ours, atol=1e-5, rtol=1e-5)
    assert load(tiny_llama_dir).model.score is None  # a causal LM stays one
