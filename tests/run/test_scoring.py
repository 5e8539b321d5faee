"""Scoring groups: the weighted total with its shaping, every component unweighted, the accuracy reward
also when its weight is 0, and the format rate."""

from __future__ import annotations

from aha.run.prompts import PromptConfig, Prompter
from aha.run.scoring import Scorer
from aha.types import Completion, Sample


def completion(text: str, tokens: int) -> Completion:
    return Completion(prompt_index=0, sample_index=0, token_ids=[1] * tokens, logprobs=[0.0] * tokens, text=text,
                      finish_reason="stop")  # fmt: skip


def test_totals_components_accuracy_and_format(smollm):
    prompter = Prompter(PromptConfig(template="raw"), smollm.tokenizer)
    shaping = lambda c: -0.25 if len(c.token_ids) > 3 else 0.0  # noqa: E731
    scorer = Scorer({"format": 2.0}, "accuracy_numeric", prompter, shaping)
    sample = Sample(id="s", prompt="1 + 1", answer="2")
    right = completion("<think> 1 + 1 = 2 </think> <answer> 2 </answer>", 5)
    wrong = completion("2", 1)
    [group] = scorer.score([sample], [[right, wrong]])
    assert group.rewards == [2.0 - 0.25, 0.0]  # format weighted 2, shaping added
    assert group.components == [{"format": 1.0}, {"format": 0.0}]  # unweighted
    assert group.accuracy == [1.0, 0.0]  # accuracy_numeric, though it has no weight here
    assert group.formatted == [1.0, 0.0]
