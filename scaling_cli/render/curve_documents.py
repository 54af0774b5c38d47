"""``scaling curve`` answers -> the JSON document ``scaling-cli/curve`` (docs/curves.md).

The document holds the curve law and its fit's facts, the bootstrap's settings, the curves
read and how each was used, the forecasts - (a) the run's final loss, (b) the loss at the
end of each other schedule - and, when asked (``--every``), (c) the predicted curves; then
the warnings. Floats are written with ``repr`` and never as NaN or infinity (null instead),
so the same inputs and seed give byte-identical documents. :func:`curve_records` flattens
it into the rows that CSV and ``--field`` print (:mod:`scaling_cli.render.curve_tables`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from scaling_cli.fit.curve_law import MultiPowerParams, TissueParams
from scaling_cli.forecast.curve import CurveAnswer, CurveRows, LossForecast
from scaling_cli.read.fitfile import SCHEMA_VERSION
from scaling_cli.version import __version__

if TYPE_CHECKING:
    from scaling_cli.fit.curve_inputs import CurveInputs
    from scaling_cli.read.logs import Skipped

__all__ = ["FORMULAS", "curve_document", "curve_records"]

FORMULAS = {
    "tissue": "L(t) = L0 + A*S1(t)^-alpha - B*S2(t)",
    "multi-power": "L(t) = L0 + A*S1(t)^-alpha - B*sum_k (eta_{k-1} - eta_k)"
                   "*(1 - (C*eta_k^-gamma*S_k(t) + 1)^-beta)",
}
UNITS = {"loss": "nats/token", "lr": "learning rate", "step": "optimizer steps"}


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def curve_document(answer: CurveAnswer, inputs: CurveInputs, *, sources: Sequence[str] = (),
                   skipped: Sequence[Skipped] = ()) -> dict[str, Any]:
    """The ``scaling-cli/curve`` document of ``answer`` (module docstring)."""
    model = answer.model
    fit = model.fit
    forecasts = []
    if answer.final is not None:
        forecasts.append(_forecast("final", answer.final, answer.observed_final))
    forecasts.extend(_forecast("under", f, None) for f in answer.under)
    observed = _observed_by_schedule(answer)
    return {
        "schema": "scaling-cli/curve",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "confidence": model.level,
        "units": UNITS,
        "law": _law(model.params),
        "fit": {
            "verified": fit.verified, "objective": _number(fit.objective),
            "gradient_max": _number(fit.gradient_max),
            "condition_number": _number(fit.condition_number), "starts": fit.starts,
            "starts_failed": fit.starts_failed, "starts_agreeing": fit.starts_agreeing,
            "points": fit.n_points, "at_bounds": list(fit.at_bounds),
            "huber_delta": fit.delta,
        },
        "bootstrap": {
            "scheme": model.bootstrap.scheme, "resamples": model.bootstrap.n_resamples,
            "failed": model.bootstrap.failed, "seed": model.bootstrap.seed,
            "block_points": dict(zip(fit.curves, model.bootstrap.block_points, strict=True)),
            "interval_method": "percentile, widened by the measured law-error allowance",
        },
        "inputs": {
            "sources": list(sources),
            "curves": [asdict(c) for c in inputs.curves],
            "skipped": [{"run_id": s.run_id or None, "source": s.source, "reason": s.reason}
                        for s in skipped],
        },
        "forecasts": forecasts,
        "curve": [row for rows in answer.rows for row in _rows(rows, observed)],
        "warnings": list(answer.warnings),
    }


def _law(params: MultiPowerParams | TissueParams) -> dict[str, Any]:
    return {"name": params.law, "formula": FORMULAS[params.law],
            "params": {name: _number(v) for name, v in zip(params.names, params.values(),
                                                           strict=True)},
            "decay": params.decay if isinstance(params, TissueParams) else None}


def _forecast(question: str, f: LossForecast, observed: float | None) -> dict[str, Any]:
    return {
        "question": question, "schedule": f.schedule, "step": f.step, "lr": _number(f.lr),
        "loss": _number(f.loss), "low": _number(f.low), "high": _number(f.high),
        "bootstrap_low": _number(f.bootstrap_low), "bootstrap_high": _number(f.bootstrap_high),
        "allowance": _number(f.allowance), "observed_loss": _number(observed),
        "observed_until_step": f.observed_until_step,
        "backtest_errors": [_number(e) for e in f.backtest_errors],
        "transfer_errors": [_number(e) for e in f.transfer_errors],
    }


def _observed_by_schedule(answer: CurveAnswer) -> dict[str, dict[int, float]]:
    """The losses logged on each fitted curve's schedule, by step (the run's whole log)."""
    curves = [*answer.model.curves, *([] if answer.observed is None else [answer.observed])]
    out: dict[str, dict[int, float]] = {}
    for curve in curves:
        out.setdefault(curve.schedule.name, {}).update(
            zip(curve.step.tolist(), curve.loss.tolist(), strict=True))
    return out


def _rows(rows: CurveRows, observed: dict[str, dict[int, float]]) -> list[dict[str, Any]]:
    logged = observed.get(rows.schedule, {})
    return [{"schedule": rows.schedule, "step": int(s), "lr": _number(float(lr)),
             "loss": _number(float(v)), "low": _number(float(lo)), "high": _number(float(hi)),
             "observed_loss": _number(logged.get(int(s)))}
            for s, lr, v, lo, hi in zip(rows.step, rows.lr, rows.loss, rows.low, rows.high,
                                        strict=True)]


def curve_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per row: the predicted curve's rows when the document has them, else
    the forecasts; each followed by the law's parameters and, last, the warnings (joined by
    `` | ``). Lists (backtest errors) are left to the JSON."""
    rows = doc["curve"] or doc["forecasts"]
    law = dict(doc["law"]["params"])
    tail = {"warnings": " | ".join(doc["warnings"])}
    return [{**{k: v for k, v in row.items() if not isinstance(v, list)}, **law, **tail}
            for row in rows]

