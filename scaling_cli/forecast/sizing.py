"""Planning answers beyond "the optimum at C": near-optimal bands, fixed sizes, target losses,
inference-aware sizing. Pure, vectorised mathematics.

Notation (docs/planning.md derives every formula):

    L(N, D) = E + A N^-alpha + B D^-beta,  C = k N D (k = 6),  c = C / k,
    a = beta / (alpha + beta),  gamma = alpha beta / (alpha + beta),
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  N* = G c^a,  D* = c / N*.

At the optimum both power-law terms fall as c^-gamma, so the optimal loss and its inverse
have closed forms (no iteration):

    L*(C) = E + K c^-gamma,  K = A G^-alpha + B G^beta,
    C_min(L) = k (K / (L - E))^(1/gamma)              (infinite, "unreachable", if L <= E).

Every function takes a :class:`~scaling_cli.law.Law` whose fields are floats (one law) or
arrays of bootstrap replicates. With stacked laws (fields of shape (R, 1),
:meth:`~scaling_cli.law.Law.stacked`) and
inputs of shape (M,) or (1, M), every result field broadcasts to (R, M); a point law and
scalar inputs give 0-d arrays. Results are frozen dataclasses of arrays, units in the names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError
from scaling_cli.forecast.algebra import (
    bisect_root,
    full,
    gamma,
    law_fields,
    log_g,
    log_k,
    log_reducible,
    positive,
)
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, Law, optimal_allocation, predict_loss

__all__ = [
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "FixedSize",
    "InferenceAware",
    "TargetLoss",
    "fixed_size",
    "inference_aware",
    "target_loss",
    "tokens_to_reach",
]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0  # a forward pass: 2 FLOPs per parameter per token


# --------------------------------------------------------------------------- fixed model size


@dataclass(frozen=True)
class FixedSize:
    """A model of fixed size N trained with the whole budget C (D = C / (k N)).

    ``loss_penalty`` = L(N, D) - L*(C) (nats/token). ``compute_equivalent_flops`` is the
    least compute at which the compute-optimal allocation reaches the same loss L(N, D);
    ``compute_penalty`` = C / compute_equivalent_flops - 1 (0.25: the fixed size spends 25%
    more compute than the optimal allocation needs for that loss).
    """

    compute_flops: Array
    params: Array
    tokens: Array
    loss: Array
    params_optimal: Array
    tokens_optimal: Array
    loss_optimal: Array
    loss_penalty: Array
    compute_equivalent_flops: Array
    compute_penalty: Array

    @property
    def tokens_per_param(self) -> Array:
        return self.tokens / self.params


def fixed_size(
    law: Law, compute_flops: npt.ArrayLike, params: npt.ArrayLike, *,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
) -> FixedSize:
    """Loss and penalties of training N parameters on D = C / (k N) tokens.

    With r = L(N, D) - E and r* = L*(C) - E = K c^-gamma (both computed as sums of the
    power-law terms, never by subtracting E), C_eq = C_min(L(N, D)) gives

        C / C_eq = (r / r*)^(1/gamma),   loss penalty = r - r*,

    both exactly zero at N = N* and positive elsewhere.
    """
    c = positive("compute_flops", compute_flops)
    n = positive("params", params)
    k = flops_per_param_token
    best = optimal_allocation(law, c, flops_per_param_token=k)
    log_c = np.log(c / k)
    log_n = np.log(n)
    log_r = log_reducible(law, log_n, log_c - log_n)
    log_r_star = log_reducible(law, np.log(best.params), np.log(best.tokens))
    ratio = (log_r - log_r_star) / gamma(law)  # log(C / C_eq) >= 0
    shape = ratio.shape
    tokens = full(np.exp(log_c - log_n), shape)
    return FixedSize(
        compute_flops=full(c, shape), params=full(n, shape), tokens=tokens,
        loss=full(predict_loss(law, n, tokens), shape),
        params_optimal=full(best.params, shape), tokens_optimal=full(best.tokens, shape),
        loss_optimal=full(best.loss, shape),
        loss_penalty=np.exp(log_r_star) * np.expm1(log_r - log_r_star),
        compute_equivalent_flops=full(c * np.exp(-ratio), shape), compute_penalty=np.expm1(ratio),
    )


# --------------------------------------------------------------------------- target loss


@dataclass(frozen=True)
class TargetLoss:
    """The least compute that reaches ``loss`` and its allocation N*, D*.

    ``reachable`` is False where the target is at or below the law's E (the loss no amount
    of compute reaches); there compute, params and tokens are +inf, never NaN.
    """

    loss: Array
    irreducible_loss: Array  # E
    reachable: BoolArray
    compute_flops: Array
    params: Array
    tokens: Array

    @property
    def unreachable_fraction(self) -> float:
        """Share of laws (e.g. bootstrap replicates) for which the target is unreachable."""
        return float(np.mean(~self.reachable)) if self.reachable.size else 0.0


def target_loss(
    law: Law, loss: npt.ArrayLike, *, flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
) -> TargetLoss:
    """Invert L*(C) = E + K c^-gamma in closed form: c = (K / (L - E))^(1/gamma),
    N* = G c^a, D* = c / N*, C = k c. Unreachable (inf) where L <= E."""
    ell = positive("loss", loss)
    e, _, _, alpha, beta = law_fields(law)
    reachable = np.asarray(ell > e)
    log_s = np.log(np.where(reachable, ell - e, 1.0))
    log_c = (log_k(law) - log_s) / gamma(law)
    log_n = log_g(law) + beta / (alpha + beta) * log_c
    shape = log_c.shape
    return TargetLoss(
        loss=full(ell, shape), irreducible_loss=full(e, shape),
        reachable=np.array(np.broadcast_to(reachable, shape)),
        compute_flops=np.where(reachable, flops_per_param_token * np.exp(log_c), np.inf),
        params=np.where(reachable, np.exp(log_n), np.inf),
        tokens=np.where(reachable, np.exp(log_c - log_n), np.inf),
    )


def tokens_to_reach(law: Law, params: npt.ArrayLike, loss: npt.ArrayLike) -> Array:
    """Tokens D with L(N, D) = loss for a fixed N: D = (B / (L - E - A N^-alpha))^(1/beta);
    +inf where L <= E + A N^-alpha (that N cannot reach the loss on any amount of data)."""
    n = positive("params", params)
    ell = positive("loss", loss)
    e, a, b, alpha, beta = law_fields(law)
    room = ell - e - a * n ** -alpha
    ok = room > 0
    return np.where(ok, np.exp((np.log(b) - np.log(np.where(ok, room, 1.0))) / beta), np.inf)


# --------------------------------------------------------------------------- inference-aware


@dataclass(frozen=True)
class InferenceAware:
    """Sardana & Frankle (2024): the (N, D) reaching ``loss`` at least total cost
    k N D (training) + 2 N T (inference on T lifetime tokens), next to the training-only
    (Chinchilla) optimum for the same loss. Unreachable targets (L <= E) give +inf."""

    loss: Array
    inference_tokens: Array
    reachable: BoolArray
    params: Array
    tokens: Array
    training_flops: Array
    inference_flops: Array
    params_chinchilla: Array
    tokens_chinchilla: Array
    training_flops_chinchilla: Array
    inference_flops_chinchilla: Array

    @property
    def total_flops(self) -> Array:
        return self.training_flops + self.inference_flops

    @property
    def total_flops_chinchilla(self) -> Array:
        return self.training_flops_chinchilla + self.inference_flops_chinchilla


def inference_aware(
    law: Law, loss: npt.ArrayLike, inference_tokens: npt.ArrayLike, *,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN,
) -> InferenceAware:
    """Minimise F = k N D + i N T subject to L(N, D) = L (i = 2 FLOPs per parameter per token).

    Write s = L - E and v = A N^-alpha / s, the share of the reducible loss left to the
    parameter term; the constraint gives N = (A / (s v))^(1/alpha), D = (B / (s (1-v)))^(1/beta).
    dF/dN = k D [1 + i T / (k D) - (alpha/beta) v / (1 - v)], and the bracket grows with N,
    so the optimum is the unique root in w = log(v / (1 - v)) of

        phi(w) = (alpha/beta) e^w - 1 - (i T / k) / D(w),   increasing in w,

    bracketed by w0 = log(beta/alpha) (the Chinchilla split, phi <= 0) and
    w0 + log(1 + i T / (k D0)) (phi >= 0, since D(w) >= D0 = D at w0). T = 0 gives w0.
    """
    ell = positive("loss", loss)
    t = np.asarray(inference_tokens, dtype=float)
    if not np.all(np.isfinite(t) & (t >= 0)):
        raise InputError("inference tokens must be zero or positive and finite")
    k, i = flops_per_param_token, inference_flops_per_param_token
    chin = target_loss(law, ell, flops_per_param_token=k)
    e, a, b, alpha, beta = law_fields(law)
    reachable = chin.reachable
    log_s = np.log(np.where(reachable, ell - e, 1.0))

    def log_tokens(w: Array) -> Array:
        return (np.log(b) - log_s + np.logaddexp(0.0, w)) / beta  # log(1 - v) = -softplus(w)

    w0 = np.log(beta / alpha) + 0.0 * log_s
    q = i * t / k
    w_hi = w0 + np.log1p(q * np.exp(-log_tokens(w0)))
    w = bisect_root(lambda w: alpha / beta * np.exp(w) - 1.0 - q * np.exp(-log_tokens(w)), w0, w_hi)
    log_n = (np.log(a) - log_s + np.logaddexp(0.0, -w)) / alpha  # log v = -softplus(-w)
    params = np.where(reachable, np.exp(log_n), np.inf)
    tokens = np.where(reachable, np.exp(log_tokens(w)), np.inf)
    shape = params.shape
    return InferenceAware(
        loss=full(ell, shape), inference_tokens=full(t, shape),
        reachable=np.array(np.broadcast_to(reachable, shape)),
        params=params, tokens=tokens, training_flops=k * params * tokens,
        inference_flops=full(i * params * t, shape),
        params_chinchilla=full(chin.params, shape), tokens_chinchilla=full(chin.tokens, shape),
        training_flops_chinchilla=full(chin.compute_flops, shape),
        inference_flops_chinchilla=full(i * chin.params * t, shape),
    )
