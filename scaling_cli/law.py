"""The Chinchilla loss surface and its compute-optimal allocation: the vocabulary of every stage.

    L(N, D) = E + A / N**alpha + B / D**beta                      (Hoffmann et al. 2022, eq. 2)

evaluated in log space, log L = logsumexp(log E, log A - alpha log N, log B - beta log D),
so that N, D from 1e6 to 1e30 neither overflow nor underflow.

Under a compute budget C = k N D (k = 6 by default: forward + backward FLOPs per parameter
per token), minimising L gives the closed form (Hoffmann et al. 2022, eq. 4)

    N* = G (C/k)**a,   D* = (C/k) / N*,   a = beta / (alpha + beta),
    G  = (alpha A / (beta B))**(1 / (alpha + beta)).

Every function is vectorised numpy and there is one numeric path: the fields of
:class:`Law` are floats for one law or arrays of replicate laws, and broadcast against
arrays of N, D or C. A point law and its bootstrap replicates are evaluated together as
one stacked law (:meth:`Law.stacked`: the point in row 0), so a point estimate and the
replicates behind its interval always come out of the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "PARAMETER_NAMES",
    "R_D_STAR",
    "Allocation",
    "Law",
    "effective_tokens",
    "optimal_allocation",
    "predict_loss",
    "repetitions_worth",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0
PARAMETER_NAMES = ("E", "A", "B", "alpha", "beta")  # the law's parameters, in theta order
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Law:
    """Parameters of L(N, D) = E + A/N^alpha + B/D^beta (loss in nats/token).

    Fields are floats for one law, or equal-shape arrays for several (replicates).
    """

    E: Any
    A: Any
    B: Any
    alpha: Any
    beta: Any

    @classmethod
    def from_theta(cls, theta: npt.ArrayLike) -> Law:
        """From the fitter's vector(s) theta = (log E, log A, log B, alpha, beta)."""
        t = np.asarray(theta, dtype=float)
        if t.ndim == 1:
            e, a, b = (float(v) for v in np.exp(t[:3]))
            return cls(e, a, b, float(t[3]), float(t[4]))
        return cls(np.exp(t[..., 0]), np.exp(t[..., 1]), np.exp(t[..., 2]), t[..., 3], t[..., 4])

    @classmethod
    def stacked(cls, point: Law, replicates: Law | None) -> Law:
        """The point law in row 0 and the replicate laws below it, as an (1 + R, 1) column
        that broadcasts against a row of inputs: one evaluation gives the point and the
        replicates of any answer."""
        def column(name: str) -> Array:
            first = np.atleast_1d(np.asarray(getattr(point, name), dtype=float))
            rest = () if replicates is None else (np.asarray(getattr(replicates, name),
                                                             dtype=float).ravel(),)
            return np.concatenate([first, *rest])[:, None]

        return cls(*(column(name) for name in PARAMETER_NAMES))

    def as_column(self) -> Law:
        """Replicate laws as (R, 1) columns, to broadcast against a row of inputs."""
        return Law(*(np.asarray(getattr(self, name), dtype=float).reshape(-1, 1)
                     for name in PARAMETER_NAMES))

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (float(self.E), float(self.A), float(self.B), float(self.alpha), float(self.beta))

    @property
    def compute_exponent(self) -> Any:
        """a = beta / (alpha + beta): N* grows as C**a, D* as C**(1 - a)."""
        alpha = np.asarray(self.alpha, dtype=float)
        return np.asarray(self.beta, dtype=float) / (alpha + np.asarray(self.beta, dtype=float))


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal split of budgets (arrays broadcast laws x budgets)."""

    compute_flops: Array
    params: Array
    tokens: Array
    loss: Array

    @property
    def tokens_per_param(self) -> Array:
        return self.tokens / self.params


# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", appendix A (C4 fit):
# the decay constant of repeated tokens' worth.
R_D_STAR = 15.387756


def repetitions_worth(repetitions: npt.ArrayLike, r_star: float) -> Array:
    """R* (1 - exp(-R / R*)): R repetitions of the data, worth this many fresh passes
    (R itself when R* = inf)."""
    r = np.asarray(repetitions, dtype=float)
    if np.isinf(r_star):
        return r
    return np.asarray(-r_star * np.expm1(-r / r_star), dtype=float)


def effective_tokens(tokens: npt.ArrayLike, unique_tokens: npt.ArrayLike, *,
                     r_star: float = R_D_STAR) -> Array:
    """The fresh tokens a run on repeated data is worth (Muennighoff et al. 2023, eq. 5):

        D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),   U_D = min(U, D),   R_D = D / U_D - 1.

    D' = D when U >= D (nothing repeated); D' < D otherwise, and D' -> U (1 + R*_D) as
    D -> inf. A NaN unique count means "not known": D' = D there."""
    d = np.asarray(tokens, dtype=float)
    u = np.asarray(unique_tokens, dtype=float)
    u_d = np.where(np.isnan(u), d, np.minimum(u, d))
    with np.errstate(over="ignore"):  # D / U_D = inf saturates: R* (1 - e^-inf) = R*
        return np.asarray(u_d * (1.0 + repetitions_worth(d / u_d - 1.0, r_star)), dtype=float)


def predict_loss(law: Law, params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
    """L(N, D) = E + A N^-alpha + B D^-beta, computed as exp(logsumexp(...)) to stay finite."""
    # N = 0 or D = inf arise as limits (a degenerate law's optimum); x^0 is 1 there too.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_n = np.log(np.asarray(params, dtype=float))
        log_d = np.log(np.asarray(tokens, dtype=float))
        alpha = np.asarray(law.alpha, dtype=float)
        beta = np.asarray(law.beta, dtype=float)
        a_term = np.where(alpha == 0, np.log(law.A), np.log(law.A) - alpha * log_n)
        b_term = np.where(beta == 0, np.log(law.B), np.log(law.B) - beta * log_d)
        terms = np.logaddexp(np.log(law.E), np.logaddexp(a_term, b_term))
        return np.asarray(np.exp(terms), dtype=float)


def optimal_allocation(
    law: Law, compute_flops: npt.ArrayLike, *, flops_per_param_token: float = 6.0
) -> Allocation:
    """N*, D* and L(N*, D*) for budgets C under C = k N D (closed form in the module doc).

    With replicate laws of shape (R, 1) (:meth:`Law.stacked`) and budgets of shape (M,),
    every field is (R, M).
    """
    c = np.asarray(compute_flops, dtype=float)
    alpha = np.asarray(law.alpha, dtype=float)
    beta = np.asarray(law.beta, dtype=float)
    log_c = np.log(c / flops_per_param_token)
    # alpha = 0 or beta = 0 (a vanished term, allowed by the bounds) gives the limits
    # N* = 0 or D* = 0 without numpy warnings on stderr.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_g = (np.log(alpha) + np.log(law.A) - np.log(beta) - np.log(law.B)) / (alpha + beta)
        log_n = log_g + beta / (alpha + beta) * log_c
        params = np.exp(log_n)
        tokens = np.exp(log_c - log_n)
    return Allocation(compute_flops=np.broadcast_to(c, params.shape).astype(float),
                      params=params, tokens=tokens, loss=predict_loss(law, params, tokens))
