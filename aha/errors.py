"""Errors that reach the user as one line: what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class AhaError(Exception):
    """Base of every error aha raises on bad input; the CLI prints its message without a traceback."""


class ModelLoadError(AhaError):
    """A model spec that does not resolve, a file that does not parse, an architecture that cannot run."""


class DataError(AhaError):
    """Bad input data; the message names the file, the line and the field."""


class ConfigError(AhaError):
    """A bad option or recipe value; the message names the field and the allowed values.

    problems, when given, are (field, message) pairs, so a recipe loader can name the file and line of
    each field at fault instead of the config as a whole.
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class CheckpointError(AhaError):
    """A checkpoint that cannot be resumed from: a missing, truncated or corrupt file, or an old format."""


class EndpointError(AhaError):
    """An OpenAI-compatible endpoint that cannot be reached or answers with an error or a malformed reply."""


class EndpointTimeout(EndpointError):
    """An endpoint that did not answer within the timeout."""
