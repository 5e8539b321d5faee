"""Scoring sampled groups: every reward of the recipe (weighted once, in `combine`), the accuracy the run
reports, the format rate, and any shaping of the total (DAPO's soft overlong punishment)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aha.rewards import combine, get, get_batch
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
    """Scores groups with `rewards` ({name: weight}); `accuracy` names the reward reported as accuracy (also
    when its weight is 0); `shaping(completion)` is added to each total."""

    def __init__(
        self,
        rewards: dict[str, float],
        accuracy: str,
        prompter: Prompter,
        shaping: Callable[[Completion], float] | None = None,
    ) -> None:
        self.rewards, self.accuracy, self.prompter, self.shaping = rewards, accuracy, prompter, shaping
        self.combined = combine(rewards)
        self.format = get("format")
        get(accuracy)  # an unknown name fails here, before any model loads

    def score(self, samples: Sequence[Sample], groups: Sequence[list[Completion]]) -> list[Scored]:
        """Every completion of every group in one batch (rewards with a worker pool run once)."""
        flat = [(sample, c) for sample, group in zip(samples, groups, strict=True) for c in group]
        responses = [self.prompter.response(c.text) for _, c in flat]
        flat_samples = [sample for sample, _ in flat]
        results = self.combined.many(responses, flat_samples)
        if self.accuracy in self.rewards:  # already computed (the code sandbox runs once, not twice)
            accuracy = [r.components[self.accuracy] for r in results]
        else:
            accuracy = get_batch(self.accuracy)(responses, flat_samples)
        formatted = [self.format(r, s) or 0.0 for r, s in zip(responses, flat_samples, strict=True)]
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
