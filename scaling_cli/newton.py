"""Batched, safeguarded Newton minimisation of the objective from many starts at once.

Each iteration, for every still-active start s:

    H_s = V diag(lambda) V^T          (exact Hessian, eigendecomposed: 5x5, batched)
    step = -V diag(1 / max(|lambda|, eps max|lambda|)) V^T g_s      (saddle-free Newton)
    theta <- clip(theta + t step), t = 1, 1/2, 1/4, ... until Armijo:
             f(theta + t step) <= f(theta) + 1e-4 t g.step

and a start stops when its Newton decrement -g.step falls below ``DECREMENT_RTOL * f``
(the objective cannot drop by more than that), or its line search finds no decrease.
Tolerances are relative to f itself, never to max(|f|, 1): f sits near 1e-3 here.

A start counts as *converged* when it stopped at a positive-definite Hessian with a Newton
decrement g^T H^-1 g <= CONVERGED_RTOL * f: a verified local minimum, where no quadratic
model predicts a relative improvement above 1e-12. (The decrement, not max |g|, is the
test: the surface is so badly conditioned that a gradient of 3e-8 along a stiff direction
is a step of 1e-11 from the optimum.)
Work per start never depends on the other starts in the batch, so results are identical
whichever batch (or worker) a start lands in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .objective import HUBER_DELTA, Data, evaluate

__all__ = ["BOUNDS", "CONVERGED_RTOL", "Polished", "polish"]

Array = npt.NDArray[np.float64]

# Box for (log E, log A, log B, alpha, beta). Exponents stay in [0, 10]; the log
# coefficients' box only keeps exp() finite: a term whose log coefficient sits at -40
# has vanished (it is reported as a parameter at its bound).
BOUNDS = np.array([[-40.0, -40.0, -40.0, 0.0, 0.0], [10.0, 300.0, 300.0, 10.0, 10.0]])
CONVERGED_RTOL = 1e-12
DECREMENT_RTOL = 1e-14
_ARMIJO = 1e-4
_MAX_HALVINGS = 45


@dataclass(frozen=True)
class Polished:
    """End points of the starts: parameters, objective, gradient, and convergence facts."""

    theta: Array  # (S, 5)
    objective: Array  # (S,)
    gradient: Array  # (S, 5)
    decrement: Array  # (S,) Newton decrement g^T H^-1 g at the end point
    min_eigenvalue: Array  # (S,) smallest Hessian eigenvalue at the end point
    iterations: npt.NDArray[np.int64]  # (S,)
    converged: npt.NDArray[np.bool_]  # (S,)


def _floor(f: Array, total_weight: Array) -> Array:
    # Relative tolerances need a floor for noise-free data, where f -> 0 at the truth.
    return np.maximum(f, 1e-12 * HUBER_DELTA**2 * total_weight)


def polish(
    theta0: npt.ArrayLike,
    data: Data,
    weights: npt.ArrayLike,
    *,
    max_iter: int = 200,
    delta: float = HUBER_DELTA,
) -> Polished:
    """Minimise from each row of ``theta0`` (S, 5). ``weights``: (n,) or (S, n)."""
    theta = np.clip(np.array(theta0, dtype=float, ndmin=2), BOUNDS[0], BOUNDS[1])
    n_starts = theta.shape[0]
    w = np.broadcast_to(np.asarray(weights, dtype=float), (n_starts, len(data)))
    total_w = w.sum(axis=1)
    f, g, h = evaluate(theta, data, w, order=2, delta=delta)
    assert g is not None and h is not None
    iterations = np.zeros(n_starts, dtype=np.int64)
    active = np.ones(n_starts, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        step = _newton_step(g[idx], h[idx])
        slope = np.einsum("sk,sk->s", g[idx], step)
        done = -slope <= DECREMENT_RTOL * _floor(f[idx], total_w[idx])
        new_theta, moved = _line_search(theta[idx], f[idx], step, slope, data,
                                               w[idx], delta, skip=done)
        moved_idx = idx[moved]
        theta[moved_idx] = new_theta[moved]
        iterations[moved_idx] += 1
        if moved_idx.size:
            f_m, g_m, h_m = evaluate(theta[moved_idx], data, w[moved_idx], order=2, delta=delta)
            assert g_m is not None and h_m is not None
            f[moved_idx], g[moved_idx], h[moved_idx] = f_m, g_m, h_m
        active[idx[~moved]] = False
    min_eig = np.asarray(np.linalg.eigvalsh(h)[:, 0], dtype=float)
    decrement = -np.einsum("sk,sk->s", g, _newton_step(g, h))
    converged = (decrement <= CONVERGED_RTOL * _floor(f, total_w)) & (min_eig > 0) & ~active
    return Polished(theta, f, g, decrement, min_eig, iterations, converged)


def _newton_step(g: Array, h: Array) -> Array:
    lam, vec = np.linalg.eigh(h)
    scale = np.abs(lam).max(axis=1, keepdims=True)
    lam_mod = np.maximum(np.abs(lam), 1e-12 * scale + 1e-300)
    coeff = np.einsum("sji,sj->si", vec, g) / lam_mod
    return np.asarray(-np.einsum("sij,sj->si", vec, coeff))


def _line_search(
    theta: Array, f: Array, step: Array, slope: Array, data: Data, w: Array, delta: float,
    *, skip: npt.NDArray[np.bool_],
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Backtracking Armijo search, batched; returns the new points and who moved."""
    t = np.ones(len(f))
    new_theta = theta.copy()
    moved = np.zeros(len(f), dtype=bool)
    pending = ~skip
    for _ in range(_MAX_HALVINGS):
        idx = np.flatnonzero(pending)
        if idx.size == 0:
            break
        trial = np.clip(theta[idx] + t[idx, None] * step[idx], BOUNDS[0], BOUNDS[1])
        f_trial, _, _ = evaluate(trial, data, w[idx], order=0, delta=delta)
        ok = f_trial <= f[idx] + _ARMIJO * t[idx] * slope[idx]
        ok &= f_trial < f[idx]  # a real decrease, not rounding noise
        acc = idx[ok]
        new_theta[acc] = trial[ok]
        moved[acc] = True
        pending[acc] = False
        t[idx[~ok]] *= 0.5
    return new_theta, moved
