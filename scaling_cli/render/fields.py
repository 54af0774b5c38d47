"""Result documents -> flat records: CSV for spreadsheets, one bare number for shells.

A document's rows (budgets, predictions, targets, methods, backtest held-out runs) are
flattened the same way for every command: an estimate ``{"value", "low", "high", "units"}``
under key ``k`` becomes columns ``k``, ``k_low``, ``k_high``; a nested section (``band``,
``cost``, ``data_constrained``, ``inference_aware``) prefixes its keys (``cost_gpu_hours``).
The law's parameters (E, A, B, alpha, beta and their bounds) are appended to every row.

Kept apart from the rich tables (:mod:`scaling_cli.render.tables`) so that
``scaling optimal ... -q --field params`` never imports rich.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from scaling_cli.errors import UsageError

__all__ = ["fields_of", "render_csv", "render_field"]

_ROWS = ("budgets", "predictions", "targets", "methods", "checks")
_SKIP = {"units", "budget_given"}


def _is_estimate(obj: Any) -> bool:
    return isinstance(obj, dict) and {"value", "low", "high"} <= set(obj)


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if _is_estimate(obj):
        out[prefix] = obj["value"]
        out[f"{prefix}_low"] = obj["low"]
        out[f"{prefix}_high"] = obj["high"]
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in _SKIP:
                _flatten(f"{prefix}_{key}" if prefix else key, value, out)
    elif not isinstance(obj, list):
        out[prefix] = obj


def fields_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per row of ``doc`` (or one record for the law alone)."""
    law: dict[str, Any] = {}
    _flatten("", doc.get("law", {}), law)
    if "folds" in doc:
        rows = []
        for fold in doc["folds"]:
            for held in fold["held_out"]:
                record = {"fold_threshold_flops": fold["threshold_flops"]}
                _flatten("", held, record)
                rows.append(record)
        return rows
    for key in _ROWS:
        if key in doc:
            rows = []
            for item in doc[key]:
                record = {"compute_flops": doc["compute_flops"]} if key == "methods" else {}
                _flatten("", item, record)
                rows.append({**record, **law})
            return rows
    return [law]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return repr(float(value))


def render_field(doc: dict[str, Any], field: str) -> str:
    """The bare value(s) of ``field``, one line per row, for ``$(...)``."""
    rows = fields_of(doc)
    names = list(dict.fromkeys(key for row in rows for key in row))
    if field not in names:
        raise UsageError(f"--field {field!r}: no such field; choose one of {', '.join(names)}")
    out = []
    for row in rows:
        value = row.get(field)
        if value is None:
            raise UsageError(f"--field {field}: no value here (intervals need bootstrap "
                             "replicates, which a published --law does not have; "
                             "unreachable targets and unknown costs have none either)")
        out.append(_text(value))
    return "\n".join(out) + "\n"


def render_csv(doc: dict[str, Any]) -> str:
    rows = fields_of(doc)
    names = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else _text(v) for k, v in row.items()})
    return buffer.getvalue()
