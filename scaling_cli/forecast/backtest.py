"""Backtests: fit on the smaller-compute runs, score the forecast on the larger ones.

*Rolling origin.* Runs are grouped into compute levels (isoFLOP slices, see
:func:`scaling_cli.fit.approach2.budget_levels`). For a threshold between two levels, the law
is fitted (with its bootstrap) on every run below it and predicts every run above it.
Thresholds whose training runs cannot identify the law, or hold fewer than a quarter of
the runs (a forecast from a sliver of the ladder says little), are skipped; of the rest, up to
``folds`` spread evenly over the compute range are used, always including the one with the
most training data.
*Single split.* ``holdout_largest=K`` holds out the K runs with the largest compute.

For each held-out run: the predicted expected loss with its interval (from the bootstrap
replicate laws), a *prediction* interval for one run's observed loss (each replicate's
prediction times exp(e), e drawn from the training fit's log residuals, so run-to-run noise
is included), the relative error (pred - actual) / actual, and whether the prediction
interval covered the actual loss. Coverage near ``confidence`` means the error bars are honest
when extrapolating in compute, which is how the tool is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.health import check_identifiable
from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.approach2 import budget_levels
from scaling_cli.law import predict_loss
from scaling_cli.model import Model, build_model
from scaling_cli.forecast.answers import Estimate, estimate
from scaling_cli.fit.bootstrap import percentile_interval
from scaling_cli.read.runs import RunSet

__all__ = ["MIN_TRAIN_FRACTION", "Backtest", "Fold", "HeldOut", "backtest", "holdout_split"]

MIN_TRAIN_FRACTION = 0.25  # rolling folds train on at least a quarter of the runs


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
    folds: tuple[Fold, ...]
    skipped_thresholds: int  # thresholds whose training runs could not identify the law
    confidence: float
    method: str

    def pooled(self) -> tuple[float, float, float | None]:
        """Median and max |relative error| and coverage over every held-out prediction."""
        errors = [abs(h.relative_error) for f in self.folds for h in f.held_out]
        flags = [h.covered for f in self.folds for h in f.held_out if h.covered is not None]
        return (float(np.median(errors)), float(max(errors)),
                float(np.mean(flags)) if flags else None)


def _subset(runs: RunSet, keep: np.ndarray) -> RunSet:
    chosen = tuple(r for r, k in zip(runs.runs, keep, strict=True) if k)
    return RunSet(chosen, (), runs.sources, runs.sha256)


def _score(model: Model, runs: RunSet, test: np.ndarray, compute: np.ndarray,
           confidence: float, seed: int) -> tuple[HeldOut, ...]:
    held = [r for r, t in zip(runs.runs, test, strict=True) if t]
    n = np.array([r.params for r in held])
    d = np.array([r.tokens for r in held])
    point = predict_loss(model.law, n, d)
    samples = model.sample_law
    reps = None if samples is None else predict_loss(samples.as_column(), n[None], d[None])
    noisy = None
    if reps is not None and model.fit is not None:
        assert model.runs is not None
        train_resid = np.log(predict_loss(model.law, model.runs.params, model.runs.tokens)
                             / model.runs.loss)
        rng = np.random.default_rng(seed + 1)
        noisy = reps * np.exp(rng.choice(train_resid, size=(reps.shape[0], 1)))
    out = []
    for j, r in enumerate(held):
        low = high = None
        if noisy is not None:
            low, high = percentile_interval(noisy[:, j], confidence)
        out.append(HeldOut(
            r.run_id, r.params, r.tokens, float(compute[test][j]), r.loss,
            estimate(point[j], None if reps is None else reps[:, j], confidence), low, high,
            float((point[j] - r.loss) / r.loss)))
    return tuple(out)


def backtest(
    runs: RunSet,
    *,
    holdout_largest: int | None = None,
    folds: int = 4,
    confidence: float = 0.95,
    flops_per_param_token: float = 6.0,
    replicates: int = 1000,
    seed: int = 0,
    resample_by: str = "auto",
    workers: int = 1,
    method: str = "approach3",
    constraints: Constraints | None = None,
) -> Backtest:
    """Rolling-origin (or single-split) backtest of the compute-extrapolated forecast."""
    k = flops_per_param_token
    compute = np.array([r.flops if r.flops is not None else k * r.params * r.tokens
                        for r in runs.runs])
    if holdout_largest is not None:
        if not 0 < holdout_largest < len(runs.runs):
            raise UsageError(f"--holdout-largest {holdout_largest}: must be between 1 and "
                             f"{len(runs.runs) - 1} (the number of runs minus one)")
        cut = np.sort(compute)[-holdout_largest]
        splits = [compute >= cut]
    else:
        labels, _ = budget_levels(compute)
        splits = [labels >= j for j in range(1, int(labels.max()) + 1)]
    n_free = (constraints or Constraints()).n_free
    min_train = MIN_TRAIN_FRACTION * len(runs.runs) if holdout_largest is None else 0
    valid = [s for s in splits if (~s).sum() >= min_train and _identifiable(runs, ~s, n_free)]
    if not valid:
        raise FitError("no backtest fold has enough smaller-compute runs to identify the law; "
                       "add runs at small budgets or use --holdout-largest K with a small K")
    picks = sorted({round(float(i)) for i in np.linspace(0, len(valid) - 1, max(folds, 1))})
    settings = dict(flops_per_param_token=k, replicates=replicates, seed=seed,
                    resample_by=resample_by, workers=workers, method=method,
                    constraints=constraints)
    made = [_fold(runs, valid[i], compute, confidence, settings)[1] for i in picks]
    return Backtest(tuple(made), len(splits) - len(valid), confidence, method)


def _fold(runs: RunSet, test: np.ndarray, compute: np.ndarray, confidence: float,
          settings: dict[str, Any]) -> tuple[Model, Fold]:
    model = build_model(_subset(runs, ~test), allow_unverified=True, **settings)
    assert model.fit is not None and model.inputs is not None
    fold = Fold(float(compute[test].min()), int((~test).sum()), model.inputs.compute_flops_max,
                model.fit.verified, _score(model, runs, test, compute, confidence,
                                           settings["seed"]))
    return model, fold


def holdout_split(runs: RunSet, holdout_largest: int, *, confidence: float = 0.95,
                  **settings: Any) -> tuple[Model, Fold]:
    """The single split of ``--holdout-largest``: the training fit's model and the fold.

    ``settings`` are :func:`scaling_cli.model.build_model` keywords. Used by plots that mark
    the held-out runs.
    """
    k = settings.get("flops_per_param_token", 6.0)
    compute = np.array([r.flops if r.flops is not None else k * r.params * r.tokens
                        for r in runs.runs])
    if not 0 < holdout_largest < len(runs.runs):
        raise UsageError(f"--holdout-largest {holdout_largest}: must be between 1 and "
                         f"{len(runs.runs) - 1} (the number of runs minus one)")
    test = compute >= np.sort(compute)[-holdout_largest]
    return _fold(runs, test, compute, confidence, {"seed": 0, **settings})


def _identifiable(runs: RunSet, train: np.ndarray, n_free: int) -> bool:
    chosen = [r for r, t in zip(runs.runs, train, strict=True) if t]
    try:
        check_identifiable([r.params for r in chosen], [r.tokens for r in chosen], n_free)
    except FitError:
        return False
    return True
