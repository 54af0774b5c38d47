"""Planning answers beyond "the optimum at C": near-optimal bands, fixed sizes, target losses,
inference-aware and data-constrained sizing. Pure, vectorised mathematics.

Notation (docs/planning.md derives every formula):

    L(N, D) = E + A N^-alpha + B D^-beta,  C = k N D (k = 6),  c = C / k,
    a = beta / (alpha + beta),  gamma = alpha beta / (alpha + beta),
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  N* = G c^a,  D* = c / N*.

At the optimum both power-law terms fall as c^-gamma, so the optimal loss and its inverse
have closed forms (no iteration):

    L*(C) = E + K c^-gamma,  K = A G^-alpha + B G^beta,
    C_min(L) = k (K / (L - E))^(1/gamma)              (infinite, "unreachable", if L <= E).

Every function takes a :class:`~scaling_cli.law.Law` whose fields are floats (one law) or
arrays of bootstrap replicates. With ``law.as_column()`` (fields of shape (R, 1)) and
inputs of shape (M,) or (1, M), every result field broadcasts to (R, M); a point law and
scalar inputs give 0-d arrays. Results are frozen dataclasses of arrays, units in the names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.forecast.band import (
    DEFAULT_BAND_TOLERANCE,
    NearOptimalBand,
    bisect_root,
    log_reducible,
    near_optimal_band,
)
from scaling_cli.errors import InputError, UsageError
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, Law, optimal_allocation, predict_loss

__all__ = [
    "DEFAULT_BAND_TOLERANCE",
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "R_D_STAR",
    "R_N_STAR",
    "DataConstrained",
    "FixedSize",
    "InferenceAware",
    "NearOptimalBand",
    "TargetLoss",
    "censored_percentile_interval",
    "data_constrained",
    "effective_data",
    "effective_params",
    "fixed_size",
    "inference_aware",
    "near_optimal_band",
    "predict_loss_data_constrained",
    "target_loss",
    "tokens_to_reach",
]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0  # a forward pass: 2 FLOPs per parameter per token
# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", appendix A (C4 fit).
R_D_STAR = 15.387756
R_N_STAR = 5.309743

_GOLDEN_STEPS = 80
_GRID_DECADE_STEP = 0.02  # data-constrained scan spacing, in decades of N
_GRID_MARGIN_DECADES = 3.0
_GRID_CHUNK = 1 << 18  # grid points evaluated at once (a few MB per temporary array)


# --------------------------------------------------------------------------- helpers


def _fields(law: Law) -> tuple[Array, Array, Array, Array, Array]:
    return tuple(np.asarray(v, dtype=float)  # type: ignore[return-value]
                 for v in (law.E, law.A, law.B, law.alpha, law.beta))


def _full(value: npt.ArrayLike, shape: tuple[int, ...]) -> Array:
    """``value`` as a float array of ``shape`` (its own memory, not a broadcast view)."""
    return np.array(np.broadcast_to(np.asarray(value, dtype=float), shape))


def _positive(name: str, value: npt.ArrayLike) -> Array:
    v = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(v) & (v > 0)):
        raise InputError(f"{name} must be positive and finite, got {v.ravel()[:3].tolist()}")
    return v


def _log_g(law: Law) -> Array:
    """log G = (log(alpha A) - log(beta B)) / (alpha + beta)."""
    _, a, b, alpha, beta = _fields(law)
    return (np.log(alpha) + np.log(a) - np.log(beta) - np.log(b)) / (alpha + beta)


def _log_k(law: Law) -> Array:
    """log K, K = A G^-alpha + B G^beta: L*(C) = E + K (C/k)^-gamma."""
    _, a, b, alpha, beta = _fields(law)
    log_g = _log_g(law)
    return np.logaddexp(np.log(a) - alpha * log_g, np.log(b) + beta * log_g)


def _gamma(law: Law) -> Array:
    _, _, _, alpha, beta = _fields(law)
    return alpha * beta / (alpha + beta)


def _golden_min(fn: Callable[[Array], Array], lo: Array, hi: Array) -> Array:
    """Minimiser of ``fn`` on each [lo, hi] (unimodal there) by golden-section search."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = fn(x1), fn(x2)
    for _ in range(_GOLDEN_STEPS):
        left = f1 <= f2  # the minimum lies in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        f1, f2 = fn(x1), fn(x2)
    return 0.5 * (lo + hi)


def censored_percentile_interval(values: npt.ArrayLike, confidence: float) -> tuple[float, float]:
    """Equal-tailed percentile interval where +inf means "unreachable" (ranked above every
    finite value, not dropped); NaN (failed replicates) is dropped. A bound that falls among
    the infinite replicates is +inf: the interval's upper end is "unreachable"."""
    v = np.sort(np.asarray(values, dtype=float).ravel())
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    out = []
    for q in (tail, 1.0 - tail):
        pos = q * (v.size - 1)
        i = math.floor(pos)
        j = min(i + 1, v.size - 1)
        frac = pos - i
        if math.isinf(v[i]) or (frac > 0 and math.isinf(v[j])):
            out.append(math.inf)
        else:
            out.append(float(v[i] + frac * (v[j] - v[i])))
    return (out[0], out[1])


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
    c = _positive("compute_flops", compute_flops)
    n = _positive("params", params)
    k = flops_per_param_token
    best = optimal_allocation(law, c, flops_per_param_token=k)
    log_c = np.log(c / k)
    log_n = np.log(n)
    log_r = log_reducible(law, log_n, log_c - log_n)
    log_r_star = log_reducible(law, np.log(best.params), np.log(best.tokens))
    ratio = (log_r - log_r_star) / _gamma(law)  # log(C / C_eq) >= 0
    shape = ratio.shape
    tokens = _full(np.exp(log_c - log_n), shape)
    return FixedSize(
        compute_flops=_full(c, shape), params=_full(n, shape), tokens=tokens,
        loss=_full(predict_loss(law, n, tokens), shape),
        params_optimal=_full(best.params, shape), tokens_optimal=_full(best.tokens, shape),
        loss_optimal=_full(best.loss, shape),
        loss_penalty=np.exp(log_r_star) * np.expm1(log_r - log_r_star),
        compute_equivalent_flops=_full(c * np.exp(-ratio), shape), compute_penalty=np.expm1(ratio),
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
    ell = _positive("target loss", loss)
    e, _, _, alpha, beta = _fields(law)
    reachable = np.asarray(ell > e)
    log_s = np.log(np.where(reachable, ell - e, 1.0))
    log_c = (_log_k(law) - log_s) / _gamma(law)
    log_n = _log_g(law) + beta / (alpha + beta) * log_c
    shape = log_c.shape
    return TargetLoss(
        loss=_full(ell, shape), irreducible_loss=_full(e, shape),
        reachable=np.array(np.broadcast_to(reachable, shape)),
        compute_flops=np.where(reachable, flops_per_param_token * np.exp(log_c), np.inf),
        params=np.where(reachable, np.exp(log_n), np.inf),
        tokens=np.where(reachable, np.exp(log_c - log_n), np.inf),
    )


def tokens_to_reach(law: Law, params: npt.ArrayLike, loss: npt.ArrayLike) -> Array:
    """Tokens D with L(N, D) = loss for a fixed N: D = (B / (L - E - A N^-alpha))^(1/beta);
    +inf where L <= E + A N^-alpha (that N cannot reach the loss on any amount of data)."""
    n = _positive("params", params)
    ell = _positive("target loss", loss)
    e, a, b, alpha, beta = _fields(law)
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
    ell = _positive("target loss", loss)
    t = np.asarray(inference_tokens, dtype=float)
    if not np.all(np.isfinite(t) & (t >= 0)):
        raise InputError("inference tokens must be zero or positive and finite")
    k, i = flops_per_param_token, inference_flops_per_param_token
    chin = target_loss(law, ell, flops_per_param_token=k)
    e, a, b, alpha, beta = _fields(law)
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
        loss=_full(ell, shape), inference_tokens=_full(t, shape),
        reachable=np.array(np.broadcast_to(reachable, shape)),
        params=params, tokens=tokens, training_flops=k * params * tokens,
        inference_flops=_full(i * params * t, shape),
        params_chinchilla=_full(chin.params, shape), tokens_chinchilla=_full(chin.tokens, shape),
        training_flops_chinchilla=_full(chin.compute_flops, shape),
        inference_flops_chinchilla=_full(i * chin.params * t, shape),
    )


# --------------------------------------------------------------------------- data-constrained


def _decayed(r: Array, r_star: float) -> Array:
    """R* (1 - exp(-R / R*)): the repetitions' worth in fresh units (R itself if R* = inf)."""
    if math.isinf(r_star):
        return r
    return -r_star * np.expm1(-r / r_star)


def _check_star(name: str, value: float) -> None:
    if not value > 0:
        raise UsageError(f"{name} must be positive (math.inf turns the decay off), got {value!r}")


def effective_data(
    tokens: npt.ArrayLike, unique_tokens: npt.ArrayLike, *, r_star: float = R_D_STAR,
) -> Array:
    """Muennighoff et al. (2023) eq. 5: D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),
    U_D = min(U, D) unique tokens seen, R_D = D / U_D - 1 repetitions. D' = D when U >= D;
    D' < D otherwise, and D' -> U (1 + R*_D) as D -> inf."""
    _check_star("R*_D", r_star)
    d = _positive("tokens", tokens)
    u_d = np.minimum(_positive("unique tokens", unique_tokens), d)
    with np.errstate(over="ignore"):  # D / U_D = inf saturates: R* (1 - e^-inf) = R*
        return u_d * (1.0 + _decayed(d / u_d - 1.0, r_star))


def _log_unique_params(law: Law, log_unique_tokens: Array) -> Array:
    """log U_N for U_N = G (G U_D)^(beta/alpha): the N whose compute-optimal D is U_D."""
    _, _, _, alpha, beta = _fields(law)
    log_g = _log_g(law)
    return log_g + beta / alpha * (log_g + log_unique_tokens)


def effective_params(
    law: Law, params: npt.ArrayLike, tokens: npt.ArrayLike, unique_tokens: npt.ArrayLike, *,
    r_star: float = R_N_STAR,
) -> Array:
    """Muennighoff et al. (2023) eq. 6 and appendix A:

        N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)),   U_N = min(G (G U_D)^(beta/alpha), N),

    U_N being the compute-optimal size for U_D = min(U, D) unique tokens under the base law
    (capped at N) and R_N = N / U_N - 1 the excess-parameter repetitions. N' = N when
    N <= U_N, and N' < N above it."""
    _check_star("R*_N", r_star)
    n = _positive("params", params)
    d = _positive("tokens", tokens)
    u_d = np.minimum(_positive("unique tokens", unique_tokens), d)
    log_excess = np.log(n) - _log_unique_params(law, np.log(u_d))  # log(N / U_N) where > 0
    excess = log_excess > 0
    r_n = np.where(excess, np.expm1(np.minimum(log_excess, 700.0)), 0.0)
    u_n = np.where(excess, np.exp(np.log(n) - log_excess), n)
    return np.where(excess, u_n * (1.0 + _decayed(r_n, r_star)), n)


def predict_loss_data_constrained(
    law: Law, params: npt.ArrayLike, tokens: npt.ArrayLike, unique_tokens: npt.ArrayLike, *,
    r_d_star: float = R_D_STAR, r_n_star: float = R_N_STAR,
) -> Array:
    """L(N', D'): the base law at effective params and data (Muennighoff et al. 2023, §3.1)."""
    return predict_loss(law, effective_params(law, params, tokens, unique_tokens, r_star=r_n_star),
                        effective_data(tokens, unique_tokens, r_star=r_d_star))


@dataclass(frozen=True)
class DataConstrained:
    """The allocation of budget C minimising L(N', D') when only ``unique_tokens`` exist.

    ``epochs`` = D / U. Where U >= D*(C) the answer is Chinchilla's (``data_limited``
    False). ``loss_chinchilla_repeated`` is L(N', D') at the Chinchilla allocation (what
    ignoring the data limit would give); ``loss_unlimited`` is L*(C) with unlimited data.
    """

    compute_flops: Array
    unique_tokens: Array
    data_limited: BoolArray
    params: Array
    tokens: Array
    epochs: Array
    effective_params: Array
    effective_tokens: Array
    loss: Array
    params_chinchilla: Array
    tokens_chinchilla: Array
    epochs_chinchilla: Array
    loss_chinchilla_repeated: Array
    loss_unlimited: Array


def data_constrained(
    law: Law, compute_flops: npt.ArrayLike, unique_tokens: npt.ArrayLike, *,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    r_d_star: float = R_D_STAR, r_n_star: float = R_N_STAR,
) -> DataConstrained:
    """argmin over N of L(N', D') on the isoFLOP D = C / (k N), for each law and budget.

    If U >= D* the Chinchilla optimum is exact (N' <= N and D' <= D everywhere, with
    equality there). Otherwise (then U_N(U) < N*) the isoFLOP loss has kinks where U_N and
    U_D switch, so it is scanned on a grid in log N (0.02 decades, from 3 decades below
    U_N(U) to 3 above N*) and the best cell refined by golden-section search between its
    neighbours. The loss is flat at its minimum, so N is determined to ~1e-7 (relative) and
    the loss to float precision.
    """
    _check_star("R*_D", r_d_star)
    _check_star("R*_N", r_n_star)
    k = flops_per_param_token
    c = _positive("compute_flops", compute_flops)
    u = _positive("unique tokens", unique_tokens)
    chin = optimal_allocation(law, c, flops_per_param_token=k)
    shape = np.broadcast_shapes(chin.params.shape, u.shape)
    limited = np.array(np.broadcast_to(u < chin.tokens, shape))
    flat = [np.broadcast_to(v, shape).ravel() for v in (*_fields(law), np.log(c / k), np.log(u),
                                                        np.log(chin.params))]
    log_c, log_u, x_star = flat[5:]
    flat_law = Law(*flat[:5])
    margin = _GRID_MARGIN_DECADES * math.log(10.0)
    x_u = np.minimum(_log_unique_params(flat_law, log_u), x_star)  # < x_star where limited
    lo = np.where(limited.ravel(), x_u, x_star) - margin
    hi = x_star + margin

    def isoflop(x: Array, index: slice | None = None) -> Array:
        pick = slice(None) if index is None else index
        extra = (...,) if x.ndim == 1 else (pick, None)
        law_ = Law(*(v[extra] for v in flat[:5]))
        lc, lu = log_c[extra], log_u[extra]
        return predict_loss_data_constrained(law_, np.exp(x), np.exp(lc - x), np.exp(lu),
                                             r_d_star=r_d_star, r_n_star=r_n_star)

    cells = int(np.ceil(np.max(hi - lo, initial=0.0) / math.log(10.0) / _GRID_DECADE_STEP)) + 1
    steps = np.linspace(0.0, 1.0, cells)
    left, right = np.empty_like(lo), np.empty_like(hi)
    chunk = max(1, _GRID_CHUNK // cells)  # bound the memory of the scan
    for start in range(0, lo.size, chunk):
        part = slice(start, start + chunk)
        grid = lo[part, None] + steps * (hi - lo)[part, None]
        best = np.argmin(isoflop(grid, part), axis=-1)[:, None]
        left[part] = np.take_along_axis(grid, np.maximum(best - 1, 0), axis=-1)[:, 0]
        right[part] = np.take_along_axis(grid, np.minimum(best + 1, cells - 1), axis=-1)[:, 0]
    x = _golden_min(isoflop, left, right).reshape(shape)
    point_law = Law(*(v.reshape(shape) for v in flat[:5]))
    params = np.where(limited, np.exp(x), np.broadcast_to(chin.params, shape))
    tokens = np.exp(log_c.reshape(shape)) / params
    u_b = _full(u, shape)
    return DataConstrained(
        compute_flops=_full(chin.compute_flops, shape),
        unique_tokens=u_b, data_limited=limited, params=params, tokens=tokens,
        epochs=tokens / u_b,
        effective_params=effective_params(point_law, params, tokens, u_b, r_star=r_n_star),
        effective_tokens=effective_data(tokens, u_b, r_star=r_d_star),
        loss=predict_loss_data_constrained(point_law, params, tokens, u_b, r_d_star=r_d_star,
                                           r_n_star=r_n_star),
        params_chinchilla=_full(chin.params, shape), tokens_chinchilla=_full(chin.tokens, shape),
        epochs_chinchilla=_full(chin.tokens / u, shape),
        loss_chinchilla_repeated=_full(predict_loss_data_constrained(
            law, chin.params, chin.tokens, u, r_d_star=r_d_star, r_n_star=r_n_star), shape),
        loss_unlimited=_full(chin.loss, shape),
    )
