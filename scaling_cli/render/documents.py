"""Answers -> JSON documents with a documented, stable schema (docs/json-schema.md).

Every document carries ``schema`` (what it is), ``schema_version`` (bumped only on
incompatible change), ``tool_version``, the law's source, the FLOP convention, the
inputs' count and hash, the fit's verification facts, the bootstrap's settings and the
answer's warnings (decided by the forecast stage; this module only writes them down).
A *fit document* (``scaling fit -o FILE``) also carries the bootstrap replicates, so later
commands (``--fit FILE``) answer any budget with intervals and without refitting; it is
read back by :mod:`scaling_cli.read.fitfile`.

Floats are written with ``repr`` (shortest round-trip form) and no NaN or infinity (null
instead): same inputs and seed give byte-identical documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from scaling_cli.forecast.answers import (
    FixedSizeForecast,
    OptimalForecast,
    PredictionForecast,
    TargetForecast,
    law_estimates,
)
from scaling_cli.forecast.backtest import Backtest, Fold
from scaling_cli.forecast.checks import CheckReport
from scaling_cli.forecast.compare import Comparison
from scaling_cli.forecast.costs import Cost
from scaling_cli.forecast.extrapolation import Reach
from scaling_cli.forecast.intervals import Estimate
from scaling_cli.model import FitSummary, Model
from scaling_cli.read.fitfile import REPLICATE_COLUMNS, SCHEMA_VERSION
from scaling_cli.read.hardware import Budget, Hardware
from scaling_cli.version import __version__

__all__ = [
    "UNITS",
    "backtest_document",
    "check_document",
    "compare_document",
    "dumps",
    "fit_document",
    "fixed_size_document",
    "optimal_document",
    "predict_document",
    "target_document",
]

UNITS = {
    "E": "nats/token",
    "A": "nats/token * parameters^alpha",
    "B": "nats/token * tokens^beta",
    "alpha": "dimensionless",
    "beta": "dimensionless",
    "compute_flops": "FLOPs",
    "params": "parameters",
    "tokens": "tokens",
    "tokens_per_param": "tokens/parameter",
    "loss": "nats/token",
}


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _estimate(e: Estimate, units: str) -> dict[str, Any]:
    return {"value": _clean(e.value), "low": _clean(e.low), "high": _clean(e.high),
            "units": units}


def _envelope(kind: str, model: Model, confidence: float | None) -> dict[str, Any]:
    k = model.flops_per_param_token
    doc: dict[str, Any] = {
        "schema": f"scaling-cli/{kind}",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "law_source": model.source,
        "convention": {"flops_per_param_token": k, "formula": f"C = {k:g} * N * D"},
    }
    if confidence is not None:
        doc["confidence"] = confidence
    doc["inputs"] = None if model.inputs is None else asdict(model.inputs)
    doc["fit"] = None if model.fit is None else _fit_section(model.fit)
    doc["bootstrap"] = None if model.boot is None else {
        **asdict(model.boot), "interval_method": "percentile"}
    return doc


def _fit_section(fit: FitSummary) -> dict[str, Any]:
    section = asdict(fit)
    section["condition_number"] = _clean(fit.condition_number)
    section["large_residuals"] = [{"id": rid, "log_residual": r}
                                  for rid, r in fit.large_residuals]
    return section


def _law(model: Model, confidence: float) -> dict[str, Any]:
    return {name: _estimate(e, UNITS[name])
            for name, e in law_estimates(model, confidence).items()}


def _hardware(hardware: Hardware | None) -> dict[str, Any] | None:
    if hardware is None:
        return None
    gpu = hardware.gpu
    return {"gpu": gpu.name, "title": gpu.title, "peak_tflops": gpu.peak_tflops,
            "mfu": hardware.mfu, "gpus": hardware.gpus,
            "usd_per_gpu_hour": gpu.usd_per_gpu_hour, "source": gpu.source,
            "price_note": gpu.price_note}


def _cost(cost: Cost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {"gpu_hours": _clean(cost.gpu_hours), "days": _clean(cost.days),
            "usd": _clean(cost.usd)}


def _given(budget: Budget) -> dict[str, Any]:
    return {"text": budget.text, "amount": budget.amount, "unit": budget.unit}


def _reach(reach: Reach | None) -> dict[str, Any] | None:
    if reach is None:
        return None
    return {"compute_flops": _clean(reach.compute_flops), "params": _clean(reach.params),
            "tokens_per_param": _clean(reach.tokens_per_param), "beyond": reach.beyond}


def _finish(doc: dict[str, Any], warnings: Sequence[str]) -> dict[str, Any]:
    doc["warnings"] = list(warnings)
    return doc


def optimal_document(forecast: OptimalForecast) -> dict[str, Any]:
    """``scaling optimal``: N*, D*, loss (and band, data limit, costs) per budget."""
    model, level = forecast.model, forecast.confidence
    doc = _envelope("optimal", model, level)
    doc["hardware"] = _hardware(forecast.hardware)
    doc["law"] = _law(model, level)
    largest = None if model.inputs is None else model.inputs.compute_flops_max
    doc["budgets"] = []
    for f in forecast.rows:
        doc["budgets"].append({
            "compute_flops": f.compute_flops,
            "budget_given": _given(f.budget),
            **{name: _estimate(getattr(f, name), UNITS[name])
               for name in ("params", "tokens", "tokens_per_param", "loss")},
            "extrapolation": None if largest is None else _clean(f.compute_flops / largest),
            "reach": _reach(f.reach),
            "params_spread": _clean(f.params_spread),
            "params_spread_at_data": _clean(f.params_spread_at_data),
            "band": None if f.band is None else {
                "tolerance": f.band.tolerance,
                "params_smallest": _estimate(f.band.params_smallest, UNITS["params"]),
                "params_largest": _estimate(f.band.params_largest, UNITS["params"]),
                "tokens_at_smallest": _estimate(f.band.tokens_at_smallest, UNITS["tokens"]),
                "tokens_at_largest": _estimate(f.band.tokens_at_largest, UNITS["tokens"]),
            },
            "data_constrained": None if f.data is None else {
                "unique_tokens": f.data.unique_tokens,
                "data_limited": f.data.data_limited,
                "epochs": _estimate(f.data.epochs, "epochs"),
                "effective_tokens": _estimate(f.data.effective_tokens, UNITS["tokens"]),
                "loss_unlimited": _estimate(f.data.loss_unlimited, UNITS["loss"]),
                "loss_ignoring_limit": _estimate(f.data.loss_ignoring_limit, UNITS["loss"]),
            },
            "cost": _cost(f.cost),
        })
    return _finish(doc, forecast.warnings)


def fixed_size_document(forecast: FixedSizeForecast) -> dict[str, Any]:
    """``scaling optimal --params N``: a size fixed in advance, against the optimum."""
    model, level = forecast.model, forecast.confidence
    doc = _envelope("fixed-size", model, level)
    doc["hardware"] = _hardware(forecast.hardware)
    doc["law"] = _law(model, level)
    doc["budgets"] = [
        {
            "compute_flops": f.compute_flops,
            "budget_given": _given(f.budget),
            "params": f.params, "tokens": f.tokens, "tokens_per_param": f.tokens / f.params,
            "loss": _estimate(f.loss, UNITS["loss"]),
            "params_optimal": _estimate(f.params_optimal, UNITS["params"]),
            "loss_optimal": _estimate(f.loss_optimal, UNITS["loss"]),
            "loss_penalty": _estimate(f.loss_penalty, UNITS["loss"]),
            "compute_equivalent_flops": _estimate(f.compute_equivalent_flops, "FLOPs"),
            "compute_penalty": _estimate(f.compute_penalty, "fraction of the budget"),
            "reach": _reach(f.reach),
            "cost": _cost(f.cost),
        }
        for f in forecast.rows
    ]
    return _finish(doc, forecast.warnings)


def target_document(forecast: TargetForecast) -> dict[str, Any]:
    """``scaling target``: the least compute reaching each loss (null where unreachable)."""
    model, level = forecast.model, forecast.confidence
    doc = _envelope("target", model, level)
    doc["hardware"] = _hardware(forecast.hardware)
    doc["law"] = _law(model, level)
    doc["targets"] = []
    for f in forecast.rows:
        entry: dict[str, Any] = {
            "loss": f.loss, "reachable": f.reachable,
            "unreachable_fraction": f.unreachable_fraction,
            "compute_flops": _estimate(f.compute_flops, UNITS["compute_flops"]),
            "params": _estimate(f.params, UNITS["params"]),
            "tokens": _estimate(f.tokens, UNITS["tokens"]),
            "reach": _reach(f.reach),
            "inference_aware": None,
            "cost": _cost(f.cost),
        }
        if f.inference is not None:
            i = f.inference
            entry["inference_aware"] = {
                "inference_tokens": i.inference_tokens,
                "params": _estimate(i.params, UNITS["params"]),
                "tokens": _estimate(i.tokens, UNITS["tokens"]),
                "training_flops": _estimate(i.training_flops, "FLOPs"),
                "inference_flops": _estimate(i.inference_flops, "FLOPs"),
                "total_flops": _estimate(i.total_flops, "FLOPs"),
                "total_flops_chinchilla": _estimate(i.total_flops_chinchilla, "FLOPs"),
            }
        doc["targets"].append(entry)
    return _finish(doc, forecast.warnings)


def predict_document(forecast: PredictionForecast) -> dict[str, Any]:
    """``scaling predict``: the expected loss at each (N, D)."""
    doc = _envelope("predict", forecast.model, forecast.confidence)
    doc["law"] = _law(forecast.model, forecast.confidence)
    doc["predictions"] = [
        {"params": p.params, "tokens": p.tokens, "compute_flops": p.compute_flops,
         "loss": _estimate(p.loss, UNITS["loss"]), "reach": _reach(p.reach)}
        for p in forecast.rows
    ]
    return _finish(doc, forecast.warnings)


def compare_document(comparison: Comparison) -> dict[str, Any]:
    """``scaling fit --compare``: N*, D*, a at one budget under each method."""
    doc = _envelope("compare", comparison.models[0], comparison.confidence)
    del doc["fit"]
    doc["compute_flops"] = comparison.compute_flops
    doc["methods"] = [
        {
            "method": row.method,
            "description": row.description,
            "params": None if row.params is None else _estimate(row.params, UNITS["params"]),
            "tokens": None if row.tokens is None else _estimate(row.tokens, UNITS["tokens"]),
            "compute_exponent": None if row.exponent is None
            else _estimate(row.exponent, "dimensionless"),
            "note": row.note,
        }
        for row in comparison.rows
    ]
    doc["params_spread"] = _clean(comparison.params_spread)
    return _finish(doc, comparison.warnings)


def backtest_document(result: Backtest) -> dict[str, Any]:
    """``scaling backtest``: every fold, every held-out run, and the pooled summary."""
    k = result.settings.flops_per_param_token
    runs = result.runs
    median, worst, coverage = result.pooled()
    doc = {
        "schema": "scaling-cli/backtest",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "convention": {"flops_per_param_token": k, "formula": f"C = {k:g} * N * D"},
        "confidence": result.confidence,
        "method": result.method,
        "inputs": {"runs_used": len(runs.runs), "runs_excluded": len(runs.excluded),
                   "sha256": runs.sha256, "sources": list(runs.sources)},
        "summary": {"held_out_predictions": sum(len(f.held_out) for f in result.folds),
                    "median_abs_relative_error": median, "max_abs_relative_error": worst,
                    "coverage": _clean(coverage)},
        "skipped_thresholds": result.skipped_thresholds,
        "folds": [_fold(f) for f in result.folds],
    }
    return _finish(doc, result.warnings)


def _fold(f: Fold) -> dict[str, Any]:
    return {
        "threshold_flops": f.threshold_flops,
        "train_runs": f.train_runs,
        "largest_train_flops": f.largest_train_flops,
        "verified": f.verified,
        "median_abs_relative_error": f.median_abs_error,
        "max_abs_relative_error": f.max_abs_error,
        "coverage": _clean(f.coverage),
        "warnings": list(f.warnings),
        "held_out": [
            {"id": h.run_id, "params": h.params, "tokens": h.tokens,
             "compute_flops": h.compute_flops,
             "extrapolation": h.compute_flops / f.largest_train_flops,
             "reach": _reach(h.reach),
             "actual_loss": h.actual_loss,
             "predicted_loss": _estimate(h.predicted_loss, UNITS["loss"]),
             "prediction_interval": {"low": _clean(h.prediction_low),
                                     "high": _clean(h.prediction_high)},
             "relative_error": h.relative_error, "covered": h.covered}
            for h in f.held_out
        ],
    }


def check_document(report: CheckReport) -> dict[str, Any]:
    """``scaling check``: every limit with value, interval and verdict (for CI annotations)."""
    doc = _envelope("check", report.model, report.confidence)
    plan = report.plan
    doc["plan"] = {"name": plan.name, "source": plan.source, "params": report.params,
                   "tokens": report.tokens, "compute_flops": report.compute_flops,
                   "budget_given": plan.budget, "hardware": _hardware(report.hardware),
                   "reach": _reach(report.reach)}
    doc["fail_on"] = report.fail_on
    doc["passed"] = not report.failed
    doc["checks"] = [
        {"limit_name": c.limit_name, "quantity": c.quantity, "units": c.units,
         "value": _clean(c.value), "low": _clean(c.low), "high": _clean(c.high),
         "limit": c.limit, "verdict": c.verdict, "note": c.note}
        for c in report.checks
    ]
    return _finish(doc, report.warnings)


def fit_document(model: Model, confidence: float) -> dict[str, Any]:
    """The fit file: law, facts, and every converged replicate (for later intervals)."""
    doc = _envelope("fit", model, confidence)
    doc["law"] = _law(model, confidence)
    doc["runs"] = None if model.runs is None else {
        "ids": list(model.runs.ids),
        "params": model.runs.params.tolist(),
        "tokens": model.runs.tokens.tolist(),
        "loss": model.runs.loss.tolist(),
        "compute_flops": model.runs.compute_flops.tolist(),
        "groups": None if model.runs.groups is None else list(model.runs.groups),
    }
    doc["replicate_columns"] = list(REPLICATE_COLUMNS)
    doc["replicates"] = [] if model.samples is None else [
        [float(v) for v in row] for row in model.samples]
    return _finish(doc, model.warnings)


def dumps(doc: dict[str, Any]) -> str:
    """The document as JSON text (one object, indented, newline-terminated)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
