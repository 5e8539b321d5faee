"""The `aha` command line: parse options, build one stage's config, run it (the speed benchmarks' commands
are in `aha.bench.command`, the option types and pre-load checks they share in `aha.options`).

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from aha import options
from aha.bench.command import add_bench_commands
from aha.defaults import DEFAULT_MODEL, DISTILL_RECIPE, GRPO_RECIPE, PIPELINE_RECIPE, RM_RECIPE, SFT_RECIPE
from aha.errors import AhaError, ConfigError
from aha.ranges import COUNT, PORT, SEED, TEMPERATURE, TOP_P


class UsageError(AhaError):
    """A command line that argparse rejects (unknown option, missing argument, a value out of range)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors reported like every other aha error: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aha", description="Train reasoning models with RL on verifiable rewards.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="sample completions from a model or checkpoint")
    options.add_model_options(generate)
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", type=options.nonempty, help="one prompt")
    source.add_argument("--prompts", type=options.input_file, metavar="FILE.jsonl", help="one JSON object per line")
    generate.add_argument(
        "--prompt-field", type=options.nonempty, default="prompt", help="field holding the prompt in --prompts"
    )
    generate.add_argument("--out", metavar="FILE.jsonl", help="write completions here (default: stdout)")
    generate.add_argument("--template", default="chat", choices=["chat", "r1zero", "raw"])
    generate.add_argument("--system", help="system message (chat template only)")
    generate.add_argument("--think", action="store_true", help="pre-fill <think> as the start of each response")
    generate.add_argument("--stop", type=options.nonempty, action="append", default=[], help="stop string (repeatable)")
    generate.add_argument("--max-rows", type=COUNT.parse, default=64, help="rows decoded together")
    options.add_sampling_options(generate, n=1, temperature=0.7, top_p=0.95, max_new_tokens=256)
    generate.set_defaults(func=_generate)

    for name, default, what, example in (
        ("train", GRPO_RECIPE, "a recipe of any stage (its `stage:` key; grpo when absent)", "steps=20 optim.lr=2e-5"),
        ("sft", SFT_RECIPE, "a supervised fine-tuning recipe (stage: sft)", "data=my.jsonl epochs=2"),
        ("sample", None, "k samples per prompt of a prompt set into completions.jsonl (stage: sample)",
         "model=runs/x/checkpoints/step-000060 prompts=gsm8k split=train limit=100 n=4"),
        ("reject", None, "rejection sampling: an `aha sample` run to a curated SFT set (stage: reject)",
         "samples=runs/sample-x filters.max_per_prompt=2 filters.language=zh"),
        ("distill", DISTILL_RECIPE, "distillation: a teacher samples, rejection curates, a student is fine-tuned "
         "(stage: distill)", "teacher=runs/r1zero-arith-x student=smollm2-135m sample.n=8"),
        ("rm", RM_RECIPE, "a Bradley-Terry reward model on preference pairs (stage: reward_model)",
         "data=pairs.jsonl held_out_data=null steps=100 center=0.01"),
        ("pipeline", PIPELINE_RECIPE, "DeepSeek-R1's pipeline: cold start, reasoning RL, rejection sampling and SFT, "
         "a reward model, all-scenario RL, then one table (stage: pipeline)", "reasoning_rl.steps=20 model=path"),
    ):  # fmt: skip
        command = commands.add_parser(
            name,
            help=f"run {what}" + (f" (default: {default})" if default else ""),
            description=f"Run {what}. Any config field can be set as key=value, e.g. {example}.",
        )
        command.add_argument(
            "recipe", nargs="?", default=None, help=f"shipped recipe name or .yaml path (default: {default or 'none'})"
        )
        command.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        command.add_argument("--out", help="run directory (default: runs/<recipe>-<date-time>)")
        command.add_argument(
            "--resume",
            metavar="RUN_DIR",
            help="continue a run from its last complete "
            + {"sample": "chunk of prompts", "distill": "step", "pipeline": "stage and step"}.get(name, "checkpoint"),
        )
        command.set_defaults(
            func={
                "train": _train,
                "sft": _sft,
                "sample": _sample,
                "reject": _reject,
                "distill": _distill,
                "rm": _rm,
                "pipeline": _pipeline,
            }[name]
        )
        if name in ("train", "sft"):
            command.add_argument(
                "--nproc",
                type=COUNT.parse,
                default=1,
                metavar="N",
                help="data-parallel processes on this machine, launched with torchrun (grpo and sft stages; "
                "FSDP2, gloo on the CPU, NCCL on GPUs); for several machines run torchrun yourself (README)",
            )
        if name == "reject":
            command.add_argument(
                "--judge-url",
                type=options.http_url,
                metavar="URL",
                help="an OpenAI-compatible endpoint that judges what no rule checks (sets judge.url)",
            )

    serve = commands.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API",
        description="Serve a model at http://HOST:PORT/v1 (GET /v1/models, POST /v1/chat/completions and "
        "/v1/completions), one request at a time; the URL is printed once it is ready.",
    )
    serve.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="shipped name, HF dir, .gguf or checkpoint")
    serve.add_argument("--host", type=options.host_name, default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=PORT.parse, default=8000, help="0 picks a free port")
    serve.add_argument("--max-rows", type=COUNT.parse, default=64, help="rows decoded together")
    serve.add_argument("--device", type=options.device_name, default="cpu")
    serve.add_argument("--dtype", choices=options.DTYPE_NAMES, default=None)
    serve.set_defaults(func=_serve)

    evaluate = commands.add_parser(
        "eval",
        help="pass@1 / pass@k / cons@k / greedy accuracy on shipped benchmarks",
        description="Evaluate a model, checkpoint or `aha train` run directory on shipped benchmarks "
        "(gsm8k, math500, aime24, countdown, humaneval, mbpp). Resumable: rerun the same command.",
    )
    evaluate.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="model, checkpoint or run directory")
    evaluate.add_argument("--bench", default="gsm8k", help="comma-separated benchmark names")
    evaluate.add_argument("--samples", type=COUNT.parse, default=4, help="samples per prompt (k)")
    evaluate.add_argument(
        "--k", type=options.number_list(COUNT), default=(1,), help="comma-separated k for pass@k, each <= --samples"
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
    evaluate.add_argument("--device", type=options.device_name, default="cpu")
    evaluate.add_argument("--dtype", choices=options.DTYPE_NAMES, default=None)
    evaluate.add_argument(
        "--backend",
        choices=["native", "openai"],
        default="native",
        help="who samples: aha's engine, or an OpenAI-compatible server at --base-url (vllm serve, SGLang, a "
        "llama.cpp server, aha serve), sent token ids rendered with MODEL's tokenizer",
    )
    evaluate.add_argument("--base-url", type=options.http_url, metavar="URL", help="the server of --backend openai")
    evaluate.add_argument("--served-model", type=options.nonempty, help="its model name (default: the first it lists)")
    evaluate.set_defaults(func=_eval)

    grade = commands.add_parser(
        "grade",
        help="score a JSONL file of responses with rewards",
        description="Score every line of FILE.jsonl (fields: response, answer, optional meta/id/prompt) "
        "with one or more registered rewards; writes FILE.graded.jsonl and prints the mean of each.",
    )
    grade.add_argument("path", type=options.input_file, metavar="FILE.jsonl")
    grade.add_argument("--reward", action="append", required=True, help="reward name, repeatable or comma-separated")
    grade.add_argument("--out", metavar="FILE.jsonl", help="output (default: FILE.graded.jsonl)")
    grade.add_argument("--response-field", type=options.nonempty, default="response")
    grade.add_argument("--answer-field", type=options.nonempty, default="answer")
    grade.add_argument("--workers", type=COUNT.parse, default=2, help="grader / sandbox worker processes")
    grade.set_defaults(func=_grade)

    add_bench_commands(commands)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from aha.stages.generate import GenerateConfig, run

    if args.out is not None:
        options.check_output_file("--out", args.out)
    options.check_template(args.template, args.system)
    sampling = options.sampling_params(args, stop=tuple(args.stop))
    options.check_model("--model", args.model, args.device, {"--max-new-tokens": args.max_new_tokens})
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
    return _run_recipe(args, default=GRPO_RECIPE)


def _sft(args: argparse.Namespace) -> int:
    return _run_recipe(args, default=SFT_RECIPE, stage="sft")


def _sample(args: argparse.Namespace) -> int:
    return _run_recipe(args, default=None, stage="sample")


def _reject(args: argparse.Namespace) -> int:
    if args.judge_url is not None:
        args.overrides = [*args.overrides, f"judge.url={json.dumps(args.judge_url)}"]  # JSON is YAML: no parsing
    return _run_recipe(args, default=None, stage="reject")


def _serve(args: argparse.Namespace) -> int:
    from aha.serve.server import serve

    options.check_model("model", args.model, args.device, {})
    server = serve(args.model, host=args.host, port=args.port, device=args.device, dtype=args.dtype,
                   max_rows=args.max_rows)  # fmt: skip
    print(f"aha: serving {args.model} at {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
    return 0


def _distill(args: argparse.Namespace) -> int:
    return _run_recipe(args, default=DISTILL_RECIPE, stage="distill")


def _rm(args: argparse.Namespace) -> int:
    return _run_recipe(args, default=RM_RECIPE, stage="reward_model")


def _pipeline(args: argparse.Namespace) -> int:
    return _run_recipe(args, default=PIPELINE_RECIPE, stage="pipeline")


POSTFIX = (("reward_mean", "reward", ".2f"), ("accuracy", "acc", ".2f"), ("length_mean", "len", ".0f"),
           ("loss", "loss", ".3f"))  # fmt: skip


def _launch(args: argparse.Namespace, nproc: int, run_dir: Path) -> int:
    """`aha train --nproc N`: the same command on N processes of this machine under torchrun (checked here
    first: a bad recipe fails once, before any process starts); its exit status."""
    import subprocess

    argv, skip = [], False
    for arg in args.argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            argv.append(arg)
    if not args.resume and not args.out:
        argv += ["--out", str(run_dir)]  # the default name has the time in it: every rank must use one name
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    print(f"aha: {nproc} processes (torchrun), run directory {run_dir}", file=sys.stderr)
    return subprocess.call([*launcher, "-m", "aha", *argv])


def _follow(runner: Any, cfg: Any, run_dir: Path, resume: bool) -> int:
    """A rank other than 0 of a data-parallel run: the same run, silently (rank 0 writes and reports)."""
    from aha.dist import shutdown

    logging.getLogger().setLevel(logging.ERROR)  # rank 0 says every warning once
    try:
        runner.run(cfg, run_dir, resume=resume)
    finally:
        shutdown()
    return 0


def _run_recipe(args: argparse.Namespace, default: str | None, stage: str | None = None) -> int:
    """Run a recipe's stage (`stage:` in the recipe, grpo when absent) with a progress bar."""
    import time

    from tqdm import tqdm

    from aha import recipes
    from aha.config import load_config
    from aha.stages import get_stage, stage_of

    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and "=" in recipe:  # `aha train steps=5` means the default recipe with an override
        recipe, overrides = None, [recipe, *overrides]
    if args.resume:
        if recipe is not None:
            raise AhaError("--resume takes the recipe from the run directory; give overrides only")
        run_dir = Path(args.resume)
        source = run_dir / "config.yaml"
        if not source.is_file():
            raise AhaError(f"--resume {run_dir}: not a run directory (no config.yaml)")
    else:
        source = recipes.find(recipe or default) if recipe or default else None
    named = stage_of(source) if source is not None else str(stage)
    if stage is not None and named != stage:
        raise ConfigError(f"{source}: a recipe of stage {named!r}; `aha {stage}` runs {stage} recipes (see aha train)")
    runner = get_stage(named)
    cfg = load_config(runner.config, source, overrides)
    if not args.resume:
        run_dir = Path(args.out or f"runs/{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        options.check_output_dir("--out", str(run_dir))
    cfg = runner.preflight(cfg)
    nproc = getattr(args, "nproc", 1)
    if nproc > 1:
        if named not in ("grpo", "sft"):
            raise ConfigError(f"--nproc {nproc}: data-parallel runs are of the grpo and sft stages, not {named}")
        return _launch(args, nproc, run_dir)
    from aha.dist import launched

    if launched() and int(os.environ.get("RANK", "0")) > 0:  # under torchrun only rank 0 reports
        return _follow(runner, cfg, run_dir, bool(args.resume))
    print(f"aha: run directory {run_dir}", file=sys.stderr)
    bars: list[tqdm] = []
    totals = {"steps": getattr(cfg, "steps", None)}

    def progress(metrics: dict) -> None:
        if not bars:
            bar = tqdm(total=totals["steps"], initial=metrics["step"] - 1, desc=cfg.name, unit="step", file=sys.stderr,
                       dynamic_ncols=True)  # fmt: skip
            bars.append(bar)
        bar = bars[0]
        held = metrics.get("eval") or {}
        if held.get("accuracy") is not None:
            shape = f", format {held['format_rate']:.1%}" if held.get("format_rate") is not None else ""
            bar.write(f"step {metrics['step']}: held-out accuracy {held['accuracy']:.1%}{shape}", file=sys.stderr)
        elif held.get("loss") is not None:
            bar.write(f"step {metrics['step']}: held-out loss {held['loss']:.3f}", file=sys.stderr)
        shown = [f"{label} {metrics[key]:{spec}}" for key, label, spec in POSTFIX if key in metrics]
        bar.set_postfix_str(" ".join(shown), refresh=False)
        bar.update(1)

    rate = {"tokens": 0, "seconds": 0.0}

    def sampled(chunk: dict) -> None:  # the sample stage reports chunks of prompts, not steps
        if not bars:
            bars.append(tqdm(total=chunk["total"], initial=chunk["done"] - chunk["prompts"], desc=cfg.name,
                             unit="prompt", file=sys.stderr, dynamic_ncols=True))  # fmt: skip
        rate["tokens"] += chunk["tokens"]
        rate["seconds"] += chunk["seconds"]
        bars[0].set_postfix_str(f"{rate['tokens'] / max(rate['seconds'], 1e-9):.1f} tokens/s", refresh=False)
        bars[0].update(chunk["prompts"])

    def staged(record: dict) -> None:  # a pipeline's records name the step ("phase") they come from
        phase = record.pop("phase")
        if record.get("started"):
            for bar in bars:
                bar.close()
            bars.clear()
            rate.update(tokens=0, seconds=0.0)
            totals["steps"] = record.get("steps")
            print(f"aha {named}: {phase}", file=sys.stderr)
        elif phase == "sample":
            sampled(record)
        elif "step" in record:
            progress(record)

    chosen = {"sample": sampled, "distill": staged, "pipeline": staged}.get(named, progress)
    try:
        result = runner.run(cfg, run_dir, resume=bool(args.resume), progress=chosen)
    finally:
        for bar in bars:
            bar.close()
        if launched():
            from aha.dist import shutdown

            shutdown()
    done = result.get("summary")
    if named == "sample":
        print(f"{done['completions']} completions of {done['prompts']} prompts, {done['tokens']} tokens "
              f"({done['truncated']} cut at max_new_tokens): {run_dir / 'completions.jsonl'}")  # fmt: skip
        return 0
    if named == "reject":
        print(f"{done['kept']} of {done['rows']} completions kept ({done['prompts_kept']} of {done['prompts']} "
              f"prompts): {run_dir / 'curated.jsonl'}; report: {run_dir / 'report.md'}")  # fmt: skip
        return 0
    if named == "pipeline":
        for row in done["rows"]:
            print(f"{row['row']:<16} accuracy {row['accuracy']:.1%}  readable {row['format_rate']:.1%}  "
                  f"length {row['length_mean']:.1f}  harmlessness {row['harmlessness']:.3f}")  # fmt: skip
        print(f"{done['minutes']:.1f} minutes of stages; report: {run_dir / 'report.md'}")
        return 0
    first, last = result["first"] or {}, result["last"] or {}
    said = []
    if named == "distill":
        said.append(f"{done['steps']['data']['examples']} curated examples (sha256 {done['dataset_sha256'][:16]}), "
                    f"{done['seconds'] / 60:.1f} minutes")  # fmt: skip
    if first.get("accuracy") is not None and last.get("accuracy") is not None:
        said.append(f"held-out {'pair ' if named == 'reward_model' else ''}accuracy {first['accuracy']:.1%} -> "
                    f"{last['accuracy']:.1%}")  # fmt: skip
        if first.get("format_rate") is not None and last.get("format_rate") is not None:
            said[-1] += f", format {first['format_rate']:.1%} -> {last['format_rate']:.1%}"
    if first.get("loss") is not None and last.get("loss") is not None:
        said.append(f"held-out loss {first['loss']:.3f} -> {last['loss']:.3f}")
    print("; ".join([*said, f"report: {run_dir / 'report.md'}"]))
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
    options.check_template(args.template, args.system)
    options.check_output_dir("--out", args.out)
    options.check_model("model", resolve_model(args.model), args.device, {"--max-new-tokens": args.max_new_tokens})
    if (args.backend == "openai") != (args.base_url is not None):
        raise ConfigError("--base-url goes with --backend openai, and --backend openai needs --base-url")
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
        backend=args.backend,
        base_url=args.base_url,
        served_model=args.served_model,
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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv  # `--nproc` launches the same command again under torchrun
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
