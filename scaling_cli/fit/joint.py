"""Two ladders fitted together: the Approach-3 objective summed over both, with shared parameters.

Ladder j (0 = baseline, 1 = variant) follows its own law L_j(N, D) = E_j + A_j/N^alpha_j +
B_j/D^beta_j. A *mode* says which parameters the two share:

    separate   nothing            10 free parameters (the two ordinary fits, side by side)
    shared     alpha, beta         8 (the default: one scaling behaviour, two offsets)
    pinned     E, alpha, beta      7 (one irreducible loss as well)

The free vector phi maps to each ladder's theta_j = (log E, log A, log B, alpha, beta) by a
0/1 selection matrix, theta_j = M_j phi (:class:`Layout`), and the objective is the sum of
the two ladders' objectives (:mod:`scaling_cli.fit.objective`, Huber on log residuals):

    f(phi)    = f_0(M_0 phi; w_0) + f_1(M_1 phi; w_1)
    grad f    = M_0^T g_0 + M_1^T g_1,        hess f = M_0^T H_0 M_0 + M_1^T H_1 M_1

with each ladder's exact gradient and Hessian from :func:`~scaling_cli.fit.objective.evaluate`.

The search mirrors the single-ladder fit (:mod:`scaling_cli.fit.search`):

1. *Screen.* :func:`~scaling_cli.fit.search.screen_grid` profiles each ladder over the same
   exponent grid; for shared exponents the joint profile is the sum of the two profiles cell
   by cell (for fixed exponents the ladders' coefficients separate exactly). Pinned mode
   repeats the screen (a coarser 24 x 24 exponent grid) for 12 values of E held fixed;
   separate mode pairs each ladder's own best cells.
2. *Polish.* Batched safeguarded Newton in phi (:func:`polish_joint`): the step
   (:func:`scaling_cli.fit.newton.newton_step`), tolerances, box and safeguards of
   :mod:`scaling_cli.fit.newton`: Armijo backtracking, active bounds, vanished terms sent to
   their bound (and small shrinking ones tried there), the exponent of a term gone from
   every ladder held.
3. *Verify.* A converged local minimum (Newton decrement <= 1e-12 f, positive-definite
   Hessian) that at least two starts reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.newton import (
    BOUNDS,
    CONVERGED_RTOL,
    DECREMENT_RTOL,
    TRY_VANISH_LOG,
    VANISHED_LOG,
    newton_step,
)
from scaling_cli.fit.objective import Data, evaluate, residuals
from scaling_cli.fit.search import SearchSettings, degenerate_mask, screen_grid
from scaling_cli.law import Law

__all__ = [
    "LADDERS",
    "MODES",
    "JointPolished",
    "JointProblem",
    "JointResult",
    "Layout",
    "fit_joint",
    "polish_joint",
]

MODES = ("shared", "separate", "pinned")
LADDERS = ("baseline", "variant")
THETA_NAMES = ("log_E", "log_A", "log_B", "alpha", "beta")
E_GRID = np.linspace(0.05, 0.98, 12)  # pinned mode: E as fractions of the smallest loss
PINNED_GRID_SIZE = 24  # pinned mode screens E x alpha x beta: a coarser exponent grid
_ARMIJO = 1e-4
_MAX_HALVINGS = 45
Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Weights = tuple[Array, Array]


@dataclass(frozen=True)
class Layout:
    """Which theta entry of which ladder each free parameter sets (see the module doc)."""

    mode: str
    columns: tuple[tuple[int, tuple[int, ...]], ...]  # (theta index, ladders) per column

    @classmethod
    def of(cls, mode: str) -> Layout:
        if mode not in MODES:
            raise UsageError(f"{mode!r}: use one of {', '.join(MODES)}", field="mode")
        own = {"separate": range(5), "shared": range(3), "pinned": range(1, 3)}[mode]
        shared = {"separate": (), "shared": (3, 4), "pinned": (0, 3, 4)}[mode]
        cols: list[tuple[int, tuple[int, ...]]] = [(i, (j,)) for j in (0, 1) for i in own]
        cols += [(i, (0, 1)) for i in shared]
        return cls(mode, tuple(sorted(cols, key=lambda c: (len(c[1]), c[1], c[0]))))

    @property
    def size(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(THETA_NAMES[i] if len(ladders) == 2 else f"{LADDERS[ladders[0]]}."
                     f"{THETA_NAMES[i]}" for i, ladders in self.columns)

    @property
    def shared(self) -> tuple[str, ...]:
        """The law parameters both ladders share (E, alpha, beta as in Law)."""
        law_names = ("E", "A", "B", "alpha", "beta")
        return tuple(law_names[i] for i, ladders in self.columns if len(ladders) == 2)

    def matrix(self, ladder: int) -> Array:
        """M_j (5, p): theta_j = M_j phi."""
        m = np.zeros((5, self.size))
        for c, (i, ladders) in enumerate(self.columns):
            if ladder in ladders:
                m[i, c] = 1.0
        return m

    def bounds(self) -> tuple[Array, Array]:
        index = [i for i, _ in self.columns]
        return BOUNDS[0, index], BOUNDS[1, index]

    def thetas(self, phi: npt.ArrayLike) -> tuple[Array, Array]:
        p = np.atleast_2d(np.asarray(phi, dtype=float))
        return p @ self.matrix(0).T, p @ self.matrix(1).T

    def to_phi(self, theta_0: npt.ArrayLike, theta_1: npt.ArrayLike) -> Array:
        """phi from the two ladders' theta (a shared entry: the mean of the two)."""
        t = (np.atleast_2d(np.asarray(theta_0, dtype=float)),
             np.atleast_2d(np.asarray(theta_1, dtype=float)))
        return np.column_stack([np.mean([t[j][:, i] for j in ladders], axis=0)
                                for i, ladders in self.columns])


@dataclass(frozen=True)
class JointProblem:
    """Both ladders' data and how the free parameters map onto them."""

    layout: Layout
    data: tuple[Data, Data]
    delta: float

    def evaluate(self, phi: Array, weights: Weights,
                 order: int = 2) -> tuple[Array, Array, Array]:
        """f (S,), and for ``order`` 2 also grad (S, p) and Hessian (S, p, p) in phi."""
        f = np.zeros(phi.shape[0])
        g = np.zeros(phi.shape) if order >= 2 else np.empty(0)
        h = np.zeros((phi.shape[0], phi.shape[1], phi.shape[1])) if order >= 2 else np.empty(0)
        for j, theta in enumerate(self.layout.thetas(phi)):
            f_j, g_j, h_j = evaluate(theta, self.data[j], weights[j], order=order,
                                     delta=self.delta)
            f += f_j
            if order >= 2 and g_j is not None and h_j is not None:
                m = self.layout.matrix(j)
                g += g_j @ m
                h += np.einsum("ki,skl,lj->sij", m, h_j, m)
        return f, g, h

    def _below(self, phi: Array, log_fraction: float) -> Mask:
        """(S, p) flags: a log coefficient whose term is below ``exp(log_fraction)`` of the
        smallest loss at every run of every ladder using it (False for exponents)."""
        out = np.zeros(phi.shape, dtype=bool)
        small = []
        for theta, data in zip(self.layout.thetas(phi), self.data, strict=True):
            size = np.column_stack([theta[:, 0], theta[:, 1] - theta[:, 3] * data.log_n.min(),
                                    theta[:, 2] - theta[:, 4] * data.log_d.min()])
            small.append(size < float(data.log_l.min()) + log_fraction)
        for c, (i, ladders) in enumerate(self.layout.columns):
            if i < 3:
                out[:, c] = np.logical_and.reduce([small[j][:, i] for j in ladders])
        return np.asarray(out, dtype=bool)

    def snap_vanished(self, phi: Array) -> Array:
        """A term below 1e-6 of the smallest loss at every run of every ladder that uses it
        goes to its bound (as :mod:`scaling_cli.fit.newton` does for one ladder)."""
        low, _ = self.layout.bounds()
        return np.asarray(np.where(self._below(phi, VANISHED_LOG), low, phi), dtype=float)

    def shrinking(self, phi: Array, g: Array) -> Mask:
        """(S, p) flags: a small (< 1% of the loss) coefficient that is still shrinking."""
        low, _ = self.layout.bounds()
        return np.asarray(self._below(phi, TRY_VANISH_LOG) & (g > 0) & (phi > low + 1e-12))

    def held(self, phi: Array) -> Mask:
        """(S, p) flags of coordinates with nothing left to fit: a log coefficient at its
        lower bound (a term at 1e-11 of itself), and the exponent of a term gone from every
        ladder it serves (see ``Space.project`` in :mod:`scaling_cli.fit.newton`)."""
        low, _ = self.layout.bounds()
        at_low = phi <= low + 1e-12
        coefficient = np.array([i < 3 for i, _ in self.layout.columns])
        out = at_low & coefficient
        thetas = self.layout.thetas(phi)
        for c, (i, ladders) in enumerate(self.layout.columns):
            if i >= 3:  # alpha serves A (theta 1), beta serves B (theta 2)
                out[:, c] = np.logical_and.reduce(
                    [thetas[j][:, i - 2] <= BOUNDS[0, i - 2] + 1e-9 for j in ladders])
        return np.asarray(out, dtype=bool)


def _floor(f: Array, total_weight: Array) -> Array:
    return np.maximum(f, 1e-17 * total_weight)


def _project(phi: Array, g: Array, h: Array, low: Array, high: Array,
             held: Mask) -> tuple[Array, Array]:
    """Coordinates held by an active bound (or ``held``) leave the Newton system (unit
    diagonal, zero gradient): a projected Newton / active-set method."""
    held = held | ((phi <= low + 1e-12) & (g > 0)) | ((phi >= high - 1e-12) & (g < 0))
    if not held.any():
        return g, h
    keep = ~held
    g = np.where(held, 0.0, g)
    h = h * keep[:, :, None] * keep[:, None, :]
    return g, h + np.einsum("sk,kl->skl", held.astype(float), np.eye(g.shape[1]))


@dataclass(frozen=True)
class JointPolished:
    """End points of the starts and their convergence facts."""

    phi: Array  # (S, p)
    objective: Array
    gradient: Array  # (S, p), projected on the active bounds
    decrement: Array
    min_eigenvalue: Array
    iterations: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]


def polish_joint(phi0: npt.ArrayLike, problem: JointProblem, weights: Weights, *,
                 max_iter: int = 200, converged_rtol: float = CONVERGED_RTOL) -> JointPolished:
    """Minimise from each row of ``phi0`` (S, p); ``weights``: each (n_j,) or (S, n_j).

    A start has *converged* at a positive-definite Hessian with Newton decrement
    g^T H^-1 g <= ``converged_rtol`` f (1e-12 for a fit; the bootstrap's replicates use a
    looser tolerance, as :mod:`scaling_cli.fit.bootstrap` does)."""
    low, high = problem.layout.bounds()
    phi = np.clip(np.array(phi0, dtype=float, ndmin=2), low, high)
    s = phi.shape[0]
    w = (np.broadcast_to(np.asarray(weights[0], float), (s, len(problem.data[0]))),
         np.broadcast_to(np.asarray(weights[1], float), (s, len(problem.data[1]))))
    total_w = w[0].sum(axis=1) + w[1].sum(axis=1)
    f, g, h = problem.evaluate(phi, w)
    iterations = np.zeros(s, dtype=np.int64)
    active = np.ones(s, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        g_a, h_a = _project(phi[idx], g[idx], h[idx], low, high, problem.held(phi[idx]))
        step = newton_step(g_a, h_a)
        slope = np.einsum("sk,sk->s", g_a, step)
        done = -slope <= DECREMENT_RTOL * _floor(f[idx], total_w[idx])
        active[idx[done]] = False
        idx, step, slope = idx[~done], step[~done], slope[~done]
        # Backtracking from the full step, batched: t = 1, 1/2, 1/4, ... until Armijo.
        t = np.ones(idx.size)
        moved = np.zeros(idx.size, dtype=bool)
        new = phi[idx].copy()
        pending = np.ones(idx.size, dtype=bool)
        for _ in range(_MAX_HALVINGS):
            k = np.flatnonzero(pending)
            if k.size == 0:
                break
            rows = idx[k]
            trial = np.clip(phi[rows] + t[k, None] * step[k], low, high)
            f_t, _, _ = problem.evaluate(trial, (w[0][rows], w[1][rows]), order=0)
            ok = (f_t <= f[rows] + _ARMIJO * t[k] * slope[k]) & (f_t < f[rows])
            new[k[ok]], moved[k[ok]], pending[k[ok]] = trial[ok], True, False
            t[k[~ok]] *= 0.5
        active[idx[~moved]] = False
        took = idx[moved]
        if took.size:
            phi[took] = problem.snap_vanished(new[moved])
            f[took], g[took], h[took] = problem.evaluate(phi[took], (w[0][took], w[1][took]))
            iterations[took] += 1
            _try_vanish(problem, phi, f, g, h, took, w)
    g_a, h_a = _project(phi, g, h, low, high, problem.held(phi))
    min_eig = np.asarray(np.linalg.eigvalsh(h_a)[:, 0], dtype=float)
    decrement = -np.einsum("sk,sk->s", g_a, newton_step(g_a, h_a))
    converged = (decrement <= converged_rtol * _floor(f, total_w)) & (min_eig > 0)
    return JointPolished(phi, f, g_a, decrement, min_eig, iterations, converged)


def _try_vanish(problem: JointProblem, phi: Array, f: Array, g: Array, h: Array,
                rows: npt.NDArray[np.intp], w: Weights) -> None:
    """Jump a small, still-shrinking term to its bound when that does not raise the
    objective (a degenerate replicate's term crawls down an exponentially flat valley
    otherwise); as :mod:`scaling_cli.fit.newton` does. Updates the arrays in place."""
    low, _ = problem.layout.bounds()
    candidates = problem.shrinking(phi[rows], g[rows])
    for c in np.flatnonzero(candidates.any(axis=0)):
        jump = rows[candidates[:, c]]
        trial = phi[jump].copy()
        trial[:, c] = low[c]
        f_t, g_t, h_t = problem.evaluate(trial, (w[0][jump], w[1][jump]))
        keep = f_t <= f[jump]
        phi[jump[keep]], f[jump[keep]] = trial[keep], f_t[keep]
        g[jump[keep]], h[jump[keep]] = g_t[keep], h_t[keep]


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class JointResult:
    """The joint optimum with the facts that show whether to trust it."""

    layout: Layout
    phi: Array
    laws: tuple[Law, Law]
    objective: float
    gradient_max: float
    newton_decrement: float
    hessian_eigenvalues: Array  # ascending, in phi
    hessian_vectors: Array
    starts: int
    starts_converged: int
    starts_agreeing: int
    verified: bool
    residuals: tuple[Array, Array]  # log L_pred - log L_obs per run, per ladder
    candidates: Array  # screened phi, best joint profile first (bootstrap starts)
    basins: Array  # distinct converged end points, best first
    at_bounds: tuple[str, ...]  # "baseline.A", "alpha", ...
    delta: float

    @property
    def condition_number(self) -> float:
        ev = self.hessian_eigenvalues
        return float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")


def _local_minima(profile: Array, shape: tuple[int, ...]) -> npt.NDArray[np.intp]:
    """Cells no higher than any grid neighbour (8 in 2-D, 26 in 3-D), best first."""
    grid = profile.reshape(shape)
    padded = np.pad(grid, 1, constant_values=np.inf)
    is_min = np.ones(grid.shape, dtype=bool)
    for offset in np.ndindex(*(3,) * grid.ndim):
        if all(o == 1 for o in offset):
            continue
        window = tuple(slice(o, o + n) for o, n in zip(offset, grid.shape, strict=True))
        is_min &= grid <= padded[window]
    cells = np.flatnonzero(is_min.ravel())
    return cells[np.argsort(profile[cells], kind="stable")]


def _starts(profile: Array, shape: tuple[int, ...], n: int) -> list[int]:
    """Half local minima (distinct basins), then the best cells (as fit_law chooses)."""
    order = np.argsort(profile, kind="stable")
    minima = _local_minima(profile, shape)
    return list(dict.fromkeys([*minima[: n // 2].tolist(), *order.tolist()]))[:n]


def _screen(problem: JointProblem, weights: Weights,
            settings: SearchSettings) -> tuple[Array, Array, list[int]]:
    """Candidate phi (C, p), their joint profile (C,) and the start cells (module doc)."""
    layout, data = problem.layout, problem.data
    if layout.mode == "pinned":
        floor = min(float(np.exp(d.log_l.min())) for d in data)
        coarse = replace(settings, grid_size=min(settings.grid_size, PINNED_GRID_SIZE))
        slices = []
        for e in floor * E_GRID:
            fixed = Constraints.make({"E": float(e)})
            (t0, p0, shape), (t1, p1, _) = (screen_grid(d, w, coarse, fixed)
                                            for d, w in zip(data, weights, strict=True))
            slices.append((layout.to_phi(t0, t1), p0 + p1))
        phi = np.vstack([s[0] for s in slices])
        profile = np.concatenate([s[1] for s in slices])
        return phi, profile, _starts(profile, (len(E_GRID), *shape), settings.n_starts)
    (t0, p0, shape), (t1, p1, _) = (screen_grid(d, w, settings)
                                    for d, w in zip(data, weights, strict=True))
    if layout.mode == "shared":
        profile = p0 + p1
        return layout.to_phi(t0, t1), profile, _starts(profile, shape, settings.n_starts)
    # separate: the joint profile is separable; pair each ladder's own starts rank by rank
    s0, s1 = _starts(p0, shape, settings.n_starts), _starts(p1, shape, settings.n_starts)
    phi = layout.to_phi(t0[s0], t1[s1])
    cells = len(s0)
    order0, order1 = np.argsort(p0, kind="stable"), np.argsort(p1, kind="stable")
    ranked = layout.to_phi(t0[order0], t1[order1])
    return (np.vstack([phi, ranked]), np.concatenate([p0[s0] + p1[s1], p0[order0] + p1[order1]]),
            list(range(cells)))


def fit_joint(problem: JointProblem, *, weights: Weights | None = None,
              settings: SearchSettings | None = None) -> JointResult:
    """Global minimum of the joint objective (module doc); unit weights by default."""
    settings = settings or SearchSettings(delta=problem.delta)
    w = weights or (np.ones(len(problem.data[0])), np.ones(len(problem.data[1])))
    candidates, profile, cells = _screen(problem, w, settings)
    polished = polish_joint(candidates[cells], problem, w,
                            converged_rtol=settings.converged_rtol)
    return _verify(problem, polished, w, candidates[np.argsort(profile, kind="stable")],
                   settings)


def _verify(problem: JointProblem, polished: JointPolished, w: Weights, candidates: Array,
            settings: SearchSettings) -> JointResult:
    f = np.where(polished.converged, polished.objective, np.inf)
    if not np.isfinite(f).any():
        f = polished.objective
    best = int(np.argmin(f))
    phi = polished.phi[best]
    total = float(w[0].sum() + w[1].sum())
    scale = max(polished.objective[best], 1e-17 * total)
    close_f = polished.objective <= polished.objective[best] + settings.agree_rtol * scale
    close_phi = (np.abs(polished.phi - phi) <= settings.agree_atol_theta).all(axis=1)
    agreeing = int((polished.converged & close_f & close_phi).sum())
    _, _, hess = problem.evaluate(phi[None], (w[0][None], w[1][None]))
    eigenvalues, eigenvectors = np.linalg.eigh(hess[0])
    thetas = problem.layout.thetas(phi)
    return JointResult(
        layout=problem.layout, phi=phi,
        laws=(Law.from_theta(thetas[0][0]), Law.from_theta(thetas[1][0])),
        objective=float(polished.objective[best]),
        gradient_max=float(np.abs(polished.gradient[best]).max()),
        newton_decrement=float(polished.decrement[best]),
        hessian_eigenvalues=np.asarray(eigenvalues, dtype=float),
        hessian_vectors=np.asarray(eigenvectors, dtype=float),
        starts=len(f), starts_converged=int(polished.converged.sum()),
        starts_agreeing=agreeing, verified=bool(polished.converged[best]) and agreeing >= 2,
        residuals=(residuals(thetas[0], problem.data[0])[0],
                   residuals(thetas[1], problem.data[1])[0]),
        candidates=candidates, basins=_distinct(polished, settings),
        at_bounds=degenerate_names(problem, phi[None])[0], delta=problem.delta)


def _distinct(polished: JointPolished, settings: SearchSettings) -> Array:
    order = np.argsort(np.where(polished.converged, polished.objective, np.inf), kind="stable")
    kept: list[Array] = []
    for i in order:
        if polished.converged[i] and all(
                np.abs(polished.phi[i] - k).max() > settings.agree_atol_theta for k in kept):
            kept.append(polished.phi[i])
    return np.array(kept).reshape(-1, polished.phi.shape[1])


def degenerate_names(problem: JointProblem, phi: Array) -> list[tuple[str, ...]]:
    """Per row of ``phi``: the parameters on the search box or vanished ("baseline.A", or
    "alpha" when shared), via :func:`scaling_cli.fit.search.degenerate_mask`."""
    law_names = ("E", "A", "B", "alpha", "beta")
    masks = [degenerate_mask(t, d) for t, d in
             zip(problem.layout.thetas(phi), problem.data, strict=True)]
    out = []
    for row in range(phi.shape[0]):
        names = []
        for i, ladders in problem.layout.columns:
            for j in ladders:
                if masks[j][row, i]:
                    names.append(law_names[i] if len(ladders) == 2
                                 else f"{LADDERS[j]}.{law_names[i]}")
        out.append(tuple(dict.fromkeys(names)))
    return out
