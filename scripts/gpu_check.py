"""The GPU check: training-step MFU, native and vLLM generation throughput and a few GRPO steps, on randomly
initialised models of published shapes, in one run that fits 10 minutes on one H100 (see `aha.bench.gpu`
and BENCHMARKS.md, "GPU check"). Nothing is downloaded: run it whenever a GPU machine is lent.

    python scripts/gpu_check.py --device cuda --shapes smollm2-135m,qwen2.5-0.5b --out gpu_check.json
    python scripts/gpu_check.py --device cpu --shapes tiny --out /tmp/gpu_check.json   # what the test runs

Prints one line per measurement and rewrites --out after each, so a run cut short keeps what it measured.
Exit status 1 when a section failed (its error is in the JSON), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from transformers.utils import logging as hf_logging

from aha.bench.gpu import SECTIONS, SHAPES, CheckConfig, run, summary
from aha.errors import AhaError
from aha.files import write_text_atomically
from aha.ranges import POSITIVE


def shape_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in SHAPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or '(none)'}: choose from {', '.join(SHAPES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument(
        "--shapes", type=shape_list, default=CheckConfig.shapes, help=f"comma-separated, of {', '.join(SHAPES)}"
    )
    parser.add_argument(
        "--dtype", choices=("bfloat16", "float32"), default=None, help="default: bfloat16 on cuda, float32 on cpu"
    )
    parser.add_argument("--out", type=Path, required=True, help="the results as JSON")
    parser.add_argument(
        "--peak-tflops", type=POSITIVE.parse, default=None, help="the dense peak for MFU (default: the card's entry)"
    )
    parser.add_argument(
        "--budget-s",
        type=POSITIVE.parse,
        default=CheckConfig.budget_s,
        help="start no measurement after this many seconds (default %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A random model fills every completion to the limit and earns equal (zero) rewards: the GRPO run's
    # health warnings say so at every step, which is expected here.
    logging.getLogger("aha.run.loop").setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    cfg = CheckConfig(
        device=args.device, shapes=args.shapes, dtype=args.dtype, peak_tflops=args.peak_tflops, budget_s=args.budget_s
    )
    begin = time.perf_counter()

    def emit(shape: str, key: str, record: dict[str, Any], results: dict[str, Any]) -> None:
        print(summary(shape, key, record), flush=True)
        write_text_atomically(args.out, json.dumps(results, indent=1) + "\n")

    try:
        results = run(cfg, emit)
    except AhaError as error:  # outside a section: no CUDA device, no shipped tokenizer, a model that will not load
        parser.exit(2, f"gpu_check: error: {error}\n")
    write_text_atomically(args.out, json.dumps(results, indent=1) + "\n")
    print(f"{results['device']} ({results['dtype']}, torch {results['torch']}): {time.perf_counter() - begin:.1f} s")
    print(f"wrote {args.out}")
    shapes = results["shapes"]
    failed = [f"{name} {key}" for name, record in shapes.items() for key in SECTIONS if "error" in record.get(key, {})]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
