"""Generation on a vLLM engine inside this process, behind `GenerationBackend`, with weights pushed from the trainer.

vLLM is the sampler most RL trainers colocate with their policy (TRL, verl, OpenRLHF): paged KV cache,
continuous batching, prefix caching. `VLLMBackend` runs one `vllm.LLM` in this process on a Hugging Face
layout directory (what `aha.models.checkpoint.save_checkpoint` writes) and keeps aha's contract:

- Prompts go in as token ids (`TokensPrompt`), so nothing is tokenized twice.
- Each (prompt, sample) is one request with its own seed, `row_seed(seed, prompt key, sample index)` as the
  native engine derives a row's: vLLM gives a seeded request its own `torch.Generator`, so a sample does
  not depend on which other requests share its batch (up to the float rounding of its logits, as for the
  engine). Prefix caching computes a group's shared prompt once, as the engine's one prefill does.
- Log-probs: `logprobs_mode="processed_logprobs"` reports the sampled token's log_softmax of the logits
  after temperature (greedy: of the raw logits), which is aha's log_softmax(logits / temperature). With
  top-k or top-p, vLLM takes the log-softmax after truncation, renormalised over the kept tokens: each value
  is then higher than aha's by -log(kept mass). No vLLM mode reports the untruncated tempered value, so a
  truncated call logs a warning; GRPO samples untruncated (top_p 1, top_k 0) and is unaffected.
- Stop strings go to vLLM (the row stops there, the string kept); the text is decoded here from the token ids
  without special tokens and cut after the stop string, as the engine cuts it. EOS ids are the model's
  (config, generation config, tokenizer) and stay at the end of `token_ids`.
- `update_weights` loads the trainer's tensors (Hugging Face names) into the running engine and resets its
  prefix cache, whose KV was computed with the old weights.

In process: with `VLLM_ENABLE_V1_MULTIPROCESSING=0` (set here unless the caller chose otherwise; a choice
of 1 is refused) the engine core and its one worker live in this process, so weights reach the worker as
tensors, never serialised (the multiprocess path would pickle the loading function). Three effects of
vLLM's CPU worker on this process: it replaces `torch.set_num_threads` with a no-op (set threads before
building the backend, or with OMP_NUM_THREADS), binds memory allocation to the NUMA node of the first
allowed CPU, and, unlike its multiprocess executor, pins no OpenMP threads (VLLM_CPU_OMP_THREADS_BIND
applies only there): vLLM runs on torch's threads.

Settings from vLLM's CPU guide: `kv_cache_gib` is what VLLM_CPU_KVCACHE_SPACE sets (without it vLLM takes
90% of the node's memory, which a colocated trainer cannot spare); fp32 and eager mode (no torch.compile);
LD_PRELOAD of libtcmalloc and Intel's libiomp5 must be set before Python starts (`preload_hint` says what
this machine lacks). Chunked prefill is off: vLLM rewinds the generator of a seeded request whose prompt is
prefilled in chunks with `Generator.get_offset`, which a CPU generator lacks ("CPU Generator does not use
offset", vLLM 0.32), so a long prompt would end the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from aha.errors import DataError
from aha.models.load import context_length
from aha.rollout.sampling import row_seed
from aha.types import Completion, FinishReason, SamplingParams

log = logging.getLogger(__name__)

SEED_MASK = (1 << 63) - 1  # vLLM seeds a torch.Generator; 63 bits keep it a non-negative int64
IN_PROCESS = "VLLM_ENABLE_V1_MULTIPROCESSING"


def preload_hint() -> str | None:
    """What vLLM's CPU guide would LD_PRELOAD that this process lacks, as one line; None when nothing.

    tcmalloc (the system's libtcmalloc_minimal) and Intel OpenMP (libiomp5, shipped in the vLLM venv by the
    intel-openmp wheel) only take effect when preloaded before the interpreter starts.
    """
    preload = os.environ.get("LD_PRELOAD", "")
    missing = [name for name in ("libtcmalloc", "libiomp5") if name not in preload]
    if not missing:
        return None
    return f"LD_PRELOAD lacks {' and '.join(missing)} (vLLM's CPU guide preloads them for speed)"


@contextlib.contextmanager
def _global_rng_kept() -> Iterator[None]:
    """Restore torch's (CPU and CUDA), numpy's and Python's global generator states on the way out: building an
    engine in this process reseeds them, which would change the trainer's draws from them."""
    import random

    import numpy as np

    from aha.models.checkpoint import rng_state, set_rng_state

    states = (rng_state(), np.random.get_state(), random.getstate())
    try:
        yield
    finally:
        set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def checkpoint_names(directory: Path) -> set[str]:
    """The tensor names in a Hugging Face directory's safetensors files, read from their headers."""
    from safetensors import safe_open

    names: set[str] = set()
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(file, "pt") as handle:
            names |= set(handle.keys())
    return names


class VLLMBackend:
    """Samples with a `vllm.LLM` built in this process from a Hugging Face directory; implements
    `aha.types.GenerationBackend`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        eos_token_ids: Sequence[int] | None = None,
        dtype: str = "float32",
        max_model_len: int | None = None,
        kv_cache_gib: float = 1.0,
        max_num_seqs: int = 256,
    ) -> None:
        """eos_token_ids: the tokens that end a completion (default: the model's, as `LoadedModel` collects
        them); max_model_len: prompt and completion positions (default: the model's context); kv_cache_gib:
        memory for the KV cache; max_num_seqs: requests decoded together."""
        if os.environ.setdefault(IN_PROCESS, "0") != "0":
            raise ValueError(f"VLLMBackend runs vLLM in this process: unset {IN_PROCESS} or set it to 0")
        from vllm import LLM

        self.model_dir = Path(model_dir)
        self.max_model_len = max_model_len or context_length(self.model_dir) or 2048
        with _global_rng_kept():  # vLLM seeds torch's, numpy's and Python's global generators in its worker
            self.llm = LLM(
                model=str(self.model_dir),
                dtype=dtype,
                enforce_eager=True,
                logprobs_mode="processed_logprobs",
                kv_cache_memory_bytes=int(kv_cache_gib * (1 << 30)),
                max_model_len=self.max_model_len,
                enable_chunked_prefill=False,
                max_num_batched_tokens=max(self.max_model_len, 2048),
                max_num_seqs=max_num_seqs,
                seed=0,
            )
        self.weight_names = checkpoint_names(self.model_dir)
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_token_ids = tuple(eos_token_ids) if eos_token_ids is not None else self._model_eos()
        self._warned_truncation = False
        if (hint := preload_hint()) is not None:
            log.info("vLLM on the CPU: %s", hint)

    @classmethod
    def from_loaded(cls, loaded: Any, directory: str | Path, **options: Any) -> VLLMBackend:
        """Save `loaded` (an `aha.models.LoadedModel`) to `directory` in the Hugging Face layout and build a
        backend on it with the same EOS ids."""
        from aha.models.checkpoint import save_checkpoint

        save_checkpoint(loaded, directory)
        return cls(directory, eos_token_ids=loaded.eos_token_ids, **options)

    def _model_eos(self) -> tuple[int, ...]:
        """The config's and generation config's EOS ids, then the tokenizer's, as `LoadedModel` takes them."""
        model_config = self.llm.llm_engine.model_config
        generation = model_config.try_get_generation_config()
        ids: list[int] = []
        for value in (model_config.hf_config.eos_token_id, generation.get("eos_token_id")):
            ids += [] if value is None else [value] if isinstance(value, int) else list(value)
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        return tuple(dict.fromkeys(ids))

    def generate(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, *, prompt_keys: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        """params.n completions of each prompt (token ids); result[p][g] is sample g of prompt p."""
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        keys = list(range(len(prompts))) if prompt_keys is None else list(prompt_keys)
        if len(keys) != len(prompts):
            raise ValueError(f"{len(keys)} prompt keys for {len(prompts)} prompts")
        for index, prompt in enumerate(prompts):
            if len(prompt) == 0:
                raise ValueError(f"prompt {index} is empty: it needs at least one token")
            if len(prompt) >= self.max_model_len:
                context = self.max_model_len
                raise DataError(f"prompt {index} has {len(prompt)} tokens: the model's context holds {context}")
        self._warn_if_truncated(params)
        requests, sampling = [], []
        for p, prompt in enumerate(prompts):
            for g in range(params.n):
                requests.append(TokensPrompt(prompt_token_ids=list(prompt)))
                sampling.append(
                    VLLMSamplingParams(
                        n=1,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        top_k=params.top_k,
                        max_tokens=min(params.max_new_tokens, self.max_model_len - len(prompt)),
                        seed=row_seed(params.seed, keys[p], g) & SEED_MASK,
                        stop=list(params.stop),
                        include_stop_str_in_output=True,
                        stop_token_ids=[] if params.ignore_eos else list(self.eos_token_ids),
                        ignore_eos=params.ignore_eos,
                        logprobs=0,  # the sampled token's only
                    )
                )
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        completions = [self._completion(out.outputs[0], i // params.n, i % params.n) for i, out in enumerate(outputs)]
        return [completions[p * params.n : (p + 1) * params.n] for p in range(len(prompts))]

    def _warn_if_truncated(self, params: SamplingParams) -> None:
        truncated = params.temperature > 0 and (params.top_k > 0 or params.top_p < 1.0)
        if truncated and not self._warned_truncation:
            log.warning(
                "vLLM reports log-probs of the top-k/top-p truncated distribution, renormalised: each is higher "
                "than aha's log_softmax(logits / temperature) by -log(kept mass)"
            )
            self._warned_truncation = True

    def _completion(self, output: Any, prompt_index: int, sample_index: int) -> Completion:
        token_ids = list(output.token_ids)
        logprobs = [float(step[token].logprob) for step, token in zip(output.logprobs, token_ids, strict=True)]
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        if isinstance(output.stop_reason, str) and (cut := text.find(output.stop_reason)) >= 0:
            text = text[: cut + len(output.stop_reason)]
        finish: FinishReason
        if output.finish_reason == "length":
            finish = "length"
        elif output.finish_reason == "stop":
            finish = "stop"
        else:
            raise RuntimeError(f"vLLM ended a completion with {output.finish_reason!r}, neither 'stop' nor 'length'")
        return Completion(
            prompt_index=prompt_index,
            sample_index=sample_index,
            token_ids=token_ids,
            logprobs=logprobs,
            text=text,
            finish_reason=finish,
        )

    def update_weights(self, named_tensors: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load new weights (every tensor of the model, under Hugging Face names, as
        `aha.models.checkpoint.hf_state_dict` gives them) into the running engine, and drop its prefix cache.

        Call it between `generate` calls, never during one. The names must be those of the checkpoint the
        engine was built from, all of them: vLLM's reload takes a partial state with a warning only.
        """
        pairs = list(named_tensors.items()) if isinstance(named_tensors, Mapping) else list(named_tensors)
        names = {name for name, _ in pairs}
        missing, unknown = sorted(self.weight_names - names), sorted(names - self.weight_names)
        if missing or unknown:
            raise ValueError(
                f"update_weights takes every tensor of {self.model_dir.name}: {len(missing)} missing "
                f"{missing[:3]}, {len(unknown)} unknown {unknown[:3]}"
            )
        weights = [(name, tensor.detach().to("cpu").contiguous()) for name, tensor in pairs]
        self.llm.collective_rpc(_reload_weights, args=(weights,))
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM did not reset its prefix cache (a request still running?)")

    def close(self) -> None:
        """Shut the engine down (its worker, KV cache and process group); the backend is unusable after."""
        self.llm.llm_engine.engine_core.shutdown()

    def __enter__(self) -> VLLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_state(self, loaded: Any) -> None:
        """`update_weights` from an `aha.models.LoadedModel` (the trainer's policy)."""
        from aha.models.checkpoint import hf_state_dict

        self.update_weights(hf_state_dict(loaded))


def _reload_weights(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
    """Runs on vLLM's worker (in this process): reload the weights in place, then re-pack the LM head.

    vLLM's CPU linear layers multiply with a packed copy of their weight (oneDNN's blocked layout), which
    the layerwise reload rebuilds for every layer it loads. The LM head of a model with tied embeddings
    (SmolLM2) is never loaded itself, so its packed copy kept the old embedding (measured: log-probs off by
    up to 0.9 after a perturbation) until packed again from the shared weight here.
    """
    worker.reload_weights(weights_iterator=iter(weights))
    head = worker.model_runner.get_model().lm_head
    head.quant_method.process_weights_after_loading(head)
