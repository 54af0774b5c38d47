"""The ``scaling-cli/curve`` document as text: a table for people, CSV, or bare values.

Pure functions of the document :func:`~scaling_cli.render.curve_documents.curve_document`
builds, so the table, the CSV, ``--field`` and the JSON cannot disagree. The table shows
what was fitted, the forecasts (value in bold; beneath it the interval), the predicted
curve when asked, the law, and ends with the warnings, so a saved table keeps them. CSV and
``--field`` print the records of :func:`~scaling_cli.render.curve_documents.curve_records`
(the curve's rows when there are any, else the forecasts) as :mod:`scaling_cli.render.
fields` prints the other commands' rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scaling_cli.render.curve_documents import curve_records
from scaling_cli.render.fields import rows_csv, rows_fields
from scaling_cli.render.tables import warning_lines
from scaling_cli.render.text import Style, TextTable, cell
from scaling_cli.units import format_number

__all__ = ["curve_csv", "curve_fields", "curve_table"]

Doc = dict[str, Any]
_SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ"}


def _loss(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"  # logged losses are shown to 4 decimals too


def _lr(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"±{100 * x:.2f}%"


def curve_table(doc: Doc, style: Style | None = None) -> str:
    """Heading, forecasts, the predicted curve (if any), the law, then the warnings."""
    style = style or Style()
    level = f"{round(100 * doc['confidence'], 2):g}%"
    parts = [_heading(doc, style)]
    if doc["forecasts"]:
        parts.append(_forecasts(doc, level).render(style))
    schedules = list(dict.fromkeys(r["schedule"] for r in doc["curve"]))
    for name in schedules:
        parts.append(_curve(doc, name, level).render(style))
    parts.append(_law_line(doc, style))
    if doc["warnings"]:
        parts.append(warning_lines(doc["warnings"], style))
    return "\n".join(p.rstrip("\n") + "\n" for p in parts if p)


def _heading(doc: Doc, style: Style) -> str:
    curves = doc["inputs"]["curves"]
    run = next((c for c in curves if c["role"] == "run"), None)
    refs = [c for c in curves if c["role"] == "reference"]
    what = f"{doc['law']['name']} law fitted to {_plural(len(curves), 'curve')} " \
           f"({doc['fit']['points']:,} points)"
    if run is not None:
        what += f": run {run['run_id']!r} (steps {run['first_step']:,} to {run['last_step']:,}"
        what += f" of {run['total_steps'] - 1:,})"
        if refs:
            what += f" and {_plural(len(refs), 'reference')}"
    lines = [style.apply(what, "bold")]
    files = doc["inputs"]["sources"]
    if files:
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        lines.append(style.apply(f"inputs: {shown}", "dim"))
    return "\n".join(lines) + "\n"


def _plural(n: int, word: str) -> str:
    return f"1 {word}" if n == 1 else f"{n:,} {word}s"


def _forecasts(doc: Doc, level: str) -> TextTable:
    table = TextTable(f"Loss forecasts (value, then {level} interval)",
                      ["", "schedule", "step", "lr", "loss\n(nats/token)", "law error\nallowed",
                       "logged\nloss"], frozenset({0, 1}))
    for f in doc["forecasts"]:
        table.add_row(
            "final" if f["question"] == "final" else "under", f["schedule"], f"{f['step']:,}",
            _lr(f["lr"]), cell((_loss(f["loss"]), "bold"),
                               (f"{_loss(f['low'])} – {_loss(f['high'])}", "dim")),
            _pct(f["allowance"]), _loss(f["observed_loss"]) if f["observed_loss"] else "")
    return table


def _curve(doc: Doc, name: str, level: str) -> TextTable:
    table = TextTable(f"Predicted curve: {name}", ["step", "lr", "logged\nloss",
                                                   "loss\n(nats/token)", f"{level}\ninterval"])
    for r in (r for r in doc["curve"] if r["schedule"] == name):
        table.add_row(f"{r['step']:,}", _lr(r["lr"]),
                      "" if r["observed_loss"] is None else _loss(r["observed_loss"]),
                      _loss(r["loss"]), f"{_loss(r['low'])} – {_loss(r['high'])}")
    return table


def _law_line(doc: Doc, style: Style) -> str:
    law, fit, boot = doc["law"], doc["fit"], doc["bootstrap"]
    params = ", ".join(f"{_SYMBOLS.get(k, k)} = {format_number(v, digits=4)}"
                       for k, v in law["params"].items() if v is not None)
    verified = "verified" if fit["verified"] else style.apply("NOT verified", "red")
    return (f"{style.apply('Law', 'bold')}  {law['formula']}\n  {params}\n"
            + style.apply(f"  optimum {verified}: {fit['starts_agreeing']} of {fit['starts']} "
                          f"starts agree, {fit['starts_failed']} failed; {boot['resamples']:,} "
                          f"{boot['scheme']} bootstrap refits ({boot['failed']} failed), seed "
                          f"{boot['seed']}", "dim") + "\n")


# --------------------------------------------------------------------------- CSV, --field


def curve_csv(doc: Doc) -> str:
    return rows_csv(curve_records(doc))


def curve_fields(doc: Doc, names: Sequence[str]) -> str:
    """The bare value(s) of ``names``, one line per row, tab-separated when several."""
    return rows_fields(curve_records(doc), names, lambda row, name: (
        f"{name}: no value in row {row.get('schedule')!r} step {row.get('step')} (nothing "
        "was logged there)"))
