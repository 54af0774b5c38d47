"""Bootstrap of a curve-law fit that respects that the points of one curve are not independent.

Consecutive logged losses share noise (the source smooths its curves) and share the law's
misfit, so resampling single points would pretend to hundreds of independent facts and give
intervals far too narrow. Three schemes, each seeded and deterministic:

- ``"blocks"`` (moving-block bootstrap, Kunsch 1989): each curve is rebuilt from
  ceil(n / L) runs of L consecutive points with uniformly drawn starts; a point drawn twice
  counts twice in the refit. L defaults to ceil(n / 8): 8 blocks per curve, so a replicate
  can lose a whole stretch of a curve (the stretch that pins the extrapolation) - the
  dependence in these curves reaches across tens of points.
- ``"curves"``: whole curves drawn with replacement (needs 3 or more curves to mean anything).
- ``"residual-blocks"``: every step is kept; the fitted curve is multiplied by
  exp(-r*) with r* the curve's log residuals resampled in blocks of L (a semi-parametric
  scheme: it keeps the schedule coverage, and so shows only noise-driven uncertainty).

Every replicate is refitted from the full-data optimum and the other basins the search
found; the lowest converged end point wins. A refit converges when the optimiser meets its
tolerances (not its iteration limit) at a valid point; the main fit's stricter Newton-
decrement test is not asked of refits, or the replicates that land in the flattest valleys -
the ones that widen an interval - would quietly drop out. Replicates where no start
converged are counted and kept as NaN rows (left out of intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.fit.curve_search import CurveData, CurveFit, CurveSearchSettings, polish_curves

__all__ = ["SCHEMES", "CurveBootstrap", "Scheme", "bootstrap_curves", "draw_rows"]

Array = npt.NDArray[np.float64]
Scheme = Literal["blocks", "curves", "residual-blocks"]
SCHEMES: tuple[Scheme, ...] = ("blocks", "curves", "residual-blocks")
BLOCKS_PER_CURVE = 8
MAX_BASIN_STARTS = 3


@dataclass(frozen=True)
class CurveBootstrap:
    """Refitted parameter vectors of a curve-law fit (NaN rows: failed refits)."""

    scheme: Scheme
    thetas: Array  # (n_resamples, p), in the fitter's theta convention
    failed: int
    n_resamples: int
    seed: int
    block_points: tuple[int, ...]  # block length used per curve

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.thetas).all(axis=1), dtype=bool)


def _block_lengths(data: CurveData, block_points: int | None) -> tuple[int, ...]:
    sizes = np.diff(data.bounds)
    if block_points is None:
        return tuple(int(max(1, np.ceil(n / BLOCKS_PER_CURVE))) for n in sizes)
    if block_points < 1:
        raise UsageError(f"must be at least 1 point, got {block_points}", field="block_points")
    return tuple(int(min(block_points, n)) for n in sizes)


def _blocks(rng: np.random.Generator, n: int, length: int) -> npt.NDArray[np.intp]:
    """Positions 0..n-1 of one moving-block resample of a series of n points."""
    count = -(-n // length)
    starts = rng.integers(0, n - length + 1, size=count)
    return (starts[:, None] + np.arange(length)).ravel()[:n].astype(np.intp)


def draw_rows(data: CurveData, scheme: Scheme, rng: np.random.Generator,
              lengths: tuple[int, ...]) -> npt.NDArray[np.intp]:
    """One replicate's multiset of point indices (into the concatenated curves)."""
    bounds = data.bounds
    if scheme == "curves":
        picks = rng.integers(0, len(data.curves), size=len(data.curves))
        return np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in np.sort(picks)])
    return np.concatenate([bounds[i] + _blocks(rng, int(bounds[i + 1] - bounds[i]), length)
                           for i, length in enumerate(lengths)]).astype(np.intp)


def bootstrap_curves(data: CurveData, fit: CurveFit, *, scheme: Scheme = "blocks",
                     n_resamples: int = 200, seed: int = 0, block_points: int | None = None,
                     settings: CurveSearchSettings | None = None) -> CurveBootstrap:
    """Refit ``fit``'s law on ``n_resamples`` resamples of ``data`` (see module docstring)."""
    if scheme not in SCHEMES:
        raise UsageError(f"unknown resampling scheme {scheme!r}; use one of "
                         f"{', '.join(SCHEMES)}", field="scheme")
    if scheme == "curves" and len(data.curves) < 3:
        raise UsageError(f"resampling whole curves needs 3 or more curves, got "
                         f"{len(data.curves)}; use scheme 'blocks'", field="scheme")
    if n_resamples < 1:
        raise UsageError(f"must be at least 1, got {n_resamples}", field="n_resamples")
    settings = settings or CurveSearchSettings(delta=fit.delta)
    lengths = _block_lengths(data, block_points)
    rng = np.random.default_rng(seed)
    starts = np.vstack([fit.theta[None], fit.basins[1:MAX_BASIN_STARTS]])
    fitted = data.log_loss + fit.residuals  # log of the fitted curve
    thetas = np.full((n_resamples, fit.theta.size), np.nan)
    for b in range(n_resamples):
        if scheme == "residual-blocks":
            shuffled = draw_rows(data, "blocks", rng, lengths)
            polished = polish_curves(fit.law, starts, data, settings,
                                     log_loss=fitted - fit.residuals[shuffled], loose=True)
        else:
            polished = polish_curves(fit.law, starts, data, settings,
                                     rows=draw_rows(data, scheme, rng, lengths),
                                     loose=True)
        objective = np.where(polished.converged, polished.objective, np.inf)
        if np.isfinite(objective).any():
            thetas[b] = polished.theta[int(np.argmin(objective))]
    failed = int((~np.isfinite(thetas).all(axis=1)).sum())
    return CurveBootstrap(scheme, thetas, failed, n_resamples, seed, lengths)
