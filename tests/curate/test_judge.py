"""The generative judge against a real OpenAI-compatible server over the real SmolLM2-135M: a correct verdict,
an incorrect one, an unparseable one (a random-weights model's gibberish), a timeout, and the cache."""

from __future__ import annotations

import time

import pytest

from aha.curate.judge import Judge, JudgeConfig, VerdictCache, cache_key, parse_verdict
from aha.errors import ConfigError


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("CORRECT", "correct"),
        ("INCORRECT", "incorrect"),
        ("correct", "correct"),
        ("**CORRECT**", "correct"),
        ("`INCORRECT`.", "incorrect"),
        ("Verdict: INCORRECT", "incorrect"),
        ("**Verdict:** CORRECT", "correct"),
        ("The numbers differ.\n\nINCORRECT\n", "incorrect"),
        ("CORRECT\nThe numbers differ.", "unparseable"),  # the last line decides
        ("CORRECT or INCORRECT", "unparseable"),
        ("CORRECT!!", "unparseable"),
        ("Not CORRECT", "unparseable"),
        ("INCORRECTLY", "unparseable"),
        ("", "unparseable"),
        ("   \n \n", "unparseable"),
        ("17: CORRECT", "unparseable"),
        ("CORRECT..", "unparseable"),
    ],
)
def test_parse_verdict_is_strict(reply, kind):
    assert parse_verdict(reply) == kind


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="url"):
        JudgeConfig(url="ftp://x")
    with pytest.raises(ConfigError, match="not both"):
        JudgeConfig(url="http://x", model="smollm2-135m")
    with pytest.raises(ConfigError, match="timeout"):
        JudgeConfig(url="http://x", timeout=0)
    with pytest.raises(ConfigError, match="prompt"):
        JudgeConfig(url="http://x", prompt="nope")
    with pytest.raises(ConfigError, match="every"):
        JudgeConfig(every=True)


def test_the_real_135m_judge_tells_a_matching_answer_from_a_wrong_one(smollm_server, tmp_path):
    judge = Judge(JudgeConfig(url=smollm_server.url, prompt="lookup-v1"), tmp_path / "cache.jsonl")
    judged = judge.judge_many([("What is 6 times 7?", "42", "42"), ("What is 6 times 7?", "42", "17"),
                               ("What is 12 * 3?", "36", "36"), ("What is 12 * 3?", "36", "63")])  # fmt: skip
    assert [v.kind for v in judged.verdicts] == ["correct", "incorrect", "correct", "incorrect"], judged.verdicts
    assert judged.counts["correct"] == 2 and judged.counts["incorrect"] == 2 and judged.counts["cached"] == 0


def test_the_cache_answers_without_a_request(smollm_server, tmp_path):
    cfg = JudgeConfig(url=smollm_server.url, endpoint_model="smollm2-135m")
    items = [("What is 9 - 4?", "5", "5"), ("What is 9 - 4?", "5", "I think 5")]
    before = smollm_server.requests["/v1/chat/completions"]
    first = Judge(cfg, tmp_path / "cache.jsonl").judge_many(items)
    assert smollm_server.requests["/v1/chat/completions"] == before + 2
    with open(tmp_path / "cache.jsonl", "a") as handle:
        handle.write('{"key": "cut sho')  # a kill cut the last line short
    second = Judge(cfg, tmp_path / "cache.jsonl").judge_many(items)
    assert smollm_server.requests["/v1/chat/completions"] == before + 2  # no new request
    assert [v.kind for v in second.verdicts] == [v.kind for v in first.verdicts]
    assert [v.reply for v in second.verdicts] == [v.reply for v in first.verdicts]
    assert second.counts["cached"] == 2 and all(v.cached for v in second.verdicts)
    third = Judge(cfg, tmp_path / "cache.jsonl").judge_many([("What is 9 - 4?", "5", "6")])  # a new item is asked
    assert smollm_server.requests["/v1/chat/completions"] == before + 3 and third.counts["cached"] == 0
    assert len(VerdictCache(tmp_path / "cache.jsonl").entries) == 3  # the appended line starts on a fresh line


def test_gibberish_is_unparseable_never_correct(tiny_llama_dir, tmp_path):
    """A random-weights model replies with gibberish: unparseable, counted, and cached like any decided verdict."""
    from aha.models import load
    from aha.serve.server import ModelServer

    with ModelServer(load(tiny_llama_dir), name="tiny") as server:
        judged = Judge(JudgeConfig(url=server.url), tmp_path / "c.jsonl").judge_many(
            [("What is 6 times 7?", "42", "42")]
        )
    assert judged.verdicts[0].kind == "unparseable" and judged.counts["unparseable"] == 1
    assert judged.verdicts[0].reply  # the raw reply is kept for the report


def test_a_timeout_is_an_error_returned_in_time_and_not_cached(silent_server, tmp_path):
    cfg = JudgeConfig(url=silent_server, endpoint_model="m", timeout=1.0, retries=2)
    started = time.perf_counter()
    judged = Judge(cfg, tmp_path / "cache.jsonl").judge_many([("q", "42", "42")])
    assert time.perf_counter() - started < 3.0  # about the timeout: a timeout is not retried
    assert judged.verdicts[0].kind == "error" and "no reply within 1 s" in judged.verdicts[0].error
    assert judged.counts["error"] == 1
    assert not (tmp_path / "cache.jsonl").exists()


def test_the_local_model_judges_like_the_endpoint(smollm_server, tmp_path):
    items = [("What is 6 times 7?", "42", "42"), ("What is 6 times 7?", "42", "17")]
    local = Judge(JudgeConfig(model="smollm2-135m", prompt="lookup-v1"), None).judge_many(items)
    remote = Judge(JudgeConfig(url=smollm_server.url, prompt="lookup-v1"), None).judge_many(items)
    assert [v.reply for v in local.verdicts] == [v.reply for v in remote.verdicts]
    assert [v.kind for v in local.verdicts] == ["correct", "incorrect"]


def test_the_cache_key_covers_what_decides_a_verdict():
    base = cache_key({"url": "u", "model": None}, "lookup-v1", "q", "42", "42", 16)
    assert base != cache_key({"url": "u", "model": "m"}, "lookup-v1", "q", "42", "42", 16)
    assert base != cache_key({"url": "u", "model": None}, "qa-v1", "q", "42", "42", 16)
    assert base != cache_key({"url": "u", "model": None}, "lookup-v1", "q", "42", "42 ", 16)
    assert base != cache_key({"url": "u", "model": None}, "lookup-v1", "q", "42", "42", 8)


def test_the_same_item_twice_in_a_batch_is_asked_once(smollm_server, tmp_path):
    cfg = JudgeConfig(url=smollm_server.url, prompt="lookup-v1")
    items = [("What is 6 times 7?", "42", "42"), ("What is 6 times 7?", "42", "17"), ("What is 6 times 7?", "42", "42")]
    before = smollm_server.requests["/v1/chat/completions"]
    judged = Judge(cfg, tmp_path / "cache.jsonl").judge_many(items)
    assert smollm_server.requests["/v1/chat/completions"] == before + 2  # duplicate samples are common
    assert [v.kind for v in judged.verdicts] == ["correct", "incorrect", "correct"]
    assert len(VerdictCache(tmp_path / "cache.jsonl").entries) == 2
