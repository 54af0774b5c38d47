"""The global Approach-3 fit: grid screen by variable projection, Newton polish, verification.

1. *Screen.* For fixed exponents (alpha, beta) the law is linear in (E, A, B) >= 0. On a
   log-spaced grid of exponent pairs we solve that inner problem by iteratively reweighted
   least squares (IRLS): linearising log L around the current fit, Huber on log residuals
   becomes weighted least squares on the loss scale,

       min_{c >= 0} sum_i w_i u_i (c0 + c1 x_i + c2 y_i - t_i)^2 / Lhat_i^2,
       x_i = N_i^-alpha, y_i = D_i^-beta, t_i = Lhat_i (1 - r_i), u_i = min(1, delta/|r_i|),

   with the non-negativity handled exactly by trying every support subset (7 of them).
   This profiles the 5-D objective onto the (alpha, beta) plane cheaply and vectorised.
2. *Polish.* The best cells and every local minimum of the profile start a batched exact
   Newton minimisation of the full 5-parameter objective (:mod:`scaling_cli.fit.newton`).
3. *Verify.* The optimum is accepted only if it is a converged local minimum (small
   gradient, positive-definite Hessian) that at least two independent starts reached.

The result records all three facts so that every output can say how it was verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.constraints import NAMES, Constraints
from scaling_cli.fit.newton import BOUNDS, CONVERGED_RTOL, Polished, free_hessian, polish
from scaling_cli.fit.objective import HUBER_DELTA, Data, residuals
from scaling_cli.fit.profile import coefficients_to_theta, profile_coefficients
from scaling_cli.law import Law

__all__ = [
    "METHODS",
    "FitResult",
    "SearchSettings",
    "degenerate_mask",
    "fit_law",
    "fit_law_many",
    "screen_grid",
    "screen_starts",
]

# Fitting methods on the same law: the Huber threshold on log residuals. "lsq" (delta far
# above any residual) is plain least squares on log loss: a Gaussian likelihood with no
# outlier protection; its disagreement with approach3 shows how much a few runs steer the fit.
METHODS = {
    "approach3": (HUBER_DELTA, "Huber (delta=1e-3) on log residuals, Hoffmann et al. "
                               "Approach 3"),
    "lsq": (1e3, "least squares on log residuals (Gaussian likelihood; no outlier "
                 "protection)"),
}

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the global search. Defaults reach Epoch's best objective on their 240 runs."""

    exponent_min: float = 0.02
    exponent_max: float = 2.5
    grid_size: int = 36  # per exponent: 36 x 36 = 1,296 cells
    irls_iterations: int = 10
    n_starts: int = 12
    screen_max_runs: int = 1024  # larger data are screened on an even subsample
    agree_rtol: float = 1e-7  # objective agreement between starts
    agree_atol_theta: float = 1e-3  # parameter agreement (log coefficients, exponents)
    delta: float = HUBER_DELTA
    converged_rtol: float = CONVERGED_RTOL  # Newton decrement / objective at a verified optimum


@dataclass(frozen=True)
class FitResult:
    """A fitted law with the facts that show whether to trust it."""

    law: Law
    theta: Array  # (log E, log A, log B, alpha, beta)
    objective: float  # sum over runs of Huber(log residual)
    gradient_max: float  # max |d objective / d theta| at the optimum
    newton_decrement: float  # g^T H^-1 g: the objective decrease a Newton step still predicts
    hessian_eigenvalues: Array  # ascending, in the free parameters; > 0 at a strict minimum
    hessian_vectors: Array  # eigenvectors as columns, same order
    starts: int
    starts_converged: int
    starts_agreeing: int  # converged starts that reached this optimum
    verified: bool
    n_runs: int
    residuals: Array  # log L_pred - log L_obs per run, in run order
    candidates: Array  # grid-cell parameter vectors, best profile first (for the bootstrap)
    basins: Array  # distinct converged end points, best first
    at_bounds: tuple[str, ...]  # parameters stuck at the search box (degenerate law)
    constraints: Constraints = field(default_factory=Constraints)
    delta: float = HUBER_DELTA

    @property
    def condition_number(self) -> float:
        ev = self.hessian_eigenvalues
        return float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")


# --------------------------------------------------------------------------- screening

def _grid(
    settings: SearchSettings, constraints: Constraints
) -> tuple[Array, Array, tuple[int, int]]:
    """Exponent pairs to screen, and the grid's shape (for finding local minima)."""
    axis = np.geomspace(settings.exponent_min, settings.exponent_max, settings.grid_size)
    fixed = constraints.fixed_theta()
    if 3 in fixed and 4 in fixed:
        return np.array([fixed[3]]), np.array([fixed[4]]), (1, 1)
    if constraints.tie_exponents:
        return axis, axis.copy(), (axis.size, 1)
    a_axis = np.array([fixed[3]]) if 3 in fixed else axis
    b_axis = np.array([fixed[4]]) if 4 in fixed else axis
    alpha, beta = np.meshgrid(a_axis, b_axis, indexing="ij")
    return alpha.ravel(), beta.ravel(), (a_axis.size, b_axis.size)


def screen_grid(data: Data, weights: Array, settings: SearchSettings,
                constraints: Constraints | None = None) -> tuple[Array, Array, tuple[int, int]]:
    """Profile the objective over the exponent grid: theta per cell (C, 5), objective (C,),
    and the grid's shape."""
    constraints = constraints or Constraints()
    alpha, beta, shape = _grid(settings, constraints)
    theta, profile = _profile_cells(alpha, beta, data, weights, settings, constraints)
    return theta, profile, shape


def _profile_cells(alpha: Array, beta: Array, data: Data, weights: Array,
                   settings: SearchSettings, constraints: Constraints) -> tuple[Array, Array]:
    """theta (S, 5) and profile value (S,) at each exponent pair; ``weights`` (n,) shared or
    (S, n) per pair. A zero coefficient starts tiny (a millionth of the smallest loss)."""
    coef, profile, _ = profile_coefficients(alpha, beta, data, weights, delta=settings.delta,
                                            constraints=constraints,
                                            iterations=settings.irls_iterations)
    theta = coefficients_to_theta(coef, alpha, beta, data, 1e-6 * float(np.exp(data.log_l).min()))
    return constraints.project(np.clip(theta, BOUNDS[0], BOUNDS[1])), profile


def _local_minima(profile: Array, shape: tuple[int, int]) -> npt.NDArray[np.intp]:
    """Indices of cells no higher than any of their 8 grid neighbours, best first."""
    grid = profile.reshape(shape)
    rows, cols = shape
    padded = np.pad(grid, 1, constant_values=np.inf)
    is_min = np.ones_like(grid, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= grid <= padded[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
    cells = np.flatnonzero(is_min.ravel())
    return cells[np.argsort(profile[cells], kind="stable")]


def _screen_subset(n: int, limit: int) -> npt.NDArray[np.intp]:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


# --------------------------------------------------------------------------- fit


def fit_law(
    data: Data,
    *,
    weights: npt.ArrayLike | None = None,
    settings: SearchSettings | None = None,
    constraints: Constraints | None = None,
) -> FitResult:
    """Global minimum of the objective over (E, A, B > 0; alpha, beta >= 0), subject to
    ``constraints`` (fixed parameters, tied exponents)."""
    # Losses near the float range's ends under- and overflow in exp/square by design; the
    # optimum is verified below, so numpy's floating-point warnings carry no information.
    with np.errstate(all="ignore"):
        return _fit_law(data, weights, settings or SearchSettings(),
                        constraints or Constraints())


def _fit_law(data: Data, weights: npt.ArrayLike | None, settings: SearchSettings,
             constraints: Constraints) -> FitResult:
    n = len(data)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    starts, candidates = screen_starts(data, w, settings, constraints)
    if n > settings.screen_max_runs:
        # Many runs: the starts first descend on the screen's even sample of them (cheap),
        # and the full data's Newton polish finishes from there in a few steps, each start
        # still polished and verified on every run.
        sub = _screen_subset(n, settings.screen_max_runs)
        starts = polish(starts, data.subset(sub), w[sub], delta=settings.delta,
                        constraints=constraints, converged_rtol=settings.converged_rtol).theta
    polished = polish(starts, data, w, delta=settings.delta, constraints=constraints,
                      converged_rtol=settings.converged_rtol)
    return _verify(polished, data, w, candidates, settings, constraints)


def fit_law_many(data: Data, weights: Array, *, settings: SearchSettings,
                 constraints: Constraints,
                 cells: int = 2_000_000) -> tuple[Array, npt.NDArray[np.bool_]]:
    """:func:`fit_law`'s search (grid screen, ``settings.n_starts`` starts, Newton polish) for
    every row of ``weights`` (R, n) at once, without the verification: each row's best
    converged end point (its best end point where none converged) and whether one
    converged. Rows are screened a group at a time, about ``cells`` (row x cell x run)
    numbers per group."""
    with np.errstate(all="ignore"):
        sub = _screen_subset(len(data), settings.screen_max_runs)
        part = data.subset(sub)
        alpha, beta, shape = _grid(settings, constraints)
        per_group = max(1, cells // (alpha.size * len(sub)))
        starts = []
        for a in range(0, weights.shape[0], per_group):
            w = weights[a:a + per_group, sub]
            theta, profile = _profile_cells(np.tile(alpha, len(w)), np.tile(beta, len(w)), part,
                                            np.repeat(w, alpha.size, axis=0), settings,
                                            constraints)
            for r in range(len(w)):
                rows = slice(r * alpha.size, (r + 1) * alpha.size)
                starts.append(_start_cells(theta[rows], profile[rows], shape, settings,
                                           constraints))
        per_row = starts[0].shape[0]
        polished = polish(np.vstack(starts), data, np.repeat(weights, per_row, axis=0),
                          delta=settings.delta, constraints=constraints,
                          converged_rtol=settings.converged_rtol)
    f = polished.objective.reshape(-1, per_row)
    converged = polished.converged.reshape(-1, per_row)
    pick = np.argmin(np.where(converged.any(axis=1, keepdims=True),
                              np.where(converged, f, np.inf), f), axis=1)
    rows_ = np.arange(f.shape[0])
    return (polished.theta.reshape(-1, per_row, 5)[rows_, pick],
            np.asarray(converged.any(axis=1)))


def _start_cells(candidates: Array, profile: Array, shape: tuple[int, int],
                 settings: SearchSettings, constraints: Constraints) -> Array:
    """The profile's best local minima (up to half the starts), then its best cells; on a
    tiny grid (exponents fixed) deterministic perturbations of the best cell besides."""
    order = np.argsort(profile, kind="stable")
    minima = _local_minima(profile, shape)
    start_cells = list(dict.fromkeys([*minima[: settings.n_starts // 2].tolist(),
                                      *order.tolist()]))[: settings.n_starts]
    starts = candidates[start_cells]
    if len(starts) < 4:
        kicks = np.array([[0.5, -0.5, 0.5, 0.05, -0.05], [-0.5, 0.5, -0.5, -0.05, 0.05],
                          [0.0, 1.0, 1.0, 0.1, 0.1]])
        starts = constraints.project(np.vstack([starts, starts[0] + kicks]))
    return starts


def screen_starts(data: Data, weights: Array, settings: SearchSettings,
                  constraints: Constraints) -> tuple[Array, Array]:
    """The grid screen's ``settings.n_starts`` starts (:func:`_start_cells`) and every
    cell's theta, best profile first."""
    sub = _screen_subset(len(data), settings.screen_max_runs)
    with np.errstate(all="ignore"):  # losses near the float range's ends (see fit_law)
        candidates, profile, shape = screen_grid(data.subset(sub), weights[sub], settings,
                                                 constraints)
    order = np.argsort(profile, kind="stable")
    return _start_cells(candidates, profile, shape, settings, constraints), candidates[order]


def _verify(
    polished: Polished, data: Data, w: Array, candidates: Array, settings: SearchSettings,
    constraints: Constraints,
) -> FitResult:
    f = np.where(polished.converged, polished.objective, np.inf)
    if not np.isfinite(f).any():  # nothing converged: report the best end point, unverified
        f = polished.objective
    best = int(np.argmin(f))
    theta = polished.theta[best]
    scale = max(polished.objective[best], 1e-17 * float(w.sum()))
    close_f = polished.objective <= polished.objective[best] + settings.agree_rtol * scale
    close_theta = (np.abs(polished.theta - theta) <= settings.agree_atol_theta).all(axis=1)
    agreeing = int((polished.converged & close_f & close_theta).sum())
    hess = free_hessian(theta, data, w, delta=settings.delta, constraints=constraints)
    eigenvalues, eigenvectors = np.linalg.eigh(hess)
    stuck = degenerate_mask(theta[None], data, constraints)[0]
    return FitResult(
        law=Law.from_theta(theta),
        theta=theta,
        objective=float(polished.objective[best]),
        gradient_max=float(np.abs(polished.gradient[best]).max()),
        newton_decrement=float(polished.decrement[best]),
        hessian_eigenvalues=np.asarray(eigenvalues, dtype=float),
        hessian_vectors=np.asarray(eigenvectors, dtype=float),
        starts=len(f),
        starts_converged=int(polished.converged.sum()),
        starts_agreeing=agreeing,
        verified=bool(polished.converged[best]) and agreeing >= 2,
        n_runs=len(data),
        residuals=residuals(theta, data)[0],
        candidates=candidates,
        basins=_distinct(polished, settings),
        at_bounds=tuple(name for name, bad in zip(NAMES, stuck, strict=True) if bad),
        constraints=constraints,
        delta=settings.delta,
    )


def _distinct(polished: Polished, settings: SearchSettings) -> Array:
    order = np.argsort(np.where(polished.converged, polished.objective, np.inf), kind="stable")
    kept: list[Array] = []
    for i in order:
        if not polished.converged[i]:
            continue
        if all(np.abs(polished.theta[i] - k).max() > settings.agree_atol_theta for k in kept):
            kept.append(polished.theta[i])
    return np.array(kept).reshape(-1, 5)


def degenerate_mask(theta: npt.ArrayLike, data: Data,
                    constraints: Constraints | None = None) -> npt.NDArray[np.bool_]:
    """(S, 5) flags: a free parameter on the search box, or a power-law term that vanished
    (contributes under 1e-6 of the loss at every run). NaN rows are not flagged."""
    t = np.array(theta, dtype=float, ndmin=2)
    with np.errstate(invalid="ignore"):
        stuck = (t <= BOUNDS[0] + 1e-9) | (t >= BOUNDS[1] - 1e-9)
        floor = data.log_l.min() - np.log(1e6)
        stuck[:, 1] |= t[:, 1] - t[:, 3] * data.log_n.min() < floor
        stuck[:, 2] |= t[:, 2] - t[:, 4] * data.log_d.min() < floor
    for i in (constraints or Constraints()).fixed_theta():
        stuck[:, i] = False
    return np.asarray(stuck)
