"""The Chinchilla loss surface, its compute-optimal allocation, and published presets.

    L(N, D) = E + A / N**alpha + B / D**beta                      (Hoffmann et al. 2022, eq. 2)

evaluated in log space, log L = logsumexp(log E, log A - alpha log N, log B - beta log D),
so that N, D from 1e6 to 1e30 neither overflow nor underflow.

Under a compute budget C = k N D (k = 6 by default: forward + backward FLOPs per parameter
per token), minimising L gives the closed form (Hoffmann et al. 2022, eq. 4)

    N* = G (C/k)**a,   D* = (C/k) / N*,   a = beta / (alpha + beta),
    G  = (alpha A / (beta B))**(1 / (alpha + beta)).

Every function is vectorised: the fields of :class:`Law` may be floats or arrays of
bootstrap replicates, and broadcast against arrays of N, D or C. One law with plain-float
inputs runs the same formulas on :mod:`math` (:mod:`scaling_cli.backend`), so published
presets answer without importing numpy.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling_cli.backend import namespace
from scaling_cli.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    ArrayLike = npt.ArrayLike
    Array = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "Allocation",
    "Law",
    "Preset",
    "config_dir",
    "load_presets",
    "optimal_allocation",
    "predict_loss",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class Law:
    """Parameters of L(N, D) = E + A/N^alpha + B/D^beta (loss in nats/token).

    Fields are floats for one law, or equal-length arrays for bootstrap replicates.
    """

    E: Any
    A: Any
    B: Any
    alpha: Any
    beta: Any

    @classmethod
    def from_theta(cls, theta: ArrayLike) -> Law:
        """From the fitter's unconstrained vector(s) (log E, log A, log B, alpha, beta)."""
        import numpy as np

        t = np.asarray(theta, dtype=float)
        if t.ndim == 1:
            e, a, b, alpha, beta = (float(v) for v in t)
            return cls(math.exp(e), math.exp(a), math.exp(b), alpha, beta)
        return cls(np.exp(t[..., 0]), np.exp(t[..., 1]), np.exp(t[..., 2]), t[..., 3], t[..., 4])

    def as_column(self) -> Law:
        """Replicate arrays reshaped to (R, 1), to broadcast against a row of inputs."""
        import numpy as np

        return Law(*(np.asarray(v, dtype=float)[:, None]
                     for v in (self.E, self.A, self.B, self.alpha, self.beta)))

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (float(self.E), float(self.A), float(self.B), float(self.alpha), float(self.beta))

    @property
    def compute_exponent(self) -> Any:
        """a = beta / (alpha + beta): N* grows as C**a, D* as C**(1 - a)."""
        xp = namespace(self.alpha, self.beta)
        return xp.asarray(self.beta) / (xp.asarray(self.alpha) + xp.asarray(self.beta))


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal split of budgets (arrays broadcast law replicates x budgets; floats
    for one law and one budget)."""

    compute_flops: Any
    params: Any
    tokens: Any
    loss: Any

    @property
    def tokens_per_param(self) -> Any:
        return self.tokens / self.params


def predict_loss(law: Law, params: ArrayLike, tokens: ArrayLike) -> Array:
    """L(N, D) = E + A N^-alpha + B D^-beta, computed as exp(logsumexp(...)) to stay finite."""
    xp = namespace(law.E, law.A, law.B, law.alpha, law.beta, params, tokens)
    # N = 0 or D = inf arise as limits (a degenerate law's optimum); x^0 is 1 there too.
    with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_n = xp.log(xp.asarray(params, dtype=float))
        log_d = xp.log(xp.asarray(tokens, dtype=float))
        alpha, beta = xp.asarray(law.alpha, dtype=float), xp.asarray(law.beta, dtype=float)
        a_term = xp.where(alpha == 0, xp.log(law.A), xp.log(law.A) - alpha * log_n)
        b_term = xp.where(beta == 0, xp.log(law.B), xp.log(law.B) - beta * log_d)
        terms = xp.logaddexp(xp.log(law.E), xp.logaddexp(a_term, b_term))
        return xp.asarray(xp.exp(terms), dtype=float)  # type: ignore[no-any-return]


def optimal_allocation(
    law: Law, compute_flops: ArrayLike, *, flops_per_param_token: float = 6.0
) -> Allocation:
    """N*, D* and L(N*, D*) for budgets C under C = k N D (closed form in the module doc).

    With replicate arrays in ``law`` and several budgets, pass ``law`` fields of shape (R, 1)
    or budgets of shape (M,) against scalars; results broadcast.
    """
    xp = namespace(law.E, law.A, law.B, law.alpha, law.beta, compute_flops)
    c = xp.asarray(compute_flops, dtype=float)
    alpha, beta = xp.asarray(law.alpha, dtype=float), xp.asarray(law.beta, dtype=float)
    log_c = xp.log(c / flops_per_param_token)
    # alpha = 0 or beta = 0 (a vanished term, allowed by the bounds) gives the limits
    # N* = 0 or D* = 0 without numpy warnings on stderr.
    with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_g = (xp.log(alpha) + xp.log(law.A) - xp.log(beta) - xp.log(law.B)) / (alpha + beta)
        log_n = log_g + beta / (alpha + beta) * log_c
        params = xp.exp(log_n)
        tokens = xp.exp(log_c - log_n)
    budgets = c if isinstance(c, float) else xp.broadcast_to(c, params.shape).astype(float)
    return Allocation(compute_flops=budgets, params=params, tokens=tokens,
                      loss=predict_loss(law, params, tokens))


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A published law, usable with ``--law NAME`` without any runs."""

    name: str
    law: Law
    title: str
    citation: str
    note: str


def config_dir() -> Path:
    """Bundled configs: inside the installed package, else ./configs of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / "laws.toml").is_file():
            return candidate
    raise InputError(f"bundled configs not found next to {here}; reinstall scaling-cli")


def _number(table: dict[str, Any], key: str, name: str) -> float:
    if key in table:
        value = table[key]
    elif f"log_{key}" in table:
        value = math.exp(table[f"log_{key}"])
    else:
        raise InputError(f"laws.toml: law {name!r}: missing {key!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise InputError(f"laws.toml: law {name!r}: {key!r} must be a positive number")
    return float(value)


def load_presets(path: Path | None = None) -> dict[str, Preset]:
    """Published laws from ``configs/laws.toml`` (or ``path``), by name."""
    path = path or config_dir() / "laws.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read law presets ({exc})") from None
    presets = {}
    for name, table in data.get("laws", {}).items():
        law = Law(*(_number(table, key, name) for key in ("E", "A", "B", "alpha", "beta")))
        presets[name] = Preset(name, law, table.get("title", name), table.get("citation", ""),
                               table.get("note", ""))
    return presets
