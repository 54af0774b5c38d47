"""Is recipe B worth it? The compute multiplier between two recipes' fitted ladders.

Each recipe's compute-optimal frontier (its law at N*(C), D*(C); :mod:`scaling_cli.law`) is

    L*(C) = E + K c^-gamma,   c = C / k,   gamma = alpha beta / (alpha + beta),
    K = A G^-alpha + B G^beta,   G = (alpha A / (beta B))^(1 / (alpha + beta)).

The *compute multiplier* k(C) of the variant over the baseline is defined by
L_variant(C) = L_baseline(k(C) C): what the baseline would need to match the variant's loss.
Inverting the baseline's frontier gives it in closed form for any two laws:

    k(C) = (k_b / C) ((L_variant(C) - E_b) / K_b)^(-1 / gamma_b)

(+inf when L_variant(C) <= E_b: no baseline budget reaches it). k > 1: the variant is worth
k times the compute; k < 1: it costs 1/k times. With shared exponents and a shared E
(the pinned-asymptote mode) k is the same at every budget and equals the identity

    speedup = ((L_worse - E) / (L_better - E))^(1 / gamma)

(:func:`speedup_from_losses`; gamma is the frontier's compute exponent, the "alpha" of
L* - E ~ C^-alpha). Otherwise k changes with C and the two frontiers may cross: with
d(x) = L_variant - L_baseline at c = e^x,

    d(x) = (E_v - E_b) + K_v e^(-gamma_v x) - K_b e^(-gamma_b x),

a sum of three exponentials with at most two zeros. Shared exponents give the one zero in
closed form, c = (-(E_v - E_b) / (K_v - K_b))^(-1 / gamma) when that is positive; separate
exponents split the line at d's only stationary point x_m = log(gamma_v K_v / (gamma_b
K_b)) / (gamma_v - gamma_b), d is monotone on each side, and bisection inside brackets
found from x_m finds each zero.

The *crossover* reported is T = the budget beyond which the recipe that wins at large
compute (the one with the lower E; with equal E, the one whose term decays slower loses)
wins at every budget: the largest zero, or 0 when it wins everywhere. A replicate whose
large-compute winner is the other recipe has T = +inf relative to the point's winner, so T
has a percentile interval over every replicate (``censored``; +inf ranked above all).

Every answer is one evaluation on the two stacked laws (point in row 0, the paired joint
replicates below; :class:`scaling_cli.fit.ladders.JointFit`), so values and intervals come
from the same arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.fit.ladders import JointFit
from scaling_cli.forecast.extrapolation import FittedRange, Reach, reach
from scaling_cli.forecast.intervals import Estimate, percentile_interval
from scaling_cli.law import Law, optimal_allocation
from scaling_cli.model import Model
from scaling_cli.units import format_factor, format_flops

__all__ = [
    "Crossover",
    "Frontier",
    "RecipeComparison",
    "RecipeRow",
    "compare_recipes",
    "compute_multiplier",
    "crossover_compute",
    "frontier",
    "speedup_from_losses",
]

Array = npt.NDArray[np.float64]
_BISECTIONS = 100


@dataclass(frozen=True)
class Frontier:
    """L*(C) = E + K (C / k)^-gamma: the compute-optimal loss of a law (arrays broadcast)."""

    E: Array
    log_K: Array
    gamma: Array
    flops_per_param_token: float

    def loss(self, compute_flops: npt.ArrayLike) -> Array:
        log_c = np.log(np.asarray(compute_flops, dtype=float) / self.flops_per_param_token)
        return np.asarray(self.E + np.exp(self.log_K - self.gamma * log_c), dtype=float)

    def compute_for(self, loss: npt.ArrayLike) -> Array:
        """The least compute reaching ``loss`` (+inf at or below E)."""
        excess = np.asarray(loss, dtype=float) - self.E
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_c = (self.log_K - np.log(np.where(excess > 0, excess, np.nan))) / self.gamma
            out = self.flops_per_param_token * np.exp(log_c)
        return np.asarray(np.where(excess > 0, out, np.inf), dtype=float)


def frontier(law: Law, *, flops_per_param_token: float = 6.0) -> Frontier:
    """The compute-optimal frontier of ``law`` in closed form (module doc), in log space."""
    alpha, beta = (np.asarray(law.alpha, dtype=float), np.asarray(law.beta, dtype=float))
    log_a, log_b = np.log(np.asarray(law.A, float)), np.log(np.asarray(law.B, float))
    log_g = (np.log(alpha) + log_a - np.log(beta) - log_b) / (alpha + beta)
    log_k = np.logaddexp(log_a - alpha * log_g, log_b + beta * log_g)
    return Frontier(np.asarray(law.E, dtype=float), log_k, alpha * beta / (alpha + beta),
                    flops_per_param_token)


def compute_multiplier(baseline: Law, variant: Law, compute_flops: npt.ArrayLike, *,
                       flops_per_param_token: float = 6.0) -> Array:
    """k(C) with L_variant(C) = L_baseline(k C), in closed form (+inf: unreachable)."""
    c = np.asarray(compute_flops, dtype=float)
    base = frontier(baseline, flops_per_param_token=flops_per_param_token)
    loss = frontier(variant, flops_per_param_token=flops_per_param_token).loss(c)
    return np.asarray(base.compute_for(loss) / c, dtype=float)


def speedup_from_losses(loss_worse: npt.ArrayLike, loss_better: npt.ArrayLike,
                        irreducible_loss: npt.ArrayLike, exponent: npt.ArrayLike) -> Array:
    """((L_worse - E) / (L_better - E))^(1 / exponent): the compute factor between two
    frontiers with one E and one compute exponent (module doc)."""
    worse = np.asarray(loss_worse, float) - np.asarray(irreducible_loss, float)
    better = np.asarray(loss_better, float) - np.asarray(irreducible_loss, float)
    return np.asarray(np.exp((np.log(worse) - np.log(better)) / np.asarray(exponent, float)),
                      dtype=float)


def crossover_compute(baseline: Law, variant: Law, *,
                      flops_per_param_token: float = 6.0
                      ) -> tuple[Array, npt.NDArray[np.bool_]]:
    """(T, variant_wins_at_scale) per law row: T the budget beyond which the recipe winning at
    large compute wins everywhere (0: it wins at every budget); see the module doc."""
    fb = frontier(baseline, flops_per_param_token=flops_per_param_token)
    fv = frontier(variant, flops_per_param_token=flops_per_param_token)
    shape = np.broadcast(fb.E, fv.E, fb.gamma, fv.gamma).shape
    e_b, e_v, g_b, g_v, lk_b, lk_v = (np.broadcast_to(x, shape).astype(float).ravel() for x in
                                      (fb.E, fv.E, fb.gamma, fv.gamma, fb.log_K, fv.log_K))
    de = e_v - e_b
    log_de = np.log(np.where(de != 0, np.abs(de), np.nan))

    def sign_d(x: Array, rows: npt.NDArray[np.bool_] | slice = slice(None)) -> Array:
        """sign d(x) for ``rows``, scaled by the largest of its three terms (no overflow)."""
        a, b = lk_v[rows] - g_v[rows] * x, lk_b[rows] - g_b[rows] * x
        top = np.fmax(np.maximum(a, b), log_de[rows])
        scaled = de[rows] * np.exp(-top) + np.exp(a - top) - np.exp(b - top)
        return np.asarray(np.sign(scaled), dtype=float)

    same = np.abs(g_v - g_b) <= 1e-12 * np.maximum(g_v, g_b)
    # The sign of d at large compute: E decides; with equal E the slower-decaying term.
    tail = np.where(de != 0, np.sign(de),
                    np.where(same, np.sign(lk_v - lk_b), np.where(g_v < g_b, 1.0, -1.0)))
    x_root = np.full(de.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Shared exponents: one zero, in closed form.
        ratio = -de / (np.exp(lk_v) - np.exp(lk_b))
        closed = np.log(ratio) / -g_b
        x_root = np.where(same & (ratio > 0), closed, x_root)
        # Separate exponents: d is monotone on each side of its stationary point x_m.
        x_m = (np.log(g_v) + lk_v - np.log(g_b) - lk_b) / (g_v - g_b)
        at_m = sign_d(np.where(same, 0.0, x_m))
        head = np.where(g_v > g_b, 1.0, -1.0)  # the sign of d at small compute
        right = ~same & (at_m == -tail)
        left = ~same & ~right & (at_m == -head)
        if right.any():
            x_root[right] = _bisect(sign_d, x_m, tail, right, +1.0)
        if left.any():
            x_root[left] = _bisect(sign_d, x_m, head, left, -1.0)
        t = np.where(np.isfinite(x_root), flops_per_param_token * np.exp(x_root), 0.0)
    return np.asarray(t, dtype=float).reshape(shape), np.asarray(tail < 0).reshape(shape)


def _bisect(sign_d: Any, x_m: Array, far_sign: Array, rows: npt.NDArray[np.bool_],
            direction: float) -> Array:
    """The zero of d between x_m and the side ``direction`` where d takes ``far_sign``
    (d is monotone there); the far end is found by doubling steps away from x_m."""
    near = x_m[rows].copy()
    step = np.ones(near.shape)
    far = near + direction * step
    for _ in range(60):
        short = sign_d(far, rows) != far_sign[rows]
        if not short.any():
            break
        step[short] *= 2.0
        far[short] = near[short] + direction * step[short]
    low, high = np.minimum(near, far), np.maximum(near, far)
    sign_low = sign_d(low, rows)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (low + high)
        same = sign_d(mid, rows) == sign_low
        low, high = np.where(same, mid, low), np.where(same, high, mid)
    return np.asarray(0.5 * (low + high), dtype=float)


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class RecipeRow:
    """Both recipes at one budget. ``multiplier`` k: L_variant(C) = L_baseline(k C)."""

    compute_flops: float
    loss_baseline: Estimate  # L*(C) of each recipe (nats/token)
    loss_variant: Estimate
    loss_difference: Estimate  # variant - baseline
    params_baseline: Estimate  # N*(C) of each recipe
    params_variant: Estimate
    multiplier: Estimate  # +inf bound: the baseline cannot reach the variant's loss
    variant_better_fraction: float | None  # share of replicates with k > 1
    verdict: str  # "variant better", "baseline better" or "unclear" (interval straddles 1)
    reach_variant: Reach | None  # the variant at C
    reach_baseline: Reach | None  # the baseline where it is evaluated: at k C


@dataclass(frozen=True)
class Crossover:
    """Where the winner changes: T = the budget beyond which ``winner_at_scale`` wins at
    every budget (0: everywhere). ``compute_flops`` is None when no law crosses anywhere."""

    winner_at_scale: str  # "variant", "baseline" or "tie"
    compute_flops: Estimate | None
    direction: str | None  # "variant starts winning" / "variant stops winning" (point)
    agreeing_fraction: float | None  # share of replicates with the same winner at scale
    crossing_fraction: float | None  # share of replicates whose frontiers cross at all


@dataclass(frozen=True)
class RecipeComparison:
    """``scaling compare``: the two recipes at each budget, and where the winner changes."""

    fit: JointFit
    confidence: float
    rows: tuple[RecipeRow, ...]
    crossover: Crossover
    exponent_baseline: Estimate  # gamma of L* - E ~ C^-gamma
    exponent_variant: Estimate
    speedup: Estimate | None  # pinned mode: ((L_b - E) / (L_v - E))^(1 / gamma), constant
    warnings: tuple[str, ...]

    @property
    def models(self) -> tuple[Model, Model]:
        return self.fit.baseline, self.fit.variant


def _stacked(model: Model) -> Law:
    return Law.stacked(model.law, model.sample_law)


def _estimate(column: Array, replicates: bool, confidence: float, *,
              censored: bool = False) -> Estimate:
    if not replicates:
        return Estimate(float(column[0]))
    return Estimate(float(column[0]), *percentile_interval(column[1:], confidence,
                                                           censored=censored))


def _budgets(budgets: Sequence[float]) -> Array:
    if not budgets:
        raise UsageError("give at least one budget, e.g. 1e21", field="budget")
    values = np.asarray(budgets, dtype=float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise UsageError("budgets must be positive FLOP counts, e.g. 1e21", field="budget")
    return values


def compare_recipes(fit: JointFit, budgets: Sequence[float], *,
                    confidence: float = 0.95) -> RecipeComparison:
    """k(C), both recipes' L*(C) and N*(C) at each budget, the crossover and, with a shared
    E, the constant speedup, with intervals from the joint replicates (module doc)."""
    if not 0 < confidence < 1:
        raise UsageError(f"{confidence!r} must be between 0 and 1, e.g. 0.95",
                         field="confidence")
    c = _budgets(budgets)
    base, var = fit.baseline, fit.variant
    k = base.flops_per_param_token
    reps = base.samples is not None and len(base.samples) > 0
    law_b, law_v = _stacked(base), _stacked(var)
    row = c[None, :]
    mult = compute_multiplier(law_b, law_v, row, flops_per_param_token=k)
    alloc_b = optimal_allocation(law_b, row, flops_per_param_token=k)
    alloc_v = optimal_allocation(law_v, row, flops_per_param_token=k)
    ranges = (FittedRange.of(base.inputs, base.runs), FittedRange.of(var.inputs, var.runs))
    rows, warnings = [], list(fit.warnings)
    for j, budget in enumerate(c.tolist()):
        multiplier = _estimate(mult[:, j], reps, confidence, censored=True)
        where_v = reach(ranges[1], compute_flops=budget, params=float(alloc_v.params[0, j]),
                        tokens=float(alloc_v.tokens[0, j]),
                        what=f"variant ladder at {format_flops(budget)} FLOPs")
        equivalent = budget * multiplier.value
        where_b = None
        if math.isfinite(equivalent):
            at = optimal_allocation(base.law, equivalent, flops_per_param_token=k)
            where_b = reach(ranges[0], compute_flops=equivalent, params=float(at.params),
                            tokens=float(at.tokens),
                            what=f"baseline ladder at k x {format_flops(budget)} = "
                                 f"{format_flops(equivalent)} FLOPs")
        for r in (where_v, where_b):
            warnings += [] if r is None else list(r.warnings)
        rows.append(RecipeRow(
            budget, _estimate(alloc_b.loss[:, j], reps, confidence),
            _estimate(alloc_v.loss[:, j], reps, confidence),
            _estimate(alloc_v.loss[:, j] - alloc_b.loss[:, j], reps, confidence),
            _estimate(alloc_b.params[:, j], reps, confidence),
            _estimate(alloc_v.params[:, j], reps, confidence), multiplier,
            float(np.mean(mult[1:, j] > 1)) if reps else None, _verdict(multiplier),
            where_v, where_b))
    cross = _crossover(law_b, law_v, k, reps, confidence)
    if cross.compute_flops is not None and cross.compute_flops.value > 0:
        largest = max(r.compute_flops[1] for r in ranges if r is not None) \
            if any(r is not None for r in ranges) else None
        if largest is not None and cross.compute_flops.value > 100 * largest:
            warnings.append(f"the crossover at {format_flops(cross.compute_flops.value)} FLOPs "
                            f"is {format_factor(cross.compute_flops.value / largest)} beyond the "
                            "largest run of either ladder: an extrapolation the runs cannot "
                            "check")
    return RecipeComparison(
        fit, confidence, tuple(rows), cross, _gamma(law_b, reps, confidence),
        _gamma(law_v, reps, confidence),
        _speedup(fit, law_b, law_v, reps, confidence) if fit.mode == "pinned" else None,
        tuple(dict.fromkeys(warnings)))


def _verdict(multiplier: Estimate) -> str:
    low = multiplier.value if multiplier.low is None else multiplier.low
    high = multiplier.value if multiplier.high is None else multiplier.high
    if low > 1:
        return "variant better"
    if high < 1:
        return "baseline better"
    return "unclear"


def _gamma(law: Law, reps: bool, confidence: float) -> Estimate:
    alpha, beta = np.asarray(law.alpha, float)[:, 0], np.asarray(law.beta, float)[:, 0]
    return _estimate(alpha * beta / (alpha + beta), reps, confidence)


def _crossover(law_b: Law, law_v: Law, k: float, reps: bool,
               confidence: float) -> Crossover:
    t, variant_wins = crossover_compute(law_b, law_v, flops_per_param_token=k)
    t, variant_wins = t[:, 0], variant_wins[:, 0]
    fb, fv = frontier(law_b, flops_per_param_token=k), frontier(law_v, flops_per_param_token=k)
    tie = bool(fb.E[0, 0] == fv.E[0, 0] and fb.gamma[0, 0] == fv.gamma[0, 0]
               and fb.log_K[0, 0] == fv.log_K[0, 0])
    winner = "tie" if tie else ("variant" if variant_wins[0] else "baseline")
    crosses = t > 0
    # Relative to the point's winner at scale, a replicate won by the other recipe at scale
    # has T = +inf: its winner there never takes over.
    relative = np.where(variant_wins == variant_wins[0], t, np.inf)
    estimate = None
    if crosses.any() and not tie:
        estimate = _estimate(relative, reps, confidence, censored=True)
    direction = None
    if crosses[0] and not tie:
        direction = "variant starts winning" if variant_wins[0] else "variant stops winning"
    return Crossover(
        winner, estimate, direction,
        float(np.mean(variant_wins[1:] == variant_wins[0])) if reps else None,
        float(np.mean(crosses[1:])) if reps else None)


def _speedup(fit: JointFit, law_b: Law, law_v: Law, reps: bool,
             confidence: float) -> Estimate:
    """Pinned mode: the variant's speedup ((L_baseline - E) / (L_variant - E))^(1 / gamma)
    by the identity (module doc); the same at every budget, so it is evaluated at the largest
    run's compute. It equals k(C) there (< 1: the variant costs compute)."""
    k = fit.baseline.flops_per_param_token
    inputs = [m.inputs for m in (fit.baseline, fit.variant) if m.inputs is not None]
    at = max((i.compute_flops_max for i in inputs), default=1e21)
    base = frontier(law_b, flops_per_param_token=k)
    loss_v = frontier(law_v, flops_per_param_token=k).loss(at)[:, 0]
    speed = speedup_from_losses(base.loss(at)[:, 0], loss_v, base.E[:, 0], base.gamma[:, 0])
    return _estimate(speed, reps, confidence)
