"""How a stage turns a sample's question into the tokens the model sees: the template, its settings, and
a cache of what was encoded (each prompt is encoded once per run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aha.data.templates import Template, get_template
from aha.errors import ConfigError
from aha.ranges import raise_problems
from aha.types import Sample


@dataclass(frozen=True, kw_only=True)
class PromptConfig:
    template: str = "chat"  # chat | r1zero | raw
    system: str | None = None  # chat only
    think: bool = False  # pre-fill "<think>" (it counts as part of the response for format rewards)
    examples: tuple[tuple[str, ...], ...] = ()  # chat only: solved (question, response) turns
    suffix: str = ""  # appended to every question
    stop: tuple[str, ...] = ()  # stop strings for sampling

    def __post_init__(self) -> None:
        problems: list[tuple[str, str] | None] = []
        if any(len(turn) != 2 for turn in self.examples):
            problems.append(("examples", "examples must be [question, response] pairs"))
        else:
            try:
                get_template(self.template, system=self.system, think=self.think, examples=self.examples)
            except ConfigError as error:
                problems.append(("template", f"template: {error}"))
        if not all(self.stop):
            problems.append(("stop", "stop strings must not be empty"))
        raise_problems(problems)


class Prompter:
    """Encodes samples' questions in the configured template, once each."""

    def __init__(self, cfg: PromptConfig, tokenizer: Any) -> None:
        self.cfg, self.tokenizer = cfg, tokenizer
        examples = tuple((question, answer) for question, answer in cfg.examples)
        self.template: Template = get_template(cfg.template, system=cfg.system, think=cfg.think, examples=examples)
        self._encoded: dict[str, list[int]] = {}

    def encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._encoded:
            self._encoded[sample.id] = self.template.encode(sample.prompt + self.cfg.suffix, self.tokenizer)
        return self._encoded[sample.id]

    def response(self, text: str) -> str:
        """The response as the rewards see it (a pre-filled `<think>` put back in front)."""
        return self.template.response(text)
