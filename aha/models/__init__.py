"""Models: loading shipped weights, Hugging Face directories and GGUF files; native decoder; checkpoints."""

from aha.models.checkpoint import save_checkpoint
from aha.models.load import DEFAULT_MODEL, SHIPPED, LoadedModel, load

__all__ = ["DEFAULT_MODEL", "SHIPPED", "LoadedModel", "load", "save_checkpoint"]
