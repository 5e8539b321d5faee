"""The `aha` command line: parse options, build one stage's config, run it.

Heavy modules (torch, transformers) are imported inside each command, so `aha --help` is instant.
Errors caused by input (a missing file, a bad option, a model that cannot load) print one line,
`aha: error: ...`, and exit with status 2. Every option's range, the output location and the model's
files are checked before any model loads, so a mistake costs seconds, not a model load or a run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from aha.errors import AhaError, ConfigError, ModelLoadError
from aha.ranges import COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, SEED, TEMPERATURE, TOP_P, Range

DTYPE_NAMES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")  # aha.devices.DTYPES and auto


class UsageError(AhaError):
    """A command line that argparse rejects (unknown option, missing argument, a value out of range)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors reported like every other aha error: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _text(text: str) -> str:
    """argparse type of a value that must not be empty (a field name, a stop string, a prompt)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not cpu, cuda or cuda:N")
    return text


def _input_file(text: str) -> str:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file")
    return text


def _numbers(allowed: Range) -> Callable[[str], tuple[Any, ...]]:
    """argparse type of a comma-separated list, each item in `allowed` (at least one)."""

    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(allowed.parse(item.strip()) for item in text.split(",") if item.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least one value, each {allowed}")
        return values

    return parse


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="smollm2-135m",
        help="shipped name (smollm2-135m), Hugging Face model directory, .gguf file or checkpoint",
    )
    parser.add_argument("--device", type=_device, default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--dtype",
        choices=DTYPE_NAMES,
        default=None,
        help="float32 | bfloat16 | float16 (default: float32 on CPU, bfloat16 on CUDA)",
    )


def _add_sampling_options(
    parser: argparse.ArgumentParser, *, n: int, temperature: float, top_p: float, max_new_tokens: int
) -> None:
    parser.add_argument("--n", type=COUNT.parse, default=n, help=f"samples per prompt (default {n})")
    parser.add_argument("--temperature", type=TEMPERATURE.parse, default=temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=TOP_P.parse, default=top_p, help="in (0, 1]; 1 keeps every token")
    parser.add_argument("--top-k", type=NON_NEGATIVE_INT.parse, default=0, help="0 disables")
    parser.add_argument(
        "--max-new-tokens", type=COUNT.parse, default=max_new_tokens, help="at most the model's context length"
    )
    parser.add_argument("--seed", type=SEED.parse, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aha", description="Train reasoning models with RL on verifiable rewards.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="sample completions from a model or checkpoint")
    _add_model_options(generate)
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", type=_text, help="one prompt")
    source.add_argument("--prompts", type=_input_file, metavar="FILE.jsonl", help="one JSON object per line")
    generate.add_argument("--prompt-field", type=_text, default="prompt", help="field holding the prompt in --prompts")
    generate.add_argument("--out", metavar="FILE.jsonl", help="write completions here (default: stdout)")
    generate.add_argument("--template", default="chat", choices=["chat", "r1zero", "raw"])
    generate.add_argument("--system", help="system message (chat template only)")
    generate.add_argument("--think", action="store_true", help="pre-fill <think> as the start of each response")
    generate.add_argument("--stop", type=_text, action="append", default=[], help="stop string (repeatable)")
    generate.add_argument("--max-rows", type=COUNT.parse, default=64, help="rows decoded together")
    _add_sampling_options(generate, n=1, temperature=0.7, top_p=0.95, max_new_tokens=256)
    generate.set_defaults(func=_generate)

    train = commands.add_parser(
        "train",
        help="GRPO training from a recipe (default: r1zero-arith)",
        description="Run a recipe. Any config field can be set as key=value, e.g. "
        "steps=20 group_size=4 optim.lr=2e-5 task.difficulty=3.",
    )
    train.add_argument(
        "recipe", nargs="?", default=None, help="shipped recipe name or .yaml path (default: r1zero-arith)"
    )
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    train.add_argument("--out", help="run directory (default: runs/<recipe>-<date-time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last complete checkpoint")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "eval",
        help="pass@1 / pass@k / cons@k / greedy accuracy on shipped benchmarks",
        description="Evaluate a model, checkpoint or `aha train` run directory on shipped benchmarks "
        "(gsm8k, math500, aime24, countdown, humaneval, mbpp). Resumable: rerun the same command.",
    )
    evaluate.add_argument("model", nargs="?", default="smollm2-135m", help="model, checkpoint or run directory")
    evaluate.add_argument("--bench", default="gsm8k", help="comma-separated benchmark names")
    evaluate.add_argument("--samples", type=COUNT.parse, default=4, help="samples per prompt (k)")
    evaluate.add_argument(
        "--k", type=_numbers(COUNT), default=(1,), help="comma-separated k for pass@k, each <= --samples"
    )
    evaluate.add_argument("--temperature", type=TEMPERATURE.parse, default=0.6)
    evaluate.add_argument("--top-p", type=TOP_P.parse, default=0.95)
    evaluate.add_argument("--max-new-tokens", type=COUNT.parse, default=1024)
    evaluate.add_argument("--no-greedy", action="store_true", help="skip the greedy completion per prompt")
    evaluate.add_argument("--template", default="chat", choices=["chat", "r1zero", "raw"])
    evaluate.add_argument("--system", help="system message (chat template only)")
    evaluate.add_argument("--think", action="store_true", help="pre-fill <think> as the start of each response")
    evaluate.add_argument("--limit", type=COUNT.parse, help="first n prompts of each benchmark (default: all)")
    evaluate.add_argument("--out", default="eval", help="output directory (default: eval)")
    evaluate.add_argument("--seed", type=SEED.parse, default=0)
    evaluate.add_argument("--max-rows", type=COUNT.parse, default=64, help="rows decoded together")
    evaluate.add_argument("--device", type=_device, default="cpu")
    evaluate.add_argument("--dtype", choices=DTYPE_NAMES, default=None)
    evaluate.set_defaults(func=_eval)

    grade = commands.add_parser(
        "grade",
        help="score a JSONL file of responses with rewards",
        description="Score every line of FILE.jsonl (fields: response, answer, optional meta/id/prompt) "
        "with one or more registered rewards; writes FILE.graded.jsonl and prints the mean of each.",
    )
    grade.add_argument("path", type=_input_file, metavar="FILE.jsonl")
    grade.add_argument("--reward", action="append", required=True, help="reward name, repeatable or comma-separated")
    grade.add_argument("--out", metavar="FILE.jsonl", help="output (default: FILE.graded.jsonl)")
    grade.add_argument("--response-field", type=_text, default="response")
    grade.add_argument("--answer-field", type=_text, default="answer")
    grade.add_argument("--workers", type=COUNT.parse, default=2, help="grader / sandbox worker processes")
    grade.set_defaults(func=_grade)

    bench = commands.add_parser("bench", help="side-by-side performance benchmarks")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    bench_generate = benches.add_parser("generate", help="aha's engine vs transformers generate, tokens/s")
    _add_model_options(bench_generate)
    bench_generate.add_argument("--prompts", type=COUNT.parse, default=4, help="number of prompts")
    bench_generate.add_argument("--ignore-eos", action="store_true", help="always generate --max-new-tokens")
    bench_generate.add_argument(
        "--repeat",
        type=COUNT.parse,
        default=1,
        help="timed rounds, both sides each; prints the median round (default 1)",
    )
    bench_generate.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    _add_sampling_options(bench_generate, n=8, temperature=0.7, top_p=0.95, max_new_tokens=256)
    bench_generate.set_defaults(func=_bench_generate)
    bench_rewards = benches.add_parser(
        "rewards",
        help="math grader vs math-verify (pairs/s, agreement, both grader corpus parts); code sandbox programs/s",
    )
    bench_rewards.add_argument("--programs", type=COUNT.parse, default=200, help="code programs scored")
    bench_rewards.add_argument("--limit", type=COUNT.parse, default=None, help="problems per math set (default: all)")
    bench_rewards.add_argument("--workers", type=COUNT.parse, default=2, help="worker processes")
    bench_rewards.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_rewards.set_defaults(func=_bench_rewards)
    bench_step = benches.add_parser(
        "grpo-step",
        help="one GRPO step of aha vs TRL's GRPOTrainer (beta 0 and 0.04), s/step and tokens/s",
        description="One GRPO step (sample, score, update) of aha and of TRL's GRPOTrainer on the same recipe, "
        "after one warm-up step each; needs TRL (pip install -e '.[bench]'), unless --no-trl.",
    )
    bench_step.add_argument("recipe", nargs="?", default="r1zero-arith", help="recipe (default: r1zero-arith)")
    bench_step.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    bench_step.add_argument("--steps", type=COUNT.parse, default=3, help="measured steps per side (default 3)")
    bench_step.add_argument(
        "--beta",
        type=_numbers(NON_NEGATIVE),
        default=(0.0, 0.04),
        help="comma-separated KL coefficients (default 0,0.04)",
    )
    bench_step.add_argument("--no-trl", action="store_true", help="time aha only")
    bench_step.add_argument(
        "--keep-stop-strings", action="store_true", help="let aha stop at the recipe's stop strings (TRL cannot)"
    )
    bench_step.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_step.set_defaults(func=_bench_grpo_step)
    bench_train = benches.add_parser(
        "train", help="training forward+backward tokens/s and share of the matmul peak, measured in the same run"
    )
    bench_train.add_argument("--model", default="smollm2-135m")
    bench_train.add_argument("--device", type=_device, default="cpu")
    bench_train.add_argument(
        "--dtype", choices=DTYPE_NAMES, default=None, help="weights: float32 (default on CPU) | bfloat16"
    )
    bench_train.add_argument(
        "--autocast", choices=DTYPE_NAMES[1:], default=None, help="bfloat16: fp32 weights, bf16 matmuls"
    )
    bench_train.add_argument("--prompts", type=COUNT.parse, default=2, help="P prompts (default 2)")
    bench_train.add_argument(
        "--group-size", type=Range(int, 2).parse, default=8, help="G completions per prompt (default 8)"
    )
    bench_train.add_argument(
        "--completion-tokens", type=COUNT.parse, default=64, help="tokens per completion (default 64)"
    )
    bench_train.add_argument("--repeats", type=COUNT.parse, default=5, help="timed passes (median; default 5)")
    bench_train.add_argument("--no-packing", action="store_true", help="padded rows instead of one packed sequence")
    bench_train.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_train.set_defaults(func=_bench_train)
    bench_scaling = benches.add_parser(
        "scaling", help="aha's GRPO step time as G (4, 8, 16) and completion length (128, 256, 512) grow"
    )
    bench_scaling.add_argument("recipe", nargs="?", default="r1zero-arith")
    bench_scaling.add_argument("overrides", nargs="*", metavar="key=value")
    bench_scaling.add_argument("--steps", type=COUNT.parse, default=2, help="measured steps per setting (default 2)")
    bench_scaling.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_scaling.set_defaults(func=_bench_scaling)
    return parser


# Checks that need more than one option or the file system; each runs before any model loads.


def _check_output_file(option: str, path: str) -> None:
    """--out FILE: not a directory, in an existing directory where a file can be created."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    if target.parent.exists() and not target.parent.is_dir():
        raise ConfigError(f"{option} {path}: {target.parent} is a file, not a directory")
    if not target.parent.is_dir():
        raise ConfigError(f"{option} {path}: directory {target.parent} does not exist")
    _probe_writable(option, path, target.parent)


def _check_output_dir(option: str, path: str) -> None:
    """--out DIR: not a file; its nearest existing ancestor a directory where files can be created."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{option} {path}: is a file; give a directory")
    ancestor = target
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, not a directory")
    _probe_writable(option, path, ancestor)


def _probe_writable(option: str, path: str, directory: Path) -> None:
    """Create and remove a file in `directory`: the one test of writability that holds for root too."""
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".aha-write-test-")
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot write in {directory} ({error.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def _check_template(template: str, system: str | None) -> None:
    if system is not None and template != "chat":
        raise ConfigError(f"--system: template {template!r} takes no system message (only 'chat' does)")


def _check_model(option: str, spec: str, device: str, new_tokens: dict[str, int]) -> None:
    """The model resolves and its files are whole (metadata only, no weights read), the device exists,
    and each token budget in `new_tokens` ({option: value}) fits the model's context."""
    from aha.devices import resolve_device
    from aha.models.load import context_length

    resolve_device(device)  # its errors name the device: "device 'cuda' asked for, but torch sees no CUDA GPU"
    try:
        context = context_length(spec)
    except ModelLoadError as error:
        raise ModelLoadError(f"{option}: {error}") from None
    for name, value in new_tokens.items():
        if context is not None and value > context:
            raise ConfigError(f"{name} {value}: more than the {context} positions of the model {spec}")


def _check_recipe(cfg: Any) -> None:
    """A GRPO recipe's model, token budgets and task data, checked before a run directory or a model exists."""
    from aha.tasks import build_task

    budgets = {"max_new_tokens": cfg.max_new_tokens}
    if cfg.benchmarks.names:
        budgets["benchmarks.max_new_tokens"] = cfg.benchmarks.max_new_tokens
    _check_model("model", cfg.model, cfg.device, budgets)
    build_task(cfg.task, cfg.seed)  # the prompts are read again by the run, in a fraction of a second


def _recipe_and_overrides(recipe: str, overrides: list[str]) -> tuple[str, tuple[str, ...]]:
    """`aha bench grpo-step steps=5` means the default recipe with an override."""
    if "=" in recipe:
        return "r1zero-arith", (recipe, *overrides)
    return recipe, tuple(overrides)


def _bench_grpo_step(args: argparse.Namespace) -> int:
    from aha.benchmarks.grpo_step import GRPOStepBenchConfig, recipe_config, run

    recipe, overrides = _recipe_and_overrides(args.recipe, args.overrides)
    cfg = GRPOStepBenchConfig(
        recipe=recipe,
        overrides=overrides,
        betas=args.beta,
        steps=args.steps,
        keep_stop_strings=args.keep_stop_strings,
        trl=not args.no_trl,
    )
    _check_recipe(recipe_config(cfg, max(cfg.betas)))
    result = run(cfg)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"GRPO step on recipe {result['recipe']} ({result['threads']} threads), median of {result['steps']} steps")
    for row in result["rows"]:
        print(
            f"beta {row['beta']}: {row['prompts_per_step']} prompts x G={row['group_size']}, "
            f"at most {row['max_new_tokens']} new tokens"
        )
        if "trl_seconds_per_step" in row:
            print(
                f"  TRL {row['trl_seconds_per_step']:>7.2f} s/step {row['trl_tokens_per_s']:>7.1f} completion tokens/s"
            )
        print(f"  aha {row['aha_seconds_per_step']:>7.2f} s/step {row['aha_tokens_per_s']:>7.1f} completion tokens/s")
        if "step_ratio" in row:
            print(f"  ratio aha / TRL: {row['step_ratio']:.2f}x per step, {row['tokens_ratio']:.2f}x tokens/s")
    return 0


def _bench_train(args: argparse.Namespace) -> int:
    from aha.benchmarks.train import TrainBenchConfig, run

    _check_model("--model", args.model, args.device, {"--completion-tokens": args.completion_tokens})
    cfg = TrainBenchConfig(
        model=args.model,
        prompts=args.prompts,
        group_size=args.group_size,
        completion_tokens=args.completion_tokens,
        repeats=args.repeats,
        packing=not args.no_packing,
        dtype=args.dtype,
        autocast=args.autocast,
        device=args.device,
    )
    r = run(cfg)
    if args.json:
        print(json.dumps(r))
        return 0
    print(
        f"training pass (forward + GRPO loss + backward) of {r['model']} in {r['dtype']}, {r['threads']} threads: "
        f"{r['rows']} rows, {r['completion_tokens']} completion tokens, "
        + ("packed" if r["packing"] else "padded rows")
    )
    print(
        f"  {r['seconds']:.3f} s = {r['tokens_per_s']:.1f} tokens/s ({r['completion_tokens_per_s']:.1f} of completions)"
    )
    print(
        f"  {r['gflop']:.1f} GFLOP -> {r['gflop_per_s']:.1f} GFLOP/s; matmul peak in this run (median) "
        f"{r['peak_gflop_per_s']:.1f} GFLOP/s; share of peak (median over passes) {r['share_of_peak']:.1%}"
    )
    return 0


def _bench_scaling(args: argparse.Namespace) -> int:
    from aha.benchmarks.grpo_step import GRPOStepBenchConfig, recipe_config
    from aha.benchmarks.scaling import ScalingBenchConfig, run

    recipe, overrides = _recipe_and_overrides(args.recipe, args.overrides)
    cfg = ScalingBenchConfig(recipe=recipe, overrides=overrides, steps=args.steps)
    _check_recipe(recipe_config(GRPOStepBenchConfig(recipe=recipe, overrides=overrides, steps=cfg.steps), 0.0))
    result = run(cfg)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"aha GRPO step time, recipe {result['recipe']}, every completion at the length limit")
    print("  G   length  tokens  s/step  cost growth  token growth  cost/token growth")
    for r in result["rows"]:
        print(
            f"  {r['group_size']:<3} {r['length']:<7} {r['tokens']:<7} {r['seconds_per_step']:<7.2f} "
            f"{r['cost_growth']:<12.2f} {r['token_growth']:<13.2f} {r['cost_per_token_growth']:.2f}"
        )
    return 0


def _sampling(args: argparse.Namespace, **extra: object):
    from aha.types import SamplingParams

    try:
        return SamplingParams(
            n=args.n,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            **extra,
        )
    except ValueError as error:
        raise AhaError(str(error)) from error


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from aha.stages.generate import GenerateConfig, run

    if args.out is not None:
        _check_output_file("--out", args.out)
    _check_template(args.template, args.system)
    sampling = _sampling(args, stop=tuple(args.stop))
    _check_model("--model", args.model, args.device, {"--max-new-tokens": args.max_new_tokens})
    cfg = GenerateConfig(
        model=args.model,
        prompt=args.prompt,
        prompts=args.prompts,
        prompt_field=args.prompt_field,
        out=args.out,
        template=args.template,
        system=args.system,
        think=args.think,
        sampling=sampling,
        max_rows=args.max_rows,
        device=args.device,
        dtype=args.dtype,
    )
    bars: list[tqdm] = []  # created at the first decode step, after the model has loaded

    def progress(tokens: int, finished: int) -> None:
        if not bars:
            bars.append(tqdm(desc="generating", unit="tok", file=sys.stderr, dynamic_ncols=True))
        bars[0].update(tokens)
        if finished:
            bars[0].set_postfix_str(f"{finished} finished", refresh=False)

    try:
        written = run(cfg, progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"aha: wrote {written} completions" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _train(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from aha import recipes
    from aha.config import load_config
    from aha.stages.grpo import GRPOConfig, run

    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and "=" in recipe:  # `aha train steps=5` means the default recipe with an override
        recipe, overrides = None, [recipe, *overrides]
    if args.resume:
        if recipe is not None:
            raise AhaError("--resume takes the recipe from the run directory; give overrides only")
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise AhaError(f"--resume {run_dir}: not a run directory (no config.yaml)")
        cfg = load_config(GRPOConfig, run_dir / "config.yaml", overrides)
    else:
        cfg = load_config(GRPOConfig, recipes.find(recipe or "r1zero-arith"), overrides)
        run_dir = Path(args.out or f"runs/{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        _check_output_dir("--out", str(run_dir))
    _check_recipe(cfg)
    print(f"aha: run directory {run_dir}", file=sys.stderr)
    bars: list[tqdm] = []

    def progress(metrics: dict) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=cfg.steps,
                    initial=metrics["step"] - 1,
                    desc=cfg.name,
                    unit="step",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
            )
        bar = bars[0]
        held = metrics.get("eval", {}).get("accuracy")
        if held is not None:
            bar.write(
                f"step {metrics['step']}: held-out accuracy {held:.1%}, format {metrics['eval']['format_rate']:.1%}",
                file=sys.stderr,
            )
        bar.set_postfix_str(
            f"reward {metrics['reward_mean']:.2f} acc {metrics['accuracy']:.2f} len {metrics['length_mean']:.0f}",
            refresh=False,
        )
        bar.update(1)

    try:
        result = run(cfg, run_dir, resume=bool(args.resume), progress=progress)
    finally:
        for bar in bars:
            bar.close()
    first, last = result["first"], result["last"]
    if first and last:
        print(
            f"held-out accuracy {first['accuracy']:.1%} -> {last['accuracy']:.1%}, format "
            f"{first['format_rate']:.1%} -> {last['format_rate']:.1%}; report: {run_dir / 'report.md'}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from aha.evaluation.benchmarks import get_benchmark, load_benchmark
    from aha.stages.evaluate import EvalConfig, markdown, resolve_model, run

    benchmarks = tuple(b.strip() for b in args.bench.split(",") if b.strip())
    if not benchmarks:
        raise ConfigError(f"--bench {args.bench!r}: give at least one benchmark name")
    for name in benchmarks:
        try:
            get_benchmark(name)
        except ConfigError as error:
            raise ConfigError(f"--bench: {error}") from None
    for k in args.k:
        if k > args.samples:
            raise ConfigError(f"--k {k}: must be at most --samples ({args.samples})")
    _check_template(args.template, args.system)
    _check_output_dir("--out", args.out)
    _check_model("model", resolve_model(args.model), args.device, {"--max-new-tokens": args.max_new_tokens})
    cfg = EvalConfig(
        model=args.model,
        benchmarks=benchmarks,
        samples=args.samples,
        ks=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        greedy=not args.no_greedy,
        template=args.template,
        system=args.system,
        think=args.think,
        limit=args.limit,
        out=args.out,
        seed=args.seed,
        max_rows=args.max_rows,
        device=args.device,
        dtype=args.dtype,
    )
    total = sum(len(load_benchmark(b, cfg.limit)) for b in cfg.benchmarks) * (2 if cfg.greedy else 1)
    bar = tqdm(total=total, desc="eval", unit="prompt", file=sys.stderr, dynamic_ncols=True)
    try:
        summaries = run(
            cfg, lambda name, mode, n: (bar.set_postfix_str(f"{name} {mode}", refresh=False), bar.update(n))
        )
    finally:
        bar.close()
    print(markdown(summaries), end="")
    print(f"aha: wrote {cfg.out}/summary.json, summary.md and <benchmark>.samples.jsonl", file=sys.stderr)
    return 0


def _grade(args: argparse.Namespace) -> int:
    from aha.stages.grade import GradeConfig, run

    names = tuple(name.strip() for value in args.reward for name in value.split(",") if name.strip())
    cfg = GradeConfig(
        path=args.path,
        rewards=names,
        out=args.out,
        response_field=args.response_field,
        answer_field=args.answer_field,
        workers=args.workers,
    )
    result = run(cfg)
    for name, summary in result["rewards"].items():
        mean = "n/a" if summary["mean"] is None else f"{summary['mean']:.4f}"
        print(f"{name}: mean {mean} over {result['count'] - summary['unchecked']} ({summary['unchecked']} unchecked)")
    print(f"aha: wrote {result['count']} graded records to {result['out']}", file=sys.stderr)
    return 0


def _bench_generate(args: argparse.Namespace) -> int:
    from aha.benchmarks.generate import GenerateBenchConfig, run

    _sampling(args)  # validates the sampling options
    _check_model("--model", args.model, args.device, {"--max-new-tokens": args.max_new_tokens})
    cfg = GenerateBenchConfig(
        model=args.model,
        prompts=args.prompts,
        n=args.n,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        ignore_eos=args.ignore_eos,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        repeat=args.repeat,
    )
    result = run(cfg)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"model {result['model']} on {result['device']} ({result['dtype']}, {result['threads']} threads): "
        f"{result['prompts']} prompts x {result['n']} samples x {result['max_new_tokens']} new tokens"
        + (" (EOS ignored)" if result["ignore_eos"] else "")
    )
    for name in ("transformers", "aha"):
        print(
            f"  {name:<13} {result[name + '_tokens']:>6} tokens in {result[name + '_seconds']:>7.2f} s = "
            f"{result[name + '_tokens_per_s']:>7.1f} tokens/s"
        )
    print(f"  ratio aha / transformers: {result['ratio']:.2f}x")
    if len(result["round_ratios"]) > 1:
        rounds = ", ".join(f"{r:.2f}x" for r in result["round_ratios"])
        print(f"  (the median of {len(result['round_ratios'])} rounds, each both sides back to back: {rounds})")
    return 0


def _bench_rewards(args: argparse.Namespace) -> int:
    import os

    from aha.benchmarks import math_grader
    from aha.benchmarks.rewards import bench_code

    math = math_grader.run(limit=args.limit, workers=args.workers)
    code = bench_code(args.programs, workers=args.workers)
    parts = {
        name: math_grader.corpus(math_grader.CORPUS / file, workers=args.workers)
        for name, file in math_grader.CORPUS_PARTS.items()
        if (math_grader.CORPUS / file).is_file()
    }
    if args.json:
        print(json.dumps({"math": math, "code": code, "corpus": parts}))
        return 0
    for name, part in parts.items():
        print(
            f"math grader corpus, {name} part: {part['cases']} labelled cases, agreement aha "
            f"{part['aha_agreement']:.1%}, math-verify alone {part['math_verify_agreement']:.1%}"
        )
    print(f"math grader: {math['pairs']} (response, reference) pairs from MATH-500 and GSM8K test solutions")
    print(
        f"  math-verify   {math['math_verify_seconds']:>7.2f} s = {math['math_verify_pairs_per_s']:>7.1f} pairs/s, "
        f"agreement {math['math_verify_agreement']:.1%}"
    )
    print(
        f"  aha ({math['workers']} workers) {math['aha_seconds']:>5.2f} s = {math['aha_pairs_per_s']:>7.1f} pairs/s, "
        f"agreement {math['aha_agreement']:.1%}  {math['aha_statuses']}"
    )
    print(f"  ratio aha / math-verify: {math['ratio']:.2f}x")
    print(f"code sandbox: {code['programs']} MBPP-style programs, {code['workers']} workers, {os.cpu_count()} cores")
    print(
        f"  {code['seconds']:.2f} s = {code['programs_per_s']:.1f} programs/s, "
        f"agreement with expected rewards {code['agreement']:.1%}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
        if not args.verbose and args.command != "grade" and getattr(args, "bench", None) != "rewards":
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        return args.func(args)
    except AhaError as error:
        # One line, whatever the message holds: scripts read the last line, people read the first.
        print("aha: error: " + re.sub(r"\s*\n\s*", " ", str(error).strip()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aha: interrupted", file=sys.stderr)
        return 130
