"""The near-optimal band: model sizes whose loss is within eps of the optimum at a budget.

    { N : L(N, C / (k N)) <= (1 + eps) L*(C) } = [N_smallest, N_largest]

In x = log N the isoFLOP loss f(x) = E + A e^(-alpha x) + B (c e^-x)^(-beta), c = C/k, is a
sum of exponentials, strictly convex with its minimum at x* = log N*. The reducible part
g = f - E must reach t = g* + eps L*; since each term of g alone is below g, the roots are
bracketed by (log A - log t) / alpha <= root <= x* and x* <= root <= log c + (log t - log B)
/ beta, and found by bisection on log g - log t (monotone on each side). Nothing is
computed by subtracting E (no cancellation). docs/planning.md derives it.

Like :mod:`scaling_cli.law`, this runs on numpy arrays: stacked replicate laws (R, 1)
against budgets (1, M) give (R, M) bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling_cli.errors import InputError, UsageError
from scaling_cli.forecast.algebra import bisect_root, log_reducible
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, Law, optimal_allocation

__all__ = ["DEFAULT_BAND_TOLERANCE", "NearOptimalBand", "near_optimal_band"]

DEFAULT_BAND_TOLERANCE = 0.005  # 0.5% above the optimal loss


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
        raise UsageError(f"{tolerance!r} must lie strictly between 0 and 1 (0.005 means "
                         "within 0.5% of the optimal loss)", field="band")
    c = np.asarray(compute_flops, dtype=float)
    if not np.all(np.isfinite(c) & (c > 0)):
        raise InputError(f"{compute_flops!r} must be positive and finite",
                         field="compute_flops")
    best = optimal_allocation(law, c, flops_per_param_token=flops_per_param_token)
    log_c = np.log(c / flops_per_param_token)
    x_star = np.log(best.params)
    log_g_star = log_reducible(law, x_star, log_c - x_star)
    log_t = np.logaddexp(log_g_star, np.log(tolerance) + np.log(best.loss))

    def excess(x: Any) -> Any:
        return log_reducible(law, x, log_c - x) - log_t

    low = bisect_root(lambda x: -excess(x), (np.log(law.A) - log_t) / law.alpha, x_star)
    high = bisect_root(excess, x_star, log_c + (log_t - np.log(law.B)) / law.beta)

    def full(value: Any) -> Any:  # one shape for every field (own memory, not a view)
        return np.array(np.broadcast_to(value, low.shape))
    return NearOptimalBand(
        compute_flops=full(best.compute_flops), tolerance=tolerance, params=full(best.params),
        tokens=full(best.tokens), loss=full(best.loss),
        loss_limit=full((1.0 + tolerance) * best.loss),
        params_smallest=np.exp(low), params_largest=np.exp(high),
        tokens_at_smallest=np.exp(log_c - low), tokens_at_largest=np.exp(log_c - high),
    )
