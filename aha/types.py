"""Small records shared across stages, and the protocol every generation backend implements.

A backend (the native engine, `aha.rollout.engine.Engine`; later vLLM or an OpenAI-compatible server)
turns token prompts and `SamplingParams` into groups of `Completion`s; stages ask for generation through
`GenerationBackend` only, so a new backend touches no stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from aha.ranges import TEMPERATURE, TOP_P


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One prompt of a task with what is needed to check an answer to it."""

    id: str  # stable within its data set; seeds and logs refer to it
    prompt: str  # the question as the user asks it, before any template
    answer: str  # the reference answer (a number, an expression, ...)
    meta: Mapping[str, Any] = field(default_factory=dict)  # task-specific data, e.g. Countdown's numbers


FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How to sample; the defaults are plain ancestral sampling."""

    n: int = 1  # completions per prompt (the group size G)
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0  # nucleus mass kept; 1 disables
    top_k: int = 0  # tokens kept; 0 disables
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()  # stop strings; the text is cut after the first one, which is kept
    seed: int = 0
    ignore_eos: bool = False  # for throughput benchmarks: always generate max_new_tokens

    def __post_init__(self) -> None:
        problems = []
        if self.n < 1:
            problems.append(f"n={self.n} must be >= 1")
        if not TEMPERATURE.holds(self.temperature):  # NaN and inf included
            problems.append(f"temperature={self.temperature} must be {TEMPERATURE}")
        if not TOP_P.holds(self.top_p):
            problems.append(f"top_p={self.top_p} must be {TOP_P}")
        if self.top_k < 0:
            problems.append(f"top_k={self.top_k} must be >= 0")
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens={self.max_new_tokens} must be >= 1")
        if any(not s for s in self.stop):
            problems.append("stop strings must not be empty")
        if problems:
            raise ValueError("invalid sampling parameters: " + "; ".join(problems))


@dataclass
class Completion:
    """One sampled continuation of one prompt."""

    prompt_index: int
    sample_index: int
    token_ids: list[int]  # generated tokens, the EOS token included when it ended the completion
    logprobs: list[float]  # log-prob of each generated token under log_softmax(logits / temperature)
    text: str  # decoded without special tokens, cut after the stop string that ended it
    finish_reason: FinishReason
    reported_tokens: int | None = None  # an endpoint's own count of the tokens it generated, where token_ids
    # are the local tokenizer's encoding of its text (not exactly the server's tokens)

    @property
    def length(self) -> int:
        """Tokens generated: the server's count where it gave one, else len(token_ids)."""
        return len(self.token_ids) if self.reported_tokens is None else self.reported_tokens


@runtime_checkable
class GenerationBackend(Protocol):
    """Samples `params.n` completions for each token prompt; group i answers prompts[i].

    prompt_keys name the prompts in the seed derivation (default: their index), so a backend that
    honours seeds gives the same prompt under the same key the same samples in any batch.
    """

    def generate(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, *, prompt_keys: Sequence[int] | None = None
    ) -> list[list[Completion]]: ...
