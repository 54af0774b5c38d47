"""Closed-form pieces every planning answer shares (docs/planning.md derives them).

    L(N, D) = E + A N^-alpha + B D^-beta,  C = k N D,  c = C / k,
    a = beta / (alpha + beta),  gamma = alpha beta / (alpha + beta),
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  N* = G c^a,  D* = c / N*,
    L*(C) = E + K c^-gamma,  K = A G^-alpha + B G^beta.

Vectorised numpy on laws whose fields are floats or (R, 1) replicate columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError
from scaling_cli.law import Law

__all__ = [
    "bisect_root",
    "full",
    "gamma",
    "golden_min",
    "law_fields",
    "log_g",
    "log_k",
    "log_reducible",
    "positive",
]

Array = npt.NDArray[np.float64]
GOLDEN_STEPS = 80
BISECTIONS = 100  # brackets are < 200 wide in log space: 200 / 2^100 is below float spacing


def law_fields(law: Law) -> tuple[Array, Array, Array, Array, Array]:
    return tuple(np.asarray(v, dtype=float)  # type: ignore[return-value]
                 for v in (law.E, law.A, law.B, law.alpha, law.beta))


def full(value: npt.ArrayLike, shape: tuple[int, ...]) -> Array:
    """``value`` as a float array of ``shape`` (its own memory, not a broadcast view)."""
    return np.array(np.broadcast_to(np.asarray(value, dtype=float), shape))


def positive(name: str, value: npt.ArrayLike) -> Array:
    """``value`` as a float array, refused (naming the setting) unless positive and finite."""
    v = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(v) & (v > 0)):
        raise InputError(f"must be positive and finite, got {v.ravel()[:3].tolist()}",
                         field=name)
    return v


def log_g(law: Law) -> Array:
    """log G = (log(alpha A) - log(beta B)) / (alpha + beta)."""
    _, a, b, alpha, beta = law_fields(law)
    return (np.log(alpha) + np.log(a) - np.log(beta) - np.log(b)) / (alpha + beta)


def log_k(law: Law) -> Array:
    """log K, K = A G^-alpha + B G^beta: L*(C) = E + K (C/k)^-gamma."""
    _, a, b, alpha, beta = law_fields(law)
    lg = log_g(law)
    return np.logaddexp(np.log(a) - alpha * lg, np.log(b) + beta * lg)


def gamma(law: Law) -> Array:
    _, _, _, alpha, beta = law_fields(law)
    return alpha * beta / (alpha + beta)


def golden_min(fn: Callable[[Array], Array], lo: Array, hi: Array) -> Array:
    """Minimiser of ``fn`` on each [lo, hi] (unimodal there) by golden-section search."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = fn(x1), fn(x2)
    for _ in range(GOLDEN_STEPS):
        left = f1 <= f2  # the minimum lies in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        f1, f2 = fn(x1), fn(x2)
    return 0.5 * (lo + hi)


def log_reducible(law: Law, log_n: Any, log_d: Any) -> Any:
    """log(L - E) = log(A N^-alpha + B D^-beta), without subtracting E (no cancellation)."""
    return np.logaddexp(np.log(law.A) - law.alpha * log_n, np.log(law.B) - law.beta * log_d)


def bisect_root(fn: Callable[[Any], Any], lo: Any, hi: Any) -> Any:
    """Root of ``fn``, increasing on each bracket [lo, hi] with fn(lo) <= 0 <= fn(hi)."""
    lo, hi = (np.array(v, dtype=float) for v in np.broadcast_arrays(lo, hi))
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        above = fn(mid) > 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)
