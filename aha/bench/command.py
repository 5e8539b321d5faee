"""The `aha bench ...` commands: side-by-side speed benchmarks (aha against transformers, TRL, math-verify
and, where installed, vLLM), each parsed here and run by its module in `aha.bench`."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from aha import options
from aha.bench.configs import (
    GenerateBenchConfig,
    GRPOStepBenchConfig,
    RMBenchConfig,
    SampleBenchConfig,
    ScalingBenchConfig,
    SFTBenchConfig,
    TrainBenchConfig,
)
from aha.ranges import COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, Range


def add_bench_commands(commands: Any) -> None:
    """Add `bench` and its benchmarks to the `aha` command's subparsers."""
    bench = commands.add_parser("bench", help="side-by-side performance benchmarks")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    bench_generate = benches.add_parser(
        "generate", help="aha's engine vs transformers generate (and vLLM where installed), tokens/s"
    )
    options.add_model_options(bench_generate)
    bench_generate.add_argument(
        "--prompts",
        type=COUNT.parse,
        default=GenerateBenchConfig.prompts,
        help="number of prompts (default %(default)s)",
    )
    bench_generate.add_argument("--ignore-eos", action="store_true", help="always generate --max-new-tokens")
    bench_generate.add_argument(
        "--repeat",
        type=COUNT.parse,
        default=GenerateBenchConfig.repeat,
        help="timed rounds, every side in each; prints the median round (default %(default)s)",
    )
    bench_generate.add_argument(
        "--no-vllm", action="store_true", help="leave out the vLLM column (it runs where vLLM is installed)"
    )
    bench_generate.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    g = GenerateBenchConfig
    options.add_sampling_options(
        bench_generate, n=g.n, temperature=g.temperature, top_p=g.top_p, max_new_tokens=g.max_new_tokens
    )
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
    bench_step.add_argument(
        "recipe", nargs="?", default=GRPOStepBenchConfig.recipe, help="recipe (default: %(default)s)"
    )
    bench_step.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    bench_step.add_argument(
        "--steps",
        type=COUNT.parse,
        default=GRPOStepBenchConfig.steps,
        help="measured steps per side (default %(default)s)",
    )
    bench_step.add_argument(
        "--beta",
        type=options.number_list(NON_NEGATIVE),
        default=GRPOStepBenchConfig.betas,
        help=f"comma-separated KL coefficients (default {','.join(map(str, GRPOStepBenchConfig.betas))})",
    )
    bench_step.add_argument("--no-trl", action="store_true", help="time aha only")
    bench_step.add_argument(
        "--keep-stop-strings", action="store_true", help="let aha stop at the recipe's stop strings (TRL cannot)"
    )
    bench_step.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_step.set_defaults(func=_bench_grpo_step)
    bench_sft = benches.add_parser(
        "sft",
        help="aha's SFT update vs TRL's SFTTrainer: loss curves and trained tokens/s",
        description="aha's SFT stage and TRL's SFTTrainer on the same weights, records, order and settings "
        "(fp32), one after the other in this process: both loss curves, their largest difference, and trained "
        "tokens/s; needs TRL (pip install -e '.[bench]'), unless --no-trl.",
    )
    bench_sft.add_argument("recipe", nargs="?", default=SFTBenchConfig.recipe, help="recipe (default: %(default)s)")
    bench_sft.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    bench_sft.add_argument(
        "--steps", type=COUNT.parse, default=SFTBenchConfig.steps, help="optimiser steps per side (default %(default)s)"
    )
    bench_sft.add_argument("--no-trl", action="store_true", help="time aha only")
    bench_sft.add_argument(
        "--trl-default-malloc",
        action="store_true",
        help="run TRL under glibc's malloc defaults (by default both sides keep freed memory, as aha sft does)",
    )
    bench_sft.add_argument("--plot", metavar="PNG", default=None, help="write both loss curves to this PNG file")
    bench_sft.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_sft.set_defaults(func=_bench_sft)
    bench_rm = benches.add_parser(
        "rm",
        help="aha's reward-model stage vs TRL's RewardTrainer: held-out pair accuracy and seconds per step",
        description="aha's reward-model stage and TRL's RewardTrainer on the same weights, pairs, order, steps and "
        "optimiser (fp32), one after the other in this process, then both models' held-out pair accuracy scored "
        "the same way; needs TRL (pip install -e '.[bench]'), unless --no-trl.",
    )
    bench_rm.add_argument("recipe", nargs="?", default=RMBenchConfig.recipe, help="recipe (default: %(default)s)")
    bench_rm.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    bench_rm.add_argument(
        "--steps", type=NON_NEGATIVE_INT.parse, default=0, help="optimiser steps per side (default: the recipe's)"
    )
    bench_rm.add_argument("--no-trl", action="store_true", help="run aha only")
    bench_rm.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_rm.set_defaults(func=_bench_rm)
    bench_train = benches.add_parser(
        "train", help="training forward+backward tokens/s and share of the matmul peak, measured in the same run"
    )
    bench_train.add_argument("--model", default=TrainBenchConfig.model, help="model (default %(default)s)")
    bench_train.add_argument("--device", type=options.device_name, default="cpu")
    bench_train.add_argument(
        "--dtype", choices=options.DTYPE_NAMES, default=None, help="weights: float32 (default on CPU) | bfloat16"
    )
    bench_train.add_argument(
        "--autocast", choices=options.DTYPE_NAMES[1:], default=None, help="bfloat16: fp32 weights, bf16 matmuls"
    )
    bench_train.add_argument(
        "--prompts", type=COUNT.parse, default=TrainBenchConfig.prompts, help="P prompts (default %(default)s)"
    )
    bench_train.add_argument(
        "--group-size",
        type=Range(int, 2).parse,
        default=TrainBenchConfig.group_size,
        help="G completions per prompt (default %(default)s)",
    )
    bench_train.add_argument(
        "--completion-tokens",
        type=COUNT.parse,
        default=TrainBenchConfig.completion_tokens,
        help="tokens per completion (default %(default)s)",
    )
    bench_train.add_argument(
        "--repeats",
        type=COUNT.parse,
        default=TrainBenchConfig.repeats,
        help="timed passes (median; default %(default)s)",
    )
    bench_train.add_argument("--no-packing", action="store_true", help="padded rows instead of one packed sequence")
    bench_train.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_train.set_defaults(func=_bench_train)
    bench_sample = benches.add_parser(
        "sample", help="aha sample vs transformers generate on the same prompts of a prompt set, tokens/s"
    )
    sample = SampleBenchConfig
    bench_sample.add_argument("--model", default=sample.model, help="model or checkpoint (default %(default)s)")
    bench_sample.add_argument(
        "--prompts",
        type=options.nonempty,
        default=sample.prompts,
        help="prompt set or JSONL file (default %(default)s)",
    )
    bench_sample.add_argument("--split", type=options.nonempty, default=sample.split, help="(default %(default)s)")
    bench_sample.add_argument("--limit", type=COUNT.parse, default=sample.limit, help="prompts (default %(default)s)")
    bench_sample.add_argument(
        "--n", type=COUNT.parse, default=sample.n, help="samples per prompt (default %(default)s)"
    )
    bench_sample.add_argument(
        "--max-new-tokens", type=COUNT.parse, default=sample.max_new_tokens, help="(default %(default)s)"
    )
    bench_sample.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_sample.set_defaults(func=_bench_sample)
    bench_scaling = benches.add_parser(
        "scaling", help="aha's GRPO step time as G (4, 8, 16) and completion length (128, 256, 512) grow"
    )
    bench_scaling.add_argument(
        "recipe", nargs="?", default=ScalingBenchConfig.recipe, help="recipe (default: %(default)s)"
    )
    bench_scaling.add_argument("overrides", nargs="*", metavar="key=value")
    bench_scaling.add_argument(
        "--steps",
        type=COUNT.parse,
        default=ScalingBenchConfig.steps,
        help="measured steps per setting (default %(default)s)",
    )
    bench_scaling.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    bench_scaling.set_defaults(func=_bench_scaling)


def _bench_grpo_step(args: argparse.Namespace) -> int:
    from aha.bench.grpo_step import recipe_config, run

    recipe, overrides = options.recipe_and_overrides(args.recipe, args.overrides, GRPOStepBenchConfig.recipe)
    cfg = GRPOStepBenchConfig(
        recipe=recipe,
        overrides=overrides,
        betas=args.beta,
        steps=args.steps,
        keep_stop_strings=args.keep_stop_strings,
        trl=not args.no_trl,
    )
    options.check_recipe(recipe_config(cfg, max(cfg.betas)))
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


def _bench_sft(args: argparse.Namespace) -> int:
    from aha.bench.sft import plot, recipe_config, run, summary

    recipe, overrides = options.recipe_and_overrides(args.recipe, args.overrides, SFTBenchConfig.recipe)
    cfg = SFTBenchConfig(
        recipe=recipe,
        overrides=overrides,
        steps=args.steps,
        trl=not args.no_trl,
        trl_default_malloc=args.trl_default_malloc,
    )
    if args.plot:
        options.check_output_file("--plot", args.plot)
    recipe_config(cfg)  # the recipe's model and data, checked before any model loads
    result = run(cfg)
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(result) if args.json else summary(result))
    return 0


def _bench_rm(args: argparse.Namespace) -> int:
    from aha.bench.rm import recipe_config, run, summary

    recipe, overrides = options.recipe_and_overrides(args.recipe, args.overrides, RMBenchConfig.recipe)
    cfg = RMBenchConfig(recipe=recipe, overrides=overrides, steps=args.steps, trl=not args.no_trl)
    recipe_config(cfg)  # the recipe's model and data, checked before any model loads
    result = run(cfg)
    print(json.dumps(result) if args.json else summary(result))
    return 0


def _bench_sample(args: argparse.Namespace) -> int:
    from aha.bench.sample import run, stage_config, summary
    from aha.stages.sample import read_prompts

    cfg = SampleBenchConfig(model=args.model, prompts=args.prompts, split=args.split, limit=args.limit, n=args.n,
                            max_new_tokens=args.max_new_tokens)  # fmt: skip
    options.check_model("--model", args.model, "cpu", {"--max-new-tokens": args.max_new_tokens})
    read_prompts(stage_config(cfg))  # before any model loads
    result = run(cfg)
    print(json.dumps(result) if args.json else summary(result))
    return 0


def _bench_train(args: argparse.Namespace) -> int:
    from aha.bench.train import run

    options.check_model("--model", args.model, args.device, {"--completion-tokens": args.completion_tokens})
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
    from aha.bench.grpo_step import recipe_config
    from aha.bench.scaling import run

    recipe, overrides = options.recipe_and_overrides(args.recipe, args.overrides, ScalingBenchConfig.recipe)
    cfg = ScalingBenchConfig(recipe=recipe, overrides=overrides, steps=args.steps)
    options.check_recipe(recipe_config(GRPOStepBenchConfig(recipe=recipe, overrides=overrides, steps=cfg.steps), 0.0))
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


def _bench_generate(args: argparse.Namespace) -> int:
    from aha.bench.generate import run

    options.sampling_params(args)  # validates the sampling options
    options.check_model("--model", args.model, args.device, {"--max-new-tokens": args.max_new_tokens})
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
        vllm=not args.no_vllm,
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
    for name in ("transformers", "aha", "vllm"):
        if name + "_tokens" in result:
            print(
                f"  {name:<13} {result[name + '_tokens']:>6} tokens in {result[name + '_seconds']:>7.2f} s = "
                f"{result[name + '_tokens_per_s']:>7.1f} tokens/s"
            )
    print(f"  ratio aha / transformers: {result['ratio']:.2f}x")
    if result["vllm_skipped"] is None:
        print(f"  ratio aha / vllm: {result['aha_vllm_ratio']:.2f}x")
        if result["vllm_preload"]:
            print(f"  (vLLM: {result['vllm_preload']})")
    else:
        print(f"  vllm: skipped, {result['vllm_skipped']}")
    if len(result["round_ratios"]) > 1:
        rounds = ", ".join(f"{r:.2f}x" for r in result["round_ratios"])
        print(f"  (the median of {len(result['round_ratios'])} rounds, each timing every side back to back: {rounds})")
    return 0


def _bench_rewards(args: argparse.Namespace) -> int:

    from aha.bench import math_grader
    from aha.bench.rewards import bench_code

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
