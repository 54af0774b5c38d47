"""Nonparametric bootstrap of the fit, by run or by group, with a real search per replicate.

A replicate draws n_units units (runs, or groups of rows that come from one training run)
with replacement; unit counts become run weights w_r, and the replicate's law is the
global minimiser of sum_i w_ri huber(r_i). Each replicate is searched, not just nudged:

1. *Screen.* The objective of replicate r at every screened candidate c (the full-data
   grid cells and basins) is one matrix product, F = W @ huber(R_c)^T.
2. *Polish.* Newton starts from the full-data optimum and the replicate's own best
   screened candidates (``starts``); the lowest converged end point wins.
3. *Escalate.* Where those starts disagree (the replicate's landscape has more than one
   basin in play) the next ``escalate`` screened candidates are polished too; a replicate
   where still no start converged gets the complete global fit of its own.

``reference=True`` instead runs the complete global fit (:func:`scaling_cli.fit.fit_law`)
on every replicate: slow, and the yardstick the fast path is tested against.

Failed replicates (no converged start) are counted, kept as NaN rows, and left out of
intervals; degenerate ones (a parameter at its bound, a vanished term) are counted and kept.
Replicates are processed in fixed chunks, so results do not depend on the worker count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .constraints import Constraints
from .fit import FitResult, SearchSettings, degenerate_mask, fit_law
from .newton import polish
from .objective import Data, huber, residuals

__all__ = ["BootstrapResult", "bootstrap", "percentile_interval", "resample_weights"]

Array = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]

CHUNK = 32  # replicates per batch; fixed so results never depend on the worker count
POLISH_MAX_ITER = 60  # a replicate start still crawling after this gets the full search
MAX_SCREEN_CANDIDATES = 256


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate optima (NaN rows for failed replicates) and how they were obtained."""

    theta: Array  # (R, 5) log E, log A, log B, alpha, beta
    converged: npt.NDArray[np.bool_]
    degenerate: npt.NDArray[np.bool_]
    seed: int
    resample_by: str  # "run" or "group"
    n_units: int
    reference: bool

    @property
    def replicates(self) -> int:
        return int(self.theta.shape[0])

    @property
    def failed(self) -> int:
        return int((~self.converged).sum())

    @property
    def n_degenerate(self) -> int:
        return int((self.degenerate & self.converged).sum())

    @property
    def good(self) -> Array:
        return self.theta[self.converged]


def resample_weights(
    n_runs: int, groups: npt.ArrayLike | None, replicates: int, seed: int
) -> Array:
    """Bootstrap weights (R, n_runs): how often each run's unit was drawn in each replicate."""
    rng = np.random.default_rng(seed)
    if groups is None:
        unit_of_run = np.arange(n_runs)
        n_units = n_runs
    else:
        _, unit_of_run = np.unique(np.asarray(groups), return_inverse=True)
        n_units = int(unit_of_run.max()) + 1
    draws = rng.integers(0, n_units, size=(replicates, n_units))
    flat = draws + (np.arange(replicates) * n_units)[:, None]
    counts = np.bincount(flat.ravel(), minlength=replicates * n_units)
    return counts.reshape(replicates, n_units)[:, unit_of_run].astype(float)


def percentile_interval(values: npt.ArrayLike, confidence: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of the finite ``values`` (NaN if there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(v, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(
    data: Data,
    fit: FitResult,
    *,
    replicates: int = 1000,
    seed: int = 0,
    groups: Sequence[str] | None = None,
    workers: int = 1,
    reference: bool = False,
    starts: int = 3,
    escalate: int = 6,
    progress: Progress | None = None,
    settings: SearchSettings | None = None,
) -> BootstrapResult:
    """Refit ``replicates`` resamples of ``data`` (seeded); see the module doc."""
    settings = settings or SearchSettings(delta=fit.delta)
    weights = resample_weights(len(data), groups, replicates, seed)
    job = _Job(data, fit, settings, reference, starts, escalate)
    chunks = [(i, min(i + CHUNK, replicates)) for i in range(0, replicates, CHUNK)]
    theta = np.full((replicates, 5), np.nan)
    converged = np.zeros(replicates, dtype=bool)
    done = 0
    results = _map(job, [weights[a:b] for a, b in chunks], workers)
    for (a, b), (t, ok) in zip(chunks, results, strict=True):  # results arrive in order
        theta[a:b], converged[a:b] = t, ok
        done += b - a
        if progress is not None:
            progress(done, replicates)
    theta[~converged] = np.nan
    degenerate = np.asarray(degenerate_mask(theta, data, fit.constraints).any(axis=1))
    n_units = len(set(groups)) if groups is not None else len(data)
    return BootstrapResult(theta, converged, degenerate, seed,
                           "group" if groups is not None else "run", n_units, reference)


def _map(job: _Job, batches: list[Array],
         workers: int) -> Iterator[tuple[Array, npt.NDArray[np.bool_]]]:
    if workers <= 1 or len(batches) <= 1:
        yield from (job(w) for w in batches)
        return
    import signal
    from multiprocessing import get_context

    # Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process group and only
    # the parent should answer it (one message, exit 130). Leaving the `with` for any reason
    # terminates the workers at once (ProcessPoolExecutor's shutdown can hang after a
    # KeyboardInterrupt). imap keeps the chunks' order, so results do not depend on workers.
    with get_context("fork").Pool(workers, initializer=signal.signal,
                                  initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
        yield from pool.imap(job, batches)


@dataclass(frozen=True)
class _Job:
    """Refit one chunk of replicates (picklable, so it can run in a worker process)."""

    data: Data
    fit: FitResult
    settings: SearchSettings
    reference: bool
    starts: int
    escalate: int

    def __call__(self, weights: Array) -> tuple[Array, npt.NDArray[np.bool_]]:
        if self.reference:
            fits = [fit_law(self.data, weights=w, settings=self.settings,
                            constraints=self.fit.constraints) for w in weights]
            return (np.array([f.theta for f in fits]),
                    np.array([f.starts_converged > 0 for f in fits]))
        return _fast_chunk(self.data, self.fit, weights, self.settings, self.starts,
                           self.escalate)


def _fast_chunk(
    data: Data, fit: FitResult, weights: Array, settings: SearchSettings, starts: int,
    escalate: int,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    reps = weights.shape[0]
    cands = np.vstack([fit.basins, fit.candidates[:MAX_SCREEN_CANDIDATES]])
    screen = weights @ huber(residuals(cands, data), settings.delta).T  # (reps, C)
    ranked = np.argsort(screen, axis=1, kind="stable")
    k = starts - 1
    first = np.concatenate([np.broadcast_to(fit.theta, (reps, 1, 5)), cands[ranked[:, :k]]], 1)
    best_t, best_f, ok, spread = _polish_best(first.reshape(-1, 5), data, weights, k + 1,
                                              settings, fit.constraints)
    hard = np.flatnonzero(spread | ~ok)
    if hard.size and escalate:
        more = cands[ranked[hard, k:k + escalate]].reshape(-1, 5)
        t2, f2, ok2, _ = _polish_best(more, data, weights[hard], escalate, settings,
                                      fit.constraints)
        better = ok2 & (~ok[hard] | (f2 < best_f[hard]))
        best_t[hard[better]], best_f[hard[better]] = t2[better], f2[better]
        ok[hard[better]] = True
    for i in np.flatnonzero(~ok):  # still nothing converged: the full global search
        full = fit_law(data, weights=weights[i], settings=settings,
                       constraints=fit.constraints)
        if full.starts_converged:
            best_t[i], ok[i] = full.theta, True
    return best_t, ok


def _polish_best(
    theta0: Array, data: Data, weights: Array, per_rep: int, settings: SearchSettings,
    constraints: Constraints,
) -> tuple[Array, Array, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Polish ``per_rep`` starts per replicate; best converged one, and whether starts split."""
    reps = weights.shape[0]
    res = polish(theta0, data, np.repeat(weights, per_rep, axis=0), delta=settings.delta,
                 constraints=constraints, max_iter=POLISH_MAX_ITER)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    theta = res.theta.reshape(reps, per_rep, 5)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    best_f = f[rows, pick]
    best_t = theta[rows, pick]
    ok = np.isfinite(best_f)
    far = np.abs(theta - best_t[:, None, :]).max(axis=2) > settings.agree_atol_theta
    spread = (far & np.isfinite(f)).any(axis=1)  # a converged start found another optimum
    return best_t, best_f, ok, spread


