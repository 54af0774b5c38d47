"""The Chinchilla loss surface, its compute-optimal allocation, and published presets.

    L(N, D) = E + A / N**alpha + B / D**beta                      (Hoffmann et al. 2022, eq. 2)

evaluated in log space, log L = logsumexp(log E, log A - alpha log N, log B - beta log D),
so that N, D from 1e6 to 1e30 neither overflow nor underflow.

Under a compute budget C = k N D (k = 6 by default: forward + backward FLOPs per parameter
per token), minimising L gives the closed form (Hoffmann et al. 2022, eq. 4)

    N* = G (C/k)**a,   D* = (C/k) / N*,   a = beta / (alpha + beta),
    G  = (alpha A / (beta B))**(1 / (alpha + beta)).

Every function is vectorised: the fields of :class:`Law` may be floats or arrays of
bootstrap replicates, and broadcast against arrays of N, D or C.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import InputError

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

ArrayLike = npt.ArrayLike
Array = npt.NDArray[np.float64]


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
        t = np.asarray(theta, dtype=float)
        if t.ndim == 1:
            e, a, b, alpha, beta = (float(v) for v in t)
            return cls(math.exp(e), math.exp(a), math.exp(b), alpha, beta)
        return cls(np.exp(t[..., 0]), np.exp(t[..., 1]), np.exp(t[..., 2]), t[..., 3], t[..., 4])

    def as_column(self) -> Law:
        """Replicate arrays reshaped to (R, 1), to broadcast against a row of inputs."""
        return Law(*(np.asarray(v, dtype=float)[:, None]
                     for v in (self.E, self.A, self.B, self.alpha, self.beta)))

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (float(self.E), float(self.A), float(self.B), float(self.alpha), float(self.beta))

    @property
    def compute_exponent(self) -> Any:
        """a = beta / (alpha + beta): N* grows as C**a, D* as C**(1 - a)."""
        return np.asarray(self.beta) / (np.asarray(self.alpha) + np.asarray(self.beta))


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal split of budgets (arrays broadcast law replicates x budgets)."""

    compute_flops: Array
    params: Array
    tokens: Array
    loss: Array

    @property
    def tokens_per_param(self) -> Array:
        return self.tokens / self.params


def predict_loss(law: Law, params: ArrayLike, tokens: ArrayLike) -> Array:
    """L(N, D) = E + A N^-alpha + B D^-beta, computed as exp(logsumexp(...)) to stay finite."""
    # N = 0 or D = inf arise as limits (a degenerate law's optimum); x^0 is 1 there too.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_n = np.log(np.asarray(params, dtype=float))
        log_d = np.log(np.asarray(tokens, dtype=float))
        alpha, beta = np.asarray(law.alpha, dtype=float), np.asarray(law.beta, dtype=float)
        a_term = np.where(alpha == 0, np.log(law.A), np.log(law.A) - alpha * log_n)
        b_term = np.where(beta == 0, np.log(law.B), np.log(law.B) - beta * log_d)
        terms = np.logaddexp(np.log(law.E), np.logaddexp(a_term, b_term))
        return np.asarray(np.exp(terms), dtype=float)


def optimal_allocation(
    law: Law, compute_flops: ArrayLike, *, flops_per_param_token: float = 6.0
) -> Allocation:
    """N*, D* and L(N*, D*) for budgets C under C = k N D (closed form in the module doc).

    With replicate arrays in ``law`` and several budgets, pass ``law`` fields of shape (R, 1)
    or budgets of shape (M,) against scalars; results broadcast.
    """
    c = np.asarray(compute_flops, dtype=float)
    alpha, beta = np.asarray(law.alpha, dtype=float), np.asarray(law.beta, dtype=float)
    log_c = np.log(c / flops_per_param_token)
    # alpha = 0 or beta = 0 (a vanished term, allowed by the bounds) gives the limits
    # N* = 0 or D* = 0 without numpy warnings on stderr.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_g = (np.log(alpha) + np.log(law.A) - np.log(beta) - np.log(law.B)) / (alpha + beta)
        log_n = log_g + beta / (alpha + beta) * log_c
        params = np.exp(log_n)
        tokens = np.exp(log_c - log_n)
    return Allocation(
        compute_flops=np.broadcast_to(c, params.shape).astype(float),
        params=params,
        tokens=tokens,
        loss=predict_loss(law, params, tokens),
    )


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
