"""Fixed and tied parameters: the free vector phi and its map to the full theta.

theta = (log E, log A, log B, alpha, beta). A constrained fit searches only the free
coordinates phi; the map is affine,

    theta = base + P phi,      grad_phi f = P^T grad_theta f,      hess_phi f = P^T H P,

where each column of P is a unit vector (a free parameter) or, with tied exponents, the
vector with ones at alpha and beta (alpha = beta, as in Gadre et al. 2024 and Muennighoff
et al. 2023). Fixed parameters take their value from ``base`` and have no column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.units import shown

__all__ = ["FIXED_RANGE", "NAMES", "Constraints"]

NAMES = ("E", "A", "B", "alpha", "beta")
# Where a parameter may be held: the search box of theta = (log E, log A, log B, alpha,
# beta) in natural units, so exponents within [0, 10] as documented.
FIXED_RANGE = {"E": (math.exp(-25.0), math.exp(10.0)),
               "A": (math.exp(-25.0), math.exp(300.0)),
               "B": (math.exp(-25.0), math.exp(300.0)),
               "alpha": (0.0, 10.0), "beta": (0.0, 10.0)}
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Constraints:
    """Parameters held at given values (natural units: E, A, B > 0) and/or alpha = beta."""

    fixed: tuple[tuple[str, float], ...] = ()
    tie_exponents: bool = False

    @classmethod
    def make(cls, fixed: Mapping[str, float] | None = None, *,
             tie_exponents: bool = False) -> Constraints:
        fixed = dict(fixed or {})
        for name, value in fixed.items():
            if name not in NAMES:
                raise UsageError(f"--fix {name}=...: unknown parameter; use one of "
                                 f"{', '.join(NAMES)}")
            if not value > 0 or not math.isfinite(value):
                raise UsageError(f"--fix {name}={value}: must be a positive number")
            low, high = FIXED_RANGE[name]
            if not low <= value <= high:
                # Outside the fitter's search box (fit.newton.BOUNDS): a fit held there is
                # not one the search could find, and its algebra overflows.
                raise UsageError(f"{shown(value)} is outside the range the fit searches "
                                 f"({low:.3g} to {high:.3g}); hold {name} at a value inside it",
                                 field=f"fix.{name}")
        if tie_exponents and len({"alpha", "beta"} & set(fixed)) == 1:
            raise UsageError("--tie-exponents with one exponent fixed: fix both to the same "
                             "value instead, or drop --tie-exponents")
        if tie_exponents and "alpha" in fixed and fixed["alpha"] != fixed["beta"]:
            raise UsageError("--tie-exponents with alpha != beta fixed; they must be equal")
        if len(fixed) == 5:
            raise UsageError("every parameter is fixed: nothing left to fit (use --law)")
        return cls(tuple(sorted(fixed.items(), key=lambda kv: NAMES.index(kv[0]))),
                   tie_exponents)

    @property
    def is_free(self) -> bool:
        return not self.fixed and not self.tie_exponents

    def fixed_theta(self) -> dict[int, float]:
        """Fixed parameters as theta-space values, by index."""
        out = {}
        for name, value in self.fixed:
            i = NAMES.index(name)
            out[i] = math.log(value) if i < 3 else value
        return out

    def matrix(self) -> tuple[Array, Array]:
        """(P, base): theta = base + P phi."""
        fixed = self.fixed_theta()
        base = np.zeros(5)
        columns = []
        for i in range(5):
            if i in fixed:
                base[i] = fixed[i]
            elif i == 4 and self.tie_exponents:
                continue  # beta rides on alpha's column
            else:
                col = np.zeros(5)
                col[i] = 1.0
                if i == 3 and self.tie_exponents:
                    col[4] = 1.0
                columns.append(col)
        return np.array(columns).T.reshape(5, -1), base

    @property
    def n_free(self) -> int:
        return int(self.matrix()[0].shape[1])

    def free_names(self) -> tuple[str, ...]:
        p, _ = self.matrix()
        return tuple(NAMES[int(np.argmax(p[:, j]))] for j in range(p.shape[1]))

    def project(self, theta: npt.ArrayLike) -> Array:
        """Nearest feasible theta: fixed values imposed; tied exponents averaged."""
        t = np.array(theta, dtype=float, ndmin=2)
        if self.tie_exponents:
            t[:, 3] = t[:, 4] = 0.5 * (t[:, 3] + t[:, 4])
        for i, v in self.fixed_theta().items():
            t[:, i] = v
        return t

    def to_phi(self, theta: npt.ArrayLike) -> Array:
        p, base = self.matrix()
        t = self.project(theta)
        # Columns of P are orthogonal; least squares recovers phi exactly for feasible theta.
        return np.asarray((t - base) @ p / (p * p).sum(axis=0), dtype=float)

    def to_theta(self, phi: npt.ArrayLike) -> Array:
        p, base = self.matrix()
        return np.asarray(base + np.atleast_2d(np.asarray(phi, dtype=float)) @ p.T,
                          dtype=float)

    def describe(self) -> dict[str, object]:
        return {"fixed": dict(self.fixed), "tied_exponents": self.tie_exponents}
