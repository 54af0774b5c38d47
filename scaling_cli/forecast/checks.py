"""CI budget checks: a planned run, its limits, and a verdict per limit that respects the
forecast's uncertainty.

A plan (:class:`~scaling_cli.read.planfile.Plan`) names a model size N and either its tokens
D or its budget C (C = k N D), optional hardware, and limits. Deterministic limits (FLOPs,
GPU-hours, dollars, days) pass or fail. Forecast limits are judged on the interval at
``confidence``:

    max_loss          predicted L(N, D):             pass if high <= limit, fail if low > limit
                      (its total interval: the run's loss, form error beyond the runs incl.)
    max_params_ratio  max(N / N*, N* / N) at C:      pass if high <= limit, fail if low > limit
    min_compute_multiplier  k(C) of a variant recipe (L_variant(C) = L_baseline(k C), from a
                      joint fit of both ladders):  pass if low >= limit, fail if high < limit
    max_hparam_ratio  max(planned / recommended, recommended / planned) for the plan's lr and
                      batch_tokens at its (N, D), one check each (a hyperparameter law)

and are *inconclusive* when the interval straddles the limit (without replicates, a
published law, the point value decides and the check says it had no interval).
``fail_on="inconclusive"`` makes an inconclusive check fail the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from scaling_cli.errors import UsageError
from scaling_cli.forecast.answers import over_training_notes, predict
from scaling_cli.forecast.costs import cost_of
from scaling_cli.forecast.extrapolation import FittedRange, Reach, reach
from scaling_cli.forecast.intervals import Estimate, Paired
from scaling_cli.law import optimal_allocation
from scaling_cli.model import Model
from scaling_cli.read.hardware import Hardware, parse_budget
from scaling_cli.read.planfile import LIMITS, MIN_LIMITS, Plan

if TYPE_CHECKING:
    from scaling_cli.fit.hparams import HparamFit
    from scaling_cli.fit.ladders import JointFit
    from scaling_cli.forecast.hparams import HparamPreset

__all__ = ["FAIL_ON", "CheckReport", "CheckResult", "check_plan"]

FAIL_ON = ("fail", "inconclusive")
_COST_FIELDS = {"max_gpu_hours": "gpu_hours", "max_usd": "usd", "max_days": "days"}
_COST_NEEDS = {"max_gpu_hours": "gpu", "max_usd": "usd_per_gpu_hour", "max_days": "gpus"}


@dataclass(frozen=True)
class CheckResult:
    limit_name: str
    quantity: str
    units: str
    value: float
    low: float | None
    high: float | None
    limit: float
    verdict: str  # "pass", "fail" or "inconclusive"
    note: str = ""


@dataclass(frozen=True)
class CheckReport:
    """Every limit's verdict for one plan, with the forecast's reach and warnings."""

    model: Model
    plan: Plan
    params: float
    tokens: float
    compute_flops: float
    hardware: Hardware | None
    confidence: float
    fail_on: str
    checks: tuple[CheckResult, ...]
    reach: Reach | None
    warnings: tuple[str, ...]

    @property
    def failed(self) -> bool:
        """Whether the job should fail: a failed check (or an inconclusive one when
        ``fail_on`` is "inconclusive")."""
        bad = {"fail"} if self.fail_on == "fail" else {"fail", "inconclusive"}
        return any(c.verdict in bad for c in self.checks)

    @property
    def not_passed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.verdict != "pass")


def _verdict(est: Estimate, limit: float, *, lower: bool = False) -> tuple[str, str]:
    """An upper limit (the value must stay at or below it), or with ``lower`` a lower one."""
    sign = -1.0 if lower else 1.0
    if est.low is None or est.high is None:
        return ("pass" if sign * est.value <= sign * limit else "fail",
                "point value only (no bootstrap replicates)")
    best, worst = (est.high, est.low) if lower else (est.low, est.high)
    if sign * worst <= sign * limit:
        return "pass", ""
    if sign * best > sign * limit:
        return "fail", ""
    return "inconclusive", "the interval straddles the limit"


def _exact(name: str, value: float, limit: float, note: str = "") -> CheckResult:
    units, what = LIMITS[name]
    return CheckResult(name, what, units, value, None, None, limit,
                       "pass" if value <= limit else "fail", note)


def _judged(name: str, est: Estimate, limit: float) -> CheckResult:
    units, what = LIMITS[name]
    verdict, note = _verdict(est, limit, lower=name in MIN_LIMITS)
    return CheckResult(name, what, units, est.value, est.low, est.high, limit, verdict, note)


def check_plan(model: Model, plan: Plan, *, confidence: float = 0.95, fail_on: str = "fail",
               recipes: JointFit | None = None,
               hparams: HparamFit | HparamPreset | None = None) -> CheckReport:
    """Judge every limit of ``plan`` against ``model``'s forecast at ``confidence``.

    ``recipes`` (a joint fit of the baseline and a variant ladder) is needed for
    ``min_compute_multiplier``; ``hparams`` (a fitted or published hyperparameter law) for
    ``max_hparam_ratio``."""
    if fail_on not in FAIL_ON:
        raise UsageError(f"{fail_on!r}: use fail or inconclusive", field="fail_on")
    if plan.params is None:
        raise UsageError(f"{plan.source}: the plan needs the model size: params: 70B "
                         "(or `params`)")
    if (plan.tokens is None) == (plan.budget is None):
        raise UsageError(f"{plan.source}: give exactly one of tokens (e.g. 1.4T) or budget "
                         "(e.g. 6e23 FLOPs or 2e5gpu-hours)")
    if not plan.limits:
        raise UsageError(f"{plan.source}: no limits to check; add limits: ("
                         f"{', '.join(LIMITS)})")
    hardware = plan.hardware.resolve()
    k = model.flops_per_param_token
    n = plan.params
    if plan.budget is not None:
        compute = parse_budget(plan.budget, hardware).compute_flops
        tokens = compute / (k * n)
    else:
        tokens = float(plan.tokens)  # type: ignore[arg-type]  # exactly one is set (above)
        compute = k * n * tokens
    mfu_note = "" if hardware is None else f"at MFU {hardware.mfu:g}"
    cost = cost_of(compute, hardware)
    where = reach(FittedRange.of(model.inputs, model.runs), compute_flops=compute, params=n,
                  tokens=tokens, what=f"plan {plan.name or plan.source!r}")
    checks = []
    extra: list[str] = []  # the joint fit's and the hyperparameter law's own warnings
    for name, limit in plan.limits.items():
        if name == "max_flops":
            checks.append(_exact(name, compute, limit))
        elif name in _COST_FIELDS:
            value = None if cost is None else getattr(cost, _COST_FIELDS[name])
            if value is None:
                key = _COST_NEEDS[name]
                raise UsageError(f"{plan.source}: limit {name} needs hardware: {key} in the "
                                 f"plan (or `hardware.{key}`)")
            checks.append(_exact(name, float(value), limit, mfu_note))
        elif name == "max_loss":
            # The loss the planned run will reach: judged on the total interval (the form's
            # error at the plan's reach beyond the runs, a run's scatter, the other form).
            est = predict(model, [n], [tokens], confidence=confidence).rows[0].loss
            if est.total_low is not None and est.total_high is not None:
                est = Estimate(est.value, est.total_low, est.total_high)
            checks.append(_judged(name, est, limit))
            extra += over_training_notes(model, where, f"plan {plan.name or plan.source!r}")
        elif name == "max_params_ratio":
            pick = Paired(model.law, model.sample_law, lambda law, _: SimpleNamespace(
                ratio=_size_ratio(law, n, compute, k)), [0.0], confidence)
            checks.append(_judged(name, pick("ratio", 0), limit))
        elif name == "min_compute_multiplier":
            check, notes = _multiplier_check(plan, recipes, compute, limit, confidence)
            checks.append(check)
            extra += notes
        else:
            more, notes = _hparam_checks(plan, hparams, n, tokens, limit, confidence)
            checks += more
            extra += notes
    warnings = tuple(dict.fromkeys([*model.warnings, *(where.warnings if where else ()),
                                    *extra]))
    return CheckReport(model, plan, n, tokens, compute, hardware, confidence, fail_on,
                       tuple(checks), where, warnings)


def _size_ratio(law: object, n: float, compute: float, k: float) -> np.ndarray:
    n_star = optimal_allocation(law, compute, flops_per_param_token=k).params  # type: ignore[arg-type]
    return np.maximum(n / n_star, n_star / n)


def _multiplier_check(plan: Plan, recipes: JointFit | None, compute: float, limit: float,
                      confidence: float) -> tuple[CheckResult, tuple[str, ...]]:
    """k(C) at the plan's compute from the joint fit's paired replicates (+inf ranked high)."""
    from scaling_cli.forecast.recipes import compare_recipes

    if recipes is None:
        raise UsageError(f"{plan.source}: limit min_compute_multiplier needs the variant "
                         "recipe's runs (`variant_runs`) beside the baseline's")
    comparison = compare_recipes(recipes, [compute], confidence=confidence)
    return (_judged("min_compute_multiplier", comparison.rows[0].multiplier, limit),
            tuple(f"compute multiplier: {w}" for w in comparison.warnings))


def _hparam_checks(plan: Plan, source: HparamFit | HparamPreset | None, n: float,
                   tokens: float, limit: float,
                   confidence: float) -> tuple[list[CheckResult], tuple[str, ...]]:
    """The plan's lr and batch_tokens against the law's at the plan's own N and D."""
    from scaling_cli.forecast.hparams import check_hparams, recommend_hparams

    if source is None:
        raise UsageError(f"{plan.source}: limit max_hparam_ratio needs a hyperparameter law "
                         "(`hparams`: a published one such as step-law-2025, or a sweep)")
    if plan.lr is None and plan.batch_tokens is None:
        raise UsageError(f"{plan.source}: limit max_hparam_ratio needs the planned lr or "
                         "batch_tokens (or both), e.g. lr: 3e-4 and batch_tokens: 4M")
    advice = recommend_hparams(source, n, tokens, confidence=confidence)
    units, _ = LIMITS["max_hparam_ratio"]
    out = []
    for c in check_hparams(advice, lr=plan.lr, batch_tokens=plan.batch_tokens, factor=limit):
        what = "peak learning rate" if c.quantity == "lr" else "batch size (tokens)"
        note = f"{c.quantity} {c.planned:.4g} vs {advice.source}'s {c.recommended.value:.4g}"
        out.append(CheckResult("max_hparam_ratio", f"{what}: max(planned / recommended, "
                               "recommended / planned)", units, c.ratio.value, c.ratio.low,
                               c.ratio.high, limit, c.verdict,
                               "; ".join(x for x in (note, c.note) if x)))
    return out, tuple(f"hyperparameters: {w}" for w in advice.warnings)

