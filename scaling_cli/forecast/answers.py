"""Planning answers from a :class:`~scaling_cli.model.Model`, each with its interval, its reach
beyond the data and its warnings.

Every answer is one evaluation on the stacked law (point law in row 0, bootstrap replicate
laws below; :class:`~scaling_cli.forecast.intervals.Paired`): row 0 is the value, the
percentile interval of the rest is the interval. A model without replicates (a published
preset) gives values with no interval. The mathematics lives in :mod:`scaling_cli.law`,
:mod:`~scaling_cli.forecast.band`, :mod:`~scaling_cli.forecast.sizing` and
:mod:`~scaling_cli.forecast.data_limits`; this module pairs, packages and decides warnings:

- :func:`optimal`: N*, D*, D*/N*, loss at budgets, the near-optimal band, optionally under
  a unique-data limit (Muennighoff et al. 2023), with costs;
- :func:`fixed_size`: a model size fixed in advance (over-training): tokens, loss, and the
  loss and compute penalties versus the compute-optimal choice;
- :func:`target`: the least compute reaching a loss, optionally inference-aware
  (Sardana & Frankle 2024);
- :func:`predict`: the expected loss at given (N, D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import UsageError
from scaling_cli.forecast.costs import Cost, cost_of
from scaling_cli.forecast.extrapolation import FittedRange, Reach, reach
from scaling_cli.forecast.intervals import Estimate, Paired, law_estimates
from scaling_cli.law import (
    Law,
    effective_tokens,
    optimal_allocation,
    predict_loss,
)
from scaling_cli.model import Model, RunData
from scaling_cli.read.hardware import Budget, Hardware, flops_budget
from scaling_cli.units import format_factor, format_flops

Array = npt.NDArray[np.float64]

__all__ = [
    "Band",
    "BudgetForecast",
    "DataLimit",
    "FixedSizeForecast",
    "FixedSizeRow",
    "InferencePlan",
    "LossPrediction",
    "OptimalForecast",
    "PredictionForecast",
    "TargetForecast",
    "TargetRow",
    "fixed_size",
    "law_estimates",
    "optimal",
    "over_corrected",
    "over_training_notes",
    "predict",
    "predict_runs",
    "target",
]


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

    ``reach``: how far N*, D* and C lie beyond the fitted runs. ``params_spread`` is the N*
    interval's high/low ratio here and ``params_spread_at_data`` the same ratio at the
    largest run's compute, so the widening from extrapolating is explicit.
    """

    budget: Budget
    params: Estimate
    tokens: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    reach: Reach | None = None
    params_spread_at_data: float | None = None
    band: Band | None = None
    data: DataLimit | None = None
    cost: Cost | None = None

    @property
    def compute_flops(self) -> float:
        return self.budget.compute_flops

    @property
    def params_spread(self) -> float | None:
        return self.params.spread


@dataclass(frozen=True)
class OptimalForecast:
    """``optimal``: one row per budget, the model it came from, and every warning."""

    model: Model
    confidence: float
    rows: tuple[BudgetForecast, ...]
    hardware: Hardware | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class FixedSizeRow:
    """A model size chosen in advance, trained on the whole budget."""

    budget: Budget
    params: float
    tokens: float
    loss: Estimate
    params_optimal: Estimate
    loss_optimal: Estimate
    loss_penalty: Estimate  # nats/token above the compute-optimal loss
    compute_equivalent_flops: Estimate  # least compute reaching the same loss
    compute_penalty: Estimate  # C / C_equivalent - 1: the share of the budget wasted
    reach: Reach | None = None
    cost: Cost | None = None

    @property
    def compute_flops(self) -> float:
        return self.budget.compute_flops


@dataclass(frozen=True)
class FixedSizeForecast:
    model: Model
    confidence: float
    rows: tuple[FixedSizeRow, ...]
    hardware: Hardware | None
    warnings: tuple[str, ...]


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
class TargetRow:
    """The least compute that reaches ``loss``, and its allocation."""

    loss: float
    reachable: bool  # by the point law (loss above its E)
    unreachable_fraction: float | None  # share of replicate laws for which it is not
    compute_flops: Estimate
    params: Estimate
    tokens: Estimate
    inference: InferencePlan | None = None
    reach: Reach | None = None
    cost: Cost | None = None


@dataclass(frozen=True)
class TargetForecast:
    model: Model
    confidence: float
    rows: tuple[TargetRow, ...]
    hardware: Hardware | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class LossPrediction:
    params: float
    tokens: float
    compute_flops: float  # k N D
    loss: Estimate
    reach: Reach | None = None
    unique_tokens: float | None = None  # distinct tokens in D (repeated data), if given


@dataclass(frozen=True)
class PredictionForecast:
    model: Model
    confidence: float
    rows: tuple[LossPrediction, ...]
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------- helpers

OVER_NOTE = 0.005  # an over-training correction of 0.5% of the loss or more is said


def _as_budgets(budgets: Sequence[float | Budget]) -> list[Budget]:
    out = []
    for b in budgets:
        if isinstance(b, Budget):
            out.append(b)
        else:
            out.append(flops_budget(b))
    if not out:
        raise UsageError("give at least one budget, e.g. 1e24", field="budget")
    return out


def _paired(model: Model, fn: object, inputs: Sequence[float], confidence: float) -> Paired:
    return Paired(model.law, model.sample_law, fn, inputs, confidence)  # type: ignore[arg-type]


def _decades(factor: float) -> float:
    return abs(math.log10(factor)) if factor > 0 and math.isfinite(factor) else 0.0


def _total_sd(model: Model, reach: Reach | None, *, run_noise: bool = True) -> float | None:
    """The log-scale sd the bootstrap cannot see at this reach: the form's error beyond the
    runs and (for the loss a run will reach) one run's scatter. None for a published law."""
    error = model.form_error
    if error is None or reach is None:
        return None
    return error.total_sd(_decades(reach.compute_flops), _decades(reach.tokens_per_param),
                          _decades(reach.params), _decades(reach.epochs), run_noise=run_noise)


def _total(est: Estimate, model: Model, reach: Reach | None, confidence: float,
           alternative: float | None = None) -> Estimate:
    """The estimate with its total interval: widened by the form's error and the run's
    scatter, and stretched to include the other plausible form's answer."""
    sd = _total_sd(model, reach)
    out = est if sd is None else est.scaled(_over_factor(model, reach)).widened(sd, confidence)
    return out if alternative is None else out.including(alternative)


def _over_factor(model: Model, reach: Reach | None) -> float:
    """What a loss forecast at ``reach`` is multiplied by for the form's measured bias
    above the fitted tokens per parameter (1 inside or below them, or without evidence)."""
    error = model.form_error
    if error is None or reach is None or not reach.tokens_per_param > 1:
        return 1.0
    return error.over_correction(math.log10(reach.tokens_per_param))


def over_corrected(model: Model, reach: Reach | None) -> bool:
    """Whether a loss forecast at ``reach`` was corrected for over-training by at least
    ``OVER_NOTE`` of it (the size a forecast's note is said from)."""
    return abs(_over_factor(model, reach) - 1.0) >= OVER_NOTE


def over_training_notes(model: Model, reach: Reach | None, what: str) -> list[str]:
    """The forecast's note that its loss was corrected for over-training, when by at least
    ``OVER_NOTE`` of it (:func:`over_corrected`)."""
    if reach is None or model.form_error is None or not over_corrected(model, reach):
        return []
    factor = _over_factor(model, reach)
    bias = model.form_error.over_bias_per_decade
    return [f"{what}: loss {'raised' if factor > 1 else 'lowered'} {abs(factor - 1):.1%} for "
            f"{format_factor(reach.tokens_per_param)} the most tokens/param of any fitted run:"
            f" the ladder's held-out over-trained runs came out {abs(bias):.1%} per decade "
            f"{'worse' if bias > 0 else 'better'} than the law"]


def _alternative(model: Model) -> Law | None:
    return None if model.form is None else model.form.alternative_law


def _collect(model: Model, *groups: Sequence[str]) -> tuple[str, ...]:
    """The model's warnings, then each forecast's, without repeats, in order."""
    return tuple(dict.fromkeys([*model.warnings, *(w for g in groups for w in g)]))


# --------------------------------------------------------------------------- answers


def optimal(
    model: Model, budgets: Sequence[float | Budget], *, confidence: float = 0.95,
    band: float | None = None, unique_tokens: float | None = None,
    hardware: Hardware | None = None,
) -> OptimalForecast:
    """N*, D*, D*/N* and L(N*, D*) at each budget, with intervals.

    ``band`` adds the near-optimal band (a tolerance such as 0.005); ``unique_tokens``
    plans under that data limit (the allocation then minimises L(N', D')); ``hardware``
    adds costs.
    """
    given = _as_budgets(budgets)
    flops = [b.compute_flops for b in given]
    k = model.flops_per_param_token

    def allocate(law: Law, x: Array) -> Any:
        if unique_tokens is None:
            return optimal_allocation(law, x, flops_per_param_token=k)
        from scaling_cli.forecast.data_limits import data_constrained

        return data_constrained(law, x, unique_tokens, flops_per_param_token=k)

    pick = _paired(model, allocate, flops, confidence)
    bands = None
    if band is not None and unique_tokens is None:
        from scaling_cli.forecast.band import near_optimal_band

        bands = _paired(model, lambda law, x: near_optimal_band(
            law, x, tolerance=band, flops_per_param_token=k), flops, confidence)
    fitted = FittedRange.of(model.inputs, model.runs)
    at_data = None
    if fitted is not None and model.sample_law is not None:
        ref = _paired(model, lambda law, x: optimal_allocation(law, x, flops_per_param_token=k),
                      [fitted.compute_flops[1]], confidence)
        at_data = ref("params", 0).spread
    alt = _alternative(model)
    second = None if alt is None else allocate(alt, np.asarray(flops))
    rows = []
    for j, budget in enumerate(given):
        params, tokens = pick("params", j), pick("tokens", j)
        ratio = pick.ratio("tokens", "params", j)
        limited = unique_tokens is not None
        where = reach(fitted, compute_flops=budget.compute_flops, params=params.value,
                      tokens=pick.value("effective_tokens", j) if limited else tokens.value,
                      epochs=pick.value("epochs", j) if limited else 1.0,
                      what=f"budget {format_flops(budget.compute_flops)} FLOPs (N*, D*)")
        if second is not None:
            params = params.including(float(second.params[j]))
            tokens = tokens.including(float(second.tokens[j]))
            ratio = ratio.including(float(second.tokens[j] / second.params[j]))
        rows.append(BudgetForecast(
            budget, params, tokens, ratio,
            _total(pick("loss", j), model, where, confidence,
                   None if second is None else float(second.loss[j])),
            reach=where,
            params_spread_at_data=at_data,
            band=None if bands is None else Band(
                float(band or 0), bands("params_smallest", j), bands("params_largest", j),
                bands("tokens_at_smallest", j), bands("tokens_at_largest", j)),
            data=None if unique_tokens is None else DataLimit(
                float(unique_tokens), bool(pick.value("data_limited", j)),
                pick("epochs", j), pick("effective_tokens", j), pick("loss_unlimited", j),
                pick("loss_chinchilla_repeated", j)),
            cost=cost_of(budget.compute_flops, hardware)))
    notes = [over_training_notes(model, r.reach, f"budget {format_flops(r.compute_flops)} "
                                 "FLOPs (N*, D*)") for r in rows]
    return OptimalForecast(model, confidence, tuple(rows), hardware,
                           _collect(model, *(_optimal_warnings(r) for r in rows), *notes))


def _optimal_warnings(row: BudgetForecast) -> list[str]:
    if row.reach is None:
        return []
    out = list(row.reach.warnings)
    if out and row.params_spread is not None and row.params_spread_at_data is not None:
        out.append(f"budget {format_flops(row.compute_flops)} FLOPs: the N* interval spans "
                   f"{format_factor(row.params_spread)} there vs "
                   f"{format_factor(row.params_spread_at_data)} at the "
                   "largest run")
    return out


def fixed_size(
    model: Model, budgets: Sequence[float | Budget], params: float, *,
    confidence: float = 0.95, hardware: Hardware | None = None,
) -> FixedSizeForecast:
    """A fixed model size on each budget: its loss and what it costs versus the optimum."""
    from scaling_cli.forecast import sizing

    given = _as_budgets(budgets)
    k = model.flops_per_param_token
    pick = _paired(model, lambda law, x: sizing.fixed_size(
        law, x, params, flops_per_param_token=k), [b.compute_flops for b in given], confidence)
    fitted = FittedRange.of(model.inputs, model.runs)
    alt = _alternative(model)
    rows = []
    for j, budget in enumerate(given):
        tokens = budget.compute_flops / (k * params)
        where = reach(fitted, compute_flops=budget.compute_flops, params=params, tokens=tokens,
                      what=f"budget {format_flops(budget.compute_flops)} FLOPs at the fixed size")
        best = pick("params_optimal", j)
        if alt is not None:
            best = best.including(float(optimal_allocation(
                alt, budget.compute_flops, flops_per_param_token=k).params))
        rows.append(FixedSizeRow(
            budget, float(params), float(tokens), _total(pick("loss", j), model, where,
                                                          confidence),
            best, pick("loss_optimal", j), pick("loss_penalty", j),
            pick("compute_equivalent_flops", j), pick("compute_penalty", j), where,
            cost_of(budget.compute_flops, hardware)))
    notes = [over_training_notes(model, r.reach, f"budget {format_flops(r.budget.compute_flops)}"
                                 " FLOPs at the fixed size") for r in rows]
    return FixedSizeForecast(model, confidence, tuple(rows), hardware, _collect(
        model, *(r.reach.warnings for r in rows if r.reach), *notes))


def target(
    model: Model, losses: Sequence[float], *, confidence: float = 0.95,
    inference_tokens: float | None = None, hardware: Hardware | None = None,
) -> TargetForecast:
    """Least compute (and its N*, D*) reaching each loss; with ``inference_tokens`` also the
    allocation minimising training + inference FLOPs for that loss."""
    from scaling_cli.forecast import sizing

    if not losses:
        raise UsageError("give at least one target loss, e.g. 2.1", field="loss")
    k = model.flops_per_param_token
    pick = _paired(model, lambda law, x: sizing.target_loss(
        law, x, flops_per_param_token=k), losses, confidence)
    inf = None
    if inference_tokens is not None:
        inf = _paired(model, lambda law, x: sizing.inference_aware(
            law, x, inference_tokens, flops_per_param_token=k), losses, confidence)
    fitted = FittedRange.of(model.inputs, model.runs)
    rows = []
    warnings: list[str] = []
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
        reachable = bool(pick.value("reachable", j))
        draws = pick.draws("reachable", j)
        params, tokens = pick("params", j, censored=True), pick("tokens", j, censored=True)
        alt = _alternative(model)
        if alt is not None and reachable:
            other = sizing.target_loss(alt, loss, flops_per_param_token=k)
            if bool(other.reachable):
                compute = compute.including(float(other.compute_flops))
                params = params.including(float(other.params))
                tokens = tokens.including(float(other.tokens))
        where = None
        if reachable:
            where = reach(fitted, compute_flops=compute.value, params=params.value,
                          tokens=tokens.value, what=f"target loss {loss:g} (N*, D*)")
            warnings += [] if where is None else where.warnings
        else:
            warnings.append(f"target loss {loss:g} is at or below the fitted irreducible loss "
                            f"E = {float(model.law.E):.4g}: no amount of compute reaches it")
        rows.append(TargetRow(
            float(loss), reachable, None if draws is None else float(1.0 - draws.mean()),
            compute, params, tokens, inference, where, cost_of(compute.value, hardware)))
    return TargetForecast(model, confidence, tuple(rows), hardware, _collect(model, warnings))


# Warn about excess parameters once Muennighoff et al. would value N this much below itself
# (1% is a few thousandths of loss; 10% is where the forecast's optimism begins to show).
EXCESS_PARAMS_WARNING = 0.10


def _excess_params(law: Law, params: float, tokens: float, unique: float | None) -> list[str]:
    """A warning when N exceeds what U unique tokens can feed (Muennighoff's N' < N)."""
    if unique is None:
        return []
    from scaling_cli.forecast.data_limits import effective_params

    worth = float(effective_params(law, params, tokens, unique))
    if not worth < params * (1 - EXCESS_PARAMS_WARNING):
        return []
    return [f"at N = {params:.3g} on {unique:.3g} unique tokens the parameters exceed what "
            f"the data can feed: Muennighoff et al. value them as {worth:.3g}, and the loss "
            "would be higher than this forecast, which values repeated tokens but not excess "
            "parameters (optimal --unique-tokens plans with both)"]


def predict(
    model: Model, params: Sequence[float], tokens: Sequence[float], *,
    confidence: float = 0.95, unique_tokens: Sequence[float | None] | None = None,
) -> PredictionForecast:
    """Expected loss L(N, D) of the fitted surface at each (N, D) pair, with intervals.

    The statistical interval is for the expected loss (the surface), not for one run's noise
    around it; the total interval adds the form's error and a run's scatter. Above the
    fitted runs' tokens per parameter the value and both intervals are multiplied by the
    over-training correction the ladder measured (:meth:`FormError.over_correction`), and a
    warning says so.
    ``unique_tokens`` (one per pair; None for fresh data): D tokens drawn from only U
    distinct ones are worth D' fresh ones (:func:`scaling_cli.law.effective_tokens`), the
    loss is L(N, D'): repeated data valued as the fit values its runs, and its reach counts
    the D/U epochs. Excess parameters (Muennighoff et al.'s N', which ``optimal
    --unique-tokens`` plans with) are not valued: a row where they would be says so in its
    warnings.
    """
    if not params or len(params) != len(tokens):
        raise UsageError("give model sizes and token counts in pairs, e.g. 70B and 1.4T",
                         field="params")
    unique = list(unique_tokens) if unique_tokens is not None else [None] * len(params)
    if len(unique) != len(params):
        raise UsageError("give one unique-token count per (N, D) pair", field="unique_tokens")
    n = np.array(params, dtype=float)
    d = np.array(tokens, dtype=float)
    u = np.array([np.nan if x is None else x for x in unique], dtype=float)
    epochs = np.where(np.isnan(u), 1.0, d / u)
    return _predictions(model, n, d, effective_tokens(d, u), epochs,
                        model.flops_per_param_token * n * d, unique, confidence)


def predict_runs(model: Model, runs: RunData, *, confidence: float = 0.95) -> PredictionForecast:
    """:func:`predict` at runs as a fit holds them (:class:`~scaling_cli.model.RunData`:
    tokens already valued as D', their own compute and epochs): a backtest's held-out runs.
    Each row shows the tokens the run saw (``tokens_read``)."""
    epochs = np.ones(len(runs)) if runs.epochs is None else np.nan_to_num(runs.epochs, nan=1.0)
    return _predictions(model, runs.params, runs.tokens_read, runs.tokens, epochs,
                        runs.compute_flops, [None] * len(runs), confidence)


def _predictions(model: Model, n: Array, d: Array, worth: Array, epochs: Array,
                 compute: Array, unique: Sequence[float | None],
                 confidence: float) -> PredictionForecast:
    """The rows of a prediction: L(N, worth) for the point law and every replicate, total
    intervals at each row's reach (N, worth/N, compute and epochs)."""
    pick = _paired(model, lambda law, _: SimpleNamespace(
        loss=predict_loss(law, n[None, :], worth[None, :])), range(n.size), confidence)
    fitted = FittedRange.of(model.inputs, model.runs)
    alt = _alternative(model)
    rows = []
    excess: list[str] = []
    for j in range(n.size):
        nj, dj = float(n[j]), float(d[j])
        where = reach(fitted, compute_flops=float(compute[j]), params=nj,
                      tokens=float(worth[j]), epochs=float(epochs[j]),
                      what=f"prediction at N = {nj:.3g}, D = {dj:.3g}")
        excess += _excess_params(model.law, nj, dj, unique[j])
        excess += over_training_notes(model, where, f"prediction at N = {nj:.3g}, D = {dj:.3g}")
        other = None if alt is None else float(predict_loss(alt, nj, worth[j]))
        rows.append(LossPrediction(nj, dj, float(compute[j]),
                                   _total(pick("loss", j), model, where, confidence, other),
                                   where, unique[j]))
    return PredictionForecast(model, confidence, tuple(rows),
                              _collect(model, *(r.reach.warnings for r in rows if r.reach),
                                       excess))
