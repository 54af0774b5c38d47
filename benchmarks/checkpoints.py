"""Do checkpoints narrow the ladder's intervals at equal or better backtest coverage?
(issue 13 §3, on Li, Kudugunta & Zettlemoyer 2025's runs: ../shared/data/misfit_checkpoints.csv)

Runs are (model, total_steps, peak_lr, sweep); each row a checkpoint (C4 eval loss), rows
repeated at an epoch boundary counted once. Every run used the source's open_lm defaults:
a linear warm-up over 50 steps, then a cosine to 10% of the peak lr at total_steps
(``--warmup 50 --lr-cooldown-end-ratio 0.1``); those are the schedules given to the
curve law. The *ladder* is, for each (model, total_steps), the run with the lowest final
loss (the tuned lr): 81 runs, 57M to 1.18B parameters.

Each variant turns the same curves into ladder rows (:mod:`scaling_cli.fit.checkpoints`;
every row of a run in one bootstrap group):

* ``final``: one row per run, its final loss;
* ``all``: plus up to 8 checkpoints per run as logged (from 1/8 of its steps on);
* ``corrected``: plus the same checkpoints corrected by the curve law (fitted per model size
  and peak lr to every run of the group, all lrs, and checked on pairs of runs; in a
  backtest fold only runs below the fold's threshold inform it);
  ``cooldowns`` is ``final`` here (cosine runs have no cooldown before their end).

Measured for each: on the whole ladder, N* at C = ``--budget`` (default 1e21, about 7x the
largest run's compute) and the loss there, each interval's width (high / low for N*,
(high - low) / value for the loss; statistical and total); and a rolling backtest: for a
threshold at the 50%, 65% and 80% quantiles of the runs' final compute, fit every row of the
runs below it and predict the FINAL loss of every run at or above it (total interval, as
``scaling backtest`` scores). Coverage counts held-out finals inside the interval.

Run:  python benchmarks/checkpoints.py [--data ../shared/data/misfit_checkpoints.csv]
      [--replicates 200] [--seed 0] [--workers 2] [--law tissue|multi-power]
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import csv
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.fit.checkpoints import CheckpointSettings, add_checkpoints
from scaling_cli.fit.curve_schedule import Schedule, cosine_schedule
from scaling_cli.forecast.answers import optimal, predict
from scaling_cli.read.logs import Curve
from scaling_cli.read.runs import Run, RunSet
from scaling_cli.read.runset import RunTable, digest

ROOT = Path(__file__).resolve().parent.parent
WARMUP, FINAL_RATIO = 50, 0.1  # open_lm: --warmup 50, --lr-cooldown-end-ratio 0.1
QUANTILES = (0.5, 0.65, 0.8)
VARIANTS = ("final", "all", "corrected")


@dataclass(frozen=True)
class Ladder:
    curves: tuple[Curve, ...]  # every run (all lrs): the curve law sees them all
    schedules: dict[str, Schedule]
    ladder: tuple[str, ...]  # the tuned run of each (model, total_steps)


def load(path: Path) -> Ladder:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    runs: dict[tuple[str, int, float, str], dict[int, dict[str, str]]] = defaultdict(dict)
    for r in rows:
        key = (r["model"], int(r["total_steps"]), float(r["peak_lr"]), r["sweep"])
        runs[key].setdefault(int(r["current_steps"]), r)  # an epoch boundary logs twice
    curves, schedules, best = [], {}, {}
    sweeps = {sweep: i for i, sweep in enumerate(sorted({k[3] for k in runs}))}
    for (model, total, lr, sweep), points in sorted(runs.items()):
        steps = sorted(points)
        if steps[-1] != total:
            continue  # unfinished
        run_id = f"{model.removeprefix('misfitting_')}-{total}-lr{lr:g}-s{sweeps[sweep]}"
        p = [points[s] for s in steps]
        curve = Curve(run_id, path.name, np.array(steps, float),
                      np.array([float(x["D"]) for x in p]),
                      np.array([float(x["loss"]) for x in p]),
                      tuple(f"step {s}" for s in steps), params=float(p[0]["N"]))
        curves.append(curve)
        schedules[run_id] = cosine_schedule(total_steps=total + 1, peak_lr=lr,
                                            final_lr=FINAL_RATIO * lr, warmup_steps=WARMUP,
                                            name=run_id)
        cell = (model, total)
        if cell not in best or curve.loss[-1] < best[cell].loss[-1]:
            best[cell] = curve
    return Ladder(tuple(curves), schedules, tuple(sorted(c.run_id for c in best.values())))


def finals(data: Ladder, ids: Sequence[str]) -> RunSet:
    by_id = {c.run_id: c for c in data.curves}
    runs = tuple(Run(run_id=i, params=float(by_id[i].params or 0.0),
                     tokens=float(by_id[i].tokens[-1]), loss=float(by_id[i].loss[-1]),
                     source=by_id[i].source, position=by_id[i].position[-1]) for i in ids)
    return RunSet(runs, (), (by_id[ids[0]].source,), digest(RunTable.of(runs)))


def rows(data: Ladder, ids: Sequence[str], mode: str, law: str,
         below: float = math.inf) -> RunSet:
    """The ladder rows of runs ``ids``; the curve law sees every run (all lrs) whose final
    compute is below ``below`` (in a backtest fold: none of the held-out compute range)."""
    settings = CheckpointSettings(mode=mode, law=law)  # type: ignore[arg-type]
    seen = [c for c in data.curves if _compute(c) < below]
    return add_checkpoints(finals(data, ids), seen, settings, schedules=data.schedules).runs


def _compute(curve: Curve) -> float:
    return 6 * float(curve.params or 0.0) * float(curve.tokens[-1])


@dataclass(frozen=True)
class Result:
    variant: str
    rows: int
    n_star: float
    n_ratio: float  # statistical high / low
    n_ratio_total: float
    loss_width: float  # (high - low) / value, statistical
    loss_width_total: float
    coverage: float
    held_out: int
    median_error: float
    median_width: float  # of the held-out predictions' total intervals, relative
    seconds: float


def _ratio(low: float | None, high: float | None) -> float:
    return math.nan if low is None or high is None else high / low


def _width(value: float, low: float | None, high: float | None) -> float:
    return math.nan if low is None or high is None else (high - low) / value


def measure(data: Ladder, variant: str, settings: FitSettings, budget: float,
            law: str) -> Result:
    start = time.perf_counter()
    ladder = rows(data, data.ladder, variant, law)
    model = fit_runs(ladder, settings)
    at = optimal(model, [budget]).rows[0]
    n, loss = at.params, at.loss
    by_id = {c.run_id: c for c in data.curves}
    compute = {i: _compute(by_id[i]) for i in data.ladder}
    covered, errors, widths = [], [], []
    for q in QUANTILES:
        threshold = float(np.quantile(list(compute.values()), q))
        train = [i for i in data.ladder if compute[i] < threshold]
        test = [i for i in data.ladder if compute[i] >= threshold]
        fold = fit_runs(rows(data, train, variant, law, below=threshold), settings)
        truth = finals(data, test)
        pred = predict(fold, [r.params for r in truth.runs], [r.tokens for r in truth.runs])
        for run, row in zip(truth.runs, pred.rows, strict=True):
            est = row.loss
            lo, hi = est.total_low, est.total_high
            covered.append(lo is not None and hi is not None and lo <= run.loss <= hi)
            errors.append(abs(est.value / run.loss - 1))
            widths.append(_width(est.value, lo, hi))
    return Result(variant, len(ladder), n.value, _ratio(n.low, n.high),
                  _ratio(n.total_low, n.total_high), _width(loss.value, loss.low, loss.high),
                  _width(loss.value, loss.total_low, loss.total_high),
                  float(np.mean(covered)), len(covered), float(np.median(errors)),
                  float(np.median(widths)), time.perf_counter() - start)


def table(results: Sequence[Result], budget: float) -> str:
    head = (f"| rows from curves | ladder rows | N* at {budget:.0e} | N* high/low (stat, total) "
            "| loss width (stat, total) | backtest coverage | median abs error | median "
            "interval width | seconds |")
    lines = [head, "| " + " | ".join(["---"] * 9) + " |"]
    for r in results:
        lines.append(
            f"| {r.variant} | {r.rows} | {r.n_star:.3g} | {r.n_ratio:.2f}, {r.n_ratio_total:.2f} "
            f"| {100 * r.loss_width:.2f}%, {100 * r.loss_width_total:.2f}% "
            f"| {100 * r.coverage:.0f}% ({round(r.coverage * r.held_out)}/{r.held_out}) "
            f"| {100 * r.median_error:.2f}% | {100 * r.median_width:.2f}% | {r.seconds:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=ROOT.parent / "shared" / "data" / "misfit_checkpoints.csv")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--budget", type=float, default=1e21)
    parser.add_argument("--law", choices=("tissue", "multi-power"), default="tissue")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data} is absent (public data outside the repo); pass --data",
              file=sys.stderr)
        return 2
    data = load(args.data)
    settings = FitSettings(replicates=args.replicates, seed=args.seed, workers=args.workers,
                           allow_unverified=True)
    checked = add_checkpoints(finals(data, data.ladder), data.curves,
                              CheckpointSettings(mode="corrected", law=args.law),
                              schedules=data.schedules)
    print(f"{len(data.curves)} runs, ladder of {len(data.ladder)}; corrected mode: "
          f"{len(checked.rows)} rows; its warnings:")
    for w in checked.warnings:
        print(f"  - {w}")
    results = [measure(data, v, settings, args.budget, args.law) for v in args.variants]
    print(table(results, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
