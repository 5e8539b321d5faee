"""Sampling through a chat endpoint: stop strings cut as the native engine cuts them, one request per
completion with the engine's row seed, results in prompt and sample order whatever order requests finish in.
The end-to-end check against a real `aha serve` is tests/stages/test_sample.py; this one pins the rules."""

from __future__ import annotations

import threading
import time

from aha.rollout.remote import SEED_BITS, EndpointSampler, cut_at_stop
from aha.rollout.sampling import row_seed
from aha.serve.client import ChatReply
from aha.types import SamplingParams


def test_the_text_is_cut_after_the_earliest_stop_string_which_is_kept():
    assert cut_at_stop("<answer> 4 </answer> more", ("</answer>",)) == ("<answer> 4 </answer>", True)
    assert cut_at_stop("a STOP b END c", ("END", "STOP")) == ("a STOP", True)  # earliest, not first listed
    assert cut_at_stop("no stop here", ("</answer>",)) == ("no stop here", False)
    assert cut_at_stop("anything", ()) == ("anything", False)


class Recorder:
    """An endpoint stand-in that answers after a delay that shrinks with the seed, so replies finish out of
    order; it records what each request asked."""

    def __init__(self, finish="stop"):
        self.asked, self.lock, self.finish = [], threading.Lock(), finish

    def chat(self, messages, *, max_tokens, temperature, top_p, seed):
        time.sleep((seed % 7) / 1000)
        with self.lock:
            self.asked.append((messages[-1]["content"], max_tokens, temperature, top_p, seed))
        return ChatReply(f"{messages[-1]['content']}#{seed} </answer> tail", self.finish, 5)


def test_one_request_per_completion_seeded_as_the_engine_and_returned_in_order():
    endpoint = Recorder()
    params = SamplingParams(n=3, temperature=0.6, top_p=0.95, max_new_tokens=9, seed=7, stop=("</answer>",))
    groups = EndpointSampler(endpoint, concurrency=4).generate(
        [[{"role": "user", "content": "p0"}], [{"role": "user", "content": "p1"}]], params, keys=[10, 11]
    )
    assert len(endpoint.asked) == 6 and {a[1:4] for a in endpoint.asked} == {(9, 0.6, 0.95)}
    for key, group in zip((10, 11), groups, strict=True):
        assert [c.sample_index for c in group] == [0, 1, 2] and {c.prompt_index for c in group} == {key}
        for c in group:
            seed = row_seed(7, key, c.sample_index) & SEED_BITS
            assert c.text == f"p{key - 10}#{seed} </answer>" and c.finish_reason == "stop" and c.tokens == 5
    assert len({a[4] for a in endpoint.asked}) == 6 and all(0 <= a[4] <= SEED_BITS for a in endpoint.asked)


def test_a_reply_cut_by_the_token_limit_is_length_unless_a_stop_string_came_first():
    params = SamplingParams(n=1, max_new_tokens=4, stop=("</answer>",))
    [[cut]] = EndpointSampler(Recorder(finish="length")).generate([[{"role": "user", "content": "q"}]], params, [0])
    assert cut.finish_reason == "stop"  # the stop string is in the text: it ended the completion here
    params = SamplingParams(n=1, max_new_tokens=4, stop=("<never>",))
    [[cut]] = EndpointSampler(Recorder(finish="length")).generate([[{"role": "user", "content": "q"}]], params, [0])
    assert cut.finish_reason == "length"


def test_the_completions_backend_on_a_real_server_gives_native_greedy_text(smollm, smollm_server, chat_prompts):
    """Token-id prompts through /v1/completions of a real server (`aha serve` over the default model): the
    server continues exactly aha's tokens, so greedy text equals the native engine's; lengths are the local
    tokenizer's count of the text; a seed gives the same sample twice and another seed another."""
    from aha.rollout.engine import Engine
    from aha.rollout.remote import EndpointBackend
    from aha.serve.client import ChatEndpoint

    backend = EndpointBackend(ChatEndpoint(smollm_server.url), smollm.tokenizer, concurrency=3)
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=24, stop=(".",))
    native = Engine(smollm.model, smollm.tokenizer, smollm.eos_token_ids).generate(chat_prompts, greedy)
    remote = backend.generate(chat_prompts, greedy)
    for theirs, ours in zip(remote, native, strict=True):
        assert theirs[0].text == ours[0].text and theirs[0].finish_reason == ours[0].finish_reason
        assert "." not in theirs[0].text[:-1]  # cut after the first stop string (kept), or ended by EOS
        assert theirs[0].token_ids == smollm.tokenizer.encode(theirs[0].text, add_special_tokens=False)
    sampled = SamplingParams(n=2, temperature=1.0, max_new_tokens=12, seed=3)
    first, again = backend.generate(chat_prompts[:1], sampled), backend.generate(chat_prompts[:1], sampled)
    assert [c.text for c in first[0]] == [c.text for c in again[0]]
    assert first[0][0].text != first[0][1].text  # each row its own seed
