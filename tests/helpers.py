"""Helpers shared by tests: tiny random models saved in the Hugging Face layout."""

from __future__ import annotations

from pathlib import Path

import torch

PROMPTS = (
    "What is 12 + 35? Put the final answer in \\boxed{}.",
    "Write a haiku about autumn leaves.",
    "Explain in two sentences why the sky is blue.",
)

SIXTEEN_QUESTIONS = (  # sixteen short chat questions: the backends' greedy completions are compared on them
    *(f"What is {a} + {b}?" for a, b in ((12, 35), (7, 8), (40, 2), (99, 1), (23, 19), (5, 61))),
    "Write a haiku about autumn leaves.",
    "Explain in two sentences why the sky is blue.",
    "Name three prime numbers.",
    "Translate 'good morning' into French.",
    "What is the capital of Italy?",
    "Count from one to five.",
    "Give me a word that rhymes with cat.",
    "Is 17 a prime number? Answer yes or no.",
    "What colour is grass?",
    "Say hello in Spanish.",
)


def write_tiny_model(directory: Path, config, tokenizer=None, seed: int = 0) -> Path:
    """Save a randomly initialised transformers model of `config` (and a tokenizer) as a Hugging Face directory."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for param in model.parameters():  # random init can leave norms at 1 and biases at 0; perturb them all
            param.add_(torch.randn_like(param) * 0.02)
    model.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory
