"""Simulated ladders whose truth is NOT the fitted form E + A/N^alpha + B/D^beta (and the
correctly specified control), for the honesty harness.

Every truth starts from a Chinchilla base law drawn per ladder: alpha, beta ~ U(0.25,
0.45), E ~ U(1.5, 2.3), A/N0^alpha ~ U(0.3, 1.5) nats at N0 = 1e8 (as in
``benchmarks/calibration.py``), and B set so that the compute-optimal tokens per parameter
at 1e19 FLOPs is logU(8, 60) (calibration.py's independent draw of B puts it anywhere from
0.1 to 1e4, which no practitioner's ladder looks like). Families
(expected loss before noise; ln is the natural log):

============  ==================================================================================
control       L = E + A/N^alpha + B/D^beta
interaction   L = control + F/(N^g D^h); g, h ~ U(0.1, 0.25), F/(N0^g D0^h) ~ U(0.1, 0.3) nats
second-n      L = control + A2/N^a2: a second, steeper power law in N that dominates the small
              models (a different regime at small scale); a2 ~ U(0.6, 0.9), A2/N0^a2 ~ U(0.03,
              0.1) nats (about 5x that at N = 1e7, a twentieth at 1e9). A slower second term
              (a2 ~ 0.1) was tried first: over a ladder's 2-3 decades of N the fitted form
              absorbs it to within 0.1% of the loss, so it tests nothing
broken-d      L = E + A/N^alpha + B/D^beta * (1 + (D/Db)^s)^((beta - beta2)/s), s = 4: the data
              term falls as D^-beta below Db and as D^-beta2 above; beta2 = beta * U(0.4, 0.7),
              Db = the ladder's median D (the fitted runs see the start of the bend)
tpp-curve     L = control + k * max(0, ln((D/N) / r0))^2: a penalty growing with log tokens per
              parameter beyond r0 ~ U(10, 30); k ~ U(0.008, 0.016) nats (0.10-0.19 nats at
              32 r0): mimics the optimistic over-training misses of issue 11
repeated      L = E + A/N^alpha + B/D'^beta with Muennighoff et al.'s effective data for a fixed
              unique-token budget U (the ladder's 40th-percentile D): D' = D for D <= U, else
              D' = U + U R* (1 - exp(-(D/U - 1)/R*)), R* = 15.39; unique_tokens = min(D, U)
============  ==================================================================================

Designs (``Scenario``), centred on the base law's compute-optimal size times a
practitioner's misguess of 10^U(-0.3, 0.3):

* ``isoflop`` (budgets, sizes): budgets log-spaced over 1e17-3e20 FLOPs; at each, ``sizes``
  model sizes from one shared log grid with step 1.2/(sizes-1) decades around the optimum;
  D = C/(6N), so D/N spans about 1-400 at every budget;
* ``grid`` (sizes, ratios): N log-spaced over 10^7.3-10^9.3, D/N log-spaced over 2-400.

Losses get log-normal noise, L_obs = L * exp(eps), eps ~ N(0, sigma^2). Randomness: one
SeedSequence per (scenario, replicate) spawns the base-law/design, misspecification and
noise streams, so every family of one (scenario, replicate) shares its base law, design and
noise draws: differences between families come from the misspecification alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks.honesty.ladders import Ladder, make_ladder

__all__ = [
    "FAMILIES",
    "FAST_SCENARIOS",
    "FULL_SCENARIOS",
    "R_STAR",
    "BaseLaw",
    "Draw",
    "Scenario",
    "Truth",
    "design",
    "draw",
    "draw_base",
    "draw_truth",
    "simulate",
    "simulated_ladders",
]

Array = npt.NDArray[np.float64]

FAMILIES = ("control", "interaction", "second-n", "broken-d", "tpp-curve", "repeated")
N0, D0 = 1e8, 2e9
R_STAR = 15.387756  # Muennighoff et al. 2023's R_D*
BREAK_SHARPNESS = 4.0
C_MID, R_OPT = 1e19, (8.0, 60.0)  # compute-optimal D*/N* at C_MID lies in R_OPT


@dataclass(frozen=True)
class BaseLaw:
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, params: Array, tokens: Array) -> Array:
        """E + A/N^alpha + B/D^beta, evaluated through logs (N, D span many decades)."""
        return np.asarray(self.E + self.A * np.exp(-self.alpha * np.log(params))
                          + self.B * np.exp(-self.beta * np.log(tokens)))

    def optimal_params(self, compute_flops: float) -> float:
        """N* = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))."""
        s = self.alpha + self.beta
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / s)
        return float(g * (compute_flops / 6) ** (self.beta / s))


@dataclass(frozen=True)
class Truth:
    """A base law plus one family's misspecification (``extra``: its named constants)."""

    family: str
    base: BaseLaw
    extra: tuple[tuple[str, float], ...] = ()

    def __getitem__(self, name: str) -> float:
        return dict(self.extra)[name]

    def unique_tokens(self, tokens: Array) -> Array | None:
        return np.minimum(tokens, self["U"]) if self.family == "repeated" else None

    def expected_loss(self, params: Array, tokens: Array) -> Array:
        """The family's L(N, D) (see the module docstring)."""
        b, f = self.base, self.family
        if f == "repeated":
            u = self["U"]
            excess = np.maximum(tokens / u - 1.0, 0.0)
            eff = np.where(tokens <= u, tokens, u + u * R_STAR * -np.expm1(-excess / R_STAR))
            return b.loss(params, eff)
        out = b.loss(params, tokens)
        if f == "interaction":
            out = out + self["F"] * np.exp(-self["g"] * np.log(params)
                                           - self["h"] * np.log(tokens))
        elif f == "second-n":
            out = out + self["A2"] * np.exp(-self["a2"] * np.log(params))
        elif f == "broken-d":
            s, db = BREAK_SHARPNESS, self["Db"]
            bend = np.exp((b.beta - self["beta2"]) / s * np.log1p((tokens / db) ** s))
            out = b.loss(params, tokens) + b.B * np.exp(-b.beta * np.log(tokens)) * (bend - 1)
        elif f == "tpp-curve":
            excess = np.maximum(np.log(tokens / params / self["r0"]), 0.0)
            out = out + self["k"] * excess**2
        elif f != "control":
            raise ValueError(f"unknown family {f!r}; use one of {', '.join(FAMILIES)}")
        return np.asarray(out)

    def describe(self) -> str:
        b = self.base
        extra = ", ".join(f"{k}={v:.4g}" for k, v in self.extra)
        return (f"{self.family}: E={b.E:.3f} A={b.A:.4g} B={b.B:.4g} alpha={b.alpha:.3f} "
                f"beta={b.beta:.3f}" + (f"; {extra}" if extra else ""))


@dataclass(frozen=True)
class Scenario:
    design: str  # "isoflop" or "grid"
    shape: tuple[int, int]  # (budgets, sizes per budget) or (sizes, tokens/param ratios)
    sigma: float  # noise sd of log loss

    @property
    def runs(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def name(self) -> str:
        return f"{self.design}-{self.runs} {100 * self.sigma:g}%"


FULL_SCENARIOS = (
    Scenario("isoflop", (6, 6), 0.01),
    Scenario("isoflop", (8, 10), 0.005),
    Scenario("isoflop", (12, 25), 0.02),
    Scenario("grid", (4, 4), 0.01),
    Scenario("grid", (8, 8), 0.02),
    Scenario("grid", (10, 12), 0.005),
)
FAST_SCENARIOS = (FULL_SCENARIOS[0],)


def draw_base(rng: np.random.Generator) -> BaseLaw:
    """alpha, beta ~ U(0.25, 0.45), E ~ U(1.5, 2.3), A/N0^alpha ~ U(0.3, 1.5) nats, and B set
    so that the compute-optimal D*/N* at C_MID is r ~ logU(R_OPT): realistic designs.

    From N* = G (C/6)^(beta/s), G = (alpha A/(beta B))^(1/s), s = alpha + beta, and
    N* = sqrt(C / (6 r)): B = alpha A / (beta G^s).
    """
    alpha, beta = (float(x) for x in rng.uniform(0.25, 0.45, 2))
    e, a_term = float(rng.uniform(1.5, 2.3)), float(rng.uniform(0.3, 1.5))
    ratio = float(np.exp(rng.uniform(*np.log(R_OPT))))
    a = a_term * N0**alpha
    s = alpha + beta
    n_opt = math.sqrt(C_MID / (6 * ratio))
    g = n_opt / (C_MID / 6) ** (beta / s)
    return BaseLaw(e, a, alpha * a / (beta * g**s), alpha, beta)


def design(scenario: Scenario, base: BaseLaw, miss: float) -> tuple[Array, Array]:
    """(N, D) of every run of the ladder; ``miss`` shifts the centre by 10^miss."""
    a, m = scenario.shape
    if scenario.design == "grid":
        nn, rr = np.meshgrid(np.logspace(7.3 + miss, 9.3 + miss, a),
                             np.logspace(math.log10(2), math.log10(400), m), indexing="ij")
        return nn.ravel(), (nn * rr).ravel()
    if scenario.design != "isoflop":
        raise ValueError(f"unknown design {scenario.design!r}; use isoflop or grid")
    step = 1.2 / (m - 1)
    ns, ds = [], []
    for c in np.logspace(17, math.log10(3e20), a):
        centre = math.log10(base.optimal_params(float(c))) + miss
        first = round(centre / step - (m - 1) / 2)
        n = 10.0 ** (step * np.arange(first, first + m))
        ns.append(n)
        ds.append(c / (6 * n))
    return np.concatenate(ns), np.concatenate(ds)


def draw_truth(family: str, base: BaseLaw, params: Array, tokens: Array,
               rng: np.random.Generator) -> Truth:
    """The family's constants, drawn from ``rng`` (ranges in the module docstring)."""
    u = rng.uniform
    extra: dict[str, float]
    if family == "control":
        extra = {}
    elif family == "interaction":
        g, h = u(0.1, 0.25, 2)
        extra = {"F": float(u(0.1, 0.3) * N0**g * D0**h), "g": float(g), "h": float(h)}
    elif family == "second-n":
        a2 = float(u(0.6, 0.9))
        extra = {"A2": float(u(0.03, 0.1) * N0**a2), "a2": a2}
    elif family == "broken-d":
        extra = {"beta2": float(base.beta * u(0.4, 0.7)),
                 "Db": float(10 ** np.median(np.log10(tokens)))}
    elif family == "tpp-curve":
        extra = {"r0": float(u(10, 30)), "k": float(u(0.008, 0.016))}
    elif family == "repeated":
        extra = {"U": float(10 ** np.quantile(np.log10(tokens), 0.4))}
    else:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    return Truth(family, base, tuple(extra.items()))


@dataclass(frozen=True, eq=False)
class Draw:
    """A ladder's truth, design and noise before they become a :class:`Ladder`."""

    truth: Truth
    params: Array
    tokens: Array
    eps: Array  # log-normal noise of each run's loss


def draw(family: str, scenario: Scenario, seed: int | Sequence[int]) -> Draw:
    """The truth, design and noise for ``seed``: one SeedSequence spawns the base-law and
    design stream, the misspecification stream and the noise stream (shared by families)."""
    base_ss, extra_ss, noise_ss = np.random.SeedSequence(seed).spawn(3)
    base_rng = np.random.default_rng(base_ss)
    base = draw_base(base_rng)
    n, d = design(scenario, base, float(base_rng.uniform(-0.3, 0.3)))
    truth = draw_truth(family, base, n, d, np.random.default_rng(extra_ss))
    eps = np.random.default_rng(noise_ss).normal(0.0, scenario.sigma, n.size)
    return Draw(truth, n, d, eps)


def simulate(family: str, scenario: Scenario, seed: int | Sequence[int],
             label: str = "") -> Ladder:
    """One simulated ladder: L_obs = L_truth(N, D) * exp(eps) for every run of the design."""
    made = draw(family, scenario, seed)
    n, d = made.params, made.tokens
    expected = made.truth.expected_loss(n, d)
    name = f"sim:{family} {scenario.name}" + (f" {label}" if label else "")
    return make_ladder(name, made.truth.describe(), n, d, expected * np.exp(made.eps),
                       [f"run{i:03d}" for i in range(n.size)],
                       unique_tokens=made.truth.unique_tokens(d), expected_loss=expected,
                       family=family, source="simulated")


def simulated_ladders(*, fast: bool = False, replicates: int = 2, seed: int = 0,
                      families: Sequence[str] = FAMILIES) -> tuple[Ladder, ...]:
    """Every family on every scenario, ``replicates`` seeds each (``fast``: control and
    tpp-curve on one small isoFLOP ladder, one seed)."""
    scenarios = FAST_SCENARIOS if fast else FULL_SCENARIOS
    chosen = ("control", "tpp-curve") if fast else tuple(families)
    reps = 1 if fast else replicates
    out = []
    for si, scenario in enumerate(scenarios):
        for rep in range(reps):
            for family in chosen:
                out.append(simulate(family, scenario, [seed, si, rep], f"s{rep}"))
    return tuple(out)
