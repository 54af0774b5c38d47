"""Out-of-sample evidence from the ladder itself: how well a form of the law predicts runs it
did not see, and how that error grows with the distance it extrapolates.

Folds hold out the runs a forecast would reach for, each kept only when its training runs
identify the form and hold at least a third of the ladder:

- ``compute``: train below the 60% (and 75%) quantile of log compute, predict the runs above;
- ``size``: train below the 70% quantile of log N, predict the larger models;
- ``ratio up`` / ``ratio down``: where tokens per parameter span 2x or more, train on the
  lower (upper) 70% of log D/N and predict the rest: over- and under-training;
- ``epochs``: where runs repeated their data and their epochs span 2x or more, train on the
  lower 70% of log epochs and predict the runs that repeated theirs more.

Fold fits are searched the way bootstrap replicates are (:class:`scaling_cli.fit.refit.Refit`:
a fold is the weighting 1 on its training runs, 0 on the held-out ones), all folds at once,
starting from the form's fit on every run: one batched search instead of a complete global
fit per fold, held to the same optimum (tests compare it with the complete fit).

For every held-out run: the log error e = log L_observed - log L_predicted (positive: the
forecast was optimistic, the run came out worse) and how far it lay beyond the fold's
training runs, in decades of compute, of tokens per parameter, of model size and of epochs
(:mod:`scaling_cli.forecast.extrapolation`'s reach, on a log10 scale). A form's score is the
root-mean-square of e over every held-out run of every fold (each fold weighted
equally), the statistic the form is chosen on (:mod:`scaling_cli.fit.forms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.health import check_identifiable
from scaling_cli.fit.objective import Data
from scaling_cli.fit.processes import Work
from scaling_cli.fit.refit import REPLICATE_RTOL, Refit
from scaling_cli.fit.search import FitResult, SearchSettings, screen_starts
from scaling_cli.law import Law, predict_loss
from scaling_cli.model import RunData

__all__ = ["HeldOut", "Score", "calibrate", "calibration", "folds", "reach_decades", "score"]

# Starts per calibration replicate: its fold's fit alone, not also the two best screened
# candidates the bootstrap's replicates polish. The calibration wants a robust spread, not
# each replicate's last bit: in-process, 40 replicates per fold, the folds' sds were
# identical on Epoch, datablations' repeated-data runs and Li et al.'s best-lr ladder (their
# calibration 0.20 -> 0.04 s, 0.91 -> 0.22 s, 0.71 -> 0.66 s) and within 15% on 90% of a
# hard 16-run ladder's held-out runs (1.17 -> 0.95 s).
CALIBRATION_STARTS = 1
Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
MIN_TRAIN_SHARE = 1 / 3
MIN_RATIO_SPAN = 2.0  # tokens per parameter must span this factor for ratio folds
# A fold's fit polishes its own starts (the form's full fit, and the best cells of a profile
# screen of the fold's runs: basins the full data's grid ranks low, e.g. exponents near 2
# on a 16-run fold) and the FOLD_STARTS - 1 best of the full fit's screened cells for the
# fold, as long as a complete fit polishes. Up to SMALL_LADDER runs, where flat valleys
# make it matter and it costs little, the fold's own screen is the complete fit's (36 x 36,
# 12 starts); above, 12 x 12 with 4 starts and 2 of the full fit's cells. Measured on 696
# folds of 3 x 3 to 5 x 5 grid ladders with 1-5% noise: with 3 full-data cells alone, 9
# folds ended 0.1-7% above the complete search's optimum; 3 with the 12 x 12 screen; 1 (by
# 1.4%) with the full one, and none since Newton looks at the face E = 0
# (benchmarks/fold_search.py).
FOLD_STARTS = 7
SMALL_LADDER = 100
FOLD_POLISH_ITER = 200  # as a complete fit's polish


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
    epochs_decades: float = 0.0  # log10 of how far beyond their most epochs (0 inside)
    over_decades: float = 0.0  # log10 of how far above their most tokens/param (fresh data)


@dataclass(frozen=True)
class Score:
    """A form's out-of-sample record on this ladder."""

    form: str
    folds: int
    rmse_log: float  # root-mean-square log error, folds weighted equally (inf: no fold)
    held_out: tuple[HeldOut, ...]
    thetas: Array = field(default_factory=lambda: np.empty((0, 5)), compare=False,
                          repr=False)  # each fold's fit (folds, 5)

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
    log_e = np.log(_epochs(runs))
    if np.exp(log_e.max() - log_e.min()) >= MIN_RATIO_SPAN:
        candidates.append(("epochs", log_e > np.quantile(log_e, 0.70)))
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


def score(form: str, runs: RunData, fit: FitResult,
          splits: Sequence[tuple[str, Mask]]) -> Score:
    """Fit ``fit``'s form (its constraints) on each fold's training runs, starting from
    ``fit`` (the form fitted to all of ``runs``), and record the log errors on the held-out
    runs."""
    held_out: list[HeldOut] = []
    per_fold: list[float] = []
    thetas = np.empty((0, 5))
    if splits:
        data = Data.from_arrays(runs.params, runs.tokens, runs.loss)
        train = np.array([~held for _, held in splits], dtype=float)
        # each fold's own starts: the form's full fit and its coarse screen's best cells
        small = len(runs) <= SMALL_LADDER
        coarse = SearchSettings(grid_size=36 if small else 12, n_starts=12 if small else 4,
                                delta=fit.delta)
        own = np.array([np.vstack([fit.theta, screen_starts(data, w, coarse,
                                                             fit.constraints)[0]])
                        for w in train])
        cells = FOLD_STARTS if small else 3
        refit = Refit.around(fit, data, starts=cells, escalate=2 * FOLD_STARTS,
                             rtol=REPLICATE_RTOL, polish_iter=FOLD_POLISH_ITER)
        thetas, _ = refit.search(train, own)
    for (name, held), theta in zip(splits, thetas, strict=True):
        errors = _errors(name, Law.from_theta(theta), runs, ~held, held)
        held_out += errors
        per_fold.append(float(np.mean([h.log_error ** 2 for h in errors])))
    rmse = float(np.sqrt(np.mean(per_fold))) if per_fold else float("inf")
    return Score(form, len(per_fold), rmse, tuple(held_out), thetas)


def _errors(name: str, law: Law, runs: RunData, train: Mask, held: Mask) -> list[HeldOut]:
    predicted = predict_loss(law, runs.params[held], runs.tokens[held])
    ratio = runs.tokens / runs.params
    compute = reach_decades(runs.compute_flops[held], float(runs.compute_flops[train].min()),
                            float(runs.compute_flops[train].max()))
    ratios = reach_decades(ratio[held], float(ratio[train].min()), float(ratio[train].max()))
    sizes = reach_decades(runs.params[held], float(runs.params[train].min()),
                          float(runs.params[train].max()))
    epochs = _epochs(runs)
    more = np.maximum(np.log10(epochs[held] / epochs[train].max()), 0.0)  # upwards only
    # above the fold's tokens per parameter, for runs on fresh data only (a repeated-data
    # run's error is mostly the valuation of its repeats, D')
    over = np.where(epochs[held] > 1.0, 0.0,
                    np.maximum(np.log10(ratio[held] / ratio[train].max()), 0.0))
    ids = [runs.ids[i] for i in np.flatnonzero(held)]
    return [HeldOut(name, rid, float(np.log(obs / pred)), float(c), float(r), float(s),
                    epochs_decades=float(e), over_decades=float(o))
            for rid, obs, pred, c, r, s, e, o in zip(ids, runs.loss[held], predicted, compute,
                                                     ratios, sizes, more, over, strict=True)]


def _epochs(runs: RunData) -> Array:
    """Each run's epochs D/U, 1 for fresh data or where not known."""
    if runs.epochs is None:
        return np.ones(len(runs))
    return np.maximum(np.nan_to_num(runs.epochs, nan=1.0), 1.0)


def calibrate(runs: RunData, fit: FitResult, splits: Sequence[tuple[str, Mask]],
              thetas: Array, *, replicates: int, seed: int,
              workers: int = 1) -> tuple[HeldOut, ...]:
    """:func:`calibration`'s held-out errors, its batches shared with ``workers - 1``
    forked processes (the same results)."""
    return calibration(runs, fit, splits, thetas, replicates=replicates, seed=seed).run(workers)


def calibration(runs: RunData, fit: FitResult, splits: Sequence[tuple[str, Mask]],
                thetas: Array, *, replicates: int, seed: int) -> Work[tuple[HeldOut, ...]]:
    """The work (:class:`~scaling_cli.fit.processes.Work`) that gives the held-out errors
    of ``fit``'s form with each fold fit's own bootstrap sd of log L at the held-out runs:
    the part of an error that is statistical (already in the forecast's bootstrap
    interval) rather than the form's.

    Fold j's fit is ``thetas[j]`` (from :func:`score`); its ``replicates`` resamples of the
    fold's training runs are the draws a bootstrap of those runs alone would make with seed
    ``seed + 1 + j``, refitted from the fold's fit, a fold's replicates in one batched
    search, in two batches (each half of every fold's replicates).
    sd = 1.4826 * median |log L_r - median log L| over the converged replicates (robust: a
    few degenerate replicates do not set it). A replicate the refit's own searches cannot
    settle is left out of it rather than given the complete global search (``Refit``'s
    ``last_resort``): 14 of a hard 16-run ladder's 200 took 0.7 of its calibration's 1.6 s,
    and move a robust spread by little (that ladder's tail factor 3.0 -> 2.78, its noise
    1.09% -> 1.35%, its total log sd at a run's own reach 3.3% -> 3.7%; Epoch's and Porian
    et al.'s clean configurations unchanged). For the same reason a replicate starts from
    its fold's fit alone (``CALIBRATION_STARTS``; it still escalates where its screen shows
    a better candidate, and searches the profile where it crawls)."""
    from scaling_cli.fit.bootstrap import resample_weights

    if not splits:
        return Work.done(())
    data = Data.from_arrays(runs.params, runs.tokens, runs.loss)
    weights = np.zeros((len(splits), replicates, len(runs)))
    for j, (_, held) in enumerate(splits):
        weights[j][:, np.flatnonzero(~held)] = resample_weights(int((~held).sum()), None,
                                                                 replicates, seed + 1 + j)
    refit = Refit.around(fit, data, starts=CALIBRATION_STARTS, last_resort=False)
    starts = np.repeat(thetas, replicates, axis=0)
    rows = weights.reshape(-1, len(runs))
    # two batches, whatever the workers (the same batches for one process or two): every
    # other row, so that each holds half of every fold's replicates (folds differ in cost:
    # 5 folds split 3 + 2 kept one process waiting a third of the calibration, 0.2 s on a
    # hard 16-run ladder, and contiguous halves of the rows still 0.2 s)
    parts = [p for p in (np.arange(i, rows.shape[0], 2) for i in range(2)) if p.size]

    def finish(searched: list[tuple[Array, npt.NDArray[np.bool_]]]) -> tuple[HeldOut, ...]:
        found = np.empty((rows.shape[0], 5))
        converged = np.zeros(rows.shape[0], dtype=bool)
        for part, (t, o) in zip(parts, searched, strict=True):
            found[part], converged[part] = t, o
        return _with_spread(runs, splits, thetas, found.reshape(len(splits), replicates, 5),
                            converged.reshape(len(splits), replicates))

    return Work(lambda part: refit.search(rows[part], starts[part]), parts, finish)


def _with_spread(runs: RunData, splits: Sequence[tuple[str, Mask]], thetas: Array,
                 theta: Array, ok: npt.NDArray[np.bool_]) -> tuple[HeldOut, ...]:
    """Each fold's held-out errors with the robust sd of its replicates' log L there."""
    out: list[HeldOut] = []
    for j, (name, held) in enumerate(splits):
        reps = Law.from_theta(theta[j][ok[j]]).as_column()
        log_pred = np.log(predict_loss(reps, runs.params[held][None, :],
                                       runs.tokens[held][None, :]))
        centre = np.median(log_pred, axis=0)
        sd = 1.4826 * np.median(np.abs(log_pred - centre), axis=0)
        errors = _errors(name, Law.from_theta(thetas[j]), runs, ~held, held)
        out += [replace(h, stat_log_sd=float(s)) for h, s in zip(errors, sd, strict=True)]
    return tuple(out)
