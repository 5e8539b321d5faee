"""A generative judge: a model asked whether a predicted answer matches the reference, for the completions
no rule reward can check (DeepSeek-R1 let DeepSeek-V3 judge those in its rejection sampling).

The judge is any model aha can load (generated greedily through aha's engine) or any OpenAI-compatible
chat endpoint (`url`: `aha serve`, `vllm serve`, a llama.cpp server). Its reply is hostile text and is
parsed strictly (`parse_verdict`): only a last line that says CORRECT or INCORRECT counts, anything else
is "unparseable" and never taken as correct. A timeout or HTTP failure is an "error". Decided verdicts
(correct, incorrect, unparseable) are cached by a content hash of everything that decides them, one JSONL
line each, written as soon as each is known, so a killed run keeps what it paid for; errors are not
cached, so a rerun asks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aha.errors import ConfigError, DataError, EndpointError
from aha.ranges import COUNT, NON_NEGATIVE_INT, POSITIVE, one_of, out_of_range, raise_problems

log = logging.getLogger(__name__)
Kind = Literal["correct", "incorrect", "unparseable", "error"]
KINDS: tuple[Kind, ...] = ("correct", "incorrect", "unparseable", "error")
JUDGE_RANGES = {"timeout": POSITIVE, "max_tokens": COUNT, "retries": NON_NEGATIVE_INT}


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    """Who judges and how; off while neither url nor model is given."""

    url: str | None = None  # an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # else a model aha loads: shipped name, HF directory, .gguf file or checkpoint
    endpoint_model: str | None = None  # the model name sent to the endpoint; None: the first it lists
    api_key_env: str = "AHA_JUDGE_API_KEY"  # environment variable holding the endpoint's API key, if any
    timeout: float = 60.0  # seconds per request to the endpoint
    retries: int = 2  # for connection errors and 5xx replies, with backoff
    max_tokens: int = 16  # of the judge's reply; the verdict is one word
    prompt: str = "qa-v1"  # qa-v1: question, reference, prediction (a real judge); lookup-v1: for a 135M judge
    every: bool = False  # judge every row, not only those the rule reward cannot check (sets without a rule)
    cache: bool = True  # reuse verdicts from the run's judge_cache.jsonl
    device: str = "cpu"  # local model only
    dtype: str | None = None

    def __post_init__(self) -> None:
        from aha.serve.client import base_url

        problems: list[tuple[str, str] | None] = [*out_of_range(self, JUDGE_RANGES)]
        problems.append(one_of("prompt", self.prompt, PROMPTS))
        if self.url is not None and self.model is not None:
            problems.append(("url", "give url (an endpoint) or model (a local model), not both"))
        if self.url is not None:
            try:
                base_url(self.url)
            except ConfigError as error:
                problems.append(("url", f"url: {error}"))
        if self.every and not self.enabled:
            problems.append(("every", "every=true needs a judge: give url or model"))
        raise_problems(problems)

    @property
    def enabled(self) -> bool:
        return self.url is not None or self.model is not None


def lookup_prompt(question: str, reference: str, prediction: str) -> list[dict[str, str]]:
    """The reference graded CORRECT next to placeholder answers graded INCORRECT, two graded turns, then the
    prediction; the question is left out.

    Why this shape: SmolLM2-135M, asked in plain words (question, reference, prediction, "reply CORRECT or
    INCORRECT"), says CORRECT to everything: its CORRECT-vs-INCORRECT logit margin is the same for a matching
    and a wrong prediction. Laid out as a lookup, where the prediction either repeats the row graded
    CORRECT or does not, it tells them apart (42 vs "42": CORRECT, 42 vs "17": INCORRECT; 15 of 20 short
    pairs right, see tests/curate/test_judge.py); any further text, the question included, tips it back
    to CORRECT everywhere. Larger judges do better with `qa_prompt`.
    """
    shots = [{"role": role, "content": text} for answer in ("none", "1")
             for role, text in (("user", f"{answer}:"), ("assistant", "INCORRECT"))]  # fmt: skip
    table = f"0: INCORRECT\nnone: INCORRECT\n{reference}: CORRECT"
    return [{"role": "system", "content": table}, *shots, {"role": "user", "content": f"{prediction}:"}]


def qa_prompt(question: str, reference: str, prediction: str) -> list[dict[str, str]]:
    """The plain judge's question: the question, the reference and the prediction, one word back."""
    system = ("You grade answers. Compare the predicted answer with the reference answer: the same final answer "
              "in any wording is CORRECT, anything else INCORRECT.")  # fmt: skip
    user = (f"Question: {question}\n\nReference answer: {reference}\n\nPredicted answer: {prediction}\n\n"
            "Reply with one word: CORRECT or INCORRECT")  # fmt: skip
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


PROMPTS = {"lookup-v1": lookup_prompt, "qa-v1": qa_prompt}  # name (version included) -> chat; in the cache key


def parse_verdict(reply: str) -> Kind:
    """The verdict "correct" or "incorrect" when the reply's last non-empty line says exactly that (any case;
    surrounding whitespace, `*`, `_`, backticks, a trailing period and a "Verdict:" prefix allowed), else
    "unparseable".

    >>> parse_verdict("The answers match.\\n**Verdict: CORRECT**")
    'correct'
    >>> parse_verdict("CORRECT or INCORRECT")
    'unparseable'
    """
    lines = [line for line in reply.splitlines() if line.strip()]
    if not lines:
        return "unparseable"
    word = _unwrap(re.sub(r"^verdict\s*:", "", _unwrap(lines[-1]), flags=re.IGNORECASE))
    if word.endswith("."):
        word = _unwrap(word[:-1])
    word = word.lower()
    return "correct" if word == "correct" else "incorrect" if word == "incorrect" else "unparseable"


def _unwrap(text: str) -> str:
    """Text without surrounding whitespace, markdown emphasis or code marks."""
    return text.strip().strip("*_`").strip()


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reply: str | None  # the judge's raw reply (None on error)
    cached: bool = False
    error: str | None = None  # what failed, for kind "error"


@dataclass
class Judged:
    """Verdicts in the order asked, with counts by kind and of cache hits."""

    verdicts: list[Verdict]
    counts: Counter[str]


def cache_key(identity: dict[str, Any], prompt: str, question: str, reference: str, prediction: str,
              max_tokens: int) -> str:  # fmt: skip
    """sha256 over a canonical JSON of everything that decides a verdict."""
    payload = {"judge": identity, "prompt": prompt, "question": question, "reference": reference,
               "prediction": prediction, "max_tokens": max_tokens}  # fmt: skip
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VerdictCache:
    """key -> (kind, reply) from a JSONL file, appended one line per verdict as soon as it is decided.

    A line that does not read (the last one, cut short by a kill) is skipped, and the next append starts
    on a fresh line.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, tuple[Kind, str]] = {}
        if path is None or not path.is_file():
            return
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, RecursionError, ValueError):
                continue
            if (isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("reply"), str)
                    and entry.get("verdict") in KINDS[:3]):  # fmt: skip
                self.entries[entry["key"]] = (entry["verdict"], entry["reply"])

    def get(self, key: str) -> tuple[Kind, str] | None:
        return self.entries.get(key)

    def put(self, key: str, kind: Kind, reply: str) -> None:
        self.entries[key] = (kind, reply)
        if self.path is None:
            return
        data = self.path.read_bytes()[-1:] if self.path.is_file() else b""
        with open(self.path, "a", encoding="utf-8") as handle:
            if data and data != b"\n":
                handle.write("\n")  # after a line a kill cut short
            handle.write(json.dumps({"key": key, "verdict": kind, "reply": reply}, ensure_ascii=False) + "\n")
            handle.flush()


Ask = Callable[[list[list[dict[str, str]]]], list[str | Exception]]


class Judge:
    """Asks the configured model for verdicts; `judge_many` returns them in order with counts."""

    def __init__(self, cfg: JudgeConfig, cache_path: Path | None = None) -> None:
        if not cfg.enabled:
            raise ValueError("the judge config names neither url nor model")
        self.cfg = cfg
        self.cache = VerdictCache(cache_path if cfg.cache else None)
        self._ask: Ask | None = None

    def identity(self) -> dict[str, Any]:
        """What names the judge in the cache key: the endpoint and its model name, or the local model."""
        from aha.serve.client import base_url

        if self.cfg.url is not None:
            return {"url": base_url(self.cfg.url), "model": self.cfg.endpoint_model}
        spec = str(self.cfg.model)
        return {"model": str(Path(spec).resolve()) if Path(spec).exists() else spec}

    def judge_many(self, items: Sequence[tuple[str, str, str]]) -> Judged:
        """A verdict for each (question, reference, prediction), in order."""
        identity = self.identity()
        keys = [cache_key(identity, self.cfg.prompt, q, r, p, self.cfg.max_tokens) for q, r, p in items]
        verdicts: list[Verdict | None] = []
        for key in keys:
            hit = self.cache.get(key)
            verdicts.append(None if hit is None else Verdict(hit[0], hit[1], cached=True))
        same: dict[str, list[int]] = {}  # an item asked twice (duplicate samples) is asked once
        for i, verdict in enumerate(verdicts):
            if verdict is None:
                same.setdefault(keys[i], []).append(i)
        todo = [indices[0] for indices in same.values()]
        for start in range(0, len(todo), self._chunk()):
            chunk = todo[start : start + self._chunk()]
            replies = self.ask([PROMPTS[self.cfg.prompt](*items[i]) for i in chunk])
            for i, reply in zip(chunk, replies, strict=True):
                if isinstance(reply, Exception):
                    decided = Verdict("error", None, error=str(reply))
                else:
                    decided = Verdict(parse_verdict(reply), reply)
                    self.cache.put(keys[i], decided.kind, reply)
                for j in same[keys[i]]:
                    verdicts[j] = decided
        done = [v for v in verdicts if v is not None]
        found = Counter(v.kind for v in done)
        counts = Counter({kind: found[kind] for kind in KINDS})  # every kind, zeros included
        counts["cached"] = sum(v.cached for v in done)
        return Judged(done, counts)

    def _chunk(self) -> int:
        """Prompts asked together: one per request to an endpoint; a batch of the local engine's rows."""
        return 1 if self.cfg.url is not None else 16

    def ask(self, conversations: list[list[dict[str, str]]]) -> list[str | Exception]:
        """The judge's reply to each conversation, or the endpoint error that stood in for it."""
        if self._ask is None:
            self._ask = self._endpoint() if self.cfg.url is not None else self._local()
        return self._ask(conversations)

    def _endpoint(self) -> Ask:
        from aha.serve.client import ChatEndpoint

        endpoint = ChatEndpoint(self.cfg.url or "", model=self.cfg.endpoint_model, timeout=self.cfg.timeout,
                                api_key_env=self.cfg.api_key_env, retries=self.cfg.retries)  # fmt: skip

        def ask(conversations: list[list[dict[str, str]]]) -> list[str | Exception]:
            replies: list[str | Exception] = []
            for messages in conversations:
                try:
                    replies.append(endpoint.chat(messages, max_tokens=self.cfg.max_tokens, temperature=0.0))
                except EndpointError as error:
                    log.warning("judge: %s", error)
                    replies.append(error)
            return [r if isinstance(r, Exception) else r.text for r in replies]

        return ask

    def _local(self) -> Ask:
        from aha.models import load
        from aha.rollout.engine import Engine, context_length
        from aha.serve.server import render_chat
        from aha.types import SamplingParams

        loaded = load(str(self.cfg.model), device=self.cfg.device, dtype=self.cfg.dtype)
        if not getattr(loaded.tokenizer, "chat_template", None):
            raise ConfigError(f"judge.model: {self.cfg.model} has no chat template to put the judge's prompt in")
        engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, frozen_weights=True)
        params = SamplingParams(temperature=0.0, max_new_tokens=self.cfg.max_tokens)
        context = context_length(loaded.model)

        def ask(conversations: list[list[dict[str, str]]]) -> list[str | Exception]:
            prompts = [render_chat(tuple(messages), loaded.tokenizer) for messages in conversations]
            fits = [i for i, p in enumerate(prompts) if context is None or len(p) < context]
            replies: list[str | Exception] = [DataError(f"the judge's prompt has {len(p)} tokens; the model's "
                                                        f"context holds {context}") for p in prompts]  # fmt: skip
            for i, group in zip(fits, engine.generate([prompts[i] for i in fits], params), strict=True):
                replies[i] = group[0].text
            return replies

        return ask
