"""CI budget checks: a planned run, its limits, and a verdict per limit that respects the
forecast's uncertainty.

A plan names a model size N and either its tokens D or its budget C (C = k N D), optional
hardware, and limits. Deterministic limits (FLOPs, GPU-hours, dollars, days) pass or fail.
Forecast limits are judged on the interval at ``confidence``:

    max_loss          predicted L(N, D):             pass if high <= limit, fail if low > limit
    max_params_ratio  max(N / N*, N* / N) at C:      pass if high <= limit, fail if low > limit

and are *inconclusive* when the interval straddles the limit (without replicates, a
published law, the point value decides and the check says it had no interval).
``--fail-on inconclusive`` makes an inconclusive check fail the job.

Plan files are YAML (see configs/example_plan.yaml)::

    name: flagship-70b
    params: 70B
    tokens: 1.4T            # or: budget: 5.9e23  (or 2e5gpu-hours with hardware)
    hardware: {gpu: h100, gpus: 2048, mfu: 0.4, usd_per_gpu_hour: 2.2}
    limits: {max_flops: 6e23, max_gpu_hours: 2.5e5, max_usd: 1e6, max_days: 30,
             max_loss: 1.95, max_params_ratio: 2.0}
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_cli.errors import InputError, UsageError
from scaling_cli.law import optimal_allocation, predict_loss
from scaling_cli.forecast.answers import Estimate, cost_of, estimate
from scaling_cli.units import QuantityError, parse_number

if TYPE_CHECKING:
    from scaling_cli.forecast.costs import Hardware
    from scaling_cli.model import Model

__all__ = ["LIMITS", "CheckReport", "CheckResult", "Plan", "load_plan", "run_checks"]

LIMITS = {
    "max_flops": ("FLOPs", "training compute C = k N D"),
    "max_gpu_hours": ("GPU-hours", "GPU-hours on the plan's hardware"),
    "max_usd": ("dollars", "cost at the hardware's price per GPU-hour"),
    "max_days": ("days", "wall clock on the plan's GPU count"),
    "max_loss": ("nats/token", "predicted loss L(N, D)"),
    "max_params_ratio": ("ratio", "max(N / N*, N* / N): distance from the compute-optimal size"),
}
_PLAN_KEYS = ("name", "params", "tokens", "budget", "hardware", "limits")
_HARDWARE_KEYS = ("gpu", "gpus", "mfu", "peak_tflops", "usd_per_gpu_hour")


@dataclass(frozen=True)
class Plan:
    """A planned run: size, tokens or budget, hardware, limits."""

    name: str = ""
    params: float | None = None
    tokens: float | None = None
    budget: str | None = None  # as written (FLOPs, GPU-hours, days or dollars)
    hardware: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    source: str = "flags"

    def merged(self, flags: Plan) -> Plan:
        """This plan with every value set in ``flags`` taking precedence (flags over file)."""
        tokens, budget = self.tokens, self.budget
        if flags.tokens is not None or flags.budget is not None:
            tokens, budget = flags.tokens, flags.budget
        return replace(
            self, name=flags.name or self.name,
            params=self.params if flags.params is None else flags.params,
            tokens=tokens, budget=budget, hardware={**self.hardware, **flags.hardware},
            limits={**self.limits, **flags.limits})


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
    plan: Plan
    params: float
    tokens: float
    compute_flops: float
    confidence: float
    checks: tuple[CheckResult, ...]

    def failed(self, fail_on: str) -> bool:
        bad = {"fail"} if fail_on == "fail" else {"fail", "inconclusive"}
        return any(c.verdict in bad for c in self.checks)


# --------------------------------------------------------------------------- plans


def _unknown(where: str, key: str, allowed: tuple[str, ...]) -> InputError:
    hint = difflib.get_close_matches(key, allowed, n=1)
    fix = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(allowed)}"
    return InputError(f"{where}: unknown key {key!r}; {fix}")


def _num(where: str, key: str, value: object) -> float:
    try:
        return parse_number(value)
    except QuantityError as exc:
        raise InputError(f"{where}: {key!r}: {exc.problem}") from None


def load_plan(text: str, name: str) -> Plan:
    """Parse and validate a plan file's text (YAML); errors name the file and the key."""
    from scaling_cli.read.yamlsafe import load_yaml_documents

    docs = [d for d in load_yaml_documents(text, name) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], Mapping):
        raise InputError(f"{name}: a plan file holds one mapping with params, tokens or "
                         "budget, and limits (see configs/example_plan.yaml)")
    doc = docs[0]
    for key in doc:
        if key not in _PLAN_KEYS:
            raise _unknown(name, str(key), _PLAN_KEYS)
    hardware = doc.get("hardware") or {}
    limits = doc.get("limits") or {}
    if not isinstance(hardware, Mapping) or not isinstance(limits, Mapping):
        raise InputError(f"{name}: 'hardware' and 'limits' must be mappings")
    for key in hardware:
        if key not in _HARDWARE_KEYS:
            raise _unknown(f"{name}: hardware", str(key), _HARDWARE_KEYS)
    for key in limits:
        if key not in LIMITS:
            raise _unknown(f"{name}: limits", str(key), tuple(LIMITS))
    return Plan(
        name=str(doc.get("name", name)),
        params=None if doc.get("params") is None else _num(name, "params", doc["params"]),
        tokens=None if doc.get("tokens") is None else _num(name, "tokens", doc["tokens"]),
        budget=None if doc.get("budget") is None else str(doc["budget"]),
        hardware=dict(hardware),
        limits={str(k): _num(f"{name}: limits", str(k), v) for k, v in limits.items()},
        source=name,
    )


def plan_hardware(plan: Plan) -> Hardware | None:
    """The plan's hardware (None if it names none)."""
    hw = plan.hardware
    if not hw.get("gpu") and hw.get("peak_tflops") is None:
        return None
    from scaling_cli.forecast.costs import make_hardware

    where = f"{plan.source}: hardware"
    gpus = None if hw.get("gpus") is None else _num(where, "gpus", hw["gpus"])
    if gpus is not None and gpus != int(gpus):
        raise InputError(f"{where}: 'gpus' must be a whole number, got {hw['gpus']!r}")
    return make_hardware(
        None if hw.get("gpu") is None else str(hw["gpu"]),
        peak_tflops=None if hw.get("peak_tflops") is None
        else _num(where, "peak_tflops", hw["peak_tflops"]),
        usd_per_gpu_hour=None if hw.get("usd_per_gpu_hour") is None
        else _num(where, "usd_per_gpu_hour", hw["usd_per_gpu_hour"]),
        mfu=0.4 if hw.get("mfu") is None else _num(where, "mfu", hw["mfu"]),
        gpus=None if gpus is None else int(gpus), where=where,
    )


# --------------------------------------------------------------------------- verdicts


def _verdict(est: Estimate, limit: float) -> tuple[str, str]:
    if est.low is None or est.high is None:
        return ("pass" if est.value <= limit else "fail",
                "point value only (no bootstrap replicates)")
    if est.high <= limit:
        return "pass", ""
    if est.low > limit:
        return "fail", ""
    return "inconclusive", "the interval straddles the limit"


def _exact(name: str, value: float, limit: float) -> CheckResult:
    units, what = LIMITS[name]
    return CheckResult(name, what, units, value, None, None, limit,
                       "pass" if value <= limit else "fail")


def run_checks(model: Model, plan: Plan, confidence: float) -> CheckReport:
    """Judge every limit of ``plan`` against ``model``'s forecast at ``confidence``."""
    if plan.params is None:
        raise UsageError(f"{plan.source}: the plan needs the model size: params: 70B "
                         "(or --params)")
    if (plan.tokens is None) == (plan.budget is None):
        raise UsageError(f"{plan.source}: give exactly one of tokens (e.g. 1.4T) or budget "
                         "(e.g. 6e23 FLOPs or 2e5gpu-hours)")
    if not plan.limits:
        raise UsageError(f"{plan.source}: no limits to check; add limits: (max_flops, "
                         "max_gpu_hours, max_usd, max_days, max_loss, max_params_ratio)")
    hardware = plan_hardware(plan)
    k = model.flops_per_param_token
    n = plan.params
    if plan.budget is not None:
        from scaling_cli.forecast.costs import parse_budget

        compute = parse_budget(plan.budget, hardware).compute_flops
        tokens = compute / (k * n)
    else:
        assert plan.tokens is not None
        tokens, compute = plan.tokens, k * n * plan.tokens
    checks = []
    for name, limit in plan.limits.items():
        if name == "max_flops":
            checks.append(_exact(name, compute, limit))
        elif name in {"max_gpu_hours", "max_usd", "max_days"}:
            checks.append(_cost_check(name, compute, limit, hardware, plan.source))
        elif name == "max_loss":
            checks.append(_loss_check(model, n, tokens, limit, confidence))
        else:
            checks.append(_ratio_check(model, n, compute, limit, confidence))
    return CheckReport(plan, n, tokens, compute, confidence, tuple(checks))


def _cost_check(name: str, compute: float, limit: float, hardware: Hardware | None,
                source: str) -> CheckResult:
    cost = cost_of(compute, hardware)
    field_name = {"max_gpu_hours": "gpu_hours", "max_usd": "usd", "max_days": "days"}[name]
    value = None if cost is None else getattr(cost, field_name)
    if value is None:
        need = {"max_gpu_hours": "hardware: gpu", "max_usd": "hardware: usd_per_gpu_hour "
                "(or a preset with a price)", "max_days": "hardware: gpus"}[name]
        raise UsageError(f"{source}: limit {name} needs {need} (or the matching --gpu, --gpus, "
                         "--usd-per-gpu-hour flag)")
    return _exact(name, float(value), limit)


def _loss_check(model: Model, n: float, d: float, limit: float,
                confidence: float) -> CheckResult:
    point = float(predict_loss(model.law, n, d))
    samples = model.sample_law
    reps = None if samples is None else predict_loss(samples, n, d)
    est = estimate(point, reps, confidence)
    verdict, note = _verdict(est, limit)
    units, what = LIMITS["max_loss"]
    return CheckResult("max_loss", what, units, est.value, est.low, est.high, limit, verdict,
                       note)


def _ratio_check(model: Model, n: float, compute: float, limit: float,
                 confidence: float) -> CheckResult:
    k = model.flops_per_param_token

    def ratio(law: Any) -> Any:
        n_star = optimal_allocation(law, compute, flops_per_param_token=k).params
        return np.maximum(n / n_star, n_star / n)
    samples = model.sample_law
    est = estimate(float(ratio(model.law)), None if samples is None else ratio(samples),
                   confidence)
    verdict, note = _verdict(est, limit)
    units, what = LIMITS["max_params_ratio"]
    return CheckResult("max_params_ratio", what, units, est.value, est.low, est.high, limit,
                       verdict, note)
