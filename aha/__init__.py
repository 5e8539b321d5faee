"""aha: the DeepSeek-R1 recipe end to end, from a laptop CPU up.

The public API lives in the subpackages: `aha.models` (load, save_checkpoint), `aha.rollout` (Engine,
SamplingParams), `aha.data` (templates, JSONL). Importing `aha` itself loads nothing heavy.
"""

__version__ = "0.1.0"
