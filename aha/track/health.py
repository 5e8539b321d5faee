"""Run health: plain-language warnings that say at once when a run has stopped learning, and why.

Peers' users lose runs silently: a loss of exactly 0 that looks like a bug, completions cut at the
length limit that all score 0, a policy that collapsed into repeating itself. Each check here reads the
step's metrics (and, for slow trends, the recent ones) and returns sentences, never raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_WORD = re.compile(r"\S+")


def is_repetitive(text: str, n: int = 4, repeats: int = 4) -> bool:
    """True when some run of n words occurs at least `repeats` times (a decoding loop).

    >>> is_repetitive("the cat sat on the mat " * 4), is_repetitive("one two three four five six seven")
    (True, False)
    """
    words = _WORD.findall(text)
    counts: dict[tuple[str, ...], int] = {}
    for start in range(len(words) - n + 1):
        gram = tuple(words[start : start + n])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] >= repeats:
            return True
    return False


def repetition_share(texts: Sequence[str]) -> float:
    return sum(map(is_repetitive, texts)) / len(texts) if texts else 0.0


def step_warnings(
    metrics: dict[str, Any],
    recent: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int,
    truncation_warning: float,
    collapse_window: int,
) -> list[str]:
    """Warnings for one step; `recent` holds the metrics of the steps before it, oldest first."""
    notes = []
    if metrics["truncated_share"] > truncation_warning:
        notes.append(
            f"{metrics['truncated_share']:.0%} of completions hit max_new_tokens={max_new_tokens}; their "
            "rewards are mostly 0: raise max_new_tokens or shorten the task"
        )
    if metrics["groups_trained"] == 0 or metrics["zero_variance_share"] == 1.0:
        notes.append(
            "every group had equal rewards, so every advantage and the loss are exactly 0: nothing is "
            "learned this step (try dynamic_sampling, partial rewards or an easier task)"
        )
    if metrics.get("repetition_share", 0.0) > 0.5:
        notes.append(
            f"{metrics['repetition_share']:.0%} of completions repeat themselves in a loop: the policy is "
            "degenerating (lower optim.lr, add a KL penalty, or stop at the last good checkpoint)"
        )
    if metrics.get("rewards_unchecked", 0) > 0:
        notes.append(
            f"{metrics['rewards_unchecked']} reward values could not be decided (verifier time limit, internal "
            "error or an unusable reference); they count as missing, not as wrong: see the grader's status with "
            "`aha grade` on samples.jsonl"
        )
    window = [*recent[-(collapse_window - 1) :], metrics] if collapse_window > 1 else [metrics]
    if len(window) >= collapse_window and all(m["zero_variance_share"] >= 0.9 for m in window):
        notes.append(collapse_message(window))
    for key in ("loss", "grad_norm"):
        if key in metrics and not math.isfinite(metrics[key]):
            notes.append(f"{key} is {metrics[key]}: training has diverged (lower optim.lr or clip harder)")
    return notes


def collapse_message(window: Sequence[dict[str, Any]]) -> str:
    entropy = window[-1].get("entropy")
    detail = f" (entropy {entropy:.3f} nats per token)" if isinstance(entropy, float) else ""
    return (
        f"reward variance has vanished: 90% or more of the groups had equal rewards for {len(window)} steps "
        f"in a row{detail}; the policy has collapsed and learns nothing more (set stop_on_collapse to stop "
        "such runs, or try dynamic_sampling, a higher temperature or a harder task)"
    )


def is_collapse(note: str) -> bool:
    return note.startswith("reward variance has vanished")
