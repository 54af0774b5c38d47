"""Planning with limited unique data (Muennighoff et al. 2023, "Scaling Data-Constrained
Language Models"): repeated tokens and excess parameters are worth less than fresh ones.

    D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)),   R_D = D / U_D - 1,   U_D = min(U, D)
    N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)),   R_N = N / U_N - 1,
    U_N = min(G (G U_D)^(beta / alpha), N)

and the loss is the base law at (N', D'). docs/planning.md derives the allocation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.forecast.algebra import full, golden_min, law_fields, log_g, positive
from scaling_cli.law import (
    DEFAULT_FLOPS_PER_PARAM_TOKEN,
    R_D_STAR,
    Law,
    effective_tokens,
    optimal_allocation,
    predict_loss,
    repetitions_worth,
)

__all__ = [
    "R_D_STAR",
    "R_N_STAR",
    "DataConstrained",
    "data_constrained",
    "effective_data",
    "effective_params",
    "predict_loss_data_constrained",
]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", appendix A (C4 fit).
R_N_STAR = 5.309743

_GRID_DECADE_STEP = 0.02  # data-constrained scan spacing, in decades of N
_GRID_MARGIN_DECADES = 3.0
_GRID_CHUNK = 1 << 18  # grid points evaluated at once (a few MB per temporary array)


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
    return effective_tokens(positive("tokens", tokens),
                            positive("unique_tokens", unique_tokens), r_star=r_star)


def _log_unique_params(law: Law, log_unique_tokens: Array) -> Array:
    """log U_N for U_N = G (G U_D)^(beta/alpha): the N whose compute-optimal D is U_D."""
    _, _, _, alpha, beta = law_fields(law)
    lg = log_g(law)
    return lg + beta / alpha * (lg + log_unique_tokens)


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
    n = positive("params", params)
    d = positive("tokens", tokens)
    u_d = np.minimum(positive("unique_tokens", unique_tokens), d)
    log_excess = np.log(n) - _log_unique_params(law, np.log(u_d))  # log(N / U_N) where > 0
    excess = log_excess > 0
    r_n = np.where(excess, np.expm1(np.minimum(log_excess, 700.0)), 0.0)
    u_n = np.where(excess, np.exp(np.log(n) - log_excess), n)
    return np.where(excess, u_n * (1.0 + repetitions_worth(r_n, r_star)), n)


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
    c = positive("compute_flops", compute_flops)
    u = positive("unique_tokens", unique_tokens)
    chin = optimal_allocation(law, c, flops_per_param_token=k)
    shape = np.broadcast_shapes(chin.params.shape, u.shape)
    limited = np.array(np.broadcast_to(u < chin.tokens, shape))
    flat = [np.broadcast_to(v, shape).ravel() for v in (*law_fields(law), np.log(c / k), np.log(u),
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
    x = golden_min(isoflop, left, right).reshape(shape)
    point_law = Law(*(v.reshape(shape) for v in flat[:5]))
    params = np.where(limited, np.exp(x), np.broadcast_to(chin.params, shape))
    tokens = np.exp(log_c.reshape(shape)) / params
    u_b = full(u, shape)
    return DataConstrained(
        compute_flops=full(chin.compute_flops, shape),
        unique_tokens=u_b, data_limited=limited, params=params, tokens=tokens,
        epochs=tokens / u_b,
        effective_params=effective_params(point_law, params, tokens, u_b, r_star=r_n_star),
        effective_tokens=effective_data(tokens, u_b, r_star=r_d_star),
        loss=predict_loss_data_constrained(point_law, params, tokens, u_b, r_d_star=r_d_star,
                                           r_n_star=r_n_star),
        params_chinchilla=full(chin.params, shape), tokens_chinchilla=full(chin.tokens, shape),
        epochs_chinchilla=full(chin.tokens / u, shape),
        loss_chinchilla_repeated=full(predict_loss_data_constrained(
            law, chin.params, chin.tokens, u, r_d_star=r_d_star, r_n_star=r_n_star), shape),
        loss_unlimited=full(chin.loss, shape),
    )
