"""`aha bench train`: the training pass's throughput and its share of this machine's matmul peak.

The peak is measured in the same run, right before each timed pass: the best rate of a large square matmul
in the dtype used. The
training pass is aha's policy update (forward, GRPO loss, backward; no optimiser step) on a GRPO batch of
the default recipe's shape: P prompts (a shared system message and solved example, then a question) with
G completions each, packed as the trainer packs them. Its FLOPs are counted from the work it does:

    6 x (body matmul parameters x tokens computed + vocabulary projection x completion tokens)
    + 12 x layers x heads x head dim x (query, key) pairs attended

where tokens computed are the shared prefix once, each distinct prompt once and every completion token
(the vocabulary projection runs at completion positions only), and 6 = 2 (multiply-add) x 3 (forward,
and backward for inputs and weights). With packing off the padded batch is counted the same way, over
the positions it computes. The vocabulary projection that the backward pass recomputes (see
`aha.algo.logprobs.linear_logprobs`) is not counted: it is extra work, not model FLOPs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from aha.bench.configs import TrainBenchConfig
from aha.defaults import GRPO_RECIPE
from aha.devices import keep_freed_memory, resolve_dtype
from aha.learn.batch import RolloutBatch, build_batch
from aha.learn.packing import pack_rows, rows_of


def matmul_peak(dtype: torch.dtype, device: str = "cpu", size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a [size,size] @ [size,size] matmul in `dtype` (the machine's practical peak)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    out = a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def grpo_batch(tokenizer: Any, cfg: TrainBenchConfig) -> RolloutBatch:
    """A batch of the default recipe's shape: its prompt template and questions, random completions."""
    from aha import recipes
    from aha.config import load_config
    from aha.data.templates import get_template
    from aha.stages.grpo import GRPOConfig
    from aha.tasks import build_task

    recipe = load_config(GRPOConfig, recipes.find(GRPO_RECIPE))
    template = get_template(
        recipe.prompt.template, system=recipe.prompt.system, examples=tuple(map(tuple, recipe.prompt.examples))
    )
    train, _ = build_task(recipe.task, cfg.seed)
    prompts = [template.encode(s.prompt, tokenizer) for s in train[: cfg.prompts] for _ in range(cfg.group_size)]
    generator = torch.Generator().manual_seed(cfg.seed)
    completions = [torch.randint(100, 40_000, (cfg.completion_tokens,), generator=generator).tolist() for _ in prompts]
    old = [[-2.0] * cfg.completion_tokens for _ in prompts]
    adv = torch.randn(len(prompts), generator=generator).tolist()
    return build_batch(prompts, completions, old, adv, pad_id=tokenizer.pad_token_id or 0)


def training_flops(model: Any, batch: RolloutBatch, packing: bool) -> float:
    """FLOPs of one forward+backward over the batch, counted as in the module docstring."""
    spec = model.spec
    head = spec.vocab_size * spec.hidden_size
    body = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n and "lm_head" not in n
    )
    prefix = 0 if batch.prefix is None else batch.prefix.shape[0]
    completion = int(batch.mask.sum())
    if packing:
        prompts, completions = rows_of(batch.input_ids, batch.attention_mask, batch.mask, batch.prompt_width)
        packed = pack_rows(prompts, completions, batch.mask.shape[1], prefix)
        tokens = prefix + packed.tokens.shape[0]
        pairs = prefix * (prefix + 1) // 2 + packed.attended_pairs(prefix)
    else:
        width = batch.input_ids.shape[1]
        tokens = prefix + batch.rows * width
        pairs = prefix * (prefix + 1) // 2 + batch.rows * (width * (width + 1) // 2 + width * prefix)
    attention = 12 * spec.num_layers * spec.num_heads * spec.head_dim * pairs
    return 6 * (body * tokens + head * completion) + attention


def run(cfg: TrainBenchConfig) -> dict[str, Any]:
    from aha.algo import aggregate
    from aha.algo.loss import grpo_token_loss
    from aha.learn.step import UpdateConfig, policy_logprobs, precision
    from aha.models import load

    if cfg.device == "cpu":
        keep_freed_memory()  # as `aha train` does
    loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    model = loaded.model
    update_cfg = UpdateConfig(autocast=cfg.autocast, packing=cfg.packing)
    dtype = resolve_dtype(cfg.autocast, model.device) if cfg.autocast else model.dtype
    batch = grpo_batch(loaded.tokenizer, cfg).to(model.device)
    reduce = aggregate.get("seq_mean_token_mean")
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)  # as the update does
        with precision(update_cfg, model.device):
            logp, _ = policy_logprobs(model, batch, 1.0, cfg.packing)
        per_token, _ = grpo_token_loss(logp, batch.old_logp, batch.adv, eps_low=0.2, eps_high=0.2)
        reduce(per_token, batch.mask, 0).backward()

    step()  # warm-up
    # On a shared machine the attainable rate drifts from second to second, so the peak is measured right
    # before each timed pass and the share is that pass's rate over that peak; the median share is reported.
    flops = training_flops(model, batch, cfg.packing)
    seconds, peaks = [], []
    for _ in range(cfg.repeats):
        peaks.append(matmul_peak(dtype, cfg.device))
        _sync(cfg.device)
        start = time.perf_counter()
        step()
        _sync(cfg.device)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    share = statistics.median(flops / s / p for s, p in zip(seconds, peaks, strict=True))
    peak = statistics.median(peaks)
    row_tokens = int(batch.attention_mask.sum()) + batch.rows * (0 if batch.prefix is None else batch.prefix.shape[0])
    return {
        "model": cfg.model,
        "dtype": str(dtype).removeprefix("torch.") + (" (autocast)" if cfg.autocast else ""),
        "threads": torch.get_num_threads(),
        "rows": batch.rows,
        "packing": cfg.packing,
        "completion_tokens": int(batch.mask.sum()),
        "row_tokens": row_tokens,  # prompt + completion tokens of every row, as a padded trainer would count them
        "seconds": round(median, 3),
        "tokens_per_s": round(row_tokens / median, 1),
        "completion_tokens_per_s": round(int(batch.mask.sum()) / median, 1),
        "gflop": round(flops / 1e9, 1),
        "gflop_per_s": round(flops / median / 1e9, 1),
        "peak_gflop_per_s": round(peak / 1e9, 1),
        "share_of_peak": round(share, 3),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
