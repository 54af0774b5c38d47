"""Refit a fitted law under many weightings of its runs at once, each by a real search.

A weighting is a row of run weights w_r: a bootstrap replicate (how often each run was
drawn) or a held-out fold (1 on its training runs, 0 on the runs it must predict). Row r's
law is the global minimiser of sum_i w_ri huber(r_i), found without a full global search
per row:

1. *Screen.* Row r's objective at every screened candidate c (the fitted law's basins and
   its best grid cells) is one matrix product, F = W @ huber(R_c)^T.
2. *Polish.* Newton starts from the row's own starts (the full-data optimum, or a fold's
   fit and its cells) and the row's best screened candidates that are not one of them
   (``starts`` in all: the replicates' own start and one candidate); the lowest converged
   end point wins.
3. *Escalate.* Where those starts disagree (more than one basin in play) the next
   ``escalate`` screened candidates are polished too; a row still crawling while its E
   shrinks gets the look at the face E = 0 (:func:`scaling_cli.fit.newton.polish_crawled`:
   degenerate replicates, whose optimum has no constant, reach it in a few dozen steps
   instead of hundreds); a row crawling along another flat valley
   gets the search on the exponents' profile (:mod:`scaling_cli.fit.profile`); a row where
   still no start converged gets the complete global search of its own
   (:func:`scaling_cli.fit.search.fit_law_many`: every such row at once), unless the caller
   wants only a robust spread of the rows (``last_resort=False``: the calibration's
   replicates), where such a row is returned unconverged.

Rows are searched side by side and almost entirely independently, each (from
``COMPACT_MIN_RUNS`` runs) on the runs it weighs, padded to as many as the busiest row of
its batch weighs. A row's last bits can therefore depend on the rows beside it (through
that length, and in rare flat-valley profile searches), so callers fix their batches by the
problem's size alone (never by workers or timings) to keep results reproducible. The
bootstrap tests hold this path to a complete global search per replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.newton import FACE_PROBE_MIN_ITER, polish, polish_crawled
from scaling_cli.fit.objective import RUN_BLOCK, Data, huber, residuals
from scaling_cli.fit.profile import profile_polish
from scaling_cli.fit.search import FitResult, SearchSettings, fit_law_many

__all__ = ["LARGE_DATA_RUNS", "REPLICATE_RTOL", "REPLICATE_STARTS", "Refit"]

Array = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]

POLISH_MAX_ITER = 60  # a start still crawling after this: the face look, the profile search
# A row's optimum is accepted when a Newton step would still lower its objective by at most
# this fraction: 1e-7 of an objective near 1e-3 moves no forecast by a printed digit, while
# the point fit's 1e-12 would send flat (nearly degenerate) replicates crawling.
REPLICATE_RTOL = 1e-7
REPLICATE_STARTS = 2  # a row's own start and its best screened candidate
LARGE_DATA_RUNS = 5000  # above this, rows start from their first start alone
# Rows are searched on the runs they weigh (:meth:`Data.compact`) from this many runs up to
# LARGE_DATA_RUNS. A bootstrap replicate weighs ~63% of them: `scaling fit --bootstrap 1000`
# on datablations' 294-run ladder 2.18 -> 1.97 s, Li et al.'s 74-run ladder 1.69 -> 1.65 s
# (paired, 2 cores); on a 16-run ladder the rows' copies cost more than the runs they skip
# (1.65 -> 1.74 s), and on 1e5 runs the copies of a batch's runs took the fit from 373 to
# 458 MB (5.5 -> 5.1 s): neither is compacted.
COMPACT_MIN_RUNS = 64
MAX_SCREEN_CANDIDATES = 256
# The runs x candidates screen matrix is kept near this many numbers (80 MB): 256 candidates
# up to 39,000 runs, 100 at 100,000 (where replicates start from the full-data optimum alone
# and the screen only looks for a better basin); 20 M cost 1e5-run fits 80 MB and a second
# pass over 160 MB for every chunk of replicates.
SCREEN_CELLS = 10_000_000


@dataclass(frozen=True)
class Refit:
    """The search of many weightings of ``data`` around one fitted law (module doc)."""

    data: Data
    constraints: Constraints
    settings: SearchSettings  # accepted at ``REPLICATE_RTOL``
    candidates: Array  # screened start points (C, 5)
    screen: Array  # huber of their residuals, (n, C): one matrix product per batch
    starts: int = REPLICATE_STARTS
    escalate: int = 6
    polish_iter: int = POLISH_MAX_ITER
    last_resort: bool = True  # False: a row nothing converged for stays unconverged

    @classmethod
    def around(cls, fit: FitResult, data: Data, *, settings: SearchSettings | None = None,
               starts: int = REPLICATE_STARTS, escalate: int = 6, rtol: float = REPLICATE_RTOL,
               polish_iter: int = POLISH_MAX_ITER, last_resort: bool = True) -> Refit:
        """Screen ``data`` (any runs, e.g. a sample of the fitted ones) at ``fit``'s basins
        and best grid cells, under ``fit``'s constraints; optima accepted at ``rtol``, a
        start polished for at most ``polish_iter`` Newton steps before the profile search."""
        search = replace(settings or SearchSettings(delta=fit.delta), converged_rtol=rtol)
        cands = np.vstack([fit.basins, fit.candidates[:screen_count(len(data))]])
        return cls(data, fit.constraints, search, cands,
                   screen_matrix(cands, data, search.delta), starts, escalate, polish_iter,
                   last_resort)

    def search(self, weights: Array, first: Array) -> tuple[Array, Flags]:
        """Optimum (R, 5) of each weighting (R, n) and whether it converged. ``first``: each
        row's own starts, (R, m, 5), one per row (R, 5), or one shared by all (5,). With
        more than ``LARGE_DATA_RUNS`` runs a row's landscape is the first start's, slightly
        perturbed: Newton starts from its own starts alone, and a row escalates when its own
        screen shows a candidate already *below* that converged optimum (another basin is
        better)."""
        # Replicates of extreme ladders under- and overflow in exp/square by design (a
        # non-converged row is flagged, not used): numpy's warnings carry no information.
        with np.errstate(all="ignore"):
            return self._search(weights, first)

    def _search(self, weights: Array, first: Array) -> tuple[Array, Flags]:
        data, cands, settings, constraints = (self.data, self.candidates, self.settings,
                                              self.constraints)
        escalate = self.escalate
        reps = weights.shape[0]
        screen = weights @ self.screen  # (reps, C): each row's objective at each candidate
        own = np.asarray(first, dtype=float)
        own = own.reshape(reps if own.ndim > 1 else 1, -1, 5)
        # a candidate that is one of the row's own starts (the fitted optimum is both) would
        # be polished twice: it ranks last
        same = (np.abs(cands[None, :, None, :] - own[:, None, :, :]).max(axis=3)
                <= settings.agree_atol_theta).any(axis=2)
        ranked = np.argsort(np.where(same, np.inf, screen), axis=1, kind="stable")
        k = 0 if len(data) > LARGE_DATA_RUNS else self.starts - 1
        own = np.broadcast_to(own, (reps, own.shape[1], 5))
        first_starts = np.concatenate([own, cands[ranked[:, :k]]], 1)
        per_row = first_starts.shape[1]
        # each row is searched on the runs it weighs (the complete search, rare, on all)
        counted, counts = (data.compact(weights)
                           if COMPACT_MIN_RUNS <= len(data) <= LARGE_DATA_RUNS
                           else (data, weights))
        best_t, best_f, ok, spread, ends = _polish_best(first_starts.reshape(-1, 5), counted,
                                                        counts, per_row, settings,
                                                        constraints, self.polish_iter)
        if k == 0:  # the screen alone says whether another basin is better
            spread |= screen[np.arange(reps), ranked[:, 0]] < np.where(ok, best_f, np.inf)
        split = np.flatnonzero(spread & ok)
        if split.size and escalate:  # another basin is in play: polish more candidates
            more = cands[ranked[split, k:k + escalate]].reshape(-1, 5)
            t2, f2, ok2, _, _ = _polish_best(more, counted.rows(split), counts[split],
                                             escalate, settings, constraints,
                                             self.polish_iter)
            better = ok2 & (f2 < best_f[split])
            best_t[split[better]], best_f[split[better]] = t2[better], f2[better]
        stuck = np.flatnonzero(~ok)
        if stuck.size and self.polish_iter < FACE_PROBE_MIN_ITER:  # crawling towards E = 0?
            face = polish_crawled(ends[stuck], counted.rows(stuck), counts[stuck],
                                  max_iter=self.polish_iter,
                                  delta=settings.delta, constraints=constraints,
                                  converged_rtol=settings.converged_rtol)
            on = face.converged
            best_t[stuck[on]], best_f[stuck[on]], ok[stuck[on]] = face.theta[on], \
                face.objective[on], True
            stuck = stuck[~on]
        if stuck.size:  # crawling along a flat valley: search the exponents' profile instead
            starts_ = np.stack([ends[stuck], cands[ranked[stuck, 0]]], 1).reshape(-1, 5)
            t3, f3, ok3 = _profile_best(starts_, counted.rows(stuck), counts[stuck], 2,
                                        settings, constraints)
            if escalate and not ok3.all():
                again = np.flatnonzero(~ok3)
                more = cands[ranked[stuck[again], 1:1 + escalate]].reshape(-1, 5)
                t4, f4, ok4 = _profile_best(more, counted.rows(stuck[again]),
                                            counts[stuck[again]], escalate, settings,
                                            constraints)
                t3[again], f3[again], ok3[again] = t4, f4, ok4
            best_t[stuck[ok3]], best_f[stuck[ok3]], ok[stuck[ok3]] = t3[ok3], f3[ok3], True
        lost = np.flatnonzero(~ok)
        if lost.size and self.last_resort:  # still nothing converged: the complete search
            t5, ok5 = fit_law_many(data, weights[lost], settings=settings,
                                   constraints=constraints)
            best_t[lost[ok5]], ok[lost[ok5]] = t5[ok5], True
        return best_t, ok


def screen_matrix(cands: Array, data: Data, delta: float) -> Array:
    """huber(r_ic) for every run i and candidate c: (n, C), built a block of runs at a time
    so the temporaries stay small however many runs there are."""
    out = np.empty((len(data), len(cands)))
    for start in range(0, len(data), RUN_BLOCK):
        block = slice(start, start + RUN_BLOCK)
        part = Data(data.log_n[block], data.log_d[block], data.log_l[block])
        out[block] = huber(residuals(cands, part), delta).T
    return out


def screen_count(n_runs: int) -> int:
    """Grid candidates screened per row: all 256 for small data, fewer for huge data (the
    runs x candidates matrix is kept near ``SCREEN_CELLS`` numbers)."""
    return int(min(MAX_SCREEN_CANDIDATES, max(32, SCREEN_CELLS // max(n_runs, 1))))


def _profile_best(
    theta0: Array, data: Data, weights: Array, per_rep: int, settings: SearchSettings,
    constraints: Constraints,
) -> tuple[Array, Array, Flags]:
    """Variable-projection polish of ``per_rep`` starts per row; the best converged."""
    reps = weights.shape[0]
    each = np.repeat(np.arange(reps), per_rep)  # row r's starts side by side
    res = profile_polish(theta0, data.rows(each), weights[each],
                         delta=settings.delta, constraints=constraints,
                         converged_rtol=settings.converged_rtol)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    return (res.theta.reshape(reps, per_rep, 5)[rows, pick], f[rows, pick],
            np.isfinite(f[rows, pick]))


def _polish_best(
    theta0: Array, data: Data, weights: Array, per_rep: int, settings: SearchSettings,
    constraints: Constraints, max_iter: int,
) -> tuple[Array, Array, Flags, Flags, Array]:
    """Polish ``per_rep`` starts per row: the best converged end point, its objective,
    whether one converged, whether converged starts split, and the lowest end point of all
    (converged or not: where a crawling row got to)."""
    reps = weights.shape[0]
    each = np.repeat(np.arange(reps), per_rep)  # row r's starts side by side
    res = polish(theta0, data.rows(each), weights[each], delta=settings.delta,
                 converged_rtol=settings.converged_rtol,
                 constraints=constraints, max_iter=max_iter)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    theta = res.theta.reshape(reps, per_rep, 5)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    best_f = f[rows, pick]
    best_t = theta[rows, pick]
    ok = np.isfinite(best_f)
    far = np.abs(theta - best_t[:, None, :]).max(axis=2) > settings.agree_atol_theta
    spread = (far & np.isfinite(f)).any(axis=1)  # a converged start found another optimum
    lowest = theta[rows, np.argmin(res.objective.reshape(reps, per_rep), axis=1)]
    return best_t, best_f, ok, spread, lowest
