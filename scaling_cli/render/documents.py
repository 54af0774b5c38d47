"""Results <-> JSON documents with a documented, stable schema (docs/json-schema.md).

Every document carries ``schema`` (what it is), ``schema_version`` (bumped only on
incompatible change), ``tool_version``, the law's source, the FLOP convention, the
inputs' count and hash, the fit's verification facts and the bootstrap's settings.
A *fit document* (``scaling fit -o FILE``) also carries the bootstrap replicates, so later
commands (``--fit FILE``) answer any budget with intervals and without refitting.

Floats are written with ``repr`` (shortest round-trip form) and no NaN: same inputs and
seed give byte-identical documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from scaling_cli import __version__
from scaling_cli.fit.health import FitSummary
from scaling_cli.errors import FitFileError
from scaling_cli.law import Law
from scaling_cli.model import BootstrapSummary, InputSummary, Model, RunData
from scaling_cli.forecast.answers import (
    BudgetForecast,
    Cost,
    Estimate,
    FixedSizeForecast,
    LossPrediction,
    TargetForecast,
    law_estimates,
)

if TYPE_CHECKING:
    from scaling_cli.forecast.backtest import Backtest, Fold
    from scaling_cli.forecast.checks import CheckReport
    from scaling_cli.forecast.compare import Comparison
    from scaling_cli.forecast.costs import Budget, Hardware
    from scaling_cli.read.runs import RunSet

__all__ = [
    "SCHEMA_VERSION",
    "UNITS",
    "backtest_document",
    "check_document",
    "compare_document",
    "dumps",
    "fit_document",
    "fixed_size_document",
    "model_from_fit_document",
    "optimal_document",
    "predict_document",
    "target_document",
]

SCHEMA_VERSION = 1
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
REPLICATE_COLUMNS = ("log_E", "log_A", "log_B", "alpha", "beta")


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


def _given(budget: Budget | None) -> dict[str, Any] | None:
    return None if budget is None else {"text": budget.text, "amount": budget.amount,
                                        "unit": budget.unit}


def optimal_document(model: Model, forecasts: Sequence[BudgetForecast], confidence: float, *,
                     hardware: Hardware | None = None,
                     given: Sequence[Budget] | None = None) -> dict[str, Any]:
    doc = _envelope("optimal", model, confidence)
    doc["hardware"] = _hardware(hardware)
    doc["law"] = _law(model, confidence)
    doc["budgets"] = []
    for i, f in enumerate(forecasts):
        entry: dict[str, Any] = {
            "compute_flops": f.compute_flops,
            "budget_given": _given(given[i] if given else None),
            **{name: _estimate(getattr(f, name), UNITS[name])
               for name in ("params", "tokens", "tokens_per_param", "loss")},
            "extrapolation": _clean(f.extrapolation),
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
        }
        doc["budgets"].append(entry)
    doc["warnings"] = list(model.warnings) + extrapolation_warnings(forecasts)
    return doc


def fixed_size_document(model: Model, forecasts: Sequence[FixedSizeForecast],
                        confidence: float, *, hardware: Hardware | None = None,
                        given: Sequence[Budget] | None = None) -> dict[str, Any]:
    """``scaling optimal --params N``: a size fixed in advance, against the optimum."""
    doc = _envelope("fixed-size", model, confidence)
    doc["hardware"] = _hardware(hardware)
    doc["law"] = _law(model, confidence)
    doc["budgets"] = [
        {
            "compute_flops": f.compute_flops,
            "budget_given": _given(given[i] if given else None),
            "params": f.params, "tokens": f.tokens, "tokens_per_param": f.tokens / f.params,
            "loss": _estimate(f.loss, UNITS["loss"]),
            "params_optimal": _estimate(f.params_optimal, UNITS["params"]),
            "loss_optimal": _estimate(f.loss_optimal, UNITS["loss"]),
            "loss_penalty": _estimate(f.loss_penalty, UNITS["loss"]),
            "compute_equivalent_flops": _estimate(f.compute_equivalent_flops, "FLOPs"),
            "compute_penalty": _estimate(f.compute_penalty, "fraction of the budget"),
            "cost": _cost(f.cost),
        }
        for i, f in enumerate(forecasts)
    ]
    doc["warnings"] = list(model.warnings)
    return doc


def target_document(model: Model, forecasts: Sequence[TargetForecast], confidence: float,
                    *, hardware: Hardware | None = None) -> dict[str, Any]:
    """``scaling target``: the least compute reaching each loss (null where unreachable)."""
    doc = _envelope("target", model, confidence)
    doc["hardware"] = _hardware(hardware)
    doc["law"] = _law(model, confidence)
    doc["targets"] = []
    for f in forecasts:
        entry: dict[str, Any] = {
            "loss": f.loss, "reachable": f.reachable,
            "unreachable_fraction": f.unreachable_fraction,
            "compute_flops": _estimate(f.compute_flops, UNITS["compute_flops"]),
            "params": _estimate(f.params, UNITS["params"]),
            "tokens": _estimate(f.tokens, UNITS["tokens"]),
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
    doc["warnings"] = list(model.warnings) + [
        f"target loss {f.loss:g} is at or below the fitted irreducible loss E = "
        f"{float(model.law.E):.4g}: no amount of compute reaches it"
        for f in forecasts if not f.reachable]
    return doc


EXTRAPOLATION_WARN = 100.0


def extrapolation_warnings(forecasts: Sequence[BudgetForecast]) -> list[str]:
    """A warning per budget more than 100x beyond the largest run, with the widening."""
    out = []
    for f in forecasts:
        if f.extrapolation is None or f.extrapolation <= EXTRAPOLATION_WARN:
            continue
        text = (f"budget {f.compute_flops:.3g} FLOPs is {f.extrapolation:,.0f}x the largest "
                "run's compute: an extrapolation")
        if f.params_spread is not None and f.params_spread_at_data is not None:
            text += (f"; the N* interval spans x{f.params_spread:.2f} there vs "
                     f"x{f.params_spread_at_data:.2f} at the largest run")
        out.append(text.replace("e+", "e"))
    return out


def compare_document(comparison: Comparison, confidence: float) -> dict[str, Any]:
    """``scaling fit --compare``: N*, D*, a at one budget under each method."""
    doc = _envelope("compare", comparison.models[0], confidence)
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
    doc["warnings"] = list(comparison.models[0].warnings)
    return doc


def backtest_document(result: Backtest, runs: RunSet, *,
                      flops_per_param_token: float) -> dict[str, Any]:
    """``scaling backtest``: every fold, every held-out run, and the pooled summary."""
    k = flops_per_param_token
    median, worst, coverage = result.pooled()
    return {
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
        "warnings": [],
    }


def _fold(f: Fold) -> dict[str, Any]:
    return {
        "threshold_flops": f.threshold_flops,
        "train_runs": f.train_runs,
        "largest_train_flops": f.largest_train_flops,
        "verified": f.verified,
        "median_abs_relative_error": f.median_abs_error,
        "max_abs_relative_error": f.max_abs_error,
        "coverage": _clean(f.coverage),
        "held_out": [
            {"id": h.run_id, "params": h.params, "tokens": h.tokens,
             "compute_flops": h.compute_flops,
             "extrapolation": h.compute_flops / f.largest_train_flops,
             "actual_loss": h.actual_loss,
             "predicted_loss": _estimate(h.predicted_loss, UNITS["loss"]),
             "prediction_interval": {"low": _clean(h.prediction_low),
                                     "high": _clean(h.prediction_high)},
             "relative_error": h.relative_error, "covered": h.covered}
            for h in f.held_out
        ],
    }


def check_document(model: Model, report: CheckReport, *, fail_on: str) -> dict[str, Any]:
    """``scaling check``: every limit with value, interval and verdict (for CI annotations)."""
    from scaling_cli.forecast.checks import plan_hardware

    doc = _envelope("check", model, report.confidence)
    plan = report.plan
    doc["plan"] = {"name": plan.name, "source": plan.source, "params": report.params,
                   "tokens": report.tokens, "compute_flops": report.compute_flops,
                   "budget_given": plan.budget, "hardware": _hardware(plan_hardware(plan))}
    doc["fail_on"] = fail_on
    doc["passed"] = not report.failed(fail_on)
    doc["checks"] = [
        {"limit_name": c.limit_name, "quantity": c.quantity, "units": c.units,
         "value": _clean(c.value), "low": _clean(c.low), "high": _clean(c.high),
         "limit": c.limit, "verdict": c.verdict, "note": c.note}
        for c in report.checks
    ]
    doc["warnings"] = list(model.warnings)
    return doc


def predict_document(model: Model, predictions: Sequence[LossPrediction],
                     confidence: float) -> dict[str, Any]:
    doc = _envelope("predict", model, confidence)
    doc["law"] = _law(model, confidence)
    doc["predictions"] = [
        {"params": p.params, "tokens": p.tokens, "compute_flops": p.compute_flops,
         "loss": _estimate(p.loss, UNITS["loss"])}
        for p in predictions
    ]
    doc["warnings"] = list(model.warnings)
    return doc


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
    doc["warnings"] = list(model.warnings)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- loading


def _corrupted(name: str, problem: str) -> FitFileError:
    return FitFileError(f"{name}: corrupted fit file ({problem}); recreate it with "
                        f"`scaling fit RUNS -o {name}`")


def _check_arrays(doc: dict[str, Any], name: str) -> None:
    """Refuse arrays that fit_document cannot have written, before any is used: a wrong
    length would otherwise be reshaped or zipped into silently wrong replicates."""
    if doc.get("replicate_columns", list(REPLICATE_COLUMNS)) != list(REPLICATE_COLUMNS):
        raise _corrupted(name, f"field 'replicate_columns' is not {', '.join(REPLICATE_COLUMNS)}")
    reps = doc.get("replicates")
    if not isinstance(reps, list):
        raise _corrupted(name, "field 'replicates' is not a list")
    for i, row in enumerate(reps, start=1):
        if not isinstance(row, list) or len(row) != len(REPLICATE_COLUMNS):
            size = len(row) if isinstance(row, list) else "not a list of"
            raise _corrupted(name, f"field 'replicates': row {i} has {size} values, expected "
                                   f"{len(REPLICATE_COLUMNS)}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in row):
            raise _corrupted(name, f"field 'replicates': row {i} has a value that is not a "
                                   "finite number")
        if not (0 <= row[3] <= 10 and 0 <= row[4] <= 10):
            raise _corrupted(name, f"field 'replicates': row {i} has an exponent outside "
                                   "[0, 10]")
    runs = doc.get("runs")
    if runs is None:
        return
    ids = runs.get("ids") if isinstance(runs, dict) else None
    if not isinstance(ids, list):
        raise _corrupted(name, "field 'runs': 'ids' is not a list")
    for key in ("params", "tokens", "loss", "compute_flops", "groups"):
        values = runs.get(key)
        if key == "groups" and values is None:
            continue
        if not isinstance(values, list) or len(values) != len(ids):
            size = f"{len(values)} values" if isinstance(values, list) else "no list"
            raise _corrupted(name, f"field 'runs': {key!r} has {size} but 'ids' has {len(ids)}")


def model_from_fit_document(text: str, name: str, *, flops_per_param_token: float) -> Model:
    """Rebuild a :class:`Model` from a fit file, refusing corrupted or newer files."""
    import numpy as np

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FitFileError(f"{name}: not a fit file (invalid JSON at line {exc.lineno}: "
                           f"{exc.msg}); recreate it with `scaling fit RUNS -o {name}`") from None
    except (RecursionError, ValueError) as exc:  # hostile: nested too deep, huge integers
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long"
        raise FitFileError(f"{name}: not a fit file (invalid JSON: {reason}); recreate it with "
                           f"`scaling fit RUNS -o {name}`") from None
    if not isinstance(doc, dict) or doc.get("schema") != "scaling-cli/fit":
        raise FitFileError(f"{name}: not a scaling-cli fit file; create one with "
                           f"`scaling fit RUNS -o {name}`")
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _corrupted(name, f"field 'schema_version' is {json.dumps(version)}, expected a "
                               "whole number from 1")
    if version > SCHEMA_VERSION:
        raise FitFileError(
            f"{name}: fit file format {version!r} was written by scaling-cli "
            f"{doc.get('tool_version', '?')}; this is {__version__} (format {SCHEMA_VERSION}): "
            "upgrade scaling-cli or refit"
        )
    _check_arrays(doc, name)
    try:
        law = Law(*(float(doc["law"][p]["value"]) for p in ("E", "A", "B", "alpha", "beta")))
        reps = np.array(doc["replicates"], dtype=float).reshape(-1, 5)
        stored_k = float(doc["convention"]["flops_per_param_token"])
        inputs = None if doc["inputs"] is None else InputSummary(
            **{**doc["inputs"], "sources": tuple(doc["inputs"]["sources"])})
        fit = None if doc["fit"] is None else FitSummary(
            **{**doc["fit"], "at_bounds": tuple(doc["fit"]["at_bounds"]),
               "condition_number": doc["fit"]["condition_number"] or math.inf,
               "large_residuals": tuple((str(x["id"]), float(x["log_residual"]))
                                        for x in doc["fit"]["large_residuals"])})
        boot_fields = {k: v for k, v in (doc["bootstrap"] or {}).items()
                       if k != "interval_method"}
        boot = BootstrapSummary(**boot_fields) if doc["bootstrap"] else None
        warnings = tuple(str(w) for w in doc.get("warnings", []))
        runs = None if doc.get("runs") is None else RunData(
            ids=tuple(str(i) for i in doc["runs"]["ids"]),
            params=np.array(doc["runs"]["params"], dtype=float),
            tokens=np.array(doc["runs"]["tokens"], dtype=float),
            loss=np.array(doc["runs"]["loss"], dtype=float),
            compute_flops=np.array(doc["runs"]["compute_flops"], dtype=float),
            groups=None if doc["runs"]["groups"] is None
            else tuple(str(g) for g in doc["runs"]["groups"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FitFileError(f"{name}: corrupted fit file ({type(exc).__name__}: {exc}); "
                           f"recreate it with `scaling fit RUNS -o {name}`") from None
    values = [*law.as_tuple(), *reps.ravel().tolist()]
    if not all(math.isfinite(v) for v in values) or min(law.as_tuple()) <= 0:
        raise FitFileError(f"{name}: corrupted fit file (non-finite or non-positive values); "
                           f"recreate it with `scaling fit RUNS -o {name}`")
    if inputs is not None and stored_k != flops_per_param_token:
        warnings += (f"{name} was fitted with C = {stored_k:g} N D; "
                     f"answering with C = {flops_per_param_token:g} N D as asked",)
    return Model(law, reps if len(reps) else None, f"fit-file:{name}", flops_per_param_token,
                 inputs, fit, boot, warnings, runs)
