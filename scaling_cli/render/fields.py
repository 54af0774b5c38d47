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

Kept apart from the text tables so that ``scaling optimal ... -q --field params`` stays
light.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scaling_cli.errors import UsageError

__all__ = ["fields_of", "render_csv", "render_fields", "rows_csv", "rows_fields"]

_EST = ("value", "low", "high")
# The keys of sections that may be null, so their columns exist either way.
_SECTIONS: dict[str, tuple[str, ...]] = {
    "band": ("tolerance", "params_smallest*", "params_largest*", "tokens_at_smallest*",
             "tokens_at_largest*"),
    "data_constrained": ("unique_tokens", "data_limited", "epochs*", "effective_tokens*",
                         "loss_unlimited*", "loss_ignoring_limit*"),
    "cost": ("gpu_hours", "days", "usd"),
    "reach": ("compute_flops", "params", "tokens_per_param", "epochs", "beyond"),
    "inference_aware": ("inference_tokens", "params*", "tokens*", "training_flops*",
                        "inference_flops*", "total_flops*", "total_flops_chinchilla*"),
    "prediction_interval": ("low", "high"),
    "hparams": ("source", "lr*", "batch_tokens*", "batch_sequences*", "seq_len", "lr_law_only*",
                "lr_allocation_only*", "batch_tokens_law_only*",
                "batch_tokens_allocation_only*", "samples"),
}
_SKIP = {"units", "budget_given", "warnings", "form"}
_ROWS = {"optimal": "budgets", "fixed-size": "budgets", "target": "targets",
         "predict": "predictions", "compare": "methods", "check": "checks",
         "compare-recipes": "budgets", "shape": "shapes"}
# Documents whose rows are the first of these lists that is not empty.
_ROWS_EITHER = {"hparams": ("recommendations", "cells")}
# Document-level sections repeated on every row (after the row's own columns).
_DOC_COLUMNS = {"compare-recipes": ("mode", "crossover", "speedup"),
                "shape": ("compute_flops", "target_params", "params_definition")}


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
    for key in _DOC_COLUMNS.get(kind, ()):
        _flatten(key, doc[key], law)
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
    known = list(dict.fromkeys(key for row in rows for key in row))
    for name in names:
        if name not in known:
            raise UsageError(f"{name!r}: no such field; choose one of {', '.join(known)}",
                             field="field")
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
    names = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _text(v) for k, v in row.items()})
    return buffer.getvalue()
