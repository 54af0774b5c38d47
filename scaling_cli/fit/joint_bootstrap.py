"""The joint bootstrap of two ladders: every replicate resamples BOTH ladders and refits jointly.

Replicate r draws, independently, n_0 units of the baseline ladder and n_1 units of the
variant ladder with replacement (units are runs, or groups of rows from one training run),
and minimises f_0(M_0 phi; w_0r) + f_1(M_1 phi; w_1r) (:mod:`scaling_cli.fit.joint`). A
comparison of the two recipes then sees the uncertainty of both ladders and of the shared
parameters at once, and the replicate laws of the two ladders stay paired row by row.

Draws come from :class:`scaling_cli.fit.bootstrap.Resampler`: chunk c of ``CHUNK``
replicates takes the baseline's weights from stream 2c and the variant's from stream 2c + 1
(``SeedSequence(seed, spawn_key=(stream,))``), so the two ladders' draws are independent,
and results depend only on the seed, never on chunking or workers.

Each replicate is searched as in the single-ladder bootstrap, and accepted at the same
tolerance (``REPLICATE_RTOL``): Newton from the full-data
optimum and the replicate's best screened candidates (its objective at every candidate is
one matrix product), more candidates where those starts disagree, and the complete joint
search (:func:`~scaling_cli.fit.joint.fit_joint`) where still no start converged. Failed
replicates are NaN rows (counted, left out); degenerate ones are counted and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.bootstrap import CHUNK, REPLICATE_RTOL, Resampler
from scaling_cli.fit.joint import (
    JointProblem,
    JointResult,
    degenerate_names,
    fit_joint,
    polish_joint,
)
from scaling_cli.fit.objective import huber, residuals
from scaling_cli.fit.search import SearchSettings

__all__ = ["JointBootstrap", "bootstrap_joint"]

Array = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]
POLISH_MAX_ITER = 60
SCREEN_CANDIDATES = 256


@dataclass(frozen=True)
class JointBootstrap:
    """Replicate optima in phi (NaN rows where a replicate failed) and how they were drawn."""

    phi: Array  # (R, p)
    converged: npt.NDArray[np.bool_]
    degenerate: npt.NDArray[np.bool_]
    seed: int
    resample_by: tuple[str, str]  # "run" or "group", per ladder
    n_units: tuple[int, int]

    @property
    def replicates(self) -> int:
        return int(self.phi.shape[0])

    @property
    def failed(self) -> int:
        return int((~self.converged).sum())

    @property
    def n_degenerate(self) -> int:
        return int((self.degenerate & self.converged).sum())


def bootstrap_joint(
    problem: JointProblem,
    fit: JointResult,
    *,
    replicates: int = 1000,
    seed: int = 0,
    groups: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
    starts: int = 3,
    escalate: int = 6,
    progress: Progress | None = None,
) -> JointBootstrap:
    """Refit ``replicates`` joint resamples of both ladders (module doc)."""
    settings = SearchSettings(delta=problem.delta, converged_rtol=REPLICATE_RTOL)
    cands = np.vstack([fit.basins, fit.candidates[:SCREEN_CANDIDATES]])
    screens = tuple(huber(residuals(theta, data), problem.delta).T
                    for theta, data in zip(problem.layout.thetas(cands), problem.data,
                                           strict=True))
    samplers = tuple(Resampler.make(len(d), g, seed)
                     for d, g in zip(problem.data, groups, strict=True))
    phi = np.full((replicates, problem.layout.size), np.nan)
    converged = np.zeros(replicates, dtype=bool)
    for c, first in enumerate(range(0, replicates, CHUNK)):
        size = min(CHUNK, replicates - first)
        w = (samplers[0].chunk(2 * c, size), samplers[1].chunk(2 * c + 1, size))
        rows = slice(first, first + size)
        phi[rows], converged[rows] = _chunk(problem, fit, w, cands, screens, settings,
                                            starts, escalate)
        if progress is not None:
            progress(first + size, replicates)
    phi[~converged] = np.nan
    bad = degenerate_names(problem, np.nan_to_num(phi))
    degenerate = np.array([bool(names) for names in bad]) & converged
    return JointBootstrap(
        phi, converged, degenerate, seed,
        tuple("run" if g is None else "group" for g in groups),  # type: ignore[arg-type]
        (samplers[0].n_units, samplers[1].n_units))


def _chunk(problem: JointProblem, fit: JointResult, w: tuple[Array, Array], cands: Array,
           screens: tuple[Array, ...], settings: SearchSettings, starts: int,
           escalate: int) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Search each replicate of one chunk: the full-data optimum and the replicate's best
    screened candidates first, more candidates where they disagree, then a full search."""
    reps = w[0].shape[0]
    screen = w[0] @ screens[0] + w[1] @ screens[1]  # (reps, C) objectives at the candidates
    ranked = np.argsort(screen, axis=1, kind="stable")
    k = starts - 1
    first = np.concatenate([np.broadcast_to(fit.phi, (reps, 1, fit.phi.size)),
                            cands[ranked[:, :k]]], axis=1)
    best_p, best_f, ok, spread = _polish_best(problem, first, w, settings)
    hard = np.flatnonzero(spread | ~ok)
    if hard.size and escalate:
        more = cands[ranked[hard, k:k + escalate]]
        p2, f2, ok2, _ = _polish_best(problem, more, (w[0][hard], w[1][hard]), settings)
        better = ok2 & (~ok[hard] | (f2 < best_f[hard]))
        best_p[hard[better]], best_f[hard[better]] = p2[better], f2[better]
        ok[hard[better]] = True
    for i in np.flatnonzero(~ok):  # still nothing converged: the complete joint search
        full = fit_joint(problem, weights=(w[0][i], w[1][i]), settings=settings)
        if full.starts_converged:
            best_p[i], ok[i] = full.phi, True
    return best_p, ok


def _polish_best(problem: JointProblem, starts: Array, w: tuple[Array, Array],
                 settings: SearchSettings) -> tuple[Array, Array, npt.NDArray[np.bool_],
                                                    npt.NDArray[np.bool_]]:
    """Polish (reps, per_rep, p) starts; the best converged one per replicate, and whether
    a converged start found a different optimum (another basin in play)."""
    reps, per_rep, p = starts.shape
    res = polish_joint(starts.reshape(-1, p), problem,
                       (np.repeat(w[0], per_rep, axis=0), np.repeat(w[1], per_rep, axis=0)),
                       max_iter=POLISH_MAX_ITER, converged_rtol=settings.converged_rtol)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    phi = res.phi.reshape(reps, per_rep, p)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    best_f, best_p = f[rows, pick], phi[rows, pick]
    far = np.abs(phi - best_p[:, None, :]).max(axis=2) > settings.agree_atol_theta
    return best_p, best_f, np.isfinite(best_f), (far & np.isfinite(f)).any(axis=1)
