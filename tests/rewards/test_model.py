"""Reward models as rewards: helpfulness reads only the text after the reasoning, harmlessness the whole
response; scores equal transformers' sequence classifier on the same conversation; bad settings are named
before any model loads."""

from __future__ import annotations

import pytest
import torch

from aha.rewards import Combined, build, entries
from aha.rewards.model import summary
from aha.types import Sample


@pytest.fixture
def reward_model_dir(tiny_reward_model_dir):
    return tiny_reward_model_dir


SAMPLE = Sample(id="q1", prompt="How do I bake bread?", answer="")
RESPONSES = [
    "<think> flour, water, yeast; knead, rest, bake </think> Mix flour, water and yeast, then bake at 230C.",
    "<think> something entirely different and much longer, about ovens </think> Mix flour, water and yeast, "
    "then bake at 230C.",
    "<think> flour, water, yeast; knead, rest, bake </think> Buy a loaf.",
]


def scores(reward, responses, sample=SAMPLE):
    with reward:
        return reward.score(responses, [sample] * len(responses))


def test_helpfulness_reads_only_the_summary_and_harmlessness_the_whole_response(reward_model_dir):
    helpful = build("reward_model", model=str(reward_model_dir), scope="summary")
    harmless = build("reward_model", model=str(reward_model_dir), scope="whole")
    h = scores(helpful, RESPONSES)
    w = scores(harmless, RESPONSES)
    # the same summary after different reasoning: helpfulness cannot tell them apart, harmlessness can
    assert h[0] == pytest.approx(h[1], abs=1e-6)
    assert abs(w[0] - w[1]) > 1e-3
    # a different summary after the same reasoning: both see it
    assert abs(h[0] - h[2]) > 1e-3 and abs(w[0] - w[2]) > 1e-3
    # helpfulness of a response is the whole-response score of its summary written alone
    alone = scores(harmless, [summary(r) for r in RESPONSES])
    assert h == pytest.approx(alone, abs=1e-5)


def test_scores_equal_transformers_sequence_classifier_on_the_conversation(reward_model_dir, smollm):
    from transformers import AutoModelForSequenceClassification

    reference = AutoModelForSequenceClassification.from_pretrained(reward_model_dir).eval()
    reward = build("reward_model", model=str(reward_model_dir), scope="whole")
    other = Sample(id="q2", prompt="Is it safe to eat raw dough?", answer="")
    samples = [SAMPLE, SAMPLE, other, SAMPLE]
    responses = [*RESPONSES[:2], "<think> raw flour can carry bacteria </think> No.", RESPONSES[2]]
    with reward:
        ours = reward.score(responses, samples)  # responses to one prompt share its tokens in the packed forward
    expected = []
    for response, sample in zip(responses, samples, strict=True):
        messages = [{"role": "user", "content": sample.prompt}, {"role": "assistant", "content": response}]
        ids = smollm.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
        with torch.no_grad():
            expected.append(reference(torch.tensor([ids])).logits[0, 0].item())
    assert ours == pytest.approx(expected, abs=1e-4)


def test_a_multi_turn_context_comes_from_the_samples_messages(reward_model_dir):
    reward = build("reward_model", model=str(reward_model_dir))
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bread?"},
    ]
    with_turns = Sample(id="m", prompt="Bread?", answer="", meta={"messages": turns})
    plain = Sample(id="p", prompt="Bread?", answer="")
    a, b = scores(reward, ["Bake it."], with_turns)[0], scores(reward, ["Bake it."], plain)[0]
    assert abs(a - b) > 1e-4  # the earlier turns are read


def test_any_text_scores_a_finite_number(reward_model_dir):
    import math

    from hypothesis import given, settings
    from hypothesis import strategies as st

    reward = build("reward_model", model=str(reward_model_dir), scope="summary", max_tokens=64)
    alphabet = st.sampled_from(list("<>/think answer{}\\n 0123456789答案<|im_end|>"))

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.text(alphabet=alphabet, max_size=300), min_size=1, max_size=4))
    def check(responses):
        values = reward.score(responses, [SAMPLE] * len(responses))
        assert len(values) == len(responses) and all(math.isfinite(v) for v in values)

    with reward:
        check()


def test_the_summary_is_what_follows_the_last_closed_reasoning():
    assert summary("<think> a </think> b") == " b"
    assert summary("<think> a </think> b </think> c") == " c"
    assert summary("no reasoning at all") == "no reasoning at all"
    assert summary("<think> cut off mid-thought") == ""


def test_one_kind_serves_two_named_rewards_and_bad_settings_are_named(reward_model_dir, tiny_llama_dir):
    rewards = {
        "helpfulness": {"reward": "reward_model", "model": str(reward_model_dir), "scope": "summary", "weight": 1.0},
        "harmlessness": {"reward": "reward_model", "model": str(reward_model_dir), "weight": 0.5},
    }
    found = entries(rewards)
    assert [(e.name, e.kind) for e in found] == [("helpfulness", "reward_model"), ("harmlessness", "reward_model")]
    with Combined(rewards) as combined:
        scored = combined.many(RESPONSES[:2], [SAMPLE, SAMPLE])
    assert set(scored[0].components) == {"helpfulness", "harmlessness"}
    h, w = (scored[0].components[n] for n in ("helpfulness", "harmlessness"))
    assert scored[0].total == pytest.approx(h + 0.5 * w)
    assert scored[0].components["helpfulness"] == pytest.approx(scored[1].components["helpfulness"], abs=1e-6)
    bad = [
        ({"reward": "reward_model", "weight": 1}, "rewards.h: model: give"),
        ({"reward": "reward_model", "model": str(reward_model_dir), "scope": "answer", "weight": 1}, "scope='answer'"),
        ({"reward": "reward_model", "model": str(tiny_llama_dir), "weight": 1}, "not a reward model"),
        ({"reward": "reward_model", "model": "/nonexistent", "weight": 1}, "not a reward model checkpoint"),
        ({"reward": "no_such_reward", "weight": 1}, "rewards.h:"),
        ({"reward": 3, "weight": 1}, "reward must name"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message):
            entries({"h": value})
