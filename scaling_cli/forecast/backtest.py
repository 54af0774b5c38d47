"""Backtests: fit on the smaller-compute runs, score the forecast on the larger ones.

*Rolling origin.* Runs are grouped into compute levels (isoFLOP slices, see
:func:`scaling_cli.fit.approach2.budget_levels`). For a threshold between two levels, the law
is fitted (with its bootstrap) on every run below it and predicts every run above it.
Thresholds whose training runs cannot identify the law, or hold fewer than a quarter of
the runs (a forecast from a sliver of the ladder says little), are skipped; of the rest, up to
``folds`` spread evenly over the compute range are used, always including the one with the
most training data.
*Single split.* ``holdout_largest=K`` holds out the K runs with the largest compute.

For each held-out run: the forecast ``predict`` would make from the fold's fit, its
statistical interval and its *total* interval (the form's error beyond the runs as that fit
estimated it on its own held-out folds, a run's scatter, and the other plausible form:
:mod:`scaling_cli.fit.forms`), the relative error (pred - actual) / actual, whether the
total interval covered the actual loss, and how far the run lies beyond the fold's training
runs (with a warning past the thresholds of :mod:`scaling_cli.forecast.extrapolation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.approach2 import budget_levels
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.health import check_identifiable
from scaling_cli.forecast.answers import over_corrected, predict_runs
from scaling_cli.forecast.extrapolation import FittedRange, Reach, reach
from scaling_cli.forecast.intervals import Estimate
from scaling_cli.model import Model, RunData
from scaling_cli.read.runs import RunSet
from scaling_cli.units import format_factor, format_flops

__all__ = ["MIN_TRAIN_FRACTION", "Backtest", "Fold", "HeldOut", "backtest", "holdout_split"]

MIN_TRAIN_FRACTION = 0.25  # rolling folds train on at least a quarter of the runs
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class HeldOut:
    run_id: str
    params: float
    tokens: float
    compute_flops: float
    actual_loss: float
    predicted_loss: Estimate  # the fitted surface, with its interval
    prediction_low: float | None  # interval for one run's observed loss
    prediction_high: float | None
    relative_error: float  # (predicted - actual) / actual
    reach: Reach | None = None

    @property
    def covered(self) -> bool | None:
        if self.prediction_low is None or self.prediction_high is None:
            return None
        return self.prediction_low <= self.actual_loss <= self.prediction_high


@dataclass(frozen=True)
class Fold:
    threshold_flops: float  # trained on runs with compute below this
    train_runs: int
    largest_train_flops: float
    verified: bool
    held_out: tuple[HeldOut, ...]
    warnings: tuple[str, ...] = ()

    @property
    def median_abs_error(self) -> float:
        return float(np.median([abs(h.relative_error) for h in self.held_out]))

    @property
    def max_abs_error(self) -> float:
        return float(max(abs(h.relative_error) for h in self.held_out))

    @property
    def coverage(self) -> float | None:
        flags = [h.covered for h in self.held_out if h.covered is not None]
        return float(np.mean(flags)) if flags else None


@dataclass(frozen=True)
class Backtest:
    runs: RunSet
    settings: FitSettings
    folds: tuple[Fold, ...]
    skipped_thresholds: int  # thresholds whose training runs could not identify the law
    confidence: float
    warnings: tuple[str, ...]

    @property
    def method(self) -> str:
        return self.settings.method

    def pooled(self) -> tuple[float, float, float | None]:
        """Median and max |relative error| and coverage over every held-out prediction."""
        errors = [abs(h.relative_error) for f in self.folds for h in f.held_out]
        flags = [h.covered for f in self.folds for h in f.held_out if h.covered is not None]
        return (float(np.median(errors)), float(max(errors)),
                float(np.mean(flags)) if flags else None)


def _score(model: Model, runs: RunData, test: Mask, confidence: float) -> tuple[HeldOut, ...]:
    """Each held-out run's forecast, exactly as ``predict`` makes it: the surface's value,
    its statistical interval, and the total interval (form error beyond the runs, a run's
    scatter, the other plausible form) that the coverage is counted on."""
    held = runs.subset(test)
    rows = predict_runs(model, held, confidence=confidence)
    out = []
    for j, (run_id, row) in enumerate(zip(held.ids, rows.rows, strict=True)):
        actual = float(held.loss[j])
        est = row.loss
        out.append(HeldOut(
            run_id, row.params, row.tokens, float(held.compute_flops[j]), actual, est,
            est.total_low, est.total_high, float((est.value - actual) / actual),
            reach(FittedRange.of(model.inputs, model.runs), compute_flops=float(
                held.compute_flops[j]), params=row.params, tokens=float(held.tokens[j]),
                epochs=1.0 if held.epochs is None else float(held.epochs[j]),
                what=f"held-out run {run_id}")))
    return tuple(out)


def _fold(runs: RunSet, columns: RunData, test: Mask, confidence: float,
          settings: FitSettings) -> tuple[Model, Fold]:
    model = fit_runs(runs.subset(~test), replace(settings, allow_unverified=True))
    held = _score(model, columns, test, confidence)
    largest = float(columns.compute_flops[~test].max())
    name = f"fold trained below {format_flops(float(columns.compute_flops[test].min()))} FLOPs"
    worst = max((h for h in held if h.reach is not None and h.reach.warnings),
                key=lambda h: h.reach.compute_flops if h.reach else 0.0, default=None)
    warnings = []
    if worst is not None and worst.reach is not None:
        warnings.append(f"{name}: {len(held)} held-out runs reach up to "
                        f"{format_factor(worst.reach.compute_flops)} its largest training run's "
                        "compute")
    if model.fit is not None and not model.fit.verified:
        warnings.append(f"{name}: its fit's optimum is NOT verified")
    corrected = sum(over_corrected(model, h.reach) for h in held)
    if corrected and model.form_error is not None:
        bias = model.form_error.over_bias_per_decade
        warnings.append(f"{name}: {corrected} of its {len(held)} forecasts "
                        f"{'raised' if bias > 0 else 'lowered'} by {abs(bias):.1%} per decade "
                        "above its runs' most tokens/param (the over-training bias its own "
                        "held-out runs showed)")
    fold = Fold(float(columns.compute_flops[test].min()), int((~test).sum()), largest,
                bool(model.fit.verified) if model.fit else False, held, tuple(warnings))
    return model, fold


def _holdout_mask(compute: npt.NDArray[np.float64], holdout_largest: int) -> Mask:
    if not 0 < holdout_largest < compute.size:
        raise UsageError(f"{holdout_largest}: must be between 1 and {compute.size - 1} (the "
                         "number of runs minus one)", field="holdout_largest")
    return np.asarray(compute >= np.sort(compute)[-holdout_largest])


def backtest(
    runs: RunSet, settings: FitSettings | None = None, *, holdout_largest: int | None = None,
    folds: int = 4, confidence: float = 0.95,
    progress: Callable[[int, int], None] | None = None,
) -> Backtest:
    """Rolling-origin (or single-split) backtest of the compute-extrapolated forecast.
    ``progress(done, total)`` is called after each fold's refit."""
    settings = settings or FitSettings()
    if folds < 1:
        raise UsageError(f"{folds}: give at least 1 fold", field="folds")
    columns = runs.columns(settings.flops_per_param_token,
                           repeated_data=settings.repeated_data)
    compute = columns.compute_flops
    if holdout_largest is not None:
        splits = [_holdout_mask(compute, holdout_largest)]
    else:
        labels, _ = budget_levels(compute)
        splits = [labels >= j for j in range(1, int(labels.max()) + 1)]
    min_train = MIN_TRAIN_FRACTION * len(columns) if holdout_largest is None else 0
    valid = [s for s in splits
             if (~s).sum() >= min_train and _identifiable(columns, ~s, settings.constraints)]
    if not valid:
        raise FitError("no backtest fold has enough smaller-compute runs to identify the law; "
                       "add runs at small budgets or hold out fewer runs "
                       "(`holdout_largest` with a small K)")
    picks = sorted({round(float(i)) for i in np.linspace(0, len(valid) - 1, folds)})
    made = []
    for done, i in enumerate(picks, start=1):
        made.append(_fold(runs, columns, valid[i], confidence, settings)[1])
        if progress is not None:
            progress(done, len(picks))
    warnings = tuple(dict.fromkeys([*runs.warnings, *(w for f in made for w in f.warnings)]))
    return Backtest(runs, settings, tuple(made), len(splits) - len(valid), confidence,
                    warnings)


def holdout_split(runs: RunSet, holdout_largest: int, settings: FitSettings | None = None, *,
                  confidence: float = 0.95) -> tuple[Model, Fold]:
    """The single split of ``holdout_largest``: the training fit's model and the fold (used
    by plots that mark the held-out runs)."""
    settings = settings or FitSettings()
    columns = runs.columns(settings.flops_per_param_token,
                           repeated_data=settings.repeated_data)
    return _fold(runs, columns, _holdout_mask(columns.compute_flops, holdout_largest),
                 confidence, settings)


def _identifiable(columns: RunData, train: Mask, constraints: Constraints) -> bool:
    try:
        check_identifiable(columns.params[train].tolist(), columns.tokens[train].tolist(),
                           constraints)
    except FitError:
        return False
    return True
