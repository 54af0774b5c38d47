"""The honesty harness's command line: every real-ladder split and simulated ladder,
through the methods of :data:`benchmarks.honesty.evaluate.METHODS`, to a Markdown report and
per-target JSON rows (:mod:`benchmarks.honesty.report`).

    python benchmarks/honesty/run.py --fast          # smoke: 2 real, 2 simulated ladders
    python benchmarks/honesty/run.py --markdown honesty.md --json honesty.json   # 1-2 h
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # One BLAS thread before numpy loads (shared 2-core machine, 5x5 matrices); the repo
    # root on the path so `benchmarks.honesty` imports when run as a script.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.honesty.evaluate import METHODS, evaluate, plan
from benchmarks.honesty.ladders import Ladder, real_ladders, resolve_data_dir
from benchmarks.honesty.misspecified import simulated_ladders
from benchmarks.honesty.report import json_document, markdown_report
from scaling_cli.errors import ScalingError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Honesty of nominal-95% loss intervals on real and simulated ladders")
    parser.add_argument("--method", choices=sorted(METHODS), default="current")
    parser.add_argument("--fast", action="store_true",
                        help="2 real ladders, 2 simulated ladders, 200 replicates")
    parser.add_argument("--replicates", type=int, help="bootstrap replicates (300; fast 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sim-replicates", type=int, default=2,
                        help="simulated ladders per (family, scenario)")
    parser.add_argument("--only", choices=("all", "real", "simulated"), default="all")
    parser.add_argument("--data", type=Path, help="shared data directory "
                        "(default $SCALING_SHARED_DATA, else ../shared/data)")
    parser.add_argument("--markdown", type=Path, help="write the report here (default stdout)")
    parser.add_argument("--json", type=Path, help="write the per-target rows here")
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    replicates = args.replicates or (200 if args.fast else 300)
    ladders: list[Ladder] = []
    try:
        if args.only in ("all", "real"):
            ladders += real_ladders(resolve_data_dir(args.data), fast=args.fast)
    except ScalingError as err:
        say(f"Error: {err}")
        return 2
    if args.only in ("all", "simulated"):
        ladders += simulated_ladders(fast=args.fast, replicates=args.sim_replicates,
                                     seed=args.seed)
    splits, skipped = plan(ladders)
    settings = {"method": args.method, "replicates": replicates, "seed": args.seed,
                "workers": args.workers, "fast": args.fast,
                "sim_replicates": args.sim_replicates, "only": args.only}
    say(f"{len(ladders)} ladders, {len(splits)} splits ({len(skipped)} could not be made); "
        f"{args.method}: {replicates} replicates, seed {args.seed}, {args.workers} worker(s)")
    start = time.perf_counter()
    methods = METHODS[args.method](replicates=replicates, seed=args.seed, workers=args.workers)
    outcomes = evaluate(methods, splits, progress=say)
    say(f"done in {time.perf_counter() - start:.0f} s "
        f"(fits: {sum(o.seconds for o in outcomes):.0f} s)")
    text = markdown_report(outcomes, skipped=skipped, settings=settings)
    if args.markdown:
        args.markdown.write_text(text)
    else:
        print(text)
    if args.json:
        args.json.write_text(json_document(outcomes, skipped=skipped, settings=settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
