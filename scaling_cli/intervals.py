"""Bootstrap confidence intervals from a point estimate and its replicate values.

Notation: theta_hat is the full-data estimate of a scalar quantity, theta*_1..R its
bootstrap replicates (failed replicates are NaN and ignored), 1 - 2 t the confidence
(t = (1 - confidence) / 2), z_q = Phi^-1(q) the standard normal quantile, and
Q(q) the q-quantile of the replicates.

* percentile          [Q(t), Q(1 - t)]                  (Efron 1979; the tool's default)
* basic (reverse)     [2 theta_hat - Q(1 - t), 2 theta_hat - Q(t)]
* bias-corrected (BC) [Q(q_lo), Q(q_hi)],  q = Phi(2 z0 + z_t), Phi(2 z0 + z_{1-t}),
                      z0 = Phi^-1(#{theta* < theta_hat} / R + #{theta* = theta_hat} / 2R)
* BCa                 q = Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for z = z_t, z_{1-t},
                      with acceleration a from the jackknife values theta_(i)
                      (each unit - run or group - left out once), u_i = mean(theta_()) -
                      theta_(i):   a = sum u_i^3 / (6 (sum u_i^2)^(3/2))
                      (Efron 1987; DiCiccio & Efron 1996, eq. 6.6)

Percentile and BC/BCa intervals are invariant under monotone maps of the quantity, so
N*, D* and the loss can be used on any scale; the basic interval is not, so
:func:`basic_interval` takes ``log=True`` to reflect positive quantities on the log scale
(it then never crosses zero).

Every function returns ``(low, high)`` floats, NaN when there are no finite replicates.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from .errors import UsageError
from .resample import percentile_interval

__all__ = [
    "acceleration",
    "basic_interval",
    "bc_interval",
    "bca_interval",
    "bias_correction",
    "percentile_interval",
]

_NORMAL = NormalDist()
_NAN = (float("nan"), float("nan"))


def _finite(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    v = np.asarray(values, dtype=float).ravel()
    return np.asarray(v[np.isfinite(v)], dtype=float)


def _check(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"confidence {confidence!r}: must lie strictly between 0 and 1, "
                         "e.g. 0.95")
    return (1.0 - confidence) / 2.0


def basic_interval(point: float, replicates: npt.ArrayLike, confidence: float, *,
                   log: bool = False) -> tuple[float, float]:
    """Basic (reverse-percentile) interval [2 theta_hat - Q(1-t), 2 theta_hat - Q(t)].

    With ``log=True`` the reflection is done on log(theta) (for positive quantities).
    """
    _check(confidence)
    v = _finite(replicates)
    if v.size == 0 or not math.isfinite(point):
        return _NAN
    if log:
        low, high = basic_interval(math.log(point), np.log(v), confidence)
        return math.exp(low), math.exp(high)
    q_low, q_high = percentile_interval(v, confidence)
    return 2.0 * point - q_high, 2.0 * point - q_low


def bias_correction(point: float, replicates: npt.ArrayLike) -> float:
    """z0 = Phi^-1(fraction of replicates below theta_hat, ties counting half).

    Clipped to the fraction range [1/(2R), 1 - 1/(2R)] so that it stays finite.
    """
    v = _finite(replicates)
    if v.size == 0 or not math.isfinite(point):
        return float("nan")
    below = (np.count_nonzero(v < point) + 0.5 * np.count_nonzero(v == point)) / v.size
    edge = 0.5 / v.size
    return _NORMAL.inv_cdf(min(max(below, edge), 1.0 - edge))


def acceleration(jackknife: npt.ArrayLike) -> float:
    """BCa acceleration a = sum u^3 / (6 (sum u^2)^1.5), u_i = mean(theta_()) - theta_(i).

    0 when the jackknife values do not vary (or fewer than 3 are finite).
    """
    j = _finite(jackknife)
    if j.size < 3:
        return 0.0
    u = j.mean() - j
    scale = float(np.abs(u).max())
    if not scale > 0.0:
        return 0.0
    u = u / scale  # a is scale-free; this keeps u**3 and ss**1.5 representable
    return float(np.sum(u**3) / (6.0 * float(np.sum(u * u)) ** 1.5))


def bca_interval(point: float, replicates: npt.ArrayLike, confidence: float,
                 jackknife: npt.ArrayLike | None = None) -> tuple[float, float]:
    """BCa interval; without ``jackknife`` (a = 0) it is the BC interval.

    The adjusted tail probabilities are Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for
    z = z_t and z_{1-t}; the interval is the replicates' quantiles at those probabilities.
    """
    t = _check(confidence)
    v = _finite(replicates)
    z0 = bias_correction(point, v)
    if v.size == 0 or not math.isfinite(z0):
        return _NAN
    a = 0.0 if jackknife is None else acceleration(jackknife)
    probs = []
    for z in (_NORMAL.inv_cdf(t), _NORMAL.inv_cdf(1.0 - t)):
        shift = z0 + z
        denom = 1.0 - a * shift
        # A huge |a| can flip the denominator's sign: the adjustment has broken down, and
        # the only safe answer is the extreme replicate on that side.
        probs.append(_NORMAL.cdf(z0 + shift / denom) if denom > 0 else float(z > 0))
    low, high = np.quantile(v, probs)
    return float(low), float(high)


def bc_interval(point: float, replicates: npt.ArrayLike,
                confidence: float) -> tuple[float, float]:
    """Bias-corrected percentile interval: BCa with acceleration 0."""
    return bca_interval(point, replicates, confidence)
