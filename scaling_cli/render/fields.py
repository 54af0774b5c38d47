"""JSON documents -> flat records: CSV for spreadsheets, bare numbers for shells.

A document's rows (budgets, predictions, targets, methods, checks, backtest held-out runs;
chosen by the document's ``schema``) are flattened the same way for every command: an
estimate ``{"value", "low", "high", "total_low", "total_high", "units"}`` under key ``k``
becomes columns ``k``, ``k_low``, ``k_high``, ``k_total_low``, ``k_total_high``; a nested
section (``band``, ``cost``, ``reach``,
``data_constrained``, ``inference_aware``) prefixes its keys (``cost_gpu_hours``), and a
section that is null in this document still gets its columns (empty), so the columns of a
command never change with its options. The law's parameters (E, A, B, alpha, beta and their
bounds) follow every row, and the last column, ``warnings``, holds the document's warnings
(joined by `` | ``), so a saved CSV keeps them.

The names a document's records will have are also known before it is made
(:func:`columns`, :func:`curve_columns`), from the blank document of each kind below, so a
command refuses an unknown ``--field`` (:func:`check_fields`) before it reads or fits
anything; tests/test_field_early.py holds each list to real documents.

Kept apart from the text tables so that ``scaling optimal ... -q --field params`` stays
light.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scaling_cli.errors import UsageError

__all__ = [
    "check_fields",
    "columns",
    "curve_columns",
    "fields_of",
    "render_csv",
    "render_fields",
    "rows_csv",
    "rows_fields",
]

_EST = ("value", "low", "high")
# lr* and batch* at one (N, D) (documents._advice): a row of `hparams`, a section of `optimal`.
_ADVICE = ("lr*", "batch_tokens*", "batch_sequences*", "seq_len", "lr_law_only*",
           "lr_allocation_only*", "batch_tokens_law_only*", "batch_tokens_allocation_only*",
           "samples")
_REACH = ("compute_flops", "params", "tokens_per_param", "epochs", "beyond")
# The keys of sections, so their columns exist even when the section is null ("name*": an
# estimate, which has four more columns).
_SECTIONS: dict[str, tuple[str, ...]] = {
    "band": ("tolerance", "params_smallest*", "params_largest*", "tokens_at_smallest*",
             "tokens_at_largest*"),
    "data_constrained": ("unique_tokens", "data_limited", "epochs*", "effective_tokens*",
                         "loss_unlimited*", "loss_ignoring_limit*"),
    "cost": ("gpu_hours", "days", "usd"),
    "reach": _REACH,
    "reach_variant": _REACH,
    "reach_baseline": _REACH,
    "crossover": ("winner_at_scale", "direction", "compute_flops*", "agreeing_fraction",
                  "crossing_fraction"),
    "inference_aware": ("inference_tokens", "params*", "tokens*", "training_flops*",
                        "inference_flops*", "total_flops*", "total_flops_chinchilla*"),
    "prediction_interval": ("low", "high"),
    "hparams": ("source", *_ADVICE),
}
_SKIP = {"units", "budget_given", "warnings", "form"}
_ROWS = {"optimal": "budgets", "fixed-size": "budgets", "target": "targets",
         "predict": "predictions", "compare": "methods", "check": "checks",
         "compare-recipes": "budgets", "shape": "shapes"}
# Documents whose rows are the first of these lists that is not empty.
_ROWS_EITHER = {"hparams": ("recommendations", "cells")}
# Document-level sections repeated on every row (after the row's own columns and the law).
_DOC_COLUMNS = {"compare-recipes": ("mode", "crossover", "speedup*"),
                "shape": ("compute_flops", "target_params", "params_definition")}

# Each kind's rows, key by key in the document's order (render.documents), written like
# _SECTIONS: "name*" an estimate, a name of _SECTIONS that section, any other name one value
# (keys in _SKIP and lists are left out: they have no columns). With the law and _DOC_COLUMNS
# they make the blank document whose records name every column before any work is done.
_LAW = ("E*", "A*", "B*", "alpha*", "beta*")
_LAWS = {"fit": _LAW, "optimal": _LAW, "fixed-size": _LAW, "target": _LAW, "predict": _LAW,
         "shape": _LAW, "hparams": ("lr_coef*", "lr_params_exponent*", "lr_tokens_exponent*",
                                    "batch_tokens_coef*", "batch_params_exponent*",
                                    "batch_tokens_exponent*")}
_ROW_KEYS: dict[str, tuple[str, ...]] = {
    "optimal": ("compute_flops", "params*", "tokens*", "tokens_per_param*", "loss*",
                "extrapolation", "reach", "params_spread", "params_spread_at_data", "band",
                "data_constrained", "cost", "hparams"),
    "fixed-size": ("compute_flops", "params", "tokens", "tokens_per_param", "loss*",
                   "params_optimal*", "loss_optimal*", "loss_penalty*",
                   "compute_equivalent_flops*", "compute_penalty*", "reach", "cost"),
    "target": ("loss", "reachable", "unreachable_fraction", "compute_flops*", "params*",
               "tokens*", "reach", "inference_aware", "cost"),
    "predict": ("params", "tokens", "unique_tokens", "compute_flops", "loss*", "reach"),
    "compare": ("method", "description", "params*", "tokens*", "compute_exponent*", "note"),
    "check": ("limit_name", "quantity", "value", "low", "high", "limit", "verdict", "note"),
    "compare-recipes": ("compute_flops", "multiplier*", "verdict", "variant_better_fraction",
                        "loss_baseline*", "loss_variant*", "loss_difference*",
                        "params_baseline*", "params_variant*", "reach_variant",
                        "reach_baseline"),
    "shape": ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "ffn_size",
              "aspect_ratio", "params", "params_ratio", "params_total", "params_non_embedding",
              "params_embedding", "tokens", "loss_cost*"),
    "backtest": ("id", "params", "tokens", "compute_flops", "extrapolation", "reach",
                 "actual_loss", "predicted_loss*", "prediction_interval", "relative_error",
                 "covered"),  # a held-out run
    # hparams: a recommendation at given (N, D), or a sweep cell (fit.hparams.CellOptimum)
    "recommendations": ("params", "tokens", *_ADVICE),
    "cells": ("params", "tokens", "runs", "near_best_runs", "best_loss", "best_run_id", "lr",
              "lr_low", "lr_high", "batch_tokens", "batch_tokens_low", "batch_tokens_high",
              "lr_at_edge", "batch_at_edge", "note"),
}
# `scaling curve` (render.curve_documents.curve_records): a forecast, or a predicted curve's
# step (--every); then the curve law's parameters (fit.curve_law: *Params.names).
_CURVE_ROW_KEYS = {
    "forecasts": ("question", "schedule", "step", "lr", "loss", "low", "high", "bootstrap_low",
                  "bootstrap_high", "allowance", "observed_loss", "observed_until_step"),
    "curve": ("schedule", "step", "lr", "loss", "low", "high", "observed_loss"),
}


def _is_estimate(obj: Any) -> bool:
    return isinstance(obj, dict) and set(obj) == {"value", "low", "high", "total_low",
                                                  "total_high", "units"}


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if _is_estimate(obj):
        out[prefix] = obj["value"]
        for key in ("low", "high", "total_low", "total_high"):
            out[f"{prefix}_{key}"] = obj[key]
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key in _SKIP:
                continue
            name = f"{prefix}_{key}" if prefix else key
            if value is None and key in _SECTIONS:
                for sub in _SECTIONS[key]:
                    plain = sub.rstrip("*")
                    out[f"{name}_{plain}"] = None
                    if sub.endswith("*"):
                        for key in ("low", "high", "total_low", "total_high"):
                            out[f"{name}_{plain}_{key}"] = None
            else:
                _flatten(name, value, out)
    elif not isinstance(obj, list):
        out[prefix] = obj


def fields_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per row of ``doc`` (one record for the law alone for ``fit``)."""
    kind = doc["schema"].removeprefix("scaling-cli/")
    law: dict[str, Any] = {}
    if "law" in doc:
        _flatten("", doc["law"], law)
    _flatten("", {key: doc[key] for key in _keys(_DOC_COLUMNS.get(kind, ()))}, law)
    tail = {"warnings": " | ".join(doc.get("warnings", []))}
    rows: list[dict[str, Any]] = []
    if kind == "backtest":
        for fold in doc["folds"]:
            for held in fold["held_out"]:
                flat: dict[str, Any] = {"fold_threshold_flops": fold["threshold_flops"]}
                _flatten("", held, flat)
                rows.append({**flat, **tail})
        return rows
    if kind in _ROWS_EITHER:
        key = next((k for k in _ROWS_EITHER[kind] if doc.get(k)), _ROWS_EITHER[kind][-1])
    elif kind in _ROWS:
        key = _ROWS[kind]
    else:
        return [{**law, **tail}]
    for item in doc[key]:
        record: dict[str, Any] = {}
        if kind == "compare":
            record["compute_flops"] = doc["compute_flops"]
        _flatten("", item, record)
        rows.append({**record, **law, **tail})
    return rows


def _keys(spec: Sequence[str]) -> list[str]:
    return [key.rstrip("*") for key in spec]


def _blank(spec: Sequence[str]) -> dict[str, Any]:
    """A part of a document with every key of ``spec`` (written as in _ROW_KEYS) and no
    values: sections null, estimates empty."""
    estimate = dict.fromkeys(("value", "low", "high", "total_low", "total_high", "units"))
    return {key.rstrip("*"): dict(estimate) if key.endswith("*") else None for key in spec}


def columns(kind: str, *, rows: str | None = None, law: bool = True) -> list[str]:
    """The names of the records (CSV columns, ``--field`` names) of a ``kind`` document
    (``optimal``, ``fixed-size``, ``fit``, ...), known before it is made. ``rows``: the
    list an ``hparams`` document's rows come from (``recommendations``, ``cells``, or None:
    no rows, so no names); ``law``: whether the document has a law (``shape --params`` has
    none)."""
    doc: dict[str, Any] = {"schema": f"scaling-cli/{kind}", "warnings": []}
    if law and kind in _LAWS:
        doc["law"] = _blank(_LAWS[kind])
    doc.update(_blank(_DOC_COLUMNS.get(kind, ())))
    if kind == "compare":  # the budget, first on every row
        doc["compute_flops"] = None
    if kind == "backtest":
        doc["folds"] = [{"threshold_flops": None, "held_out": [_blank(_ROW_KEYS[kind])]}]
    elif kind in _ROWS_EITHER:
        for key in _ROWS_EITHER[kind]:
            doc[key] = [_blank(_ROW_KEYS[key])] if key == rows else []
    elif kind in _ROWS:
        doc[_ROWS[kind]] = [_blank(_ROW_KEYS[kind])]
    return _names(fields_of(doc))


def curve_columns(law: str, *, every: bool = False) -> list[str]:
    """The names of a ``scaling curve`` document's records, known before it is made: its
    forecasts, or with ``every`` its predicted curves, each followed by the parameters of the
    curve ``law`` (``tissue``, ``multi-power``) and the warnings."""
    from scaling_cli.fit.curve_law import MultiPowerParams, TissueParams

    params: dict[str, tuple[str, ...]] = {"tissue": TissueParams.names,
                                           "multi-power": MultiPowerParams.names}
    return [*_CURVE_ROW_KEYS["curve" if every else "forecasts"], *params[law], "warnings"]


def check_fields(names: Sequence[str], known: Sequence[str]) -> None:
    """Refuse the first of ``names`` that is not in ``known`` (:func:`columns`), as rendering
    the document would: a UsageError on ``--field`` that lists the valid names."""
    for name in names:
        if name not in known:
            raise UsageError(f"{name!r}: no such field; choose one of {', '.join(known)}",
                             field="field")


def _names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key any row has, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    return repr(float(value))


def render_fields(doc: dict[str, Any], names: Sequence[str]) -> str:
    """The bare value(s) of ``names``, one line per row, tab-separated when several
    (``N=$(scaling optimal ... -q --field params)``)."""
    return rows_fields(fields_of(doc), names, lambda row, name: (
        f"{name}: no value here (intervals need bootstrap replicates, which a published law "
        "does not have; unreachable targets and unknown costs have none either)"))


def render_csv(doc: dict[str, Any]) -> str:
    return rows_csv(fields_of(doc))


def rows_fields(rows: Sequence[Mapping[str, Any]], names: Sequence[str],
                missing: Callable[[Mapping[str, Any], str], str]) -> str:
    """``names``' values of every row, tab-separated, a line per row; an unknown name or a
    row without a value (``missing`` says why) is a UsageError on ``--field``."""
    check_fields(names, _names(rows))
    out = []
    for row in rows:
        values = []
        for name in names:
            if row.get(name) is None:
                raise UsageError(missing(row, name), field="field")
            values.append(_text(row[name]))
        out.append("\t".join(values))
    return "\n".join(out) + "\n"


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV, a column for every key any row has (in first-seen order)."""
    names = _names(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _text(v) for k, v in row.items()})
    return buffer.getvalue()
