"""How well the law's form can fit each real ladder with hindsight: a floor under any
forecast's error.

Each real ladder is fitted on ALL its runs (no extrapolation, no held-out runs), and the
relative error of the fit at the runs the honesty harness forecasts (its targets) is
reported. A forecast made from fewer runs cannot, in general, beat this in-sample misfit:
where it is 3-4% (Porian et al.'s constant- and Kaplan-schedule ladders), a median forecast
error of 2% needs another form of the law, not better intervals.

    python benchmarks/honesty/hindsight.py            # ~30 s on 2 cores
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.honesty.evaluate import ladder_runs
from benchmarks.honesty.ladders import Ladder, real_ladders, resolve_data_dir

__all__ = ["hindsight_errors", "main"]


def hindsight_errors(ladder: Ladder) -> np.ndarray:
    """Relative errors (fit - actual) / actual at the ladder's targets, the law fitted to
    every run (the tool's own fit: form chosen on evidence, repeated data at D')."""
    from scaling_cli.fit.build import FitSettings, fit_runs
    from scaling_cli.law import predict_loss

    model = fit_runs(ladder_runs(ladder), FitSettings(replicates=0))
    assert model.runs is not None
    fitted = predict_loss(model.law, model.runs.params, model.runs.tokens)
    errors = (fitted - model.runs.loss) / model.runs.loss
    row = np.array([int(i[1:]) - 1 for i in model.runs.ids])  # runset_from_arrays' ids
    return np.asarray(errors[ladder.target[row]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="shared data directory")
    args = parser.parse_args(argv)
    pooled = []
    print("| ladder | runs | targets | median abs error with hindsight |")
    print("| --- | ---: | ---: | ---: |")
    for ladder in real_ladders(resolve_data_dir(args.data)):
        errors = hindsight_errors(ladder)
        pooled.append(errors)
        print(f"| {ladder.name} | {len(ladder.loss)} | {errors.size} | "
              f"{100 * float(np.median(np.abs(errors))):.2f}% |")
    every = np.concatenate(pooled)
    print(f"| all | | {every.size} | {100 * float(np.median(np.abs(every))):.2f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
