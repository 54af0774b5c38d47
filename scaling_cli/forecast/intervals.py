"""Values with intervals: the one percentile function and the one point-with-replicates path.

Every answer with an interval is computed once, on the stacked law (the point law in row 0,
the R bootstrap replicate laws below it; :meth:`scaling_cli.law.Law.stacked`). Row 0 is the
value, the equal-tailed percentile interval of rows 1..R is the interval. The point and the
replicates therefore go through the same arithmetic; the interval can still exclude the
point (a skewed or offset bootstrap distribution), and every consumer must allow that
(plots draw [low, high] explicitly, never value - low).

The percentile interval (linear interpolation between order statistics, numpy's default
``linear`` method) at level ``c`` is [q((1 - c)/2), q((1 + c)/2)] of the finite replicates.
With ``censored=True``, +inf means "unreachable" (a target loss below a replicate's E): it
is ranked above every finite value instead of dropped, and a bound that falls among the
infinite replicates is +inf. NaN (a failed replicate) is always dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scaling_cli.law import PARAMETER_NAMES, Law

if TYPE_CHECKING:
    from scaling_cli.model import Model

__all__ = [
    "Estimate",
    "Paired",
    "law_estimates",
    "percentile_interval",
]

Array = npt.NDArray[np.float64]
_MAX_EXP = 700.0  # exp() of more overflows; value * exp(700) is already inf or huge


@dataclass(frozen=True)
class Estimate:
    """A value with its statistical interval (``low``/``high``: the bootstrap's; None when
    there are no replicates) and its total interval (``total_low``/``total_high``: the
    statistical one widened by what the bootstrap cannot see, the form's own error beyond
    the runs and a run's scatter; None where the tool has no estimate of those).

    Infinite bounds mean "unreachable" (a target loss below a replicate's E).
    """

    value: float
    low: float | None = None
    high: float | None = None
    total_low: float | None = None
    total_high: float | None = None

    def widened(self, log_sd: float, confidence: float) -> Estimate:
        """The total interval: each side's statistical half-width on the log scale and z
        times ``log_sd`` (independent errors) added in quadrature,

            total_low = value exp(-hypot(log(value/low), z sd)),  z = Phi^-1((1+c)/2),

        and likewise above. A side the statistical interval does not reach (it may exclude
        the value) counts as zero."""
        z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
        if not (self.value > 0 and math.isfinite(self.value)):
            return self
        below = 0.0 if self.low is None or not self.low > 0 else max(
            0.0, math.log(self.value / self.low))
        above = 0.0 if self.high is None or not math.isfinite(self.high) else max(
            0.0, math.log(self.high / self.value))
        # capped exponent: degenerate replicates may put the high side past the float range
        low = self.value * math.exp(-min(math.hypot(below, z * log_sd), _MAX_EXP))
        high = self.value * math.exp(min(math.hypot(above, z * log_sd), _MAX_EXP))
        if self.low is not None:
            low = min(low, self.low)
        if self.high is not None:
            high = max(high, self.high)
        return replace(self, total_low=low, total_high=high)

    def scaled(self, factor: float) -> Estimate:
        """Every number times ``factor`` (itself when ``factor`` is 1)."""
        if factor == 1.0:
            return self

        def times(v: float | None) -> float | None:
            return None if v is None else v * factor

        return Estimate(self.value * factor, times(self.low), times(self.high),
                        times(self.total_low), times(self.total_high))

    def including(self, *others: float) -> Estimate:
        """The total interval stretched to include other forms' answers (model uncertainty:
        an answer the data fit about as well as this one)."""
        lows = [v for v in (self.total_low, self.low, self.value) if v is not None]
        highs = [v for v in (self.total_high, self.high, self.value) if v is not None]
        finite = [v for v in others if math.isfinite(v)]
        if not finite:
            return self
        return replace(self, total_low=min(lows[0], *finite),
                       total_high=max(highs[0], *finite))

    @property
    def spread(self) -> float | None:
        """high / low: how many-fold the interval spans (None without a positive interval)."""
        if self.low is None or self.high is None or not self.low > 0:
            return None
        return float(self.high / self.low)


def percentile_interval(values: npt.ArrayLike, confidence: float, *,
                        censored: bool = False) -> tuple[float, float]:
    """Equal-tailed percentile interval of ``values`` (see the module doc); NaN, NaN when
    nothing usable is left."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[~np.isnan(v)] if censored else v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    v = np.sort(v)
    tail = (1.0 - confidence) / 2.0
    bounds = []
    for q in (tail, 1.0 - tail):
        position = q * (v.size - 1)
        i = math.floor(position)
        j = min(i + 1, v.size - 1)
        frac = position - i
        if math.isinf(v[i]) or (frac > 0 and math.isinf(v[j])):
            bounds.append(math.inf)
        elif frac == 0 or v[i] == v[j]:
            bounds.append(float(v[i]))
        else:
            bounds.append(float(v[i] + frac * (v[j] - v[i])))
    return (bounds[0], bounds[1])


class Paired:
    """One answer function evaluated once on the stacked law, read per input.

    ``fn(law, inputs)`` receives the stacked law (fields (1 + R, 1)) and the inputs as a
    (1, M) row, and returns a result whose fields broadcast to (1 + R, M).
    """

    def __init__(self, point: Law, replicates: Law | None,
                 fn: Callable[[Law, Array], Any], inputs: Sequence[float],
                 confidence: float) -> None:
        self.confidence = confidence
        self.has_replicates = replicates is not None
        row = np.asarray(inputs, dtype=float)[None, :]
        # Degenerate replicates (a vanished term: alpha or beta = 0) and extreme inputs give
        # log(0) and overflow to inf by design; answers mark those elements, never warn.
        with np.errstate(all="ignore"):
            self.result = fn(Law.stacked(point, replicates), row)
        self.columns = row.shape[1]

    def column(self, field: str, j: int) -> Array:
        """The point (element 0) and every replicate (1..R) of ``field`` for input ``j``."""
        values = np.asarray(getattr(self.result, field))
        return np.broadcast_to(values, (values.shape[0], self.columns))[:, j]

    def value(self, field: str, j: int) -> Any:
        return self.column(field, j)[0]

    def draws(self, field: str, j: int) -> Array | None:
        return self.column(field, j)[1:] if self.has_replicates else None

    def __call__(self, field: str, j: int, *, censored: bool = False) -> Estimate:
        return self.estimate(self.column(field, j), censored=censored)

    def estimate(self, column: Array, *, censored: bool = False) -> Estimate:
        """Element 0 as the value, the percentile interval of the rest."""
        if not self.has_replicates:
            return Estimate(float(column[0]))
        low, high = percentile_interval(column[1:], self.confidence, censored=censored)
        return Estimate(float(column[0]), low, high)

    def total(self, fields: Sequence[str], j: int) -> Estimate:
        """The sum of ``fields`` (+inf means unreachable)."""
        return self.estimate(sum((self.column(f, j) for f in fields[1:]),
                                 self.column(fields[0], j)), censored=True)

    def ratio(self, numerator: str, denominator: str, j: int) -> Estimate:
        return self.estimate(self.column(numerator, j) / self.column(denominator, j))


def law_estimates(model: Model, confidence: float) -> dict[str, Estimate]:
    """E, A, B, alpha, beta with intervals, by name."""
    samples = model.sample_law
    out = {}
    for name, value in zip(PARAMETER_NAMES, model.law.as_tuple(), strict=True):
        if samples is None:
            out[name] = Estimate(value)
        else:
            out[name] = Estimate(value, *percentile_interval(getattr(samples, name),
                                                             confidence))
    return out
