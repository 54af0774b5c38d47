"""What ``scaling report`` says, in order: :func:`build_report` turns the documents into
:class:`~scaling_cli.render.report_content.Report` content for the HTML and Markdown pages.

Sections, in the order a planning meeting reads them:

1. Forecast: N*, D*, loss and tokens per parameter at each budget, each with its statistical
   interval and its total interval (as the table output of ``scaling optimal`` labels them),
   how far the budget is beyond the largest run; then every warning, in full.
2. Plan details: cost (with the hardware and price assumed), how far each forecast reaches
   beyond the fitted runs, the near-optimal band, limited unique data.
3. Fitted law; plots (or why there are none); fit health (the optimum, the form chosen out of
   sample, the bootstrap, runs left out); provenance; the runs behind the fit (with a fit
   document).

Warnings are decided by the forecast stage and carried in the documents; this module only
lists them (documents' first, then the caller's; each once). Documents that do not belong
together (another schema, another fit, a provenance naming another seed or data) are
refused with :class:`~scaling_cli.errors.InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.render.report_content import (
    MISSING,
    Block,
    Cell,
    Column,
    Figure,
    Inline,
    ItemList,
    Line,
    Num,
    Paragraph,
    Preformatted,
    Provenance,
    Report,
    ReportInputs,
    Section,
    Styled,
    Subheading,
    Table,
    budget_table,
    interval_lines,
    is_number,
    num,
    value_cell,
)

__all__ = [
    "ANSWER_COLUMNS",
    "BAND_COLUMNS",
    "COST_COLUMNS",
    "DATA_COLUMNS",
    "PLOT_TEXT",
    "REACH_COLUMNS",
    "build_report",
]

# --------------------------------------------------------------------------- columns


def _side(x: float) -> str:
    return "inside the runs" if x == 1 else "above the runs" if x > 1 else "below the runs"


ANSWER_COLUMNS = (
    Column("Model size N* (parameters)", ("params",), "count"),
    Column("Training tokens D*", ("tokens",), "count"),
    Column("Loss (nats/token)", ("loss",), "loss"),
    Column("Tokens per parameter", ("tokens_per_param",), "ratio", secondary=True),
    Column("Compute vs the largest run", ("extrapolation",), "extrapolation",
           lambda x: "within the runs" if x <= 1 else "beyond the runs", secondary=True),
)
COST_COLUMNS = (
    Column("GPU-hours", ("cost", "gpu_hours"), "count"),
    Column("Days", ("cost", "days"), "ratio"),
    Column("Dollars", ("cost", "usd"), "usd"),
)
BAND_COLUMNS = (
    Column("Smallest N", ("band", "params_smallest"), "count"),
    Column("Tokens at smallest N", ("band", "tokens_at_smallest"), "count"),
    Column("Largest N", ("band", "params_largest"), "count"),
    Column("Tokens at largest N", ("band", "tokens_at_largest"), "count"),
    Column("N* interval, high ÷ low", ("params_spread",), "times"),
    Column("same at the largest run", ("params_spread_at_data",), "times"),
)
REACH_COLUMNS = (
    Column("Compute", ("reach", "compute_flops"), "extrapolation", _side),
    Column("Model size", ("reach", "params"), "extrapolation", _side),
    Column("Tokens per parameter", ("reach", "tokens_per_param"), "extrapolation", _side),
    Column("Past a warning threshold", ("reach", "beyond"), "flag"),
)
DATA_COLUMNS = (
    Column("Unique tokens", ("data_constrained", "unique_tokens"), "count"),
    Column("Data-limited", ("data_constrained", "data_limited"), "flag"),
    Column("Epochs", ("data_constrained", "epochs"), "ratio"),
    Column("Effective tokens", ("data_constrained", "effective_tokens"), "count"),
    Column("Loss with unlimited data", ("data_constrained", "loss_unlimited"), "loss"),
    Column("Loss ignoring the limit", ("data_constrained", "loss_ignoring_limit"), "loss"),
)


# --------------------------------------------------------------------------- checks


def _check_document(doc: Mapping[str, Any], schema: str, what: str) -> None:
    found = doc.get("schema") if isinstance(doc, Mapping) else None
    if found != f"scaling-cli/{schema}":
        raise InputError(f"{what}: schema is {found!r}, expected 'scaling-cli/{schema}' "
                         f"(from `scaling {schema} ... --format json`)")
    if doc.get("schema_version") != 1:
        raise InputError(f"{what}: schema_version {doc.get('schema_version')!r} is not 1; "
                         "render it with the scaling-cli version that wrote it")
    required = ("law", "budgets", "confidence", "convention") if schema == "optimal" else (
        "law",)
    missing = [key for key in required if key not in doc]
    if missing:
        raise InputError(f"{what}: no {missing[0]!r} field; regenerate it with "
                         f"`scaling {schema} ... --format json`")


def _check_consistent(report: ReportInputs) -> None:
    """A page about one fit: refuse documents and provenance that describe different ones."""
    doc, fit, prov = report.optimal, report.fit, report.provenance
    if fit is not None:
        for name, est in doc["law"].items():
            other = fit["law"].get(name, {}).get("value")
            if other != est.get("value"):
                raise InputError(f"the fit document's {name} = {other!r} differs from the "
                                 f"optimal document's {est.get('value')!r}: they describe "
                                 "different fits; make both from the same runs and seed")
    inputs, boot = doc.get("inputs") or {}, doc.get("bootstrap") or {}
    for label, given, stated in (("seed", prov.seed, boot.get("seed")),
                                 ("inputs' sha256", prov.inputs_sha256, inputs.get("sha256"))):
        if given is not None and stated is not None and given != stated:
            raise InputError(f"provenance {label} {given!r} differs from the optimal "
                             f"document's {stated!r}; take it from the document "
                             "(Provenance.from_document)")


def _warnings(report: ReportInputs) -> tuple[str, ...]:
    """The documents' warnings, then the report's own; each once, in first-seen order."""
    seen: dict[str, None] = {}
    for source in (report.optimal.get("warnings", ()),
                   (report.fit or {}).get("warnings", ()), report.warnings):
        for w in source:
            seen.setdefault(str(w), None)
    return tuple(seen)


# --------------------------------------------------------------------------- sections


def _ci(doc: Mapping[str, Any]) -> Num:
    return num("percent", doc["confidence"])


def _form_error(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    form = doc.get("form")
    return None if not isinstance(form, Mapping) else form.get("form_error")


def _intervals_words(doc: Mapping[str, Any]) -> Line:
    """What the lines under a value are, in the words of the table output's caption."""
    if _form_error(doc) is None:
        return (" (value, then its ", _ci(doc), " interval)")
    return (" (value, then ", _ci(doc), " statistical interval, then ", _ci(doc),
            " total interval)")


def _interval_notes(doc: Mapping[str, Any]) -> tuple[Line, ...]:
    """What the statistical and the total interval each account for."""
    notes: list[Line] = []
    boot, form, error = doc.get("bootstrap"), doc.get("form") or {}, _form_error(doc)
    if boot is not None:
        notes.append(("Statistical interval: the spread of the answer over ",
                      num("integer", boot["replicates"]), " refits of the law to the runs "
                      f"resampled by {boot['resample_by']} (bootstrap, percentile method)."))
    if error is None:
        return tuple(notes)
    if error["source"] == "ladder":
        basis: Line = ("estimated from ", num("integer", error["held_out_runs"]),
                       " held-out runs; a direction they do not reach takes the prior from "
                       "public ladders")
    else:
        basis = ("assumed from public ladders: these runs cannot measure it",)
    parts: list[Inline] = [
        "Total interval: the statistical one widened by the law's own error beyond the runs, ",
        num("percent", error["per_decade_compute"]), " per decade of compute, ",
        num("percent", error["per_decade_tokens_per_param"]),
        " per decade of tokens per parameter and ", num("percent", error["per_decade_params"]),
        " per decade of model size"]
    inputs = doc.get("inputs") or {}
    if is_number(inputs.get("epochs_max")) and inputs["epochs_max"] > 1 \
            and is_number(error.get("per_decade_epochs")):
        parts += [" (and ", num("percent", error["per_decade_epochs"]),
                  " per decade of epochs of repeated data)"]
    if is_number(error.get("held_out_log_sd")) and error["held_out_log_sd"] > 0:
        parts += [", at least ", num("percent", error["held_out_log_sd"]),
                  " once beyond the runs"]
    parts += [" (", *basis, "), by a run's scatter (", num("percent", error["noise_log_sd"]),
              ")"]
    if is_number(error.get("tail_factor")) and error["tail_factor"] > 1.005:
        parts += [", both times ", num("precise", error["tail_factor"]), " so that the "
                  "interval holds 95% of the ladder's own held-out runs"]
    if is_number(error.get("fold_factor")) and error["fold_factor"] > 1.005 \
            and is_number(error.get("folds")):
        parts += [", the form's error times ", num("precise", error["fold_factor"]),
                  " for scales estimated from ", num("integer", error["folds"]),
                  " held-out folds (Student t)"]
    if form.get("alternative_law"):
        parts += [f" and by the answer of the {form['alternative']} form"]
    notes.append((*parts, ". Plan with the total interval: the statistical one alone assumes "
                  "the law's form is exact."))
    bias = error.get("over_bias_per_decade") or 0.0
    if is_number(bias) and abs(bias) >= 0.0005:
        notes.append(("Losses forecast above the fitted tokens per parameter are corrected by ",
                      num("percent", bias), " per decade beyond them (",
                      "raised" if bias > 0 else "lowered", ", values and intervals): the bias "
                      "the ladder's held-out runs above their folds' tokens per parameter "
                      "showed, shrunk toward none."))
    return tuple(notes)


def _subtitle(doc: Mapping[str, Any]) -> Line:
    source = str(doc.get("law_source", "runs"))
    inputs, boot = doc.get("inputs"), doc.get("bootstrap")
    parts: list[Inline]
    if source.startswith("preset:"):
        parts = ["Published law ", Styled(source.split(":", 1)[1], "strong"),
                 " (no runs, so no intervals)"]
    elif inputs is not None:
        parts = ["Law fitted to ", num("integer", inputs["runs_used"]), " runs"]
        if inputs.get("runs_excluded"):
            parts += [" (", num("integer", inputs["runs_excluded"]), " excluded)"]
        if source.startswith("fit-file:"):
            parts += [", read from ", Styled(source.split(":", 1)[1], "code")]
    else:
        parts = [f"Law from {source}"]
    parts += [" · ", str(doc["convention"].get("formula", ""))]
    if boot is not None:
        parts += [" · ", _ci(doc), " intervals from ", num("integer", boot["replicates"]),
                  f" bootstrap replicates (resampled by {boot['resample_by']}, seed ",
                  num("integer", boot["seed"]), ")"]
    elif not source.startswith("preset:"):
        parts += [" · no bootstrap, so no statistical intervals" if _form_error(doc)
                  else " · no bootstrap, so no intervals"]
    return tuple(parts)


def _forecast(doc: Mapping[str, Any], warnings: tuple[str, ...]) -> Section:
    budgets = doc["budgets"]
    with_ci = any(interval_lines(b[key], "count") for b in budgets
                  for key in ("params", "loss") if isinstance(b.get(key), Mapping))
    caption: Line = ("Compute-optimal model size N*, training tokens D* and the loss they "
                     "reach, at each budget",)
    if with_ci:
        caption += _intervals_words(doc)
    table = budget_table(budgets, ANSWER_COLUMNS, caption, emphasis=True,
                         notes=_interval_notes(doc) if with_ci else ())
    blocks: list[Block] = [] if table is None else [table]
    if warnings:
        blocks += [Subheading("Warnings", "warnings"),
                   ItemList(tuple((w,) for w in warnings), kind="warning")]
    return Section("forecast", "Forecast", tuple(blocks))


def _hardware_caption(hw: Mapping[str, Any]) -> Line:
    parts: list[Inline] = ["Cost on "]
    if is_number(hw.get("gpus")):
        parts += [num("integer", hw["gpus"]), " × "]
    parts += [str(hw.get("title") or hw.get("gpu", "")), " at MFU ", num("ratio", hw["mfu"]),
              " (", num("plain", hw["peak_tflops"]), " TFLOP/s dense bf16 peak per GPU)"]
    return tuple(parts)


def _details(doc: Mapping[str, Any]) -> Section | None:
    budgets, blocks = doc["budgets"], []
    hw = doc.get("hardware")
    if hw is not None:
        notes: list[Line] = []
        if is_number(hw.get("usd_per_gpu_hour")):
            notes.append(("Price: ", num("usd", hw["usd_per_gpu_hour"]), " per GPU-hour; ",
                          str(hw.get("price_note") or "")))
        if not is_number(hw.get("gpus")):
            notes.append(("Days need the number of GPUs (--gpus).",))
        if hw.get("source"):
            notes.append(("Peak throughput: ", str(hw["source"])))
        table = budget_table(budgets, COST_COLUMNS, _hardware_caption(hw), notes=tuple(notes))
        blocks += [] if table is None else [table]
    table = budget_table(budgets, REACH_COLUMNS, (
        "How far each forecast reaches beyond the fitted runs "
        "(a factor of one is inside their range)",))
    blocks += [] if table is None else [table]
    band = next((b["band"] for b in budgets if b.get("band")), None)
    if band is not None:
        caption: Line = ("Near-optimal sizes: every N between the smallest and the largest "
                         "reaches a loss within ", num("percent", band["tolerance"]),
                         " of the optimum, if trained on the tokens shown")
        table = budget_table(budgets, BAND_COLUMNS, caption)
        blocks += [] if table is None else [table]
    if any(b.get("data_constrained") for b in budgets):
        table = budget_table(budgets, DATA_COLUMNS, (
            "Limited unique data (Muennighoff et al. 2023): N*, D* and loss in the forecast "
            "are the data-constrained optimum",))
        blocks += [] if table is None else [table]
    return Section("details", "Plan details", tuple(blocks)) if blocks else None


_LAW_NAMES = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β"}


def _law(doc: Mapping[str, Any]) -> Section:
    law = doc["law"]

    def value(name: str) -> Num | str:
        est = law.get(name) or {}
        return num("loss", est["value"]) if is_number(est.get("value")) else MISSING

    def exponent(name: str) -> Styled:
        return Styled(value(name), "sup")

    formula: Line = ("L(N, D) = E + A / N", Styled("α", "sup"), " + B / D", Styled("β", "sup"),
                     " = ", value("E"), " + ", value("A"), " / N", exponent("alpha"), " + ",
                     value("B"), " / D", exponent("beta"))
    rows = []
    for name, est in law.items():
        cell = value_cell(est, "loss")
        interval = cell.notes[0] if cell.notes else (MISSING,)
        rows.append((Cell((_LAW_NAMES.get(name, name),), numeric=False), Cell(cell.main),
                     Cell(interval), Cell((str(est.get("units", "")),), numeric=False)))
    table = Table(("Fitted parameters of L(N, D) = E + A/N", Styled("α", "sup"), " + B/D",
                   Styled("β", "sup"), " (Hoffmann et al. 2022, Approach 3)"),
                  ("Parameter", "Value", "Interval", "Units"), tuple(rows))
    convention = ("Compute convention: ", Styled(str(doc["convention"].get("formula", "")),
                                                 "code"),
                  "; N in parameters, D in tokens, L in nats/token.")
    return Section("law", "Fitted law", (Paragraph(formula, "lead"), table,
                                         Paragraph(convention, "muted")))


_BANDS = (" Bands and bracketed ranges are statistical (bootstrap) intervals; the forecast "
          "table also gives the total ones.")
PLOT_TEXT: dict[str, tuple[str, str]] = {
    "summary": ("Forecast at a glance", "Four panels: isoFLOP profiles (loss against model "
                "size at fixed compute) with the forecast curve and its band; compute-optimal "
                "N* and D* against compute with bootstrap bands; residuals of the fitted law; "
                "and the bootstrap replicates of (N*, D*) at the forecast budget." + _BANDS),
    "isoflop": ("isoFLOP profiles", "Loss against model size at fixed compute for each "
                "budget in the runs, the law's curve through them and its minimum, and the "
                "forecast curve at the largest budget asked for with its bootstrap band."
                + _BANDS),
    "allocation": ("N* and D* against compute", "Compute-optimal model size N* and tokens "
                   "D* against training compute, with bootstrap bands; the runs are marked "
                   "and the region beyond the largest run's compute is shaded." + _BANDS),
    "residuals": ("Fit residuals", "Predicted against actual final loss for every run, "
                  "and the residual in percent against model size."),
    "bootstrap": ("Bootstrap replicates of (N*, D*)", "Each bootstrap replicate's N* and D* "
                  "at the largest budget asked for, on the line N·D = C/k, with their "
                  "intervals." + _BANDS),
}


def _plots(plots: Mapping[str, str], missing: str | None) -> Section | None:
    if not plots:
        return None if missing is None else Section("plots", "Plots", (
            Paragraph(("No plots: ", missing), "muted"),))
    figures: list[Block] = []
    for name, svg in plots.items():
        title, description = PLOT_TEXT.get(name, (name, f"The {name} plot."))
        figures.append(Figure(name, svg, title, description + " The numbers are in the "
                              "tables of this report."))
    if missing is not None:
        figures.append(Paragraph((missing,), "muted"))
    return Section("plots", "Plots", tuple(figures))


def _row(label: str, *parts: Inline) -> tuple[Cell, Cell]:
    return Cell((label,), numeric=False), Cell(tuple(parts), numeric=False)


def _health(doc: Mapping[str, Any]) -> Section:
    fit, boot, inputs = doc.get("fit"), doc.get("bootstrap"), doc.get("inputs")
    rows: list[tuple[Cell, Cell]] = []
    blocks: list[Block] = []
    if fit is not None:
        verdict = "verified" if fit["verified"] else "NOT verified"
        rows += [
            _row("Optimum", Styled(verdict, "strong"), f" ({fit['method']}): ",
                 num("integer", fit["starts_agreeing"]), " of ", num("integer", fit["starts"]),
                 " starts agree (", num("integer", fit["starts_converged"]), " converged)"),
            _row("Objective", num("precise", fit["objective"]), " (sum of Huber δ = ",
                 num("precise", fit["huber_delta"]), " on log residuals)"),
            _row("Largest |gradient|, Newton decrement", num("small", fit["gradient_max"]),
                 ", ", num("small", fit["newton_decrement"])),
        ]
        cond = fit.get("condition_number")
        flat = max(fit["flat_direction"].items(), key=lambda kv: abs(kv[1]))
        rows.append(_row("Hessian condition number",
                         num("small", cond) if is_number(cond) else "not positive definite",
                         "; the data pin down least the direction along ",
                         Styled(flat[0], "code"), " (weight ", num("small", abs(flat[1])), ")"))
        rows.append(_row("Median |log residual|", num("precise", fit["residual_mad"]),
                         "; runs with large residuals: ",
                         num("integer", len(fit["large_residuals"]))))
        at_bounds = ", ".join(fit["at_bounds"]) or "none"
        rows.append(_row("Parameters at bounds", at_bounds))
        rows.append(_row("Constraints", *_constraints(fit.get("constraints") or {})))
        if fit["large_residuals"]:
            blocks.append(Table(("Runs with large residuals, worst first",),
                                ("Run", "Log residual"),
                                tuple((Cell((str(r["id"]),), numeric=False),
                                       Cell((num("precise", r["log_residual"]),)))
                                      for r in fit["large_residuals"])))
    form = doc.get("form")
    if isinstance(form, Mapping) and form.get("form") is not None:
        rows.append(_row("Form of the law", Styled(str(form["form"]), "strong"), ": ",
                         str(form.get("reason") or "")))
    if boot is not None:
        rows.append(_row("Bootstrap", num("integer", boot["replicates"]), " replicates by ",
                         str(boot["resample_by"]), " (", num("integer", boot["n_units"]),
                         " units), ", str(boot.get("interval_method", "percentile")),
                         " intervals; ", num("integer", boot["failed"]), " failed, ",
                         num("integer", boot["degenerate"]), " degenerate"))
    if inputs is not None:
        skipped = inputs.get("skipped") or []
        rows.append(_row("Runs", num("integer", inputs["runs_used"]), " in the fit, ",
                         num("integer", inputs["runs_excluded"]), " marked exclude: true, ",
                         num("integer", len(skipped)), " left out as unusable"))
        if skipped:
            blocks.append(Table(("Runs left out while reading (--skip-invalid)",),
                                ("Run", "Source", "Reason"),
                                tuple((Cell((str(r.get("run_id") or MISSING),), numeric=False),
                                       Cell((Styled(str(r["source"]), "code"),),
                                            numeric=False),
                                       Cell((str(r["reason"]),), numeric=False))
                                      for r in skipped)))
        rows.append(_row("Data range", num("count", inputs["params_min"]), " – ",
                         num("count", inputs["params_max"]), " parameters, ",
                         num("count", inputs["tokens_min"]), " – ",
                         num("count", inputs["tokens_max"]), " tokens; largest run ",
                         num("flops", inputs["compute_flops_max"]), " FLOPs"))
    if not rows:
        return Section("health", "Fit health", (Paragraph((
            "A published law: no fit and no bootstrap to check here (source: ",
            str(doc.get("law_source", "")), ")."),),))
    table = Table(("How far to trust the fit",), ("Check", "Result"), tuple(rows))
    return Section("health", "Fit health", (table, *blocks))


def _constraints(constraints: Mapping[str, Any]) -> Line:
    parts: list[Inline] = []
    for name, value in (constraints.get("fixed") or {}).items():
        parts += [", " if parts else "", f"{name} fixed at ", num("loss", value)]
    if constraints.get("tied_exponents"):
        parts += [", " if parts else "", "α = β"]
    return tuple(parts) or ("none",)


def _provenance(doc: Mapping[str, Any], prov: Provenance) -> Section:
    rows = [_row("Tool version", Styled(prov.tool_version, "code")),
            _row("Seed", num("integer", prov.seed) if prov.seed is not None else "none"),
            _row("Inputs' SHA-256", Styled(prov.inputs_sha256, "code")
                 if prov.inputs_sha256 else "none (a published law)"),
            _row("Law source", Styled(str(doc.get("law_source", "")), "code")),
            _row("Schema", Styled(str(doc["schema"]), "code"), " version ",
                 num("integer", doc["schema_version"]))]
    if prov.plots_by is not None:
        rows.append(_row("Plots drawn with", prov.plots_by))
    if prov.generated is not None:
        rows.append(_row("Generated", prov.generated))
    blocks: list[Block] = [Preformatted(prov.command, "Command line"),
                           Table(("How this page was made",), ("Item", "Value"), tuple(rows))]
    if prov.input_files:
        blocks += [Subheading("Input files", "input-files"),
                   ItemList(tuple((Styled(f, "code"),) for f in prov.input_files))]
    return Section("provenance", "Provenance", tuple(blocks))


def _runs(fit: Mapping[str, Any] | None) -> Section | None:
    runs = None if fit is None else fit.get("runs")
    if not runs:
        return None
    columns = (("params", "count"), ("tokens", "count"), ("compute_flops", "flops"),
               ("loss", "loss"))
    # By budget to a tenth of a decade (isoFLOP slices stay together), then by size.
    order = sorted(range(len(runs["ids"])),
                   key=lambda i: (round(math.log10(runs["compute_flops"][i]), 1),
                                  runs["params"][i], runs["ids"][i]))
    rows = tuple((Cell((str(runs["ids"][i]),), numeric=False),
                  *(Cell((num(kind, runs[key][i]),)) for key, kind in columns))
                 for i in order)
    table = Table(("The runs in the fit, by compute",),
                  ("Run", "Parameters N", "Tokens D", "Compute (FLOPs)", "Final loss"),
                  rows, long=True)
    return Section("runs", "Runs behind the fit", (table,))


def build_report(report: ReportInputs) -> Report:
    """The page's content from the documents (raises InputError if they do not fit)."""
    doc = report.optimal
    _check_document(doc, "optimal", "optimal document")
    if report.fit is not None:
        _check_document(report.fit, "fit", "fit document")
    _check_consistent(report)
    warnings = _warnings(report)
    sections = (_forecast(doc, warnings), _details(doc), _law(doc),
                _plots(report.plots, report.plots_missing),
                _health(doc), _provenance(doc, report.provenance), _runs(report.fit))
    return Report(report.title, _subtitle(doc), warnings,
                  tuple(s for s in sections if s is not None))
