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
from typing import TYPE_CHECKING, Any

from scaling_cli.forecast.extrapolation import Reach
from scaling_cli.forecast.intervals import Estimate, law_estimates
from scaling_cli.model import FitSummary, Model
from scaling_cli.read.fitfile import REPLICATE_COLUMNS, SCHEMA_VERSION
from scaling_cli.version import __version__

if TYPE_CHECKING:  # the answers' types (a fit document needs none of their modules) and
    # the decision answers (compare-recipes, hparams, shape): loaded on use
    from scaling_cli.fit.hparams import HparamFit, RuleVariant
    from scaling_cli.forecast.answers import (
        FixedSizeForecast,
        OptimalForecast,
        PredictionForecast,
        TargetForecast,
    )
    from scaling_cli.forecast.backtest import Backtest, Fold
    from scaling_cli.forecast.checks import CheckReport
    from scaling_cli.forecast.compare import Comparison
    from scaling_cli.forecast.costs import Cost
    from scaling_cli.forecast.hparams import HparamAdvice, HparamLawReport, HparamPreset
    from scaling_cli.forecast.recipes import RecipeComparison
    from scaling_cli.forecast.shapes import ShapePlan
    from scaling_cli.read.hardware import Budget, Hardware

__all__ = [
    "UNITS",
    "add_hparams",
    "backtest_document",
    "check_document",
    "compare_document",
    "compare_recipes_document",
    "dumps",
    "fit_document",
    "fixed_size_document",
    "hparams_document",
    "optimal_document",
    "predict_document",
    "shape_document",
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
    """An estimate: value, statistical interval (low, high) and total interval."""
    return {"value": _clean(e.value), "low": _clean(e.low), "high": _clean(e.high),
            "total_low": _clean(e.total_low), "total_high": _clean(e.total_high),
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
    doc["form"] = _form_section(model)
    return doc


def _form_section(model: Model) -> dict[str, Any] | None:
    """Which form was fitted and why, and the form-error model behind total intervals."""
    if model.form is None and model.form_error is None:
        return None
    form, error = model.form, model.form_error
    return {
        "form": None if form is None else form.form,
        "reason": None if form is None else form.reason,
        "scores": [] if form is None else [
            {"form": name, "folds": folds, "held_out_runs": points, "rms_log_error":
             _clean(rmse)} for name, folds, points, rmse in form.scores],
        "alternative": None if form is None else form.alternative,
        "alternative_law": None if form is None or form.alternative_law is None
        else dict(zip(("E", "A", "B", "alpha", "beta"), form.alternative_law.as_tuple(),
                      strict=True)),
        "form_error": None if error is None else {
            "per_decade_compute": error.per_decade_compute,
            "per_decade_tokens_per_param": error.per_decade_ratio,
            "per_decade_params": error.per_decade_params,
            "per_decade_epochs": error.per_decade_epochs,
            "held_out_log_sd": error.held_out_log_sd,
            "noise_log_sd": error.noise_log_sd,
            "tail_factor": error.tail_factor,
            "folds": error.folds,
            "fold_factor": error.fold_factor,
            "over_bias_per_decade": error.over_bias_per_decade,
            "source": error.source, "held_out_runs": error.points},
    }


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
            "tokens_per_param": _clean(reach.tokens_per_param), "epochs": _clean(reach.epochs),
            "beyond": reach.beyond}


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
            "hparams": None,  # with `scaling optimal --hparams`: see add_hparams
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
        {"params": p.params, "tokens": p.tokens, "unique_tokens": p.unique_tokens,
         "compute_flops": p.compute_flops, "loss": _estimate(p.loss, UNITS["loss"]),
         "reach": _reach(p.reach)}
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
                   "reach": _reach(report.reach), "lr": plan.lr,
                   "batch_tokens": plan.batch_tokens}
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
        "epochs": None if model.runs.epochs is None
        else [_clean(float(e)) for e in model.runs.epochs],
        "tokens_seen": None if model.runs.tokens_seen is None
        else model.runs.tokens_seen.tolist(),
    }
    doc["replicate_columns"] = list(REPLICATE_COLUMNS)
    doc["replicates"] = [] if model.samples is None else [
        [float(v) for v in row] for row in model.samples]
    return _finish(doc, model.warnings)


def dumps(doc: dict[str, Any]) -> str:
    """The document as JSON text (one object, indented, newline-terminated). No NaN or
    infinity ever reaches the text: a non-finite number that got past ``_clean`` is null."""
    try:
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    except ValueError:  # "Out of range float values are not JSON compliant"
        return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------- decisions


_NONE = Estimate(math.nan)  # an absent estimate: every key present, all null (CSV columns stay)


def _reach_columns(reach: Reach | None) -> dict[str, Any]:
    """A reach, with its keys present (null) when there is none, so CSV columns stay."""
    return _reach(reach) or {"compute_flops": None, "params": None, "tokens_per_param": None,
                             "epochs": None, "beyond": None}


def _ladder(model: Model, confidence: float, exponent: Estimate) -> dict[str, Any]:
    return {"law_source": model.source,
            "inputs": None if model.inputs is None else asdict(model.inputs),
            "law": _law(model, confidence),
            "compute_exponent": _estimate(exponent, "dimensionless")}


def compare_recipes_document(comparison: RecipeComparison) -> dict[str, Any]:
    """``scaling compare``: the compute multiplier k(C) of a variant recipe over a baseline,
    both recipes' loss and N* per budget, the crossover, and (pinned mode) the speedup."""
    fit = comparison.fit
    level = comparison.confidence
    k = fit.baseline.flops_per_param_token
    doc: dict[str, Any] = {
        "schema": "scaling-cli/compare-recipes",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "convention": {"flops_per_param_token": k, "formula": f"C = {k:g} * N * D"},
        "confidence": level,
        "mode": fit.mode,
        "shared_parameters": list(fit.shared),
        "fit": _fit_section(fit.summary),
        "bootstrap": None if fit.boot is None else {
            **asdict(fit.boot), "interval_method": "percentile", "joint": True},
        "ladders": {
            "baseline": _ladder(fit.baseline, level, comparison.exponent_baseline),
            "variant": _ladder(fit.variant, level, comparison.exponent_variant),
        },
    }
    doc["budgets"] = [
        {"compute_flops": r.compute_flops,
         "multiplier": _estimate(r.multiplier, "x (baseline compute / variant compute)"),
         "verdict": r.verdict,
         "variant_better_fraction": r.variant_better_fraction,
         "loss_baseline": _estimate(r.loss_baseline, UNITS["loss"]),
         "loss_variant": _estimate(r.loss_variant, UNITS["loss"]),
         "loss_difference": _estimate(r.loss_difference, UNITS["loss"]),
         "params_baseline": _estimate(r.params_baseline, UNITS["params"]),
         "params_variant": _estimate(r.params_variant, UNITS["params"]),
         "reach_variant": _reach_columns(r.reach_variant),
         "reach_baseline": _reach_columns(r.reach_baseline)}
        for r in comparison.rows]
    cross = comparison.crossover
    doc["crossover"] = {
        "winner_at_scale": cross.winner_at_scale,
        "direction": cross.direction,
        "compute_flops": _estimate(cross.compute_flops or _NONE, UNITS["compute_flops"]),
        "agreeing_fraction": cross.agreeing_fraction,
        "crossing_fraction": cross.crossing_fraction,
    }
    doc["speedup"] = _estimate(comparison.speedup or _NONE,
                               "x (baseline compute / variant compute), every budget")
    return _finish(doc, comparison.warnings)


HPARAM_UNITS = {"lr_coef": "peak learning rate at N = D = 1",
                "lr_params_exponent": "dimensionless", "lr_tokens_exponent": "dimensionless",
                "batch_tokens_coef": "tokens at N = D = 1",
                "batch_params_exponent": "dimensionless",
                "batch_tokens_exponent": "dimensionless"}


def _advice(a: HparamAdvice) -> dict[str, Any]:
    """lr* and batch* with intervals; absent estimates keep their keys (null)."""
    def est(e: Estimate | None, units: str) -> dict[str, Any]:
        return _estimate(e or _NONE, units)

    return {"lr": est(a.lr, "peak learning rate"),
            "batch_tokens": est(a.batch_tokens, "tokens"),
            "batch_sequences": est(a.batch_sequences, "sequences"), "seq_len": a.seq_len,
            "lr_law_only": est(a.lr_law_only, "peak learning rate"),
            "lr_allocation_only": est(a.lr_allocation_only, "peak learning rate"),
            "batch_tokens_law_only": est(a.batch_tokens_law_only, "tokens"),
            "batch_tokens_allocation_only": est(a.batch_tokens_allocation_only, "tokens"),
            "samples": a.samples}


def _hparam_source(source: HparamFit | HparamPreset) -> dict[str, Any]:
    from scaling_cli.forecast.hparams import HparamPreset

    def span(x: tuple[float, float] | None) -> list[float] | None:
        return None if x is None else [float(x[0]), float(x[1])]

    if isinstance(source, HparamPreset):
        return {"kind": "preset", "name": source.name, "title": source.title,
                "citation": source.citation, "note": source.note,
                "model_scale": source.model_scale, "definition": source.definition,
                "params_range": span(source.params_range),
                "tokens_range": span(source.tokens_range)}
    return {"kind": "sweep", "name": source.name, "sources": list(source.sources),
            "rule": source.rule, "tolerance": source.tolerance, "window": source.window,
            "loss_used": source.loss_used, "weighting": source.weighting,
            "batch_on_params": source.batch_on_params, "cells": len(source.cells),
            "lr_points": source.lr_points, "batch_points": source.batch_points,
            "residual_rms_log_lr": source.residual_rms_log_lr,
            "residual_rms_log_batch": source.residual_rms_log_batch,
            "params_range": span(source.params_range),
            "tokens_range": span(source.tokens_range)}


def hparams_document(source: HparamFit | HparamPreset, report: HparamLawReport, *,
                     recommendations: Sequence[HparamAdvice] = (),
                     sensitivity: Sequence[RuleVariant] | None = None) -> dict[str, Any]:
    """``scaling hparams``: the lr* and batch* laws with intervals, each sweep cell's near-best
    settings, optional recommendations at given (N, D), the near-best rule's sensitivity,
    and (for a sweep) every replicate, so the document is also a saved fit (``--hparams``)."""
    import numpy as np

    from scaling_cli.forecast.hparams import HPARAMS_SCHEMA

    reps = source.replicates
    doc: dict[str, Any] = {
        "schema": HPARAMS_SCHEMA, "schema_version": SCHEMA_VERSION,
        "tool_version": __version__, "confidence": report.confidence,
        "source": _hparam_source(source),
        "bootstrap": None if reps is None else {
            "replicates": getattr(source, "bootstrap", 0),
            "failed": getattr(source, "failed_resamples", 0),
            "seed": getattr(source, "seed", 0), "resample_by": "cell",
            "n_units": len(getattr(source, "cells", ())), "degenerate": 0,
            "interval_method": "percentile"},
        "formula": "lr* = lr_coef N^lr_params_exponent D^lr_tokens_exponent; batch* (tokens) = "
                   "batch_tokens_coef N^batch_params_exponent D^batch_tokens_exponent",
        "law": {name: _estimate(getattr(report, name), units)
                for name, units in HPARAM_UNITS.items()},
        "cells": [asdict(c) for c in getattr(source, "cells", ())],
        "recommendations": [{"params": a.params, "tokens": a.tokens, **_advice(a)}
                            for a in recommendations],
        "sensitivity": None if sensitivity is None else [
            {"rule": v.rule, "tolerance": v.tolerance, "window": v.window,
             "loss_used": v.loss_used, "weighting": v.weighting, "lr_points": v.lr_points,
             **{name: None if v.law is None else float(getattr(v.law, name))
                for name in HPARAM_UNITS}, "note": v.note}
            for v in sensitivity],
        "replicate_columns": list(HPARAM_UNITS),
        "replicates": [] if reps is None else np.column_stack(
            [np.asarray(getattr(reps, name), dtype=float) for name in HPARAM_UNITS]).tolist(),
    }
    warnings = [*report.warnings, *(w for a in recommendations for w in a.warnings)]
    return _finish(doc, tuple(dict.fromkeys(warnings)))


def add_hparams(doc: dict[str, Any], advice: Sequence[HparamAdvice]) -> dict[str, Any]:
    """``scaling optimal --hparams``: lr* and batch* at each budget's N*, D* (one advice per
    budget, in order) into the optimal document's ``hparams`` sections, with its warnings."""
    for row, a in zip(doc["budgets"], advice, strict=True):
        row["hparams"] = {"source": a.source, **_advice(a)}
    warnings = [*doc["warnings"], *(w for a in advice for w in a.warnings)]
    doc["warnings"] = list(dict.fromkeys(warnings))
    return doc


def shape_document(plan: ShapePlan) -> dict[str, Any]:
    """``scaling shape``: decoder shapes near N* (or a given size), their parameter counts
    and, at a budget, the tokens and loss cost of each."""
    search = plan.search
    level = search.confidence if search.confidence is not None else 0.95
    if plan.model is not None:
        doc = _envelope("shape", plan.model, level)
        doc["law"] = _law(plan.model, level)
    else:
        doc = {"schema": "scaling-cli/shape", "schema_version": SCHEMA_VERSION,
               "tool_version": __version__}
    opt = plan.optimum
    doc.update({
        "compute_flops": search.compute_flops,
        "target_params": search.target_params,
        "params_definition": search.params_definition,
        "architecture": {**asdict(search.architecture),
                         "ffn_ratio": search.architecture.ffn_ratio_used},
        "aspect_ratio_band": list(search.aspect_ratio_band),
        "optimum": None if opt is None else {
            "params": _estimate(opt.params, UNITS["params"]),
            "tokens": _estimate(opt.tokens, UNITS["tokens"]),
            "loss": _estimate(opt.loss, UNITS["loss"]), "reach": _reach(opt.reach)},
        "shapes": [
            {"n_layers": c.shape.n_layers, "d_model": c.shape.d_model,
             "n_heads": c.shape.n_heads, "n_kv_heads": c.shape.n_kv_heads,
             "head_dim": c.shape.head_dim, "ffn_size": c.shape.ffn_size,
             "aspect_ratio": c.shape.aspect_ratio, "params": c.params,
             "params_ratio": c.params_ratio, "params_total": c.shape.params_total,
             "params_non_embedding": c.shape.params_non_embedding,
             "params_embedding": c.shape.params_embedding, "tokens": c.tokens,
             "loss_cost": _estimate(c.loss_cost or _NONE, "nats/token above L(N*, D*)")}
            for c in search.candidates],
    })
    return _finish(doc, plan.warnings)

