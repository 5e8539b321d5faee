"""A rollout step's metrics record, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from aha.run.scoring import Scored
from aha.track.metrics import rollout_metrics
from aha.types import Completion, Sample


def group(rewards, lengths, finish="stop"):
    completions = [Completion(prompt_index=0, sample_index=i, token_ids=[1] * n, logprobs=[0.0] * n, text="x",
                              finish_reason=finish) for i, n in enumerate(lengths)]  # fmt: skip
    components = [{"accuracy_numeric": r, "format": None} for r in rewards]
    return Scored(Sample(id="s", prompt="p", answer="1"), completions, list(rewards), components, list(rewards),
                  [1.0] * len(rewards))  # fmt: skip


def test_hand_computed_record():
    varied, flat = group([1.0, 0.0], [4, 8]), group([0.0, 0.0], [2, 2], finish="length")
    timing = {"sampling": 1.0, "scoring": 0.5, "training": 0.5, "rounds": 1}
    m = rollout_metrics(3, [varied], [varied, flat], {"loss": 0.1}, timing, lr=1e-5, reflection_words=("wait",))
    assert m["step"] == 3 and m["reward_mean"] == 0.25 and m["reward_std"] == pytest.approx(math.sqrt(0.1875))
    assert m["reward/accuracy_numeric"] == 0.25 and m["rewards_unchecked"] == 4  # four format values were None
    assert (m["length_mean"], m["length_max"], m["truncated_share"]) == (4.0, 8, 0.5)
    assert m["zero_variance_share"] == 0.5 and (m["groups_trained"], m["groups_sampled"]) == (1, 2)
    assert m["tokens_per_s"] == 16 / 2.0 and m["loss"] == 0.1 and m["lr"] == 1e-5
