"""Out-of-sample evidence from the ladder itself: how well a form of the law predicts runs it
did not see, and how that error grows with the distance it extrapolates.

Folds hold out the runs a forecast would reach for, each kept only when its training runs
identify the form and hold at least a third of the ladder:

- ``compute``: train below the 60% (and 75%) quantile of log compute, predict the runs above;
- ``size``: train below the 70% quantile of log N, predict the larger models;
- ``ratio up`` / ``ratio down``: where tokens per parameter span 2x or more, train on the
  lower (upper) 70% of log D/N and predict the rest: over- and under-training.

For every held-out run: the log error e = log L_observed - log L_predicted (positive: the
forecast was optimistic, the run came out worse) and how far it lay beyond the fold's
training runs, in decades of compute, of tokens per parameter and of model size
(:mod:`scaling_cli.forecast.extrapolation`'s reach, on a log10 scale). A form's score is the
root-mean-square of e over every held-out run of every fold (each fold weighted
equally), the statistic the form is chosen on (:mod:`scaling_cli.fit.forms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.health import check_identifiable
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import FitResult, SearchSettings, fit_law
from scaling_cli.law import Law, predict_loss
from scaling_cli.model import RunData

__all__ = ["HeldOut", "Score", "calibrate", "folds", "reach_decades", "score"]

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
MIN_TRAIN_SHARE = 1 / 3
MIN_RATIO_SPAN = 2.0  # tokens per parameter must span this factor for ratio folds


@dataclass(frozen=True)
class HeldOut:
    """One held-out run of one fold."""

    fold: str
    run_id: str
    log_error: float  # log observed - log predicted: > 0 means the forecast was optimistic
    compute_decades: float  # log10 of how far beyond the training runs' compute (0 inside)
    ratio_decades: float  # log10 of how far outside their tokens per parameter (0 inside)
    params_decades: float = 0.0  # log10 of how far outside their model sizes (0 inside)
    stat_log_sd: float = 0.0  # the fold fit's own bootstrap sd of log L there (0: not run)


@dataclass(frozen=True)
class Score:
    """A form's out-of-sample record on this ladder."""

    form: str
    folds: int
    rmse_log: float  # root-mean-square log error, folds weighted equally (inf: no fold)
    held_out: tuple[HeldOut, ...]
    fits: tuple[FitResult, ...] = field(default=(), compare=False, repr=False)  # per fold

    @property
    def points(self) -> int:
        return len(self.held_out)


def reach_decades(values: Array, low: float, high: float) -> Array:
    """log10 of how far each value lies outside [low, high] (0 inside)."""
    v = np.log10(values)
    return np.asarray(np.maximum(v - np.log10(high), 0.0) + np.maximum(np.log10(low) - v, 0.0))


def folds(runs: RunData, constraints: Constraints) -> list[tuple[str, Mask]]:
    """(name, held-out mask) for every fold the ladder supports (see the module doc)."""
    n = len(runs)
    log_c = np.log(runs.compute_flops)
    log_n = np.log(runs.params)
    log_r = np.log(runs.tokens / runs.params)
    candidates = [
        ("compute", log_c > np.quantile(log_c, 0.60)),
        ("compute", log_c > np.quantile(log_c, 0.75)),
        ("size", log_n > np.quantile(log_n, 0.70)),
    ]
    if np.exp(log_r.max() - log_r.min()) >= MIN_RATIO_SPAN:
        candidates += [("ratio up", log_r > np.quantile(log_r, 0.70)),
                       ("ratio down", log_r < np.quantile(log_r, 0.30))]
    out: list[tuple[str, Mask]] = []
    seen: set[bytes] = set()
    for name, held in candidates:
        train = ~held
        key = held.tobytes()
        if key in seen or not held.any() or train.sum() < MIN_TRAIN_SHARE * n:
            continue
        try:
            check_identifiable(runs.params[train].tolist(), runs.tokens[train].tolist(),
                               constraints)
        except FitError:
            continue
        seen.add(key)
        out.append((name, held))
    return out


def score(form: str, runs: RunData, constraints: Constraints, settings: SearchSettings,
          splits: Sequence[tuple[str, Mask]]) -> Score:
    """Fit ``constraints``' form on each fold's training runs (point fits, no bootstrap) and
    record the log errors on the held-out runs."""
    data = Data.from_arrays(runs.params, runs.tokens, runs.loss)
    held_out: list[HeldOut] = []
    per_fold: list[float] = []
    fits = []
    for name, held in splits:
        train = ~held
        fit = fit_law(data.subset(np.flatnonzero(train)), settings=settings,
                      constraints=constraints)
        errors = _errors(name, fit.law, runs, train, held)
        held_out += errors
        fits.append(fit)
        per_fold.append(float(np.mean([h.log_error ** 2 for h in errors])))
    rmse = float(np.sqrt(np.mean(per_fold))) if per_fold else float("inf")
    return Score(form, len(per_fold), rmse, tuple(held_out), tuple(fits))


def _errors(name: str, law: Law, runs: RunData, train: Mask, held: Mask) -> list[HeldOut]:
    predicted = predict_loss(law, runs.params[held], runs.tokens[held])
    ratio = runs.tokens / runs.params
    compute = reach_decades(runs.compute_flops[held], float(runs.compute_flops[train].min()),
                            float(runs.compute_flops[train].max()))
    ratios = reach_decades(ratio[held], float(ratio[train].min()), float(ratio[train].max()))
    sizes = reach_decades(runs.params[held], float(runs.params[train].min()),
                          float(runs.params[train].max()))
    ids = [runs.ids[i] for i in np.flatnonzero(held)]
    return [HeldOut(name, rid, float(np.log(obs / pred)), float(c), float(r), float(s))
            for rid, obs, pred, c, r, s in zip(ids, runs.loss[held], predicted, compute,
                                               ratios, sizes, strict=True)]


def calibrate(runs: RunData, constraints: Constraints, settings: SearchSettings,
              splits: Sequence[tuple[str, Mask]], *, replicates: int, seed: int,
              workers: int = 1, fits: Sequence[FitResult] = ()) -> tuple[HeldOut, ...]:
    """The held-out errors of one form with each fold fit's own bootstrap sd of log L at the
    held-out runs: the part of an error that is statistical (already in the forecast's
    bootstrap interval) rather than the form's.

    sd = 1.4826 * median |log L_r - median log L| over ``replicates`` refits per fold (robust:
    a few degenerate replicates do not set it). ``fits``: the folds' point fits when
    :func:`score` already made them (same splits, same constraints), else refitted."""
    from scaling_cli.fit.bootstrap import bootstrap

    data = Data.from_arrays(runs.params, runs.tokens, runs.loss)
    out: list[HeldOut] = []
    for j, (name, held) in enumerate(splits):
        train = np.flatnonzero(~held)
        part = data.subset(train)
        fit = fits[j] if len(fits) == len(splits) else fit_law(
            part, settings=settings, constraints=constraints)
        boot = bootstrap(part, fit, replicates=replicates, seed=seed + 1 + j, workers=workers,
                         settings=settings)
        reps = Law.from_theta(boot.good).as_column()
        log_pred = np.log(predict_loss(reps, runs.params[held][None, :],
                                       runs.tokens[held][None, :]))
        centre = np.median(log_pred, axis=0)
        sd = 1.4826 * np.median(np.abs(log_pred - centre), axis=0)
        errors = _errors(name, fit.law, runs, ~held, held)
        out += [HeldOut(h.fold, h.run_id, h.log_error, h.compute_decades, h.ratio_decades,
                        h.params_decades, float(s)) for h, s in zip(errors, sd, strict=True)]
    return tuple(out)
