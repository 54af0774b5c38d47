"""Planning answers from a :class:`~scaling_cli.model.Model`, each with its bootstrap interval.

Every answer is computed twice: from the point law (the value), and from every bootstrap
replicate law (the interval is the equal-tailed percentile interval of those). A model
without replicates (a published preset) gives values with no interval. The mathematics of
each answer lives in :mod:`scaling_cli.law` and :mod:`scaling_cli.forecast.sizing`; compute
units in :mod:`scaling_cli.forecast.costs`. This module pairs point and replicates and packages
the results:

- :func:`compute_optimal`: N*, D*, D*/N*, loss at budgets, the near-optimal band of model
  sizes, optionally under a unique-data limit (Muennighoff et al. 2023), with costs;
- :func:`fixed_size`: a model size fixed in advance (over-training): tokens, loss, and the
  loss and compute penalties versus the compute-optimal choice;
- :func:`target`: the least compute reaching a loss, optionally inference-aware
  (Sardana & Frankle 2024);
- :func:`predict`: the expected loss at given (N, D).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scaling_cli.law import Law, optimal_allocation, predict_loss

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaling_cli.forecast.costs import Hardware
    from scaling_cli.model import Model

__all__ = [
    "Band",
    "BudgetForecast",
    "Cost",
    "DataLimit",
    "Estimate",
    "FixedSizeForecast",
    "InferencePlan",
    "LossPrediction",
    "TargetForecast",
    "compute_optimal",
    "cost_of",
    "estimate",
    "fixed_size",
    "law_estimates",
    "predict",
    "target",
]

PARAMETER_NAMES = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True)
class Estimate:
    """A value with its interval (``low``/``high`` are None when there are no replicates).

    Infinite bounds mean "unreachable" (a target loss below a replicate's E).
    """

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Cost:
    """What a number of FLOPs costs on the given hardware (None where it needs more facts)."""

    gpu_hours: float
    days: float | None  # wall clock on the hardware's GPU count
    usd: float | None


@dataclass(frozen=True)
class Band:
    """Model sizes whose isoFLOP loss is within ``tolerance`` of the optimum at the budget."""

    tolerance: float
    params_smallest: Estimate
    params_largest: Estimate
    tokens_at_smallest: Estimate
    tokens_at_largest: Estimate


@dataclass(frozen=True)
class DataLimit:
    """The budget's allocation when only ``unique_tokens`` exist (repeats decay in value)."""

    unique_tokens: float
    data_limited: bool  # the point law's unconstrained D* exceeds the unique tokens
    epochs: Estimate
    effective_tokens: Estimate
    loss_unlimited: Estimate  # L*(C) if data were unlimited
    loss_ignoring_limit: Estimate  # L(N', D') at the unconstrained (Chinchilla) allocation


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
    band: Band | None = None
    data: DataLimit | None = None
    cost: Cost | None = None


@dataclass(frozen=True)
class FixedSizeForecast:
    """A model size chosen in advance, trained on the whole budget."""

    compute_flops: float
    params: float
    tokens: float
    loss: Estimate
    params_optimal: Estimate
    loss_optimal: Estimate
    loss_penalty: Estimate  # nats/token above the compute-optimal loss
    compute_equivalent_flops: Estimate  # least compute reaching the same loss
    compute_penalty: Estimate  # C / C_equivalent - 1: the share of the budget wasted
    cost: Cost | None = None


@dataclass(frozen=True)
class InferencePlan:
    """Sardana & Frankle's sizing: least training + inference FLOPs reaching the loss."""

    inference_tokens: float
    params: Estimate
    tokens: Estimate
    training_flops: Estimate
    inference_flops: Estimate
    total_flops: Estimate
    total_flops_chinchilla: Estimate  # the training-only optimum, same loss, same serving


@dataclass(frozen=True)
class TargetForecast:
    """The least compute that reaches ``loss``, and its allocation."""

    loss: float
    reachable: bool  # by the point law (loss above its E)
    unreachable_fraction: float | None  # share of replicate laws for which it is not
    compute_flops: Estimate
    params: Estimate
    tokens: Estimate
    inference: InferencePlan | None = None
    cost: Cost | None = None


@dataclass(frozen=True)
class LossPrediction:
    params: float
    tokens: float
    compute_flops: float  # k N D
    loss: Estimate


# --------------------------------------------------------------------------- helpers


def estimate(value: float, samples: npt.ArrayLike | None, confidence: float, *,
             censored: bool = False) -> Estimate:
    """``value`` with the percentile interval of ``samples`` (if any).

    ``censored``: +inf in ``samples`` means "unreachable" and is ranked, not dropped.
    """
    if samples is None:
        return Estimate(float(value))
    if censored:
        from scaling_cli.forecast.sizing import censored_percentile_interval

        low, high = censored_percentile_interval(samples, confidence)
    else:
        from scaling_cli.fit.bootstrap import percentile_interval

        low, high = percentile_interval(samples, confidence)
    return Estimate(float(value), low, high)


class _Answers:
    """One answer function evaluated on the point law and on every replicate law, read per
    input. With no replicates (a published preset) everything stays plain floats, so the
    answer needs no numpy (a preset's `scaling optimal` starts as fast as numpy imports)."""

    def __init__(self, model: Model, fn: Callable[[Law, Any], Any], inputs: Sequence[float],
                 confidence: float) -> None:
        self.confidence = confidence
        samples = model.sample_law
        self.points: list[Any] | None = None
        self.point: Any = None
        self.reps: Any = None
        if samples is None:
            self.points = [fn(model.law, float(x)) for x in inputs]
            return
        import numpy as np

        row = np.asarray(inputs, dtype=float)
        self.point, self.reps = fn(model.law, row), fn(samples.as_column(), row[None])

    def value(self, field: str, j: int) -> Any:
        if self.points is not None:
            return getattr(self.points[j], field)
        import numpy as np

        return np.asarray(getattr(self.point, field))[j]

    def draws(self, field: str, j: int) -> Any:
        if self.reps is None:
            return None
        import numpy as np

        return np.asarray(getattr(self.reps, field))[:, j]

    def __call__(self, field: str, j: int, *, censored: bool = False) -> Estimate:
        return estimate(float(self.value(field, j)), self.draws(field, j), self.confidence,
                        censored=censored)

    def total(self, fields: Sequence[str], j: int) -> Estimate:
        """The sum of ``fields``, where +inf means unreachable."""
        value = sum(float(self.value(f, j)) for f in fields)
        draws = [self.draws(f, j) for f in fields]
        summed = None if draws[0] is None else sum(draws[1:], draws[0])
        return estimate(value, summed, self.confidence, censored=True)

    def ratio(self, numerator: str, denominator: str, j: int) -> Estimate:
        top, bottom = self.draws(numerator, j), self.draws(denominator, j)
        return estimate(float(self.value(numerator, j) / self.value(denominator, j)),
                        None if top is None else top / bottom, self.confidence)


def cost_of(flops: float, hardware: Hardware | None) -> Cost | None:
    """GPU-hours, days and dollars for ``flops`` on ``hardware`` (None without hardware)."""
    if hardware is None or not math.isfinite(flops):
        return None
    from scaling_cli.forecast.costs import compute_cost

    c = compute_cost(flops, hardware)
    return Cost(float(c.gpu_hours), None if c.days is None else float(c.days),
                None if c.usd is None else float(c.usd))


def law_estimates(model: Model, confidence: float) -> dict[str, Estimate]:
    """E, A, B, alpha, beta with intervals, by name."""
    point = model.law.as_tuple()
    samples = model.sample_law
    out = {}
    for i, name in enumerate(PARAMETER_NAMES):
        draws = None if samples is None else getattr(samples, name)
        out[name] = estimate(point[i], draws, confidence)
    return out


def _spread(e: Estimate) -> float | None:
    if e.low is None or e.high is None or not e.low > 0:
        return None
    return float(e.high / e.low)


# --------------------------------------------------------------------------- answers


def compute_optimal(
    model: Model, budgets: Sequence[float], confidence: float, *,
    band_tolerance: float | None = None, unique_tokens: float | None = None,
    hardware: Hardware | None = None,
) -> tuple[BudgetForecast, ...]:
    """N*, D*, D*/N* and L(N*, D*) at each budget (FLOPs), with intervals.

    ``band_tolerance`` adds the near-optimal band; ``unique_tokens`` plans under that data
    limit (the allocation then minimises L(N', D')); ``hardware`` adds costs.
    """
    k = model.flops_per_param_token
    if unique_tokens is None:
        pick = _Answers(model, lambda law, x: optimal_allocation(
            law, x, flops_per_param_token=k), budgets, confidence)
    else:
        from scaling_cli.forecast.sizing import data_constrained

        pick = _Answers(model, lambda law, x: data_constrained(
            law, x, unique_tokens, flops_per_param_token=k), budgets, confidence)
    band = None
    if band_tolerance is not None and unique_tokens is None:
        from scaling_cli.forecast.band import near_optimal_band

        band = _Answers(model, lambda law, x: near_optimal_band(
            law, x, tolerance=band_tolerance, flops_per_param_token=k), budgets, confidence)
    largest = None if model.inputs is None else model.inputs.compute_flops_max
    at_data = None
    if largest is not None and model.sample_law is not None:
        ref = optimal_allocation(model.sample_law, largest, flops_per_param_token=k)
        at_data = _spread(estimate(0.0, ref.params, confidence))
    out = []
    for j, budget in enumerate(budgets):
        params = pick("params", j)
        out.append(BudgetForecast(
            float(budget), params, pick("tokens", j), pick.ratio("tokens", "params", j),
            pick("loss", j),
            extrapolation=None if largest is None else float(budget / largest),
            params_spread=_spread(params), params_spread_at_data=at_data,
            band=None if band is None else Band(
                float(band_tolerance or 0), band("params_smallest", j),
                band("params_largest", j), band("tokens_at_smallest", j),
                band("tokens_at_largest", j)),
            data=None if unique_tokens is None else DataLimit(
                float(unique_tokens), bool(pick.value("data_limited", j)),
                pick("epochs", j), pick("effective_tokens", j), pick("loss_unlimited", j),
                pick("loss_chinchilla_repeated", j)),
            cost=cost_of(float(budget), hardware)))
    return tuple(out)


def fixed_size(
    model: Model, budgets: Sequence[float], params: float, confidence: float, *,
    hardware: Hardware | None = None,
) -> tuple[FixedSizeForecast, ...]:
    """A fixed model size on each budget: its loss and what it costs versus the optimum."""
    from scaling_cli.forecast import sizing as planning

    k = model.flops_per_param_token
    pick = _Answers(model, lambda law, x: planning.fixed_size(
        law, x, params, flops_per_param_token=k), budgets, confidence)
    return tuple(
        FixedSizeForecast(
            float(budget), float(params), float(budget / (k * params)), pick("loss", j),
            pick("params_optimal", j), pick("loss_optimal", j), pick("loss_penalty", j),
            pick("compute_equivalent_flops", j), pick("compute_penalty", j),
            cost_of(float(budget), hardware))
        for j, budget in enumerate(budgets))


def target(
    model: Model, losses: Sequence[float], confidence: float, *,
    inference_tokens: float | None = None, hardware: Hardware | None = None,
) -> tuple[TargetForecast, ...]:
    """Least compute (and its N*, D*) reaching each loss; with ``inference_tokens`` also the
    allocation minimising training + inference FLOPs for that loss."""
    from scaling_cli.forecast import sizing as planning

    k = model.flops_per_param_token
    pick = _Answers(model, lambda law, x: planning.target_loss(
        law, x, flops_per_param_token=k), losses, confidence)
    inf = None
    if inference_tokens is not None:
        inf = _Answers(model, lambda law, x: planning.inference_aware(
            law, x, inference_tokens, flops_per_param_token=k), losses, confidence)
    out = []
    for j, loss in enumerate(losses):
        compute = pick("compute_flops", j, censored=True)
        inference = None
        if inf is not None and inference_tokens is not None:
            inference = InferencePlan(
                float(inference_tokens), inf("params", j, censored=True),
                inf("tokens", j, censored=True), inf("training_flops", j, censored=True),
                inf("inference_flops", j, censored=True),
                inf.total(("training_flops", "inference_flops"), j),
                inf.total(("training_flops_chinchilla", "inference_flops_chinchilla"), j))
        reachable = pick.draws("reachable", j)
        out.append(TargetForecast(
            float(loss), bool(pick.value("reachable", j)),
            None if reachable is None else float(1.0 - reachable.mean()),
            compute, pick("params", j, censored=True), pick("tokens", j, censored=True),
            inference, cost_of(compute.value, hardware)))
    return tuple(out)


def predict(
    model: Model, params: Sequence[float], tokens: Sequence[float], confidence: float
) -> tuple[LossPrediction, ...]:
    """Expected loss L(N, D) of the fitted surface at each (N, D) pair, with intervals.

    The interval is for the expected loss (the surface), not for one run's noise around it.
    """
    import numpy as np

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
