"""numpy, or a plain-float stand-in for it: the closed forms are written once for both.

The closed-form answers (L(N, D), N* and D*, the near-optimal band) take either bootstrap
replicate arrays or one law as plain floats. For plain floats :func:`namespace` returns
:data:`SCALAR`, which offers the few numpy functions those formulas use, implemented with
:mod:`math` and numpy's conventions (log 0 = -inf, exp overflow = inf, no exceptions).
A published law's answer (``scaling optimal --law ...``) then never imports numpy: that
import alone is most of the tool's start-up time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

__all__ = ["SCALAR", "is_scalar", "namespace"]


def is_scalar(*values: object) -> bool:
    """True when every value is a plain Python number (numpy scalars count: they subclass
    float), so the formulas can run on :data:`SCALAR`."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _logaddexp(a: float, b: float) -> float:
    top = max(a, b)
    if top == -math.inf:
        return -math.inf
    return top + math.log1p(math.exp(-abs(a - b)))


@contextlib.contextmanager
def _errstate(**_: str) -> Iterator[None]:
    yield


class _Scalar:
    """The numpy functions the closed forms use, for plain floats."""

    log: Callable[[float], float] = staticmethod(_log)
    exp: Callable[[float], float] = staticmethod(_exp)
    logaddexp: Callable[[float, float], float] = staticmethod(_logaddexp)
    errstate = staticmethod(_errstate)
    inf = math.inf

    @staticmethod
    def asarray(x: Any, dtype: Any = float) -> float:
        return float(x)

    @staticmethod
    def where(condition: bool, a: float, b: float) -> float:
        return a if condition else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return max(a, b)


SCALAR = _Scalar()


def namespace(*values: object) -> Any:
    """:data:`SCALAR` for plain numbers, else the numpy module (imported here, lazily)."""
    if is_scalar(*values):
        return SCALAR
    import numpy

    module: ModuleType = numpy
    return module
