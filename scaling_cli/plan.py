"""Planning answers from a :class:`~scaling_cli.model.Model`, each with its bootstrap interval.

Every answer is computed twice: from the point law (the value), and from every bootstrap
replicate law (the interval is the equal-tailed percentile interval of those). A model
without replicates (a published preset) gives values with no interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .law import optimal_allocation, predict_loss
from .model import Model
from .resample import percentile_interval

__all__ = [
    "BudgetForecast",
    "Estimate",
    "LossPrediction",
    "compute_optimal",
    "estimate",
    "law_estimates",
    "predict",
]

PARAMETER_NAMES = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True)
class Estimate:
    """A value with its interval (``low``/``high`` are None when there are no replicates)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class BudgetForecast:
    """Compute-optimal allocation at one budget under C = k N D.

    ``extrapolation`` is C over the largest run's compute; ``params_spread`` is the N*
    interval's high/low ratio here and ``params_spread_at_data`` the same ratio at the
    largest run's compute, so the widening from extrapolating is explicit.
    """

    compute_flops: float
    params: Estimate
    tokens: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    extrapolation: float | None = None
    params_spread: float | None = None
    params_spread_at_data: float | None = None


@dataclass(frozen=True)
class LossPrediction:
    params: float
    tokens: float
    compute_flops: float  # k N D
    loss: Estimate


def estimate(value: float, samples: npt.ArrayLike | None, confidence: float) -> Estimate:
    """``value`` with the percentile interval of ``samples`` (if any)."""
    if samples is None:
        return Estimate(float(value))
    low, high = percentile_interval(samples, confidence)
    return Estimate(float(value), low, high)


def law_estimates(model: Model, confidence: float) -> dict[str, Estimate]:
    """E, A, B, alpha, beta with intervals, by name."""
    point = model.law.as_tuple()
    samples = model.sample_law
    out = {}
    for i, name in enumerate(PARAMETER_NAMES):
        draws = None if samples is None else getattr(samples, name)
        out[name] = estimate(point[i], draws, confidence)
    return out


def compute_optimal(
    model: Model, budgets: Sequence[float], confidence: float
) -> tuple[BudgetForecast, ...]:
    """N*, D*, D*/N* and L(N*, D*) at each budget (FLOPs), with intervals."""
    c = np.asarray(budgets, dtype=float)
    k = model.flops_per_param_token
    point = optimal_allocation(model.law, c, flops_per_param_token=k)
    samples = model.sample_law
    reps = None if samples is None else optimal_allocation(
        samples.as_column(), c[None, :], flops_per_param_token=k)
    largest = None if model.inputs is None else model.inputs.compute_flops_max
    at_data = None
    if largest is not None and samples is not None:
        ref = optimal_allocation(samples, largest, flops_per_param_token=k)
        at_data = _spread(estimate(0.0, ref.params, confidence))
    out = []
    for j, budget in enumerate(c):
        def est(field: str, j: int = j) -> Estimate:
            value = getattr(point, field)[j]
            draws = None if reps is None else getattr(reps, field)[:, j]
            return estimate(value, draws, confidence)
        params = est("params")
        out.append(BudgetForecast(
            float(budget), params, est("tokens"), est("tokens_per_param"), est("loss"),
            extrapolation=None if largest is None else float(budget / largest),
            params_spread=_spread(params), params_spread_at_data=at_data))
    return tuple(out)


def _spread(e: Estimate) -> float | None:
    if e.low is None or e.high is None or not e.low > 0:
        return None
    return float(e.high / e.low)


def predict(
    model: Model, params: Sequence[float], tokens: Sequence[float], confidence: float
) -> tuple[LossPrediction, ...]:
    """Expected loss L(N, D) of the fitted surface at each (N, D) pair, with intervals.

    The interval is for the expected loss (the surface), not for one run's noise around it.
    """
    n = np.asarray(params, dtype=float)
    d = np.asarray(tokens, dtype=float)
    point = predict_loss(model.law, n, d)
    samples = model.sample_law
    reps = None if samples is None else predict_loss(samples.as_column(), n[None, :], d[None, :])
    k = model.flops_per_param_token
    return tuple(
        LossPrediction(float(n[j]), float(d[j]), float(k * n[j] * d[j]),
                       estimate(point[j], None if reps is None else reps[:, j], confidence))
        for j in range(len(n))
    )
