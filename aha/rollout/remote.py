"""Sampling from an OpenAI-compatible chat endpoint (`aha serve`, `vllm serve`, a llama.cpp server, a hosted
API): the teacher of `aha sample` / `aha distill` when it runs elsewhere.

An endpoint takes conversations, not token ids, so a prompt goes as its chat template's messages (system,
example turns, question) and each completion is one request with n=1 (not every server honours n) and its
own seed, derived as the native engine derives a row's: (seed, prompt index, sample index). Requests run
`concurrency` at a time; completions come back in prompt and sample order whatever order they finish in.

Stop strings are applied here, not sent: the OpenAI API drops the stop string from the reply (and says
"stop" for it and for the end of turn alike), while aha keeps it (`</answer>` is part of the format the
rewards check). The text is cut after the first stop string, as the native engine cuts it; the tokens the
server generated after it are still in its count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aha.rollout.sampling import row_seed
from aha.serve.client import ChatEndpoint
from aha.types import Completion, SamplingParams

SEED_BITS = (1 << 31) - 1  # servers take a seed as a signed 32-bit integer (vLLM, llama.cpp)


@dataclass(frozen=True)
class RemoteCompletion:
    prompt_index: int
    sample_index: int
    text: str
    finish_reason: str  # "stop" or "length" (what the server says, "stop" when it says nothing)
    tokens: int | None  # completion tokens, when the server reports usage


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text up to and including the earliest stop string, and whether one was found."""
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return text, False
    start, stop = min(found)
    return text[: start + len(stop)], True


class EndpointSampler:
    def __init__(self, endpoint: ChatEndpoint, concurrency: int = 4) -> None:
        self.endpoint, self.concurrency = endpoint, concurrency

    def generate(
        self, conversations: list[list[dict[str, str]]], params: SamplingParams, keys: list[int]
    ) -> list[list[RemoteCompletion]]:
        """params.n completions of each conversation; keys name the prompts in the seed derivation."""

        def one(job: tuple[int, int]) -> RemoteCompletion:
            index, sample = job
            reply = self.endpoint.chat(
                conversations[index],
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=row_seed(params.seed, keys[index], sample) & SEED_BITS,
            )
            text, cut = cut_at_stop(reply.text, params.stop)
            finish = "stop" if cut or reply.finish_reason != "length" else "length"
            return RemoteCompletion(keys[index], sample, text, finish, reply.completion_tokens)

        jobs = [(i, g) for i in range(len(conversations)) for g in range(params.n)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            done = list(pool.map(one, jobs))
        return [done[i * params.n : (i + 1) * params.n] for i in range(len(conversations))]


class EndpointBackend:
    """`aha.types.GenerationBackend` on an OpenAI-compatible /v1/completions endpoint (`vllm serve`, SGLang, a
    llama.cpp server, `aha serve`): prompts go as token ids, so the server continues exactly the tokens aha's
    template made (no chat template applied twice), one request per completion with the row's own seed.

    What comes back is text: its token ids are the local tokenizer's encoding of it (the server's own ids
    are not in the OpenAI reply; its count of them is kept, `Completion.length`), and there are no log-probs,
    so this backend serves sampling and evaluation, not a GRPO update. Stop strings are cut here and kept,
    as the native engine keeps them.
    """

    def __init__(self, endpoint: ChatEndpoint, tokenizer: Any, concurrency: int = 4) -> None:
        self.endpoint, self.tokenizer, self.concurrency = endpoint, tokenizer, concurrency

    def generate(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, *, prompt_keys: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        return list(self.iter_generate(prompts, params, prompt_keys=prompt_keys))

    def iter_generate(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, *, prompt_keys: Sequence[int] | None = None
    ) -> Iterator[list[Completion]]:
        """Each prompt's group in prompt order, `concurrency` requests in flight."""
        keys = list(range(len(prompts))) if prompt_keys is None else list(prompt_keys)

        def one(job: tuple[int, int]) -> Completion:
            index, sample = job
            reply = self.endpoint.complete(
                [int(t) for t in prompts[index]],
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                seed=row_seed(params.seed, keys[index], sample) & SEED_BITS,
            )
            text, cut = cut_at_stop(reply.text, params.stop)
            finish = "stop" if cut or reply.finish_reason != "length" else "length"
            tokens = self.tokenizer.encode(text, add_special_tokens=False)
            reported = None if cut else reply.completion_tokens  # past a stop string it counts tokens cut away
            return Completion(index, sample, tokens, [], text, finish, reported)

        per_chunk = max(1, self.concurrency // params.n)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for start in range(0, len(prompts), per_chunk):
                chunk = range(start, min(start + per_chunk, len(prompts)))
                done = list(pool.map(one, [(i, g) for i in chunk for g in range(params.n)]))
                for offset in range(len(chunk)):
                    yield done[offset * params.n : (offset + 1) * params.n]
