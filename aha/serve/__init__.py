"""OpenAI-compatible HTTP: `server` serves a model aha loads (`aha serve`), `client` talks to any such endpoint
(aha's own, `vllm serve`, a llama.cpp server). Importing this package loads neither."""
