"""The GPU check (`python scripts/gpu_check.py`): what aha does on one accelerator, in one short run.

A GPU machine is lent for minutes at a time, starts bare and reaches no network, so no weights can be
downloaded there. Speed depends on a model's shape, not on its values, so the check builds randomly
initialised models of published shapes (SmolLM2-135M's, the default model's, and Qwen2.5-0.5B's), saves
them in the Hugging Face layout with the shipped default tokenizer, loads them through aha's own loader
and measures, for each shape:

- `train`: one policy update (forward, GRPO loss, backward, gradient clipping, fused AdamW step:
  `aha.learn.step.update`) on a GRPO-shaped batch of random tokens, P prompts of Tp tokens with G
  completions of Tc tokens each, packed as the trainer packs them (each prompt once); timed after a
  warm-up step, with the device synchronised. Its FLOPs are those of the work done, as `aha bench train`
  counts them:

      6 x (matmul parameters x tokens computed + vocabulary x hidden x completion tokens)
      + 12 x layers x heads x head dim x (query, key) pairs attended

  where the matmul parameters are every weight matrix outside the embedding (q, k, v, o, gate, up, down;
  no norms or biases), the vocabulary projection runs only at the positions that predict a completion
  token, and 6 = 2 (multiply-add) x 3 (forward; backward for inputs and for weights). MFU is that count
  over the step's seconds, divided by the card's dense peak for the dtype (`PEAKS`, or `--peak-tflops`);
  null where the peak is unknown (a CPU).
- `generate_native`: tokens/s of aha's engine (`aha.rollout.engine.Engine`) on the GRPO step's sampling
  workload, P prompts x G samples x N new tokens with EOS ignored, so every run generates the same count.
- `generate_vllm`: the same workload through vLLM, where `import vllm` works on a CUDA machine; else
  recorded as skipped with the reason.
- `grpo`: a few steps of the real GRPO stage (`aha.stages.grpo.run`, the default recipe on the random
  model, every completion run to the length limit), with the stage's own split of each step's seconds
  into sampling, scoring and training.

Never a test dependency: the test runs the script on the CPU with the `tiny` shape only.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from aha.defaults import DEFAULT_MODEL, GRPO_RECIPE
from aha.devices import keep_freed_memory, resolve_device, resolve_dtype
from aha.errors import AhaError

log = logging.getLogger(__name__)

FLOP_FORMULA = (
    "6 x (matmul parameters x tokens computed + vocabulary x hidden x completion tokens)"
    " + 12 x layers x heads x head dim x attended (query, key) pairs"
)


@dataclass(frozen=True, kw_only=True)
class Shape:
    """A decoder's architecture numbers, as its published config.json gives them."""

    model_type: str  # llama | qwen2 (Qwen2 always has q/k/v biases)
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    rope_theta: float
    max_positions: int
    rms_norm_eps: float
    source: str  # where the numbers come from

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True, kw_only=True)
class Workload:
    """What each measurement runs: the GRPO step's shape (P prompts, G samples each) and its lengths."""

    prompts: int  # P
    group_size: int  # G
    prompt_tokens: int  # Tp, random tokens per prompt
    train_tokens: int  # Tc, completion tokens per row in the training step
    new_tokens: int  # tokens generated per sample (generation and GRPO steps)
    train_steps: int  # timed training steps, after one warm-up step
    grpo_steps: int  # GRPO stage steps; the first is a warm-up and left out of the medians


SHAPES = {
    "smollm2-135m": Shape(
        model_type="llama", hidden_size=576, num_layers=30, num_heads=9, num_kv_heads=3, intermediate_size=1536,
        vocab_size=49152, rope_theta=100000.0, max_positions=8192, rms_norm_eps=1e-5,
        source="HuggingFaceTB/SmolLM2-135M config.json",
    ),
    "qwen2.5-0.5b": Shape(
        model_type="qwen2", hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, intermediate_size=4864,
        vocab_size=151936, rope_theta=1000000.0, max_positions=32768, rms_norm_eps=1e-6,
        source="Qwen/Qwen2.5-0.5B config.json",
    ),
    "tiny": Shape(
        model_type="llama", hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128,
        vocab_size=49152, rope_theta=100000.0, max_positions=2048, rms_norm_eps=1e-5,
        source="a 2-layer Llama with SmolLM2's vocabulary, for the CPU test",
    ),
}  # fmt: skip

# The default recipe's sampling shape (4 prompts x 8 samples x 256 tokens, as `aha bench generate`), and
# a training batch with R1-length completions (768 tokens: the r1-qwen recipe's limit).
GRPO_WORKLOAD = Workload(
    prompts=4, group_size=8, prompt_tokens=128, train_tokens=768, new_tokens=256, train_steps=5, grpo_steps=3
)
TINY_WORKLOAD = Workload(
    prompts=2, group_size=4, prompt_tokens=8, train_tokens=16, new_tokens=16, train_steps=2, grpo_steps=3
)
WORKLOADS = {"tiny": TINY_WORKLOAD}  # every other shape runs GRPO_WORKLOAD

# Dense (no sparsity) tensor-core peaks from NVIDIA's data sheets, TFLOP/s, matched against
# torch.cuda.get_device_name() in this order (the first fragment found wins: PCIe and NVL before H100).
PEAKS = (
    ("H100 PCIe", torch.bfloat16, 756.0),
    ("H100 NVL", torch.bfloat16, 835.0),
    ("H100", torch.bfloat16, 989.0),  # SXM (reported as "H100 80GB HBM3")
    ("H200", torch.bfloat16, 989.0),
    ("A100", torch.bfloat16, 312.0),
)

SECTIONS = ("train", "generate_native", "grpo", "generate_vllm")
# What a section may raise and be recorded with: aha's own errors, CUDA's (out of memory is a RuntimeError),
# files, and the programming errors a first run on a new machine or a new vLLM version can turn up.
FAILURES = (AhaError, RuntimeError, ValueError, OSError, ImportError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True, kw_only=True)
class CheckConfig:
    device: str = "cuda"
    shapes: tuple[str, ...] = ("smollm2-135m", "qwen2.5-0.5b")
    dtype: str | None = None  # None: the device's default (bf16 on CUDA, fp32 on CPU)
    peak_tflops: float | None = None  # overrides PEAKS
    budget_s: float = 540.0  # no section starts after this many seconds (the check must fit 10 minutes)

    def __post_init__(self) -> None:
        unknown = [name for name in self.shapes if name not in SHAPES]
        if unknown or not self.shapes:
            raise AhaError(f"shapes {', '.join(unknown) or '(none)'}: choose from {', '.join(SHAPES)}")


def training_flops(
    *, matmul_params: int, vocab_size: int, hidden_size: int, layers: int, heads: int, head_dim: int,
    tokens: int, predicted: int, pairs: int,
) -> int:  # fmt: skip
    """FLOPs of one forward + backward, counted as FLOP_FORMULA says."""
    return 6 * (matmul_params * tokens + vocab_size * hidden_size * predicted) + 12 * layers * heads * head_dim * pairs


def mfu(flops: float, seconds: float, peak_tflops: float | None) -> float | None:
    """Model FLOPs utilisation: the achieved FLOP/s over the peak; None without a peak."""
    return None if peak_tflops is None else flops / seconds / (peak_tflops * 1e12)


def table_peak(device_name: str, dtype: torch.dtype) -> tuple[float | None, str]:
    """(dense peak TFLOP/s, where it comes from) for this device and dtype; (None, why) when not in PEAKS."""
    for fragment, peak_dtype, peak in PEAKS:
        if fragment in device_name and peak_dtype == dtype:
            return peak, f"table: {fragment} {str(dtype).removeprefix('torch.')} dense"
    return None, f"no peak known for {device_name} in {str(dtype).removeprefix('torch.')} (give --peak-tflops)"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def shipped_tokenizer() -> Any:
    """The default model's tokenizer without loading its weights: from the dequantized copy's directory
    when one exists (a second), else read from the shipped GGUF file (about 10 s)."""
    from transformers import AutoTokenizer

    from aha.models.load import gguf_cache_dir, shipped_path

    path = shipped_path(DEFAULT_MODEL)
    cached = gguf_cache_dir(path)
    if (cached / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(cached, local_files_only=True)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


def hf_config(shape: Shape, tokenizer: Any) -> Any:
    """The transformers config of a shape, with the tokenizer's special tokens."""
    from transformers import LlamaConfig, Qwen2Config

    common = {
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_layers,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads,
        "max_position_embeddings": shape.max_positions,
        "rope_theta": shape.rope_theta,
        "rms_norm_eps": shape.rms_norm_eps,
        "tie_word_embeddings": True,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if shape.model_type == "qwen2":
        return Qwen2Config(**common, use_sliding_window=False)
    return LlamaConfig(**common)


def write_model(shape: Shape, tokenizer: Any, directory: Path, dtype: torch.dtype) -> Path:
    """A randomly initialised model of `shape` (seed 0) with the tokenizer, saved in the Hugging Face layout."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(shape, tokenizer), dtype=dtype)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def matmul_params(model: torch.nn.Module) -> int:
    """Weights of the matmuls outside the embedding (norms and biases excluded; a tied head counted once)."""
    return sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n and "lm_head" not in n
    )


def token_limit(shape: Shape, tokenizer: Any) -> int:
    """One past the largest token id that both the model and the tokenizer know (random tokens stay below)."""
    return min(shape.vocab_size, len(tokenizer))


def random_prompts(count: int, length: int, high: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(100, high, (count, length), generator=generator).tolist()


def measure_train(loaded: Any, shape: Shape, work: Workload, peak_tflops: float | None) -> dict[str, Any]:
    """Seconds, tokens/s, FLOPs and MFU of the policy update on a packed GRPO-shaped batch (module docstring)."""
    from aha.learn.batch import build_batch
    from aha.learn.optim import OptimConfig, make_optimizer
    from aha.learn.packing import pack_rows, rows_of
    from aha.learn.step import UpdateConfig, update

    model = loaded.model
    high = token_limit(shape, loaded.tokenizer)
    prompts = [p for p in random_prompts(work.prompts, work.prompt_tokens, high, 1) for _ in range(work.group_size)]
    completions = random_prompts(len(prompts), work.train_tokens, high, 2)
    old = [[0.0] * work.train_tokens for _ in prompts]  # unused: the ratio is taken against this pass
    adv = torch.randn(len(prompts), generator=torch.Generator().manual_seed(3)).tolist()
    batch = build_batch(prompts, completions, old, adv, pad_id=0, share_prefix=False)
    # One group per micro-batch: each prompt is computed once, as in a GRPO run with micro_rows = G.
    autocast = "bfloat16" if model.dtype == torch.bfloat16 else None
    cfg = UpdateConfig(micro_rows=work.group_size, autocast=autocast)
    tokens = predicted = pairs = 0
    for start in range(0, batch.rows, cfg.micro_rows):
        micro = batch.select(slice(start, start + cfg.micro_rows))
        if hasattr(model, "packed_hidden"):  # the native decoder: packed, as `policy_logprobs` runs it
            packed = pack_rows(*rows_of(micro.input_ids, micro.attention_mask, micro.mask, micro.prompt_width), 0)
            tokens, pairs = tokens + packed.tokens.shape[0], pairs + packed.attended_pairs()
            predicted += packed.targets.shape[0]
        else:  # transformers' model: padded rows, each computing its own prompt
            width = micro.input_ids.shape[1]
            tokens, pairs = tokens + micro.rows * width, pairs + micro.rows * width * (width + 1) // 2
            predicted += micro.mask.numel()
    weights = matmul_params(model)
    flops = training_flops(
        matmul_params=weights, vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, layers=shape.num_layers,
        heads=shape.num_heads, head_dim=shape.head_dim, tokens=tokens, predicted=predicted, pairs=pairs,
    )  # fmt: skip
    batch = batch.to(model.device)
    optimizer, _ = make_optimizer(model, OptimConfig(lr=1e-6), work.train_steps + 1)
    seconds = []
    for step in range(work.train_steps + 1):
        _sync(model.device)
        begin = time.perf_counter()
        update(model, optimizer, batch, cfg, old_from_current=True)
        _sync(model.device)
        if step > 0:  # the first is the warm-up
            seconds.append(time.perf_counter() - begin)
    del optimizer
    median = statistics.median(seconds)
    return {
        "rows": batch.rows,
        "tokens": tokens,  # computed: each prompt once, every completion token
        "completion_tokens": predicted,
        "attended_pairs": pairs,
        "matmul_params": weights,
        "flops": flops,
        "autocast": autocast,
        "seconds": [round(s, 4) for s in seconds],
        "seconds_median": round(median, 4),
        "tokens_per_s": round(tokens / median, 1),
        "tflops_per_s": round(flops / median / 1e12, 4),
        "mfu": None if peak_tflops is None else round(mfu(flops, median, peak_tflops), 4),
    }


def grpo_sampling(work: Workload, seed: int = 0) -> Any:
    """The GRPO step's sampling settings (temperature 1, no truncation), every sample run to the limit."""
    from aha.types import SamplingParams

    n, tokens = work.group_size, work.new_tokens
    return SamplingParams(n=n, temperature=1.0, max_new_tokens=tokens, seed=seed, ignore_eos=True)


def measure_native(loaded: Any, shape: Shape, work: Workload) -> dict[str, Any]:
    """Tokens/s of aha's engine on the sampling workload, after one untimed call of the same size."""
    from aha.rollout.engine import Engine

    prompts = random_prompts(work.prompts, work.prompt_tokens, token_limit(shape, loaded.tokenizer), 4)
    # As the GRPO stage builds it: the weights change between steps, so the decode copies are made per call.
    engine = Engine(loaded.model, loaded.tokenizer, loaded.eos_token_ids, max_rows=work.prompts * work.group_size)
    engine.generate(prompts, grpo_sampling(work))
    _sync(loaded.model.device)
    begin = time.perf_counter()
    groups = engine.generate(prompts, grpo_sampling(work, seed=1))
    _sync(loaded.model.device)
    seconds = time.perf_counter() - begin
    tokens = sum(len(c.token_ids) for group in groups for c in group)
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1)}


def vllm_unavailable(device: torch.device) -> str | None:
    """Why the vLLM measurement cannot run here, or None."""
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        return f"vllm is not importable ({type(error).__name__}: {error})"
    if device.type != "cuda":
        return "vLLM is measured on CUDA only"
    return None


def measure_vllm(directory: Path, high: int, work: Workload, dtype: torch.dtype) -> dict[str, Any]:
    """Tokens/s of vLLM's offline engine on the same workload and prompts, after one untimed call; its
    start-up (weights, compilation, CUDA graphs) timed apart. Nothing is detokenized: the random model
    draws ids past the tokenizer's end."""
    import vllm

    begin = time.perf_counter()
    # No tokenizer: the prompts are token ids and nothing is detokenized, so vLLM's transformers version
    # need not read the tokenizer files this one wrote.
    llm = vllm.LLM(
        model=str(directory), dtype=str(dtype).removeprefix("torch."), seed=0, gpu_memory_utilization=0.5,
        max_model_len=work.prompt_tokens + work.new_tokens + 16, skip_tokenizer_init=True,
    )  # fmt: skip
    startup = time.perf_counter() - begin
    prompts = [{"prompt_token_ids": p} for p in random_prompts(work.prompts, work.prompt_tokens, high, 4)]
    params = vllm.SamplingParams(
        n=work.group_size, temperature=1.0, max_tokens=work.new_tokens, ignore_eos=True, detokenize=False, seed=0
    )
    try:
        llm.generate(prompts, params, use_tqdm=False)
        begin = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - begin
    finally:
        del llm
        gc.collect()
        torch.cuda.empty_cache()
    tokens = sum(len(o.token_ids) for request in outputs for o in request.outputs)
    return {
        "vllm": vllm.__version__,
        "startup_s": round(startup, 1),
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
    }


def measure_grpo(directory: Path, work: Workload, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """A few steps of the GRPO stage on the random model; each step's seconds as the stage splits them."""
    from aha import recipes
    from aha.config import load_config
    from aha.stages.grpo import GRPOConfig, run
    from aha.track.run_dir import RunDir

    bf16 = dtype == torch.bfloat16
    overrides = [
        f"model={directory}", f"device={device}", f"dtype={str(dtype).removeprefix('torch.')}",
        f"steps={work.grpo_steps}", f"save_every={work.grpo_steps}", "eval_every=0", "task.held_out=4",
        f"group_size={work.group_size}", f"prompts_per_step={work.prompts}", f"max_new_tokens={work.new_tokens}",
        "ignore_eos=true", "prompt.stop=[]", "sampler_dtype=null", f"update.autocast={'bfloat16' if bf16 else 'null'}",
    ]  # fmt: skip
    cfg = load_config(GRPOConfig, recipes.find(GRPO_RECIPE), overrides)
    begin = time.perf_counter()
    run(cfg, directory.parent / f"{directory.name}-grpo")
    wall = time.perf_counter() - begin
    steps = []
    for m in RunDir(directory.parent / f"{directory.name}-grpo").read("metrics.jsonl"):
        split = {k: m[f"time_{k}"] for k in ("sampling", "scoring", "training")}
        tokens = round(m["length_mean"] * m["groups_sampled"] * work.group_size)  # sampled completion tokens
        steps.append({"step": m["step"], **split, "seconds": round(sum(split.values()), 3), "tokens": tokens})
    timed = steps[1:] or steps  # the first step is the warm-up
    median = statistics.median(s["seconds"] for s in timed)
    return {
        "recipe": GRPO_RECIPE,
        "steps": steps,
        "seconds_per_step": round(median, 3),
        **{f"{k}_s": round(statistics.median(s[k] for s in timed), 3) for k in ("sampling", "scoring", "training")},
        "tokens_per_s": round(statistics.median(s["tokens"] / s["seconds"] for s in timed), 1),
        "stage_wall_s": round(wall, 1),  # loading, held-out evaluations, checkpoint, plots and report included
    }


Emit = Callable[[str, str, dict[str, Any], dict[str, Any]], None]  # (shape, section, record, all results)


def run(cfg: CheckConfig, emit: Emit | None = None) -> dict[str, Any]:
    """Every section for every shape (aha's first, vLLM's last); `emit` is called after each section."""
    from aha.models import load
    from aha.models.llama import unsupported_reason

    started = time.perf_counter()
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    name = device_name(device)
    peak, peak_source = (cfg.peak_tflops, "--peak-tflops") if cfg.peak_tflops else table_peak(name, dtype)
    results: dict[str, Any] = {
        "device": name, "device_type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
        "dtype": str(dtype).removeprefix("torch."), "threads": torch.get_num_threads(), "peak_tflops": peak,
        "peak_source": peak_source, "flop_formula": FLOP_FORMULA, "budget_s": cfg.budget_s, "shapes": {},
    }  # fmt: skip
    if device.type == "cpu":
        keep_freed_memory()  # as `aha train` does

    def section(shape_name: str, key: str, measure: Callable[[], dict[str, Any]], skip: str | None = None) -> None:
        record = results["shapes"][shape_name]
        if skip is None and time.perf_counter() - started > cfg.budget_s:
            skip = f"the time budget ({cfg.budget_s:g} s) was spent"
        if skip is not None:
            record[key] = {"skipped": skip}
        else:
            # A section that fails is recorded (and the exit status says so) while the others still run: a
            # lent machine's minutes are few, and one failure should not cost the rest of the figures.
            try:
                record[key] = measure()
            except FAILURES as error:
                record[key] = {"error": f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"}
        results["wall_s"] = round(time.perf_counter() - started, 1)
        if emit is not None:
            emit(shape_name, key, record[key], results)

    tokenizer = shipped_tokenizer()
    with tempfile.TemporaryDirectory(prefix="aha-gpu-check-") as tmp:
        directories = {}
        for shape_name in cfg.shapes:
            shape, work = SHAPES[shape_name], WORKLOADS.get(shape_name, GRPO_WORKLOAD)
            directory = directories[shape_name] = write_model(shape, tokenizer, Path(tmp) / shape_name, dtype)
            reason = unsupported_reason(hf_config(shape, tokenizer))
            if reason is not None:
                log.warning("%s: aha's native decoder cannot run it (%s): transformers runs it", shape_name, reason)
            record = results["shapes"][shape_name] = {
                "shape": dataclasses.asdict(shape), "workload": dataclasses.asdict(work),
                "backend": "native" if reason is None else "hf",
                "backend_note": None if reason is None else f"aha's native decoder cannot run it ({reason})",
            }  # fmt: skip
            loaded = load(directory, device=device, dtype=dtype, backend=record["backend"])
            record["params"] = sum(p.numel() for p in loaded.model.parameters())  # a tied head counted once
            section(shape_name, "train", partial(measure_train, loaded, shape, work, peak))
            section(shape_name, "generate_native", partial(measure_native, loaded, shape, work))
            del loaded
            _free(device)
            section(shape_name, "grpo", partial(measure_grpo, directory, work, device, dtype))
            _free(device)
        why = vllm_unavailable(device)
        for shape_name in cfg.shapes:
            shape, work = SHAPES[shape_name], WORKLOADS.get(shape_name, GRPO_WORKLOAD)
            high = token_limit(shape, tokenizer)
            measure = partial(measure_vllm, directories[shape_name], high, work, dtype)
            section(shape_name, "generate_vllm", measure, skip=why)
    return results


def summary(shape: str, key: str, record: dict[str, Any]) -> str:
    """One line for a section's record."""
    if "skipped" in record:
        return f"{shape} {key}: skipped: {record['skipped']}"
    if "error" in record:
        return f"{shape} {key}: ERROR {record['error']}"
    if key == "train":
        share = "MFU n/a (no peak)" if record["mfu"] is None else f"MFU {record['mfu']:.1%}"
        return (
            f"{shape} train: {record['seconds_median']:.3f} s/step, {record['tokens_per_s']:.0f} tokens/s, "
            f"{record['tflops_per_s']:.3g} TFLOP/s ({record['flops'] / 1e12:.3g} TFLOP a step), {share}"
        )
    if key == "grpo":
        return (
            f"{shape} grpo: {record['seconds_per_step']:.2f} s/step (sampling {record['sampling_s']:.2f}, scoring "
            f"{record['scoring_s']:.2f}, training {record['training_s']:.2f}), {record['tokens_per_s']:.0f} tokens/s"
        )
    rate = f"{record['tokens']} tokens in {record['seconds']:.2f} s, {record['tokens_per_s']:.0f} tokens/s"
    return f"{shape} {key}: {rate}" + (f" (start-up {record['startup_s']} s)" if "startup_s" in record else "")


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
