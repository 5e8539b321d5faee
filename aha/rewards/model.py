"""A trained reward model as a reward (DeepSeek-R1's all-scenario RL): helpfulness judged on the final
summary only, harmlessness on the whole response, reasoning included.

`reward_model` scores each response with a Bradley-Terry reward model (`aha rm`: a decoder with a score
head, saved in the Hugging Face layout) as the last turn of the conversation it answers: the sample's
`meta["messages"]` (a list of {role, content}) when it has one, else its prompt as one user turn. What the
model reads of the response is the `scope`:

- `whole`: the response as written, its reasoning included (the paper's harmlessness reward: harm can
  sit in the reasoning as well as in the answer);
- `summary`: only what follows the reasoning, the text after the last `</think>` (the paper's helpfulness
  reward, so that judging usefulness does not reward or punish the reasoning). A response with no
  `<think>` is all summary; one whose reasoning is never closed has none, and is scored as an empty reply.

A recipe uses it twice under two names:

    rewards:
      helpfulness: {reward: reward_model, model: runs/rm-helpful/final, scope: summary, weight: 1.0}
      harmlessness: {reward: reward_model, model: runs/rm-harmless/final, scope: whole, weight: 1.0}

The model loads when the reward opens (once, in the trainer's process) and scores with gradients off. The
responses to one prompt share its tokens in one packed forward (`aha.learn.reward.sequence_rewards`); a
conversation longer than `max_tokens` keeps its last `max_tokens` tokens (the reply and the turns nearest
it). Model output is data: it is only ever tokenized.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aha.rewards import Reward, register_reward
from aha.types import Sample

SCOPES = ("whole", "summary")


def summary(response: str) -> str:
    """What follows the reasoning: the text after the last `</think>`; the whole response when it has no
    `<think>`; "" when its reasoning is never closed.

    >>> summary("<think> 2 + 2 is 4 </think> The sum is 4.")
    ' The sum is 4.'
    >>> summary("The sum is 4."), summary("<think> 2 + 2 is")
    ('The sum is 4.', '')
    """
    cut = response.rfind("</think>")
    if cut >= 0:
        return response[cut + len("</think>") :]
    return "" if "<think>" in response else response


def context(sample: Sample) -> list[dict[str, str]]:
    """The turns the response answers: `meta["messages"]` when given, else the prompt as one user turn."""
    messages = sample.meta.get("messages")
    if isinstance(messages, list) and messages:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    return [{"role": "user", "content": sample.prompt}]


@register_reward("reward_model")
class RewardModelReward(Reward):
    """A Bradley-Terry reward model's score of each response (see the module docstring)."""

    def __init__(
        self,
        *,
        model: str = "",
        scope: str = "whole",
        max_tokens: int = 2048,
        pack_tokens: int = 8192,
        device: str = "cpu",
    ) -> None:
        if not model:
            raise ValueError("model: give the reward model's checkpoint (a directory `aha rm` wrote)")
        if scope not in SCOPES:
            raise ValueError(f"scope={scope!r}: one of {', '.join(SCOPES)}")
        for name, value in (("max_tokens", max_tokens), ("pack_tokens", pack_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name}={value!r} must be an integer >= 2")
        config = Path(model) / "config.json"
        try:
            architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            raise ValueError(f"model: {model}: not a reward model checkpoint (no readable {config})") from None
        if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
            raise ValueError(f"model: {model}: not a reward model (no score head in its config; aha rm trains one)")
        self.model, self.scope, self.device = model, scope, device
        self.max_tokens, self.pack_tokens = max_tokens, pack_tokens
        self.loaded: Any = None

    def open(self) -> None:
        if self.loaded is not None:
            return
        from aha.models import load

        loaded = load(self.model, device=self.device)
        if loaded.model.score is None:
            raise ValueError(f"model: {self.model}: loaded without a score head")
        loaded.model.eval()
        loaded.model.requires_grad_(False)
        self.loaded = loaded

    def close(self) -> None:
        self.loaded = None

    def scored_text(self, response: str) -> str:
        """The part of `response` this reward's model reads."""
        return summary(response) if self.scope == "summary" else response

    def tokens(self, response: str, sample: Sample) -> tuple[int, ...]:
        """The conversation the model scores: the context, then the scored text as the assistant's turn."""
        messages = [*context(sample), {"role": "assistant", "content": self.scored_text(response)}]
        tokenizer = self.loaded.tokenizer
        ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=False, return_dict=False)
        return tuple(ids[-self.max_tokens :])

    def score(self, responses: Sequence[str], samples: Sequence[Sample]) -> list[float | None]:
        import torch

        from aha.learn.reward import sequence_rewards

        self.open()
        by_prompt: dict[str, list[int]] = {}
        for index, sample in enumerate(samples):
            by_prompt.setdefault(sample.id, []).append(index)
        sequences = [self.tokens(r, s) for r, s in zip(responses, samples, strict=True)]
        values: list[float | None] = [None] * len(responses)
        batch: list[list[int]] = []
        used = 0

        def flush() -> None:
            groups = [[sequences[i] for i in group] for group in batch]
            with torch.no_grad():
                rewards = sequence_rewards(self.loaded.model, groups).tolist()
            for index, value in zip((i for group in batch for i in group), rewards, strict=True):
                values[index] = float(value)
            batch.clear()

        for group in by_prompt.values():
            size = sum(len(sequences[i]) for i in group)
            if batch and used + size > self.pack_tokens:
                flush()
                used = 0
            batch.append(group)
            used += size
        if batch:
            flush()
        return values
