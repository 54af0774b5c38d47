"""Porian et al. 2024 check: the compute-optimal exponent a (N* ~ C^a) on their isoFLOP data.

For each configuration, two estimates of a, each with a 95% bootstrap interval that
resamples whole training runs (``train_run_key``: with a constant learning rate one run
contributes points at several budgets, so rows are not independent):

* **Approach 3 (the tool).** Fit L(N, D) = E + A/N^alpha + B/D^beta with the tool
  (:func:`scaling_cli.fit.build.fit_runs`, groups = ``train_run_key``) and report
  a = beta / (alpha + beta), from the point law and from every replicate law.
* **Approach 2 (isoFLOP parabolas, a cross-check).** At each budget C fit
  L = c0 + c1 x + c2 x^2 with x = log N by least squares, take the vertex
  log N_opt(C) = -c1 / (2 c2) (kept only when c2 > 0 and the vertex lies inside the
  sampled sizes: an edge minimum is not a minimum), and regress log N_opt on log C:
  the slope is a. Replicates redo this on the same group resamples.

Porian et al. find each budget's minimum by Akima interpolation of their isoFLOP curves
and fit a weighted power law; they publish a = 0.497 ("Optimizer tuning", constant
learning rate, tuned hyper-parameters) and a = 0.571 ("Cosine decay").

Run:  python benchmarks/porian.py [--data ../shared/data/porian_isoflop.csv]
      [--replicates 1000] [--seed 0]
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # One BLAS thread, set before numpy loads: the machine is shared and every matrix here
    # is small (see the Speed section of benchmarks/README.md).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.approach2 import approach2 as isoflop_approach2
from scaling_cli.fit.bootstrap import resample_weights
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law
from scaling_cli.forecast.intervals import percentile_interval
from scaling_cli.read.runs import runset_from_arrays

Array = npt.NDArray[np.float64]

CONFIGS = (
    ("Optimizer tuning", "rw|tuned|short|const|standard|val", 0.497),
    ("Cosine decay", "rw|base|short|chinchilla|standard|val", 0.571),
)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Points:
    params: Array
    tokens: Array
    loss: Array
    flops: Array
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Exponent:
    value: float
    low: float
    high: float
    replicates: int  # replicates that gave a value


def default_data() -> Path:
    shared = os.environ.get("SCALING_SHARED_DATA")
    base = Path(shared) if shared else ROOT.parent / "shared" / "data"
    return base / "porian_isoflop.csv"


def load(path: Path, config_id: str) -> Points:
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["config_id"] == config_id]
    if not rows:
        raise SystemExit(f"{path}: no rows with config_id {config_id!r}")

    def col(name: str) -> Array:
        return np.array([float(r[name]) for r in rows])

    return Points(col("params"), col("tokens"), col("loss"), col("flops"),
                  tuple(r["train_run_key"] for r in rows))


# --------------------------------------------------------------------------- Approach 3


def approach3(points: Points, replicates: int, seed: int) -> Exponent:
    runs = runset_from_arrays(points.params.tolist(), points.tokens.tolist(),
                              points.loss.tolist(), groups=points.groups)
    model = fit_runs(runs, FitSettings(replicates=replicates, seed=seed, resample_by="group",
                                         workers=1))
    assert model.sample_law is not None
    a = np.asarray(model.sample_law.compute_exponent, dtype=float)
    low, high = percentile_interval(a, 0.95)
    return Exponent(float(model.law.compute_exponent), low, high, int(np.isfinite(a).sum()))


# --------------------------------------------------------------------------- Approach 2


def isoflop_exponent(points: Points) -> float:
    """a from the tool's Approach 2 (scaling_cli.fit.approach2): parabola vertices per budget."""
    point, _ = isoflop_approach2(points.params, points.loss, points.flops)
    return point.exponent


def approach2(points: Points, replicates: int, seed: int) -> Exponent:
    weights = resample_weights(points.params.size, points.groups, replicates, seed)
    point, reps = isoflop_approach2(points.params, points.loss, points.flops, weights)
    a = reps[:, 0]
    low, high = percentile_interval(a, 0.95)
    return Exponent(point.exponent, low, high, int(np.isfinite(a).sum()))


# --------------------------------------------------------------------------- report


def table(path: Path, replicates: int, seed: int) -> str:
    lines = [
        "| configuration | rows (runs) | Approach 3, ours: a [95%] | "
        "Approach 2 parabolas, ours: a [95%] | Porian et al. a |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, config_id, published in CONFIGS:
        pts = load(path, config_id)
        shown = config_id.replace("|", "\\|")  # a literal | would end the table cell
        a3 = approach3(pts, replicates, seed)
        a2 = approach2(pts, replicates, seed)
        lines.append(
            f"| {label} (`{shown}`) | {pts.params.size} ({len(set(pts.groups))}) | "
            f"{a3.value:.3f} [{a3.low:.3f}, {a3.high:.3f}] | "
            f"{a2.value:.3f} [{a2.low:.3f}, {a2.high:.3f}] | {published} |"
        )
    return "\n".join(lines)


def subset(points: Points, keep: npt.NDArray[np.bool_]) -> Points:
    return Points(points.params[keep], points.tokens[keep], points.loss[keep],
                  points.flops[keep], tuple(g for g, k in zip(points.groups, keep, strict=True)
                                            if k))


def near_best(points: Points, factor: float) -> npt.NDArray[np.bool_]:
    """Rows within ``factor`` of their budget's lowest-loss model size."""
    keep = np.zeros(points.params.size, dtype=bool)
    for c in np.unique(points.flops):
        at = np.flatnonzero(points.flops == c)
        best = points.params[at][np.argmin(points.loss[at])]
        keep[at] = np.abs(np.log(points.params[at] / best)) <= math.log(factor) + 1e-9
    return keep


def sensitivity(path: Path) -> str:
    """Point estimates of a (no intervals) on subsets of each configuration's rows, and the
    fit's median |log residual|: how much the answer depends on which points are used."""
    lines = ["| configuration | rows used | Approach 3 a | Approach 2 a | "
             "Approach 3 median abs. log residual |", "| --- | --- | ---: | ---: | ---: |"]
    for label, config_id, _ in CONFIGS:
        pts = load(path, config_id)
        budgets = np.unique(pts.flops)
        cases = [
            ("all 12 budgets", np.ones(pts.params.size, dtype=bool)),
            (f"6 smallest budgets ({budgets[0]:.3g}-{budgets[5]:.3g})",
             pts.flops <= budgets[5]),
            (f"6 largest budgets ({budgets[6]:.3g}-{budgets[-1]:.3g})", pts.flops >= budgets[6]),
            ("sizes within 3x of each budget's best", near_best(pts, 3.0)),
            ("sizes within 2x of each budget's best", near_best(pts, 2.0)),
        ]
        for name, keep in cases:
            sub = subset(pts, keep)
            fit = fit_law(Data.from_arrays(sub.params, sub.tokens, sub.loss))
            a2 = isoflop_exponent(sub)
            lines.append(f"| {label} | {name}: {sub.params.size} | "
                         f"{float(fit.law.compute_exponent):.3f} | {a2:.3f} | "
                         f"{float(np.median(np.abs(fit.residuals))):.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="porian_isoflop.csv (default: ../shared/data or "
                             "$SCALING_SHARED_DATA)")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = args.data or default_data()
    if not path.is_file():
        print(f"{path} is absent: pass --data or set SCALING_SHARED_DATA", file=sys.stderr)
        return 2
    print(f"{args.replicates} replicates by train_run_key, seed {args.seed}:\n")
    print(table(path, args.replicates, args.seed))
    print("\nSensitivity (point estimates):\n")
    print(sensitivity(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
