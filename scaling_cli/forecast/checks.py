"""CI budget checks: a planned run, its limits, and a verdict per limit that respects the
forecast's uncertainty.

A plan (:class:`~scaling_cli.read.planfile.Plan`) names a model size N and either its tokens
D or its budget C (C = k N D), optional hardware, and limits. Deterministic limits (FLOPs,
GPU-hours, dollars, days) pass or fail. Forecast limits are judged on the interval at
``confidence``:

    max_loss          predicted L(N, D):             pass if high <= limit, fail if low > limit
    max_params_ratio  max(N / N*, N* / N) at C:      pass if high <= limit, fail if low > limit

and are *inconclusive* when the interval straddles the limit (without replicates, a
published law, the point value decides and the check says it had no interval).
``fail_on="inconclusive"`` makes an inconclusive check fail the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from scaling_cli.errors import UsageError
from scaling_cli.forecast.costs import cost_of
from scaling_cli.forecast.extrapolation import FittedRange, Reach, reach
from scaling_cli.forecast.intervals import Estimate, Paired
from scaling_cli.law import optimal_allocation, predict_loss
from scaling_cli.model import Model
from scaling_cli.read.hardware import Hardware, parse_budget
from scaling_cli.read.planfile import LIMITS, Plan

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


def _verdict(est: Estimate, limit: float) -> tuple[str, str]:
    if est.low is None or est.high is None:
        return ("pass" if est.value <= limit else "fail",
                "point value only (no bootstrap replicates)")
    if est.high <= limit:
        return "pass", ""
    if est.low > limit:
        return "fail", ""
    return "inconclusive", "the interval straddles the limit"


def _exact(name: str, value: float, limit: float, note: str = "") -> CheckResult:
    units, what = LIMITS[name]
    return CheckResult(name, what, units, value, None, None, limit,
                       "pass" if value <= limit else "fail", note)


def _judged(name: str, est: Estimate, limit: float) -> CheckResult:
    units, what = LIMITS[name]
    verdict, note = _verdict(est, limit)
    return CheckResult(name, what, units, est.value, est.low, est.high, limit, verdict, note)


def check_plan(model: Model, plan: Plan, *, confidence: float = 0.95,
               fail_on: str = "fail") -> CheckReport:
    """Judge every limit of ``plan`` against ``model``'s forecast at ``confidence``."""
    if fail_on not in FAIL_ON:
        raise UsageError(f"{fail_on!r}: use fail or inconclusive", field="fail_on")
    if plan.params is None:
        raise UsageError(f"{plan.source}: the plan needs the model size: params: 70B "
                         "(or `params`)")
    if (plan.tokens is None) == (plan.budget is None):
        raise UsageError(f"{plan.source}: give exactly one of tokens (e.g. 1.4T) or budget "
                         "(e.g. 6e23 FLOPs or 2e5gpu-hours)")
    if not plan.limits:
        raise UsageError(f"{plan.source}: no limits to check; add limits: (max_flops, "
                         "max_gpu_hours, max_usd, max_days, max_loss, max_params_ratio)")
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
    checks = []
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
            pick = Paired(model.law, model.sample_law, lambda law, _: SimpleNamespace(
                loss=predict_loss(law, n, tokens)), [0.0], confidence)
            checks.append(_judged(name, pick("loss", 0), limit))
        else:
            pick = Paired(model.law, model.sample_law, lambda law, _: SimpleNamespace(
                ratio=_size_ratio(law, n, compute, k)), [0.0], confidence)
            checks.append(_judged(name, pick("ratio", 0), limit))
    where = reach(FittedRange.of(model.inputs, model.runs), compute_flops=compute, params=n,
                  tokens=tokens, what=f"plan {plan.name or plan.source!r}")
    warnings = tuple(dict.fromkeys([*model.warnings, *(where.warnings if where else ())]))
    return CheckReport(model, plan, n, tokens, compute, hardware, confidence, fail_on,
                       tuple(checks), where, warnings)


def _size_ratio(law: object, n: float, compute: float, k: float) -> np.ndarray:
    n_star = optimal_allocation(law, compute, flops_per_param_token=k).params  # type: ignore[arg-type]
    return np.maximum(n / n_star, n_star / n)
