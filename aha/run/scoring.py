"""Scoring sampled groups: every reward of the recipe (weighted once, in `combine`), the accuracy the run
reports, the format rate, and any shaping of the total (DAPO's soft overlong punishment). The scorer owns
its configured rewards: it opens them on first use and closes them with `close` (the run closes it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aha.rewards import build, combine
from aha.run.prompts import Prompter
from aha.types import Completion, Sample


@dataclass
class Scored:
    """One prompt's group, scored."""

    sample: Sample
    completions: list[Completion]
    rewards: list[float]  # the weighted total (shaped), what the advantages see
    components: list[dict[str, float | None]]  # every reward unweighted; None: could not be checked
    accuracy: list[float | None]  # None: the reference answer itself could not be checked
    formatted: list[float]


class Scorer:
    """Scores groups with `rewards` ({name: weight or {weight, settings...}}); `accuracy` names the reward
    reported as accuracy (also when its weight is 0; the recipe's entry, settings included, when it has one;
    None for prompts that have no correct answer);
    `shaping(completion)` is added to each total; `format_reward` names the reward whose rate is reported
    (R1-Zero's strict format by default)."""

    def __init__(
        self,
        rewards: Mapping[str, Any],
        accuracy: str | None,
        prompter: Prompter,
        shaping: Callable[[Completion], float] | None = None,
        format_reward: str = "format",
    ) -> None:
        self.rewards, self.accuracy, self.prompter, self.shaping = rewards, accuracy, prompter, shaping
        self.combined = combine(rewards)  # unknown names and settings fail here, before any model loads
        self.format = build(format_reward)  # the format the run's format rate counts
        known = accuracy is None or accuracy in self.combined.rewards
        self.accuracy_reward = None if known else build(accuracy)

    def close(self) -> None:
        """Close the rewards (worker pools, sandboxes); they open again if scoring goes on."""
        self.combined.close()
        if self.accuracy_reward is not None:
            self.accuracy_reward.close()

    def score(self, samples: Sequence[Sample], groups: Sequence[list[Completion]], learn: bool = True) -> list[Scored]:
        """Every completion of every group in one batch (rewards with a worker pool run once); `learn` false
        for evaluation: normalised rewards leave their running statistics as they are."""
        flat = [(sample, c) for sample, group in zip(samples, groups, strict=True) for c in group]
        responses = [self.prompter.response(c.text) for _, c in flat]
        flat_samples = [sample for sample, _ in flat]
        results = self.combined.many(responses, flat_samples, learn)
        if self.accuracy is None:  # prompts without a reference (general prompts, scored by reward models)
            accuracy: list[float | None] = [None] * len(results)
        elif self.accuracy_reward is None:  # already computed (the code sandbox runs once, not twice)
            accuracy = [r.components[self.accuracy] for r in results]
        else:
            accuracy = self.accuracy_reward.score(responses, flat_samples)
        formatted = [value or 0.0 for value in self.format.score(responses, flat_samples)]
        scored, offset = [], 0
        for sample, group in zip(samples, groups, strict=True):
            part = slice(offset, offset + len(group))
            offset += len(group)
            shaped = [
                r.total + (self.shaping(c) if self.shaping else 0.0) for r, c in zip(results[part], group, strict=True)
            ]
            components = [r.components for r in results[part]]
            scored.append(Scored(sample, list(group), shaped, components, accuracy[part], formatted[part]))
        return scored
