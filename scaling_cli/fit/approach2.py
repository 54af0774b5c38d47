"""isoFLOP structure and Hoffmann et al.'s Approach 2 (parabolas through isoFLOP slices).

*Budget levels.* Runs whose compute agrees within ``LEVEL_TOLERANCE_DEX`` (0.05 decades,
~12%) of the first run of a level share a budget level: an isoFLOP slice.

*Approach 2.* In each slice with at least ``MIN_SIZES`` distinct model sizes, fit

    L = c2 x^2 + c1 x + c0,    x = log N        (least squares, run weights w)

and take the vertex x* = -c1 / (2 c2) as that budget's optimal size, provided the parabola
is convex (c2 > 0) and x* lies inside the slice's sampled sizes (otherwise the minimum is
an extrapolation and the slice is skipped, with its reason). Then regress

    log N_opt = log G + a log C        over the slices (>= 2 needed),

giving N*(C) = G C^a and D* = C / (k N*).

Known bias (stated in every output that shows it): the parabola is a symmetric model of an
asymmetric curve (loss rises faster towards small N), so the vertex moves with how the
slice was sampled around its minimum; off-centre sampling biases N_opt and hence a. It also
uses only the slices' minima, not the rest of the data. Besiroglu et al. (2024) and Porian
et al. (2024) discuss how Approaches 2 and 3 disagree on real ladders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LEVEL_TOLERANCE_DEX", "MIN_SIZES", "Approach2", "approach2", "budget_levels"]

Array = npt.NDArray[np.float64]
LEVEL_TOLERANCE_DEX = 0.05
MIN_SIZES = 3
BIAS_NOTE = ("Approach 2 fits symmetric parabolas to asymmetric isoFLOP curves: its N* moves "
             "with how each slice was sampled around its minimum")


def budget_levels(compute_flops: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], Array]:
    """Level label per run (0 = smallest compute) and each level's geometric-mean compute."""
    c = np.log10(np.asarray(compute_flops, dtype=float))
    order = np.argsort(c, kind="stable")
    labels = np.empty(c.size, dtype=np.intp)
    level, start = -1, -np.inf
    for i in order:
        if c[i] - start > LEVEL_TOLERANCE_DEX:
            level, start = level + 1, c[i]
        labels[i] = level
    centres = np.array([10 ** c[labels == j].mean() for j in range(level + 1)])
    return labels, centres


@dataclass(frozen=True)
class Approach2:
    """The isoFLOP-parabola fit: per-slice optima and the power law through them."""

    exponent: float  # a in N_opt = G C^a (NaN when fewer than 2 slices qualify)
    log_g: float
    slice_compute_flops: Array  # budgets of the slices used
    slice_params: Array  # their vertex N_opt
    skipped_few_sizes: int  # slices with fewer than MIN_SIZES distinct model sizes
    skipped_outside: int  # slices whose parabola is concave or has its minimum outside

    @property
    def usable(self) -> bool:
        return bool(np.isfinite(self.exponent))

    def params_at(self, compute_flops: npt.ArrayLike) -> Array:
        return np.asarray(np.exp(self.log_g + self.exponent * np.log(compute_flops)))


def _vertices(x: Array, loss: Array, labels: npt.NDArray[np.intp], weights: Array,
              n_levels: int) -> tuple[Array, int]:
    """Vertex log N per level for each weight row: (R, L) with NaN where unusable, and the
    number of levels with too few sizes."""
    reps = weights.shape[0]
    out = np.full((reps, n_levels), np.nan)
    few = 0
    for j in range(n_levels):
        idx = np.flatnonzero(labels == j)
        xs = x[idx]
        if np.unique(xs).size < MIN_SIZES:
            few += 1
            continue
        feats = np.column_stack([xs**2, xs, np.ones_like(xs)])
        w = weights[:, idx]
        gram = np.einsum("rn,ni,nj->rij", w, feats, feats)
        rhs = np.einsum("rn,ni,n->ri", w, feats, loss[idx])
        distinct = np.array([np.unique(xs[row > 0]).size for row in w])
        ok = distinct >= MIN_SIZES
        coef = np.full((reps, 3), np.nan)
        if ok.any():
            coef[ok] = np.linalg.solve(gram[ok], rhs[ok][..., None])[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            vertex = -coef[:, 1] / (2 * coef[:, 0])
            inside = (coef[:, 0] > 0) & (vertex >= xs.min()) & (vertex <= xs.max())
        out[:, j] = np.where(ok & inside, vertex, np.nan)
    return out, few


def approach2(params: npt.ArrayLike, loss: npt.ArrayLike, compute_flops: npt.ArrayLike,
              weights: npt.ArrayLike | None = None) -> tuple[Approach2, Array]:
    """Approach 2 on the runs; with ``weights`` (R, n) also the replicate (a, log G) pairs.

    Returns the point fit and an (R, 2) array of replicate (a, log G) (NaN rows where a
    replicate has fewer than two usable slices); R = 0 without weights.
    """
    x = np.log(np.asarray(params, dtype=float))
    y = np.asarray(loss, dtype=float)
    labels, centres = budget_levels(compute_flops)
    n_levels = centres.size
    point_v, few = _vertices(x, y, labels, np.ones((1, x.size)), n_levels)
    point = _regress(np.log(centres), point_v[0])
    used = np.isfinite(point_v[0])
    result = Approach2(point[0], point[1], centres[used], np.exp(point_v[0][used]),
                       few, int(n_levels - few - used.sum()))
    if weights is None:
        return result, np.empty((0, 2))
    w = np.asarray(weights, dtype=float)
    reps_v, _ = _vertices(x, y, labels, w, n_levels)
    return result, np.array([_regress(np.log(centres), row) for row in reps_v])


def _regress(log_c: Array, vertex: Array) -> tuple[float, float]:
    """Least-squares line log N_opt = log G + a log C through the usable slices."""
    ok = np.isfinite(vertex)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(log_c[ok], vertex[ok], 1)
    return float(slope), float(intercept)
