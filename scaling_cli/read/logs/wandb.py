"""Weights & Biases CSV exports -> curves. Three layouts, told apart by the header
(:func:`layout`):

``summary``
    The project's Runs table, "Export as CSV": one row per run, columns ``Name``, ``State``,
    ``Notes``, ``User``, ``Tags``, ``Created``, ``Runtime``, ``Sweep`` (those shown), then
    config and summary keys (``loss``, ``_step``, ``model/num_parameters``, ...). A summary
    value is the LAST value the run logged (or one the script set), so each row is a
    one-point curve and only the ``last`` reduction applies; its step is the ``_step``
    column, or NaN when the export has none. A row whose ``State`` is not ``finished``
    (crashed, failed, killed, running) is refused, or skipped with ``skip_invalid``; so is
    a row with an empty loss cell. Runs are named by ``Name`` (map ``--column id=ID`` for
    W&B's run ids: display names need not be unique, and a name used twice is refused).
``history-long``
    Run history as the public API gives it (``run.history()`` / ``run.scan_history()``,
    or ``api.runs(...).histories()``, which adds a ``run_id`` column), saved as CSV: one row
    per logged step and run, columns ``_step``, ``_runtime``, ``_timestamp`` and the
    logged keys. Without a run column the file is one run, named by the caller.
``history-wide``
    A line plot's "Export panel data" CSV: a ``Step`` column, then per run ``RUN - METRIC``
    with ``RUN - METRIC__MIN`` and ``__MAX`` (ignored: they are the same value unless the
    panel groups runs). Fields are looked up among the columns without `` - `` first, then
    among the metric names.

In every history, an empty loss cell means the run logged no loss at that step (W&B rows
hold whatever one ``wandb.log`` call logged): not a point. W&B's ``_step`` counts
``wandb.log`` calls, which is the optimizer step only if the script logged once per step
or passed ``step=``; map ``--column step=trainer/global_step`` (or your key) when not.
Panel exports and ``run.history()`` are SAMPLED (about 500-1,500 points); use
``scan_history()`` for every point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from scaling_cli.errors import InputError
from scaling_cli.read.logs.curves import Curve
from scaling_cli.read.logs.names import LOG_ALIASES, WANDB_SEP
from scaling_cli.read.logs.names import wandb_layout as layout
from scaling_cli.read.logs.series import (
    LogOptions,
    Problems,
    Series,
    resolve_fields,
    text_number,
    whole_step,
)
from scaling_cli.read.tables import csv_rows, run_id_text
from scaling_cli.units import QuantityError, shown

__all__ = ["SUMMARY_ALIASES", "layout", "read_wandb_history", "read_wandb_summary"]

SUMMARY_ALIASES: Mapping[str, tuple[str, ...]] = {**LOG_ALIASES, "id": ("Name",)}
_SEP = WANDB_SEP


def _stripped(header: list[str], rows: Iterator[tuple[int, list[str]]],
              ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """W&B cells are compared as text (``State``, empty cells): strip them once."""
    return header, ((line, [cell.strip() for cell in row]) for line, row in rows)


def _number(run: Series, line: int, field: str, cell: str, *, allow_zero: bool) -> float:
    try:
        value = text_number(cell, allow_zero=allow_zero)
        return whole_step(value) if field == "step" else value
    except QuantityError as exc:
        raise InputError(run.message(line, f"field {field!r}: {exc.problem}")) from None


def _required(run: Series, line: int, field: str, cell: str) -> str:
    if not cell:
        raise InputError(run.message(line, f"field {field!r} is empty; a row with a loss "
                                           f"needs its {field}"))
    return cell


# --------------------------------------------------------------------------- summary


def read_wandb_summary(name: str, text: str, options: LogOptions,
                       problems: Problems) -> list[Curve]:
    """One-point curves from a Runs-table export (see the module docstring)."""
    header, rows = _stripped(*csv_rows(name, text))
    fields = resolve_fields(name, header, options,
                            wanted=("id", "step", "tokens", "loss", "lr", "params"),
                            required=("id", "loss", "tokens"), aliases=SUMMARY_ALIASES)
    if "tokens" not in fields and "step" not in fields:
        raise InputError(f"{name}: no column for 'step' (tokens are step x --tokens-per-step); "
                         "map it with --column step=COLUMN")
    index = {h: i for i, h in enumerate(header)}
    state = index.get("State")
    by_id: dict[str, list[tuple[int, list[str]]]] = {}
    for line, row in rows:
        run_id = run_id_text(row[index[fields["id"]]], f"{name}: line {line}")
        by_id.setdefault(run_id, []).append((line, row))
    curves = []
    for run_id, found in by_id.items():
        line, row = found[0]
        run = Series(run_id, name, "line")
        try:
            if len(found) > 1:
                raise InputError(run.message(found[1][0], f"the run name is also on line "
                                                          f"{line}; W&B names need not be "
                                                          "unique: map --column id=ID"))
            if state is not None and row[state].lower() != "finished":
                raise InputError(run.message(line, f"State is {shown(row[state])}, not "
                                                   "'finished'; its summary is not a finished "
                                                   "run's final loss: delete the row, or skip "
                                                   "it with --skip-invalid"))
            _summary_point(run, line, row, index, fields)
            curves.append(run.curve(options, {"format": "wandb-summary",
                                              "loss_key": fields["loss"]}))
        except InputError as exc:
            problems.run_failed(name, run_id, str(exc))
    return curves


def _summary_point(run: Series, line: int, row: list[str], index: Mapping[str, int],
                   fields: Mapping[str, str]) -> None:
    cell = row[index[fields["loss"]]]
    if not cell:
        raise InputError(run.message(line, "field 'loss' is empty (the run logged no loss?); "
                                           "fill in the cell or delete the row"))
    loss = _number(run, line, "loss", cell, allow_zero=False)
    step = math.nan
    if "step" in fields:
        step = _number(run, line, "step", _required(run, line, "step",
                                                    row[index[fields["step"]]]),
                       allow_zero=True)
    tokens = None
    if "tokens" in fields:
        tokens = _number(run, line, "tokens", _required(run, line, "tokens",
                                                        row[index[fields["tokens"]]]),
                         allow_zero=True)
    lr = None
    if "lr" in fields and row[index[fields["lr"]]]:
        lr = _number(run, line, "lr", row[index[fields["lr"]]], allow_zero=True)
    if "params" in fields and row[index[fields["params"]]]:
        run.set_params(line, _number(run, line, "params", row[index[fields["params"]]],
                                     allow_zero=False))
    run.add(line, step, loss, tokens, lr)


# --------------------------------------------------------------------------- history


def read_wandb_history(name: str, text: str, options: LogOptions, problems: Problems,
                       *, default_id: str) -> list[Curve]:
    """Curves from a history export, long or wide (see the module docstring)."""
    header, rows = _stripped(*csv_rows(name, text))
    if layout(header) == "history-wide":
        return _wide(name, header, rows, options, problems)
    fields = resolve_fields(name, header, options,
                            wanted=("id", "step", "tokens", "loss", "lr", "params"),
                            required=("step", "loss", "tokens"))
    index = {h: i for i, h in enumerate(header)}
    columns = {f: index[c] for f, c in fields.items()}
    series: dict[str, Series] = {}
    ids: dict[str, str] = {}  # cell -> checked id: checked once per run, not once per row
    for line, row in rows:
        if "id" in columns:
            cell = row[columns["id"]]
            if cell not in ids:
                ids[cell] = run_id_text(cell, f"{name}: line {line}")
            run_id = ids[cell]
        else:
            run_id = default_id
        if problems.is_skipped(name, run_id):
            continue
        run = series.get(run_id) or series.setdefault(run_id, Series(run_id, name, "line"))
        try:
            _history_point(run, line, {f: row[i] for f, i in columns.items()})
        except InputError as exc:
            problems.run_failed(name, run_id, str(exc))
    return _finish(name, series, options, problems, fields["loss"])


def _history_point(run: Series, line: int, cells: Mapping[str, str]) -> None:
    if not cells["loss"]:
        return  # this row logged other keys
    loss = _number(run, line, "loss", cells["loss"], allow_zero=False)
    step = _number(run, line, "step", _required(run, line, "step", cells["step"]),
                   allow_zero=True)
    tokens = None
    if "tokens" in cells:
        tokens = _number(run, line, "tokens", _required(run, line, "tokens", cells["tokens"]),
                         allow_zero=True)
    lr = _number(run, line, "lr", cells["lr"], allow_zero=True) if cells.get("lr") else None
    if cells.get("params"):
        run.set_params(line, _number(run, line, "params", cells["params"], allow_zero=False))
    run.add(line, step, loss, tokens, lr)


def _finish(name: str, series: Mapping[str, Series], options: LogOptions, problems: Problems,
            loss_key: str) -> list[Curve]:
    curves = []
    for run_id, run in series.items():
        if problems.is_skipped(name, run_id):
            continue
        try:
            curves.append(run.curve(options, {"format": "wandb-history", "loss_key": loss_key}))
        except InputError as exc:
            problems.run_failed(name, run_id, str(exc))
    return curves


def _wide(name: str, header: list[str], rows: Iterator[tuple[int, list[str]]],
          options: LogOptions, problems: Problems) -> list[Curve]:
    shared = [h for h in header if _SEP not in h and h]
    per_run: dict[str, dict[str, int]] = {}  # run -> metric -> column index
    for i, h in enumerate(header):
        if _SEP in h and not h.endswith(("__MIN", "__MAX")):
            run_name, metric = h.rsplit(_SEP, 1)
            per_run.setdefault(run_name.strip(), {})[metric.strip()] = i
    metrics = list(dict.fromkeys(m for cols in per_run.values() for m in cols))
    fields = resolve_fields(name, shared + [m for m in metrics if m not in shared], options,
                            wanted=("step", "tokens", "loss", "lr", "params"),
                            required=("step", "loss", "tokens"))
    index = {h: i for i, h in enumerate(header)}
    plans: dict[str, dict[str, int]] = {}
    series: dict[str, Series] = {}
    for run_name, cols in per_run.items():
        run_id = run_id_text(run_name, f"{name}: line 1")
        plan = {f: index[c] if c in shared else cols.get(c, -1) for f, c in fields.items()}
        series[run_id] = Series(run_id, name, "line")
        missing = [f for f in ("loss", "step", "tokens") if plan.get(f) == -1]
        if missing:
            problems.run_failed(name, run_id, f"{name}: line 1 (id {shown(run_id)}): no column "
                                f"{shown(run_name + _SEP + fields[missing[0]])}; export the "
                                "panel with that metric for every run")
            continue
        plans[run_id] = {f: i for f, i in plan.items() if i >= 0}
    for line, row in rows:
        for run_id, plan in plans.items():
            if problems.is_skipped(name, run_id):
                continue
            try:
                _history_point(series[run_id], line, {f: row[i] for f, i in plan.items()})
            except InputError as exc:
                problems.run_failed(name, run_id, str(exc))
    return _finish(name, series, options, problems, fields["loss"])

