"""Result documents -> rich tables for people.

Pure functions of the documents built by :mod:`scaling_cli.render.documents`; the CSV and
``--field`` renderings (:mod:`scaling_cli.render.fields`) read the same documents, so the table,
the CSV, the bare numbers and the JSON cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from scaling_cli.units import format_count, format_flops, format_number

__all__ = ["ci_label", "fmt", "render_table", "render_warnings", "value_cell"]

_PARAM_LABELS = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β"}


def fmt(name: str, x: float | None) -> str:
    if x is None:
        return "—"
    if name in {"params", "tokens"}:
        return format_count(x)
    if name == "compute_flops":
        return format_flops(x)
    if name == "tokens_per_param":
        return format_number(x, digits=3)
    return format_number(x, digits=4)


def new_table(title: str, columns: list[str | tuple[str, str]]) -> Table:
    """A table in the house style: no edges, two spaces between columns, right-aligned
    unless a column says ``(header, "left")``.

    Compact so that the widest tables fit 80 columns with every value whole; long headers
    are broken by hand (``"tokens/\\nparam"``) so no header is wider than its values
    (rich would otherwise cut a header, or a value, to ``tokens/pa…``).
    """
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                  padding=(0, 0, 0, 1))
    for col in columns:
        header, justify = (col, "right") if isinstance(col, str) else col
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    return table


def value_cell(name: str, est: dict[str, Any]) -> Text:
    text = Text(fmt(name, est["value"]), style="bold")
    if est["low"] is not None:
        text.append(f"\n{fmt(name, est['low'])} – {fmt(name, est['high'])}", style="dim")
    return text


def _heading(doc: dict[str, Any]) -> Text:
    """What was fitted and under which convention; then, dimmed, which files."""
    source = doc.get("law_source", "runs")
    inputs: dict[str, Any] | None = doc.get("inputs")
    if inputs is not None and doc["schema"] == "scaling-cli/backtest":
        what = f"backtest of the {doc['method']} fit on {inputs['runs_used']} runs"
    elif source.startswith("preset:"):
        what = f"published law {source.split(':', 1)[1]} (no runs, so no intervals)"
    elif inputs is not None:
        excl = f", {inputs['runs_excluded']} excluded" if inputs["runs_excluded"] else ""
        what = f"law fitted to {inputs['runs_used']} runs{excl}"
        if source.startswith("fit-file:"):
            what += f", read from {source.split(':', 1)[1]}"
    else:
        what = source
    text = Text(f"{what}; FLOPs convention {doc['convention']['formula']}\n", style="bold")
    if inputs is not None:
        files = inputs["sources"]
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        text.append(f"inputs: {shown} (sha256 {inputs['sha256'][:12]})", style="dim")
    return text


def _law_table(doc: dict[str, Any]) -> Table:
    ci = ci_label(doc)
    table = new_table("Fitted law  L(N, D) = E + A/N^α + B/D^β",
                      [("parameter", "left"), "value", ci, ("units", "left")])
    for name, est in doc["law"].items():
        interval = "—" if est["low"] is None else (
            f"{fmt(name, est['low'])} – {fmt(name, est['high'])}")
        table.add_row(_PARAM_LABELS[name], fmt(name, est["value"]), interval, est["units"])
    return table


def ci_label(doc: dict[str, Any]) -> str:
    return f"{round(100 * doc.get('confidence', 0.95), 2):g}% interval"


def _budget_label(b: dict[str, Any]) -> Text:
    text = Text(format_flops(b["compute_flops"]))
    given = b.get("budget_given")
    if given and given["unit"] != "flops":
        text.append(f"\n= {given['text']}", style="dim")
    return text


def _budget_table(doc: dict[str, Any]) -> Table:
    limited = doc["budgets"][0].get("data_constrained") is not None
    title = "Compute-optimal allocation" + (" with limited unique data" if limited else "")
    band = doc["budgets"][0].get("band")
    cols: list[str | tuple[str, str]] = [
        "budget\n(FLOPs)", "params\nN*", "tokens\nD*", "tokens/\nparam", "loss\n(nats/token)"]
    if band is not None:
        cols.append(f"sizes within\n{100 * band['tolerance']:g}% of best\nloss")
    if limited:
        cols += ["epochs of\nunique\ndata", "loss with\nunlimited\ndata"]
    table = new_table(f"{title} (value, then {ci_label(doc)})", cols)
    for b in doc["budgets"]:
        row = [_budget_label(b), value_cell("params", b["params"]),
               value_cell("tokens", b["tokens"]),
               value_cell("tokens_per_param", b["tokens_per_param"]),
               value_cell("loss", b["loss"])]
        if band is not None:
            lo, hi = b["band"]["params_smallest"], b["band"]["params_largest"]
            row.append(Text(f"{fmt('params', lo['value'])} – {fmt('params', hi['value'])}",
                            style="bold"))
        if limited:
            data = b["data_constrained"]
            row += [value_cell("tokens_per_param", data["epochs"]),
                    value_cell("loss", data["loss_unlimited"])]
        table.add_row(*row)
    return table


def _predict_table(doc: dict[str, Any]) -> Table:
    table = new_table(f"Predicted loss of the fitted surface (value, then {ci_label(doc)})",
                      ["params N", "tokens D", "compute (FLOPs)", "loss (nats/token)"])
    for p in doc["predictions"]:
        table.add_row(format_count(p["params"]), format_count(p["tokens"]),
                      format_flops(p["compute_flops"]), value_cell("loss", p["loss"]))
    return table


def _compare_table(doc: dict[str, Any]) -> Table:
    table = new_table(f"N* at {format_flops(doc['compute_flops'])} FLOPs by fitting method "
                      f"(value, then {ci_label(doc)})",
                      [("method", "left"), "params N*", "tokens D*", "a (N* ~ C^a)",
                       ("note", "left")])
    for m in doc["methods"]:
        if m["params"] is None:
            table.add_row(m["method"], "—", "—", "—", m["note"])
            continue
        table.add_row(m["method"], value_cell("params", m["params"]),
                      value_cell("tokens", m["tokens"]),
                      value_cell("tokens_per_param", m["compute_exponent"]), m["note"])
    return table


def _spread_line(doc: dict[str, Any]) -> Text:
    spread = doc.get("params_spread")
    if spread is None:
        return Text("model uncertainty: fewer than two methods apply\n", style="dim")
    stat = doc["methods"][0]["params"]
    text = f"model uncertainty: N* spans x{spread:.2f} across methods"
    if stat["low"] is not None:
        text += (f" (the {ci_label(doc)} of {doc['methods'][0]['method']} alone spans "
                 f"x{stat['high'] / stat['low']:.2f})")
    return Text(text + "\n", style="bold")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _backtest_tables(doc: dict[str, Any]) -> list[Any]:
    ci = ci_label(doc).replace(" interval", "")
    folds = new_table("Backtest: fit below a compute threshold, predict the runs above",
                      ["trained below\n(FLOPs)", "train\nruns", "held\nout",
                       "median\n|error|", "max\n|error|", f"covered by\n{ci} PI"])
    for f in doc["folds"]:
        folds.add_row(format_flops(f["threshold_flops"]), str(f["train_runs"]),
                      str(len(f["held_out"])), _pct(f["median_abs_relative_error"]),
                      _pct(f["max_abs_relative_error"]), _pct(f["coverage"]))
    worst = sorted((h for f in doc["folds"] for h in f["held_out"]),
                   key=lambda h: -abs(h["relative_error"]))[:8]
    runs = new_table("Largest errors (PI: prediction interval for one run's loss)",
                     [("run", "left"), "params", "tokens", "x largest\ntrain", "actual",
                      "predicted", f"{ci} PI", "error", "covered"])
    for h in worst:
        pi = h["prediction_interval"]
        runs.add_row(h["id"], format_count(h["params"]), format_count(h["tokens"]),
                     f"{h['extrapolation']:.3g}", f"{h['actual_loss']:.4g}",
                     f"{h['predicted_loss']['value']:.4g}",
                     "—" if pi["low"] is None else f"{pi['low']:.4g} – {pi['high']:.4g}",
                     f"{100 * h['relative_error']:+.2f}%",
                     {True: "yes", False: "NO", None: "—"}[h["covered"]])
    s = doc["summary"]
    line = Text(f"{s['held_out_predictions']} held-out predictions: median |error| "
                f"{_pct(s['median_abs_relative_error'])}, max {_pct(s['max_abs_relative_error'])}"
                f", coverage {_pct(s['coverage'])} (nominal {ci})\n", style="bold")
    return [folds, runs, line]


def _health(doc: dict[str, Any]) -> Text:
    fit, boot = doc.get("fit"), doc.get("bootstrap")
    lines = Text()
    if fit is not None:
        verdict = "verified" if fit["verified"] else "NOT verified"
        lines.append(
            f"fit ({fit['method']}{_constraint_text(fit['constraints'])}): {verdict} optimum, "
            f"objective {fit['objective']:.6g} (sum of Huber δ={fit['huber_delta']:g}), "
            f"{fit['starts_agreeing']} of {fit['starts']} starts agree, Newton decrement "
            f"{fit['newton_decrement']:.1e}\n", style="dim" if fit["verified"] else "bold red")
        flat = max(fit["flat_direction"].items(), key=lambda kv: abs(kv[1]))[0]
        cond = fit["condition_number"]
        lines.append(
            f"health: median |log residual| {fit['residual_mad']:.3g}, "
            f"{len(fit['large_residuals'])} large; Hessian condition "
            f"{'inf' if cond is None else f'{cond:.1e}'}, flattest along {flat}"
            f"{'; at bounds: ' + ', '.join(fit['at_bounds']) if fit['at_bounds'] else ''}\n",
            style="dim")
    if boot is not None:
        lines.append(
            f"intervals: {boot['replicates']:,} bootstrap replicates by {boot['resample_by']} "
            f"({boot['n_units']:,} units), seed {boot['seed']}, percentile method; "
            f"{boot['failed']} failed, {boot['degenerate']} degenerate\n", style="dim")
    return lines


def _constraint_text(constraints: dict[str, Any]) -> str:
    parts = [f"{k}={v:g}" for k, v in constraints["fixed"].items()]
    if constraints["tied_exponents"]:
        parts.append("alpha=beta")
    return f", {', '.join(parts)}" if parts else ""


def render_table(doc: dict[str, Any], console: Console) -> None:
    """Print a result document as tables for people."""
    parts: list[Any] = [_heading(doc)]
    if "law" in doc:
        parts.append(_law_table(doc))
    if "budgets" in doc:
        from scaling_cli.render.tables_plan import cost_table, fixed_size_table

        parts.append(fixed_size_table(doc) if doc["schema"].endswith("fixed-size")
                     else _budget_table(doc))
        parts.append(cost_table(doc))
    if "targets" in doc:
        from scaling_cli.render.tables_plan import target_table

        parts.append(target_table(doc))
    if "checks" in doc:
        from scaling_cli.render.tables_plan import check_table

        parts.append(check_table(doc))
    if "predictions" in doc:
        parts.append(_predict_table(doc))
    if "methods" in doc:
        parts += [_compare_table(doc), _spread_line(doc)]
    if "folds" in doc:
        parts += _backtest_tables(doc)
    parts.append(_health(doc))
    console.print(Group(*parts))


def render_warnings(warnings: Iterable[str], console: Console) -> None:
    for w in warnings:
        console.print(f"[yellow]Warning:[/] {w}", highlight=False)
