"""The near-optimal band: model sizes whose loss is within eps of the optimum at a budget.

    { N : L(N, C / (k N)) <= (1 + eps) L*(C) } = [N_smallest, N_largest]

In x = log N the isoFLOP loss f(x) = E + A e^(-alpha x) + B (c e^-x)^(-beta), c = C/k, is a
sum of exponentials, strictly convex with its minimum at x* = log N*. The reducible part
g = f - E must reach t = g* + eps L*; since each term of g alone is below g, the roots are
bracketed by (log A - log t) / alpha <= root <= x* and x* <= root <= log c + (log t - log B)
/ beta, and found by bisection on log g - log t (monotone on each side). Nothing is
computed by subtracting E (no cancellation). docs/planning.md derives it.

Like :mod:`scaling_cli.law`, this runs on numpy arrays (bootstrap replicates x budgets) or
on one law's plain floats without importing numpy (:mod:`scaling_cli.backend`): the band
is part of every ``scaling optimal`` answer, presets included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scaling_cli.backend import SCALAR, namespace
from scaling_cli.errors import InputError, UsageError
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, Law, optimal_allocation

__all__ = [
    "DEFAULT_BAND_TOLERANCE",
    "NearOptimalBand",
    "bisect_root",
    "log_reducible",
    "near_optimal_band",
]

DEFAULT_BAND_TOLERANCE = 0.005  # 0.5% above the optimal loss
BISECTIONS = 100  # brackets are < 200 wide in log space: 200 / 2^100 is below float spacing


def log_reducible(law: Law, log_n: Any, log_d: Any) -> Any:
    """log(L - E) = log(A N^-alpha + B D^-beta), without subtracting E (no cancellation)."""
    xp = namespace(law.A, law.B, law.alpha, law.beta, log_n, log_d)
    return xp.logaddexp(xp.log(law.A) - law.alpha * log_n, xp.log(law.B) - law.beta * log_d)


def bisect_root(fn: Callable[[Any], Any], lo: Any, hi: Any) -> Any:
    """Root of ``fn``, increasing on each bracket [lo, hi] with fn(lo) <= 0 <= fn(hi)."""
    xp = namespace(lo, hi)
    if xp is not SCALAR:
        lo, hi = (xp.array(v, dtype=float) for v in xp.broadcast_arrays(lo, hi))
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        above = fn(mid) > 0
        hi = xp.where(above, mid, hi)
        lo = xp.where(above, lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class NearOptimalBand:
    """Model sizes whose loss at budget C is within ``tolerance`` of the isoFLOP optimum.

    ``params_smallest`` trains on the most tokens (``tokens_at_smallest``); both edges
    reach exactly ``loss_limit = (1 + tolerance) * loss``. Arrays (replicates x budgets),
    or floats for one law and one budget.
    """

    compute_flops: Any
    tolerance: float
    params: Any  # N*, the optimum
    tokens: Any
    loss: Any  # L*(C)
    loss_limit: Any
    params_smallest: Any
    params_largest: Any
    tokens_at_smallest: Any
    tokens_at_largest: Any


def near_optimal_band(
    law: Law, compute_flops: Any, *, tolerance: float = DEFAULT_BAND_TOLERANCE,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
) -> NearOptimalBand:
    """Both roots in x = log N of f(x) = (1 + eps) L*(C) (see the module doc)."""
    if not 0.0 < tolerance < 1.0:
        raise UsageError(f"near-optimal tolerance {tolerance!r} must lie strictly between 0 and "
                         "1 (0.005 means within 0.5% of the optimal loss)")
    xp = namespace(law.E, law.A, law.B, law.alpha, law.beta, compute_flops)
    c = xp.asarray(compute_flops, dtype=float)
    if not _positive_finite(xp, c):
        raise InputError(f"compute_flops must be positive and finite, got {compute_flops!r}")
    best = optimal_allocation(law, c, flops_per_param_token=flops_per_param_token)
    log_c = xp.log(c / flops_per_param_token)
    x_star = xp.log(best.params)
    log_g_star = log_reducible(law, x_star, log_c - x_star)
    log_t = xp.logaddexp(log_g_star, xp.log(tolerance) + xp.log(best.loss))

    def excess(x: Any) -> Any:
        return log_reducible(law, x, log_c - x) - log_t

    low = bisect_root(lambda x: -excess(x), (xp.log(law.A) - log_t) / law.alpha, x_star)
    high = bisect_root(excess, x_star, log_c + (log_t - xp.log(law.B)) / law.beta)

    def full(value: Any) -> Any:  # one shape for every field (own memory, not a view)
        return value if xp is SCALAR else xp.array(xp.broadcast_to(value, low.shape))
    return NearOptimalBand(
        compute_flops=full(best.compute_flops), tolerance=tolerance, params=full(best.params),
        tokens=full(best.tokens), loss=full(best.loss),
        loss_limit=full((1.0 + tolerance) * best.loss),
        params_smallest=xp.exp(low), params_largest=xp.exp(high),
        tokens_at_smallest=xp.exp(log_c - low), tokens_at_largest=xp.exp(log_c - high),
    )


def _positive_finite(xp: Any, c: Any) -> bool:
    if xp is SCALAR:
        return bool(0 < c < float("inf"))
    return bool(xp.all(xp.isfinite(c) & (c > 0)))
