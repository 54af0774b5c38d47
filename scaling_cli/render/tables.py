"""JSON documents -> text tables for people (the default ``--format table``).

Pure functions of the documents built by :mod:`scaling_cli.render.documents`; the CSV and
``--field`` renderings (:mod:`scaling_cli.render.fields`) read the same documents, so the
table, the CSV, the bare numbers and the JSON cannot disagree. Which tables to draw follows
the document's ``schema``, never which keys it happens to have. A table ends with the
document's warnings, so a saved table keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scaling_cli.render.text import Cell, Style, TextTable, cell
from scaling_cli.units import format_count, format_flops, format_number

__all__ = ["ci_label", "fmt", "laws_table", "render_table", "schema_table", "warning_lines"]

_PARAM_LABELS = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β"}
Doc = dict[str, Any]


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


def ci_label(doc: Doc) -> str:
    return f"{round(100 * doc.get('confidence', 0.95), 2):g}% interval"


def intervals_label(doc: Doc) -> str:
    """What the lines under a value are: the statistical interval, then the total one."""
    level = f"{round(100 * doc.get('confidence', 0.95), 2):g}%"
    if doc.get("form") is None or doc["form"].get("form_error") is None:
        return f"value, then {level} interval"
    return f"value, then {level} statistical interval, then {level} total interval"


def value_cell(name: str, est: Doc | None) -> Cell:
    """The value in bold; beneath it the statistical interval (dimmed) and the total one
    when the document has one (an interval may exclude the value)."""
    if est is None or (est["value"] is None and est["low"] is None):
        return cell("—")
    stat = None if est["low"] is None and est["high"] is None else (
        f"{fmt(name, est['low'])} – {fmt(name, est['high'])}", "dim")
    total = None
    if est.get("total_low") is not None or est.get("total_high") is not None:
        total = f"{fmt(name, est['total_low'])} – {fmt(name, est['total_high'])}"
        if stat is None:  # keep each line's meaning: no bootstrap, no statistical interval
            stat = ("—", "dim")
    return cell((fmt(name, est["value"]), "bold"), stat, total)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _heading(doc: Doc, style: Style) -> str:
    """What was fitted and under which convention; then, dimmed, which files."""
    source = doc.get("law_source", "runs")
    inputs: Doc | None = doc.get("inputs")
    if doc["schema"] == "scaling-cli/backtest" and inputs is not None:
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
    lines = [style.apply(f"{what}; FLOPs convention {doc['convention']['formula']}", "bold")]
    if inputs is not None:
        files = inputs["sources"]
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        lines.append(style.apply(f"inputs: {shown} (sha256 {inputs['sha256'][:12]})", "dim"))
    return "\n".join(lines) + "\n"


def _law_table(doc: Doc) -> TextTable:
    table = TextTable("Fitted law  L(N, D) = E + A/N^α + B/D^β",
                      ["parameter", "value", ci_label(doc), "units"], frozenset({0, 3}))
    for name, est in doc["law"].items():
        interval = "—" if est["low"] is None else (
            f"{fmt(name, est['low'])} – {fmt(name, est['high'])}")
        table.add_row(_PARAM_LABELS[name], fmt(name, est["value"]), interval, est["units"])
    return table


def _budget_label(b: Doc) -> Cell:
    """The budget in FLOPs, and beneath it the amount as written when in other units."""
    given = b.get("budget_given")
    if not given or given["unit"] == "flops":
        return cell(format_flops(b["compute_flops"]))
    amount = format_count(given["amount"])
    written = f"${amount}" if given["unit"] == "usd" else f"{amount} {given['unit']}"
    return cell(format_flops(b["compute_flops"]), (f"= {written}", "dim"))


def _repeated(doc: Doc) -> bool:
    """Whether the fitted runs repeated their data (the epochs axis then matters)."""
    inputs = doc.get("inputs") or {}
    return (inputs.get("epochs_max") or 1.0) > 1.0


def _reach_text(reach: Doc | None) -> str:
    """The largest factor beyond the fitted runs, e.g. "C 998x" or "D/N 4.2x"."""
    if reach is None:
        return "—"
    parts = []
    for key, label in (("compute_flops", "C"), ("params", "N"), ("tokens_per_param", "D/N"),
                       ("epochs", "epochs")):
        f = reach.get(key)
        if f is None or f == 1.0:
            continue
        shown = f if f >= 1 else 1 / f
        arrow = "" if f >= 1 else "÷"
        parts.append(f"{label} {arrow}{shown:,.0f}x" if shown >= 10
                     else f"{label} {arrow}{shown:.2g}x")
    return ", ".join(parts) if parts else "inside"


def _optimal_table(doc: Doc) -> TextTable:
    first = doc["budgets"][0]
    limited = first.get("data_constrained") is not None
    band = first.get("band")
    title = "Compute-optimal allocation" + (" with limited unique data" if limited else "")
    cols = ["budget\n(FLOPs)", "params\nN*", "tokens\nD*", "tokens/\nparam",
            "loss\n(nats/token)"]
    if band is not None:
        cols.append(f"sizes within\n{100 * band['tolerance']:g}% of best\nloss")
    if limited:
        cols += ["epochs of\nunique\ndata", "loss with\nunlimited\ndata"]
    cols.append("beyond\nthe runs")
    table = TextTable(f"{title} ({intervals_label(doc)})", cols, frozenset({len(cols) - 1}))
    for b in doc["budgets"]:
        row: list[Cell | str] = [_budget_label(b), value_cell("params", b["params"]),
                                 value_cell("tokens", b["tokens"]),
                                 value_cell("tokens_per_param", b["tokens_per_param"]),
                                 value_cell("loss", b["loss"])]
        if band is not None:
            lo, hi = b["band"]["params_smallest"], b["band"]["params_largest"]
            row.append(cell((f"{fmt('params', lo['value'])} – {fmt('params', hi['value'])}",
                             "bold")))
        if limited:
            data = b["data_constrained"]
            row += [value_cell("tokens_per_param", data["epochs"]),
                    value_cell("loss", data["loss_unlimited"])]
        row.append(_reach_text(b.get("reach")))
        table.add_row(*row)
    return table


def _pct_cell(est: Doc, transform: Callable[[float], float] = lambda p: p) -> Cell:
    def p(x: float | None) -> str:
        return "—" if x is None else f"{100 * transform(x):.1f}%"
    return cell((p(est["value"]), "bold"),
                None if est["low"] is None else (f"{p(est['low'])} – {p(est['high'])}", "dim"))


def _fixed_size_table(doc: Doc) -> TextTable:
    table = TextTable(f"Fixed model size vs compute-optimal ({intervals_label(doc)})",
                      ["budget\n(FLOPs)", "params\nN", "tokens\nD", "tokens/\nparam",
                       "loss\n(nats/\ntoken)", "optimal\nN*", "loss at\nN*", "loss\npenalty",
                       "compute\nwasted"])
    for b in doc["budgets"]:
        # compute_penalty p = C / C_eq - 1: the share of the budget that buys nothing, p/(1+p).
        table.add_row(format_flops(b["compute_flops"]), format_count(b["params"]),
                      format_count(b["tokens"]), format_count(b["tokens_per_param"]),
                      value_cell("loss", b["loss"]), value_cell("params", b["params_optimal"]),
                      value_cell("loss", b["loss_optimal"]),
                      value_cell("loss", b["loss_penalty"]),
                      _pct_cell(b["compute_penalty"], lambda p: p / (1 + p)))
    return table


def _flops_cell(est: Doc) -> Cell:
    def f(x: float | None) -> str:
        return "unreachable" if x is None else format_flops(x)
    show_interval = est["low"] is not None or est["high"] is not None
    return cell((f(est["value"]), "bold"),
                (f"{f(est['low'])} – {f(est['high'])}", "dim") if show_interval else None)


def _target_tables(doc: Doc) -> list[TextTable]:
    table = TextTable(f"Least compute reaching a target loss ({intervals_label(doc)})",
                      ["target\nloss", "compute\n(FLOPs)", "params\nN*", "tokens\nD*",
                       "replicates\nunreachable", "beyond\nthe runs"], frozenset({5}))
    for t in doc["targets"]:
        share = _pct(t["unreachable_fraction"])
        if not t["reachable"]:
            table.add_row(f"{t['loss']:.4g}", cell(("unreachable: at or below E", "bold red")),
                          "—", "—", share, "—")
            continue
        table.add_row(f"{t['loss']:.4g}", _flops_cell(t["compute_flops"]),
                      value_cell("params", t["params"]), value_cell("tokens", t["tokens"]),
                      share, _reach_text(t.get("reach")))
    tables = [table]
    inference = [t for t in doc["targets"] if t["inference_aware"] is not None
                 and t["reachable"]]
    if inference:
        tokens = format_count(inference[0]["inference_aware"]["inference_tokens"])
        inf = TextTable(f"Inference-aware sizing for {tokens} lifetime inference tokens "
                        "(Sardana & Frankle 2024): least training + inference FLOPs",
                        ["target\nloss", "params\nN", "tokens\nD", "training\nFLOPs",
                         "inference\nFLOPs", "total\nFLOPs", "total at\nChinchilla N*"])
        for t in inference:
            i = t["inference_aware"]
            inf.add_row(f"{t['loss']:.4g}", value_cell("params", i["params"]),
                        value_cell("tokens", i["tokens"]), _flops_cell(i["training_flops"]),
                        _flops_cell(i["inference_flops"]), _flops_cell(i["total_flops"]),
                        _flops_cell(i["total_flops_chinchilla"]))
        tables.append(inf)
    return tables


def _cost_table(doc: Doc) -> TextTable | None:
    """GPU-hours, days and dollars per budget, with the hardware assumptions spelled out."""
    hw = doc.get("hardware")
    if hw is None:
        return None
    gpus = f"{hw['gpus']:,} x " if hw["gpus"] else ""
    table = TextTable(f"Cost on {gpus}{hw['title'] or hw['gpu']} ({hw['peak_tflops']:g} "
                      f"TFLOP/s dense bf16 at MFU {hw['mfu']:.2f})",
                      ["budget (FLOPs)", "GPU-hours", "days", "dollars"])
    if hw["usd_per_gpu_hour"]:
        table.caption = f"${hw['usd_per_gpu_hour']:g} per GPU-hour: {hw['price_note']}"
    rows = doc.get("budgets") or doc.get("targets") or []
    for b in rows:
        c = b["cost"]
        if c is None:
            continue
        flops = b["compute_flops"]["value"] if isinstance(b["compute_flops"], dict) \
            else b["compute_flops"]
        table.add_row(format_flops(flops), fmt("params", c["gpu_hours"]),
                      "—" if c["days"] is None else f"{c['days']:.3g}",
                      "—" if c["usd"] is None else f"${fmt('params', c['usd'])}")
    return table


def _unit_format(units: str) -> Callable[[float], str]:
    if units == "FLOPs":
        return format_flops
    if units in {"GPU-hours", "dollars"}:
        return format_count
    return lambda x: f"{x:.4g}"


def _check_table(doc: Doc, style: Style) -> list[TextTable | str]:
    """One row per limit: value (and interval), limit, verdict; then the overall result."""
    plan = doc["plan"]
    hw = plan.get("hardware")
    assumption = "" if hw is None else f"; costs at MFU {hw['mfu']:g} on {hw['gpu']}"
    table = TextTable(f"Checks for plan {plan['name']!r}: {format_count(plan['params'])} "
                      f"params, {format_count(plan['tokens'])} tokens, "
                      f"{format_flops(plan['compute_flops'])} FLOPs ({ci_label(doc)}"
                      f"{assumption})",
                      ["limit", "value", "interval", "limit\nvalue", "verdict", "note"],
                      frozenset({0, 5}))
    styles = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}
    for c in doc["checks"]:
        show = _unit_format(c["units"])
        interval = "—" if c["low"] is None else f"{show(c['low'])} – {show(c['high'])}"
        table.add_row(c["limit_name"], f"{show(c['value'])} {c['units']}", interval,
                      show(c["limit"]), cell((c["verdict"].upper(), styles[c["verdict"]])),
                      c["note"])
    inconclusive = sum(c["verdict"] == "inconclusive" for c in doc["checks"])
    failed = sum(c["verdict"] == "fail" for c in doc["checks"])
    if not doc["passed"]:
        verdict, colour = "FAILED", "bold red"
    elif inconclusive:
        verdict, colour = f"PASSED WITH {inconclusive} INCONCLUSIVE", "yellow"
    else:
        verdict, colour = "PASSED", "bold green"
    detail = f" ({failed} failed, {inconclusive} inconclusive; --fail-on {doc['fail_on']})"
    return [table, style.apply(verdict + detail, colour) + "\n"]


def _predict_table(doc: Doc) -> TextTable:
    table = TextTable(f"Predicted loss ({intervals_label(doc)})",
                      ["params N", "tokens D", "compute (FLOPs)", "loss (nats/token)",
                       "beyond\nthe runs"], frozenset({4}))
    for p in doc["predictions"]:
        unique = p.get("unique_tokens")
        tokens = format_count(p["tokens"]) if unique is None \
            else f"{format_count(p['tokens'])} ({format_count(unique)} unique)"
        table.add_row(format_count(p["params"]), tokens,
                      format_flops(p["compute_flops"]), value_cell("loss", p["loss"]),
                      _reach_text(p.get("reach")))
    return table


def _compare_tables(doc: Doc, style: Style) -> list[TextTable | str]:
    table = TextTable(f"N* at {format_flops(doc['compute_flops'])} FLOPs by fitting method "
                      f"(value, then {ci_label(doc)})",
                      ["method", "params N*", "tokens D*", "a (N* ~ C^a)", "note"],
                      frozenset({0, 4}))
    for m in doc["methods"]:
        if m["params"] is None:
            table.add_row(m["method"], "—", "—", "—", m["note"])
            continue
        table.add_row(m["method"], value_cell("params", m["params"]),
                      value_cell("tokens", m["tokens"]),
                      value_cell("tokens_per_param", m["compute_exponent"]), m["note"])
    spread = doc.get("params_spread")
    if spread is None:
        line = style.apply("model uncertainty: fewer than two methods apply", "dim")
    else:
        stat = doc["methods"][0]["params"]
        text = f"model uncertainty: N* spans x{spread:.2f} across methods"
        if stat["low"] is not None:
            text += (f" (the {ci_label(doc)} of {doc['methods'][0]['method']} alone spans "
                     f"x{stat['high'] / stat['low']:.2f})")
        line = style.apply(text, "bold")
    return [table, line + "\n"]


def _backtest_tables(doc: Doc, style: Style) -> list[TextTable | str]:
    ci = ci_label(doc).replace(" interval", "")
    folds = TextTable("Backtest: fit below a compute threshold, predict the runs above",
                      ["trained below\n(FLOPs)", "train\nruns", "held\nout",
                       "median\n|error|", "max\n|error|", f"covered by\n{ci} PI"])
    for f in doc["folds"]:
        folds.add_row(format_flops(f["threshold_flops"]), str(f["train_runs"]),
                      str(len(f["held_out"])), _pct(f["median_abs_relative_error"]),
                      _pct(f["max_abs_relative_error"]), _pct(f["coverage"]))
    worst = sorted((h for f in doc["folds"] for h in f["held_out"]),
                   key=lambda h: -abs(h["relative_error"]))[:8]
    runs = TextTable("Largest errors (losses in nats/token; PI: prediction interval for one "
                     "run's loss)",
                     ["run", "params", "tokens", "x largest\ntrain C", "actual", "predicted",
                      f"{ci} PI", "error", "covered"], frozenset({0}))
    for h in worst:
        pi = h["prediction_interval"]
        runs.add_row(h["id"], format_count(h["params"]), format_count(h["tokens"]),
                     f"{h['extrapolation']:.3g}", f"{h['actual_loss']:.4g}",
                     f"{h['predicted_loss']['value']:.4g}",
                     "—" if pi["low"] is None else f"{pi['low']:.4g} – {pi['high']:.4g}",
                     f"{100 * h['relative_error']:+.2f}%",
                     {True: "yes", False: "NO", None: "—"}[h["covered"]])
    s = doc["summary"]
    line = style.apply(
        f"{s['held_out_predictions']} held-out predictions: median |error| "
        f"{_pct(s['median_abs_relative_error'])}, max {_pct(s['max_abs_relative_error'])}, "
        f"coverage {_pct(s['coverage'])} (nominal {ci})", "bold")
    return [folds, runs, line + "\n"]


def _constraint_text(constraints: Doc) -> str:
    parts = [f"{k}={v:g}" for k, v in constraints["fixed"].items()]
    if constraints["tied_exponents"]:
        parts.append("alpha=beta")
    return f", {', '.join(parts)}" if parts else ""


def _health(doc: Doc, style: Style) -> str:
    fit, boot = doc.get("fit"), doc.get("bootstrap")
    lines = []
    if fit is not None:
        verdict = "verified" if fit["verified"] else "NOT verified"
        lines.append(style.apply(
            f"fit ({fit['method']}{_constraint_text(fit['constraints'])}): {verdict} optimum, "
            f"objective {fit['objective']:.6g} (sum of Huber δ={fit['huber_delta']:g}), "
            f"{fit['starts_agreeing']} of {fit['starts']} starts agree, Newton decrement "
            f"{fit['newton_decrement']:.1e}", "dim" if fit["verified"] else "bold red"))
        flat = max(fit["flat_direction"].items(), key=lambda kv: abs(kv[1]))[0]
        cond = fit["condition_number"]
        bounds = f"; at bounds: {', '.join(fit['at_bounds'])}" if fit["at_bounds"] else ""
        lines.append(style.apply(
            f"health: median |log residual| {fit['residual_mad']:.3g}, "
            f"{len(fit['large_residuals'])} large; Hessian condition "
            f"{'inf' if cond is None else f'{cond:.1e}'}, flattest along {flat}{bounds}", "dim"))
    if boot is not None:
        lines.append(style.apply(
            f"intervals: {boot['replicates']:,} bootstrap replicates by {boot['resample_by']} "
            f"({boot['n_units']:,} units), seed {boot['seed']}, percentile method; "
            f"{boot['failed']} failed, {boot['degenerate']} degenerate", "dim"))
    form = doc.get("form")
    if form is not None and form.get("form") is not None:
        lines.append(style.apply(f"form: {form['form']}, {form['reason']}", "dim"))
    if form is not None and form.get("form_error") is not None:
        e = form["form_error"]
        lines.append(style.apply(
            f"total intervals add the form's error beyond the runs ({e['source']}: "
            f"{100 * e['per_decade_compute']:.1f}% per decade of compute, "
            f"{100 * e['per_decade_tokens_per_param']:.1f}% per decade of tokens/param, "
            f"{100 * e['per_decade_params']:.1f}% per decade of model size"
            + (f", {100 * e['per_decade_epochs']:.1f}% per decade of epochs"
               if _repeated(doc) else "")
            + (f"; plus {100 * e['held_out_log_sd']:.1f}% once beyond the runs"
               if e["held_out_log_sd"] >= 0.0005 else "")
            + "), a run's scatter "
            f"({100 * e['noise_log_sd']:.1f}%)"
            + (f", both x{e['tail_factor']:.2f} to hold the ladder's own held-out runs"
               if e.get("tail_factor", 1.0) > 1.005 else "")
            + (f", the form's error x{e['fold_factor']:.2f} for scales from {e['folds']} "
               "folds (Student t)" if e.get("fold_factor", 1.0) > 1.005 else "")
            + (f" and the {form['alternative']} form's answer" if form.get("alternative_law")
               else ""), "dim"))
        bias = e.get("over_bias_per_decade") or 0.0
        if abs(bias) >= 0.0005:
            lines.append(style.apply(
                f"losses forecast above the fitted tokens/param are {_raised(bias)} "
                f"{100 * abs(bias):.1f}% per decade beyond them: the bias the ladder's "
                "held-out runs above their folds' tokens/param showed, shrunk toward none",
                "dim"))
    return "".join(line + "\n" for line in lines)


def _raised(bias: float) -> str:
    return "raised" if bias > 0 else "lowered"


def warning_lines(warnings: list[str], style: Style) -> str:
    """``Warning: ...``, one line each (never wrapped)."""
    return "".join(f"{style.apply('Warning:', 'yellow')} {w}\n" for w in warnings)


_BODIES: dict[str, Callable[[Doc, Style], list[TextTable | str | None]]] = {
    "optimal": lambda d, s: [_law_table(d), _optimal_table(d), _cost_table(d),
                             _optimal_hparams_table(d)],
    "fixed-size": lambda d, s: [_law_table(d), _fixed_size_table(d), _cost_table(d)],
    "target": lambda d, s: [_law_table(d), *_target_tables(d), _cost_table(d)],
    "predict": lambda d, s: [_law_table(d), _predict_table(d)],
    "fit": lambda d, s: [_law_table(d)],
    "check": lambda d, s: list(_check_table(d, s)),
    "compare": lambda d, s: list(_compare_tables(d, s)),
    "backtest": lambda d, s: list(_backtest_tables(d, s)),
}


def render_table(doc: Doc, style: Style | None = None) -> str:
    """A result document as text: heading, tables, fit health, then its warnings."""
    style = style or Style()
    kind = doc["schema"].removeprefix("scaling-cli/")
    parts = [_HEADINGS.get(kind, _heading)(doc, style)]
    for part in _BODIES[kind](doc, style):
        if part is None:
            continue
        parts.append(part.render(style) if isinstance(part, TextTable) else part)
    parts.append(_health(doc, style))
    if doc.get("warnings"):
        parts.append(warning_lines(doc["warnings"], style))
    return "\n".join(p.rstrip("\n") + "\n" for p in parts if p)


def laws_table(presets: dict[str, Any], style: Style | None = None) -> str:
    """``scaling laws``: the parameters, then each law's title, citation and note."""
    style = style or Style()
    table = TextTable("Published laws (use with --law NAME)",
                      ["name", "E", "A", "B", "α", "β"], frozenset({0}))
    for name, p in presets.items():
        table.add_row(name, *(f"{v:.6g}" for v in p.law.as_tuple()))
    notes = "".join(f"\n{style.apply(name, 'bold')}:\n{_prose(p.title)}{_prose(p.citation)}"
                    + (_prose(p.note) if p.note else "") for name, p in presets.items())
    return table.render(style) + notes


def _prose(text: str) -> str:
    """A note indented two spaces and wrapped at 80 columns between words (no word, number
    or citation is ever cut)."""
    import textwrap

    return textwrap.fill(text, width=80, initial_indent="  ", subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False) + "\n"


def schema_table(fields: Any, example: str, style: Style | None = None) -> str:
    """``scaling schema``: every run-log field, whether required, and its meaning."""
    style = style or Style()
    table = TextTable("Run-log fields", ["field", "required", "meaning"], frozenset({0, 1, 2}))
    for f in fields:
        table.add_row(f.name, "yes" if f.required else "", f.doc)
    return table.render(style) + "\n" + example


# --------------------------------------------------------------------------- decisions


def _ladder_line(name: str, ladder: Doc) -> str:
    inputs = ladder.get("inputs")
    if inputs is None:
        return f"{name}: {ladder['law_source']}"
    files = inputs["sources"]
    shown = ", ".join(files[:2]) + (f" and {len(files) - 2} more" if len(files) > 2 else "")
    return f"{name}: {inputs['runs_used']} runs from {shown} (sha256 {inputs['sha256'][:12]})"


def _recipes_heading(doc: Doc, style: Style) -> str:
    shared = doc["shared_parameters"]
    what = {"separate": "fitted separately", "shared": "fitted jointly, sharing "
            + ", ".join(_PARAM_LABELS[p] for p in shared),
            "pinned": "fitted jointly, sharing " + ", ".join(_PARAM_LABELS[p] for p in shared)
            + " (pinned asymptote)"}[doc["mode"]]
    lines = [style.apply(f"Two recipes' ladders {what}; FLOPs convention "
                         f"{doc['convention']['formula']}", "bold")]
    lines += [style.apply(_ladder_line(name, doc["ladders"][name]), "dim")
              for name in ("baseline", "variant")]
    return "\n".join(lines) + "\n"


def _recipe_law_table(doc: Doc) -> TextTable:
    shared = set(doc["shared_parameters"])
    table = TextTable(f"Fitted laws (value, then {ci_label(doc)})",
                      ["parameter", "baseline", "variant", "units"], frozenset({0, 3}))
    base, var = doc["ladders"]["baseline"], doc["ladders"]["variant"]
    for name in ("E", "A", "B", "alpha", "beta"):
        label = _PARAM_LABELS[name] + (" (shared)" if name in shared else "")
        table.add_row(label, value_cell(name, base["law"][name]),
                      value_cell(name, var["law"][name]), base["law"][name]["units"])
    table.add_row("γ (L* - E ~ C^-γ)", value_cell("gamma", base["compute_exponent"]),
                  value_cell("gamma", var["compute_exponent"]), "dimensionless")
    return table


def _multiplier_cell(est: Doc) -> Cell:
    def f(x: float | None) -> str:
        return "∞" if x is None else f"{x:.3g}x"
    show_interval = est["low"] is not None or est["high"] is not None
    return cell((f(est["value"]), "bold"),
                (f"{f(est['low'])} – {f(est['high'])}", "dim") if show_interval else None)


def _multiplier_table(doc: Doc) -> TextTable:
    table = TextTable(f"Compute multiplier k: L_variant(C) = L_baseline(k·C) (value, then "
                      f"{ci_label(doc)})",
                      ["budget\n(FLOPs)", "multiplier\nk", "verdict", "loss\nbaseline",
                       "loss\nvariant", "N*\nbaseline", "N*\nvariant", "variant\nbeyond runs",
                       "baseline\nat k·C"], frozenset({2}))
    styles = {"variant better": "green", "baseline better": "bold red", "unclear": "yellow"}
    for b in doc["budgets"]:
        share = b["variant_better_fraction"]
        verdict = cell((b["verdict"], styles[b["verdict"]]),
                       None if share is None else (f"k > 1 in {100 * share:.0f}%", "dim"))
        table.add_row(format_flops(b["compute_flops"]), _multiplier_cell(b["multiplier"]),
                      verdict, value_cell("loss", b["loss_baseline"]),
                      value_cell("loss", b["loss_variant"]),
                      value_cell("params", b["params_baseline"]),
                      value_cell("params", b["params_variant"]),
                      _reach_text(b["reach_variant"]),
                      "—" if b["reach_baseline"]["beyond"] is None
                      else _reach_text(b["reach_baseline"]))
    return table


def _crossover_lines(doc: Doc, style: Style) -> str:
    cross = doc["crossover"]
    lines = []
    if cross["winner_at_scale"] == "tie":
        lines.append("the two frontiers are identical: no recipe wins")
    elif cross["compute_flops"]["value"] is None:
        agree = cross["agreeing_fraction"]
        lines.append(f"no crossover: the {cross['winner_at_scale']} wins at every budget"
                     + ("" if agree is None else f" ({100 * agree:.0f}% of replicates agree)"))
    else:
        est = cross["compute_flops"]
        winner = cross["winner_at_scale"]
        if est["value"] == 0:
            text = f"no crossover: the {winner} wins at every budget"
        else:
            text = f"crossover: the {winner} wins above {format_flops(est['value'])} FLOPs"
        if cross["direction"] is not None:
            text += f" ({cross['direction']})"
        if est["low"] is not None or est["high"] is not None:
            low = "0" if not est["low"] else format_flops(est["low"])
            high = "never" if est["high"] is None else format_flops(est["high"])
            text += f"; the budget beyond which it wins for good: {ci_label(doc)} {low} – {high}"
        agree = cross["agreeing_fraction"]
        if agree is not None:
            text += (f"; {100 * agree:.0f}% of replicates agree the "
                     f"{cross['winner_at_scale']} wins at scale")
        lines.append(text)
    speed = doc["speedup"]
    if speed["value"] is not None:
        interval = "" if speed["low"] is None else (
            f" ({speed['low']:.3g}x – {speed['high']:.3g}x)")
        lines.append(f"pinned asymptote: speedup ((L_baseline - E)/(L_variant - E))^(1/γ) = "
                     f"{speed['value']:.3g}x{interval} at every budget")
    return "".join(style.apply(line, "bold") + "\n" for line in lines)


_HPARAM_LABELS = {"lr_coef": "lr* coefficient", "lr_params_exponent": "lr* exponent of N",
                  "lr_tokens_exponent": "lr* exponent of D",
                  "batch_tokens_coef": "batch* coefficient (tokens)",
                  "batch_params_exponent": "batch* exponent of N",
                  "batch_tokens_exponent": "batch* exponent of D"}


def _lr(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _est_cell(est: Doc, show: Callable[[float | None], str]) -> Cell:
    if est["value"] is None:
        return cell("—")
    return cell((show(est["value"]), "bold"), None if est["low"] is None
                else (f"{show(est['low'])} – {show(est['high'])}", "dim"))


def _hparams_heading(doc: Doc, style: Style) -> str:
    src = doc["source"]
    if src["kind"] == "preset":
        lines = [style.apply(f"Published hyperparameter law {src['name']} (no runs, so no "
                             "intervals)", "bold"),
                 style.apply(src["citation"], "dim")]
    else:
        rule = (f"within {100 * src['tolerance']:g}% of the cell's best {src['loss_used']} "
                f"loss, {src['weighting']} weighted" if src["rule"] == "tolerance"
                else f"parabola over runs within {100 * src['window']:g}% of the best")
        lines = [style.apply(f"Hyperparameter laws fitted to {src['cells']} (N, D) cells "
                             f"({src['lr_points']} lr points; near-best: {rule})", "bold"),
                 style.apply("inputs: " + ", ".join(src["sources"][:3]), "dim")]
    return "\n".join(lines) + "\n"


def _hparam_law_table(doc: Doc) -> TextTable:
    table = TextTable(f"lr* = c N^a D^b, batch* = d N^f D^e tokens (value, then "
                      f"{ci_label(doc)})", ["parameter", "value", ci_label(doc)],
                      frozenset({0}))
    for name, label in _HPARAM_LABELS.items():
        est = doc["law"][name]
        interval = "—" if est["low"] is None else (
            f"{format_number(est['low'], digits=4)} – {format_number(est['high'], digits=4)}")
        table.add_row(label, format_number(est["value"], digits=4), interval)
    return table


def _hparam_cells_table(doc: Doc) -> TextTable | None:
    if not doc["cells"]:
        return None
    table = TextTable("Near-best settings per (N, D) cell (geometric mean of the near-best "
                      "runs; their range beneath)",
                      ["params\nN", "tokens\nD", "runs", "near-\nbest", "best\nloss", "lr*",
                       "batch*\n(tokens)", "at the\nsweep's edge"], frozenset({7}))
    for c in doc["cells"]:
        edge = ", ".join(name for name, on in (("lr", c["lr_at_edge"]),
                                               ("batch", c["batch_at_edge"])) if on)
        table.add_row(format_count(c["params"]), format_count(c["tokens"]), str(c["runs"]),
                      str(c["near_best_runs"]), f"{c['best_loss']:.4f}",
                      cell((_lr(c["lr"]), "bold"),
                           (f"{_lr(c['lr_low'])} – {_lr(c['lr_high'])}", "dim")),
                      cell((fmt("params", c["batch_tokens"]), "bold"),
                           (f"{fmt('params', c['batch_tokens_low'])} – "
                            f"{fmt('params', c['batch_tokens_high'])}", "dim")),
                      edge or c["note"] or "")
    return table


def _recommendation_rows(table: TextTable, rows: list[tuple[Cell | str, ...]]) -> TextTable:
    for row in rows:
        table.add_row(*row)
    return table


def _hparam_recommendations(doc: Doc) -> TextTable | None:
    if not doc["recommendations"]:
        return None
    table = TextTable(f"Recommended settings (value, then {ci_label(doc)})",
                      ["params\nN", "tokens\nD", "peak lr", "batch\n(tokens)",
                       "batch\n(sequences)"])
    return _recommendation_rows(table, [
        (format_count(r["params"]), format_count(r["tokens"]), _est_cell(r["lr"], _lr),
         _est_cell(r["batch_tokens"], lambda x: fmt("params", x)),
         _est_cell(r["batch_sequences"], lambda x: "—" if x is None else f"{x:,.0f}"))
        for r in doc["recommendations"]])


def _hparam_sensitivity(doc: Doc) -> TextTable | None:
    if not doc["sensitivity"]:
        return None
    table = TextTable("How the near-best rule moves the exponents (point fits)",
                      ["rule", "loss", "weighting", "lr\npoints", "lr* exp\nof N",
                       "lr* exp\nof D", "batch*\nexp of D"], frozenset({0, 1, 2}))
    for v in doc["sensitivity"]:
        rule = (f"tolerance {100 * v['tolerance']:g}%" if v["rule"] == "tolerance"
                else f"parabola {100 * v['window']:g}%")
        table.add_row(rule, v["loss_used"], v["weighting"], str(v["lr_points"]),
                      *(("—" if v[k] is None else f"{v[k]:.3f}") for k in (
                          "lr_params_exponent", "lr_tokens_exponent",
                          "batch_tokens_exponent")))
    return table


def _optimal_hparams_table(doc: Doc) -> TextTable | None:
    """``scaling optimal --hparams``: lr* and batch* at each budget's N*, D*."""
    rows = [b for b in doc["budgets"] if b.get("hparams")]
    if not rows:
        return None
    source = rows[0]["hparams"]["source"]
    table = TextTable(f"Hyperparameters at N*, D* from {source} (value, then {ci_label(doc)};"
                      " intervals carry the N*, D* replicates too)",
                      ["budget\n(FLOPs)", "params\nN*", "peak lr", "batch\n(tokens)",
                       "batch\n(sequences)"])
    return _recommendation_rows(table, [
        (format_flops(b["compute_flops"]), value_cell("params", b["params"]),
         _est_cell(b["hparams"]["lr"], _lr),
         _est_cell(b["hparams"]["batch_tokens"], lambda x: fmt("params", x)),
         _est_cell(b["hparams"]["batch_sequences"],
                   lambda x: "—" if x is None else f"{x:,.0f}"))
        for b in rows])


def _shape_heading(doc: Doc, style: Style) -> str:
    if "law_source" in doc:
        return _heading(doc, style)
    return style.apply(f"Decoder shapes near {format_count(doc['target_params'])} "
                       f"{doc['params_definition'].replace('_', '-')} parameters (no law: no "
                       "loss cost)", "bold") + "\n"


def _shape_optimum(doc: Doc, style: Style) -> str | None:
    opt = doc.get("optimum")
    if not opt:
        return None

    def show(name: str, est: Doc) -> str:
        interval = "" if est["low"] is None else (
            f" ({fmt(name, est['low'])} – {fmt(name, est['high'])})")
        return f"{fmt(name, est['value'])}{interval}"

    return style.apply(f"at {format_flops(doc['compute_flops'])} FLOPs: N* = "
                       f"{show('params', opt['params'])}, D* = {show('tokens', opt['tokens'])}, "
                       f"L(N*, D*) = {show('loss', opt['loss'])} ({ci_label(doc)}); beyond the "
                       f"runs: {_reach_text(opt['reach'])}", "bold") + "\n"


def _shape_table(doc: Doc) -> TextTable:
    arch = doc["architecture"]
    counted = doc["params_definition"].replace("_", "-")
    tied = "tied" if arch["tied_embeddings"] else "untied"
    kv = "" if arch["kv_heads"] is None else f", {arch['kv_heads']} KV heads"
    near = "N*" if doc["compute_flops"] is not None else "N"
    title = (f"Shapes near {near} = {format_count(doc['target_params'])} ({counted} parameters; "
             f"{arch['mlp']}, vocabulary {arch['vocab_size']:,} {tied}, head size "
             f"{arch['head_dim']}{kv})")
    budget = doc["compute_flops"]
    cols = ["layers", "d_model", "heads", "FFN", "d/L", f"params\n({counted})", "vs N*",
            "non-\nembedding", "total"]
    if budget is not None:
        cols += ["tokens at\n" + format_flops(budget), "loss cost\n(nats/token)"]
    table = TextTable(title, cols)
    for sh in doc["shapes"]:
        heads = str(sh["n_heads"]) if sh["n_kv_heads"] == sh["n_heads"] else \
            f"{sh['n_heads']}/{sh['n_kv_heads']}"
        row: list[Cell | str] = [
            str(sh["n_layers"]), str(sh["d_model"]), heads, str(sh["ffn_size"]),
            f"{sh['aspect_ratio']:.0f}", format_count(sh["params"]),
            f"{100 * (sh['params_ratio'] - 1):+.1f}%", format_count(sh["params_non_embedding"]),
            format_count(sh["params_total"])]
        if budget is not None:
            row += [format_count(sh["tokens"]),
                    _est_cell(sh["loss_cost"], lambda x: "—" if x is None else f"{x:.2e}")]
        table.add_row(*row)
    return table


_HEADINGS: dict[str, Callable[[Doc, Style], str]] = {
    "compare-recipes": _recipes_heading, "hparams": _hparams_heading, "shape": _shape_heading}
_BODIES["compare-recipes"] = lambda d, s: [_recipe_law_table(d), _multiplier_table(d),
                                           _crossover_lines(d, s)]
_BODIES["hparams"] = lambda d, s: [_hparam_law_table(d), _hparam_cells_table(d),
                                   _hparam_recommendations(d), _hparam_sensitivity(d)]
_BODIES["shape"] = lambda d, s: [_law_table(d) if "law" in d else None, _shape_optimum(d, s),
                                 _shape_table(d)]

