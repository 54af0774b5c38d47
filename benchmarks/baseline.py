"""The fit users reach for: scipy L-BFGS-B from each of Hoffmann et al.'s 4,500 grid starts.

The grid (Hoffmann et al. 2022, Approach 3; also Besiroglu et al. 2024) is the product

    log E in {-1, -.5, 0, .5, 1},  log A, log B in {0, 5, ..., 25},  alpha, beta in {0, .5, ..., 2}

(5 x 6 x 6 x 5 x 5 = 4,500 starts). Each start runs ``scipy.optimize.minimize(method=
"L-BFGS-B")`` on the same objective the tool minimises, the SUM over runs of
Huber_delta(log L_pred - log L_obs), with the exact gradient (:func:`value_and_grad`):

    r_i = logsumexp(e, a - alpha log N_i, b - beta log D_i) - log L_i,   p = softmax(...)
    f   = sum_i w_i h(r_i),   grad f = sum_i w_i h'(r_i) (p_E, p_A, p_B, -p_A log N_i, -p_B log D_i)

It is written for one parameter vector (not the tool's batched ``evaluate``), so the baseline
pays no batching overhead: a fair baseline is the fastest honest version of the recipe.

Tolerances. scipy stops when (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= ftol or when the
largest projected gradient component is <= gtol. With f ~ 1e-3 the denominator is 1, so
ftol acts on the absolute decrease: ftol = 1e-15 asks for a relative decrease of ~1e-12.
Scaling f by 1/f(x0) instead makes the test relative but also rescales gtol and the first
step, and measured on Epoch's runs it reaches the same best objective several times slower
(``bench.py`` prints the comparison), so the unscaled objective with ftol = 1e-15,
gtol = 1e-12 is the fair variant. Bounds are the tool's search box (exponents in [0, 10]).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.newton import BOUNDS
from scaling_cli.fit.objective import HUBER_DELTA, Data

__all__ = [
    "HOFFMANN_GRID",
    "BaselineRun",
    "Tolerances",
    "grid_subset",
    "lbfgsb_fit",
    "value_and_grad",
]

Array = npt.NDArray[np.float64]


def _hoffmann_grid() -> Array:
    axes = ((-1.0, -0.5, 0.0, 0.5, 1.0), (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
            (0.0, 5.0, 10.0, 15.0, 20.0, 25.0), (0.0, 0.5, 1.0, 1.5, 2.0),
            (0.0, 0.5, 1.0, 1.5, 2.0))
    return np.array(list(itertools.product(*axes)), dtype=float)


HOFFMANN_GRID = _hoffmann_grid()  # (4500, 5): log E, log A, log B, alpha, beta


def grid_subset(stride: int) -> Array:
    """Every ``stride``-th start of the grid. A stride that shares a factor with the grid's
    axis sizes (25 = 5 x 5) would revisit the same exponents every time, so pick one
    coprime to 2, 3 and 5 (the default, 23, gives 196 starts over all 25 exponent pairs)."""
    if stride < 1:
        raise ValueError("stride must be at least 1")
    return HOFFMANN_GRID[::stride]


@dataclass(frozen=True)
class Tolerances:
    ftol: float = 1e-15
    gtol: float = 1e-12
    maxiter: int = 15_000
    scale: str = "none"  # "none", or "start": minimise f / f(x0)


@dataclass(frozen=True)
class BaselineRun:
    """Outcome of L-BFGS-B from a set of starts."""

    theta: Array  # best end point
    objective: float  # best objective over the starts
    objectives: Array  # per start
    evaluations: int  # objective + gradient calls, all starts
    seconds: float
    starts: int

    @property
    def seconds_per_start(self) -> float:
        return self.seconds / self.starts


def value_and_grad(theta: Array, data: Data, weights: Array,
                   delta: float = HUBER_DELTA) -> tuple[float, Array]:
    """The objective and its exact gradient at one parameter vector (see the module doc)."""
    e, a, b, alpha, beta = theta
    z_a = a - alpha * data.log_n
    z_b = b - beta * data.log_d
    top = np.maximum(np.maximum(z_a, z_b), e)
    p_e, p_a, p_b = np.exp(e - top), np.exp(z_a - top), np.exp(z_b - top)
    total = p_e + p_a + p_b
    r = top + np.log(total) - data.log_l
    inside = np.abs(r) <= delta
    f = float(weights @ np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)))
    w1 = weights * np.where(inside, r, delta * np.sign(r)) / total
    g_a, g_b = w1 @ p_a, w1 @ p_b
    grad = np.array([w1 @ p_e, g_a, g_b, -(w1 * data.log_n) @ p_a, -(w1 * data.log_d) @ p_b])
    return f, grad


def lbfgsb_fit(data: Data, starts: Sequence[Array] | Array, *,
               weights: npt.ArrayLike | None = None,
               tolerances: Tolerances | None = None) -> BaselineRun:
    """L-BFGS-B from every start; the lowest end point wins. Timed (wall clock)."""
    from scipy.optimize import minimize  # deferred: only the benchmark needs scipy here

    tol = tolerances or Tolerances()
    w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float)
    bounds = list(zip(BOUNDS[0], BOUNDS[1], strict=True))
    x0s = np.atleast_2d(np.asarray(starts, dtype=float))
    thetas = np.empty_like(x0s)
    objectives = np.empty(len(x0s))
    evaluations = 0
    began = time.perf_counter()
    for i, x0 in enumerate(x0s):
        scale = 1.0
        if tol.scale == "start":
            scale = 1.0 / max(value_and_grad(x0, data, w)[0], 1e-300)

        def fun(x: Array, s: float = scale) -> tuple[float, Array]:
            f, g = value_and_grad(x, data, w)
            return f * s, g * s

        res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": tol.ftol, "gtol": tol.gtol, "maxiter": tol.maxiter,
                                "maxfun": tol.maxiter})
        thetas[i] = res.x
        objectives[i] = value_and_grad(res.x, data, w)[0]
        evaluations += int(res.nfev)
    seconds = time.perf_counter() - began
    best = int(np.argmin(objectives))
    return BaselineRun(thetas[best], float(objectives[best]), objectives, evaluations,
                       seconds, len(x0s))
