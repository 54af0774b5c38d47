"""`scaling report`: the forecast as one page for a planning meeting (HTML) or a pull
request (Markdown); see docs/report.md.

One library call per stage, as `scaling optimal`: the law (:func:`law_request`), the
forecast (:func:`scaling_cli.forecast.answers.optimal`), its JSON document, the plots
(:func:`scaling_cli.render.report_plots.report_plots`) and the page
(:mod:`scaling_cli.render.report_page` or :mod:`~scaling_cli.render.report_markdown`). The
page is rendered from the very JSON text `scaling optimal -f json` prints for the same
options (read back: floats round-trip exactly), so its numbers are that command's numbers.

Where the page goes: ``-o FILE.html`` (or ``.htm``) writes HTML, ``-o FILE.md`` (or
``.markdown``) Markdown, by the -o rules of :mod:`scaling_cli.cli.output` (checked before
the fit, written atomically once the page is made, never over an input). Without ``-o``, or
with ``-o -``, the page goes to standard output as Markdown, which reads in a terminal and
pipes into a pull-request comment; ``--format html`` makes it HTML (``> forecast.html``).
``--format`` also names the page for a path without either extension (``/dev/stdout``).

Without matplotlib (the optional ``plot`` extra) the page is still made, without plots: it
says why in their place, and a note on stderr says so too. Same inputs and seed (and the
same matplotlib), same bytes: the page records the command that remakes it on standard
output, from the options given, in a fixed order, without ``-o``, ``--workers`` or ``-q``.
"""

import json
import shlex
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaling_cli.cli.base import app, handled, note, say
from scaling_cli.cli.options import (
    BandOpt,
    BootOpt,
    BudgetOpt,
    CheckpointsOpt,
    ColumnOpt,
    ConfOpt,
    FitOpt,
    FixOpt,
    FormOpt,
    GpuOpt,
    GpusOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    LogParamsOpt,
    MethodOpt,
    MfuOpt,
    OutputFormat,
    ParamsFileOpt,
    PeakOpt,
    PriceOpt,
    QuietOpt,
    ReduceOpt,
    RepeatedDataOpt,
    ResampleOpt,
    RestartsOpt,
    RunsArg,
    SeedOpt,
    SkipInvalidOpt,
    StepsOpt,
    TieOpt,
    TokensPerStepOpt,
    UniqueTokensOpt,
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    budgets,
    confidence,
    hardware,
    law_request,
    number,
    output_request,
    render,
)
from scaling_cli.errors import UsageError

if TYPE_CHECKING:
    from scaling_cli.forecast.answers import OptimalForecast
    from scaling_cli.render.report_content import ReportInputs

__all__ = ["ReportFormat", "command_line", "page_format_for", "report"]


class ReportFormat(StrEnum):
    html = "html"
    markdown = "markdown"


SUFFIXES = {".html": ReportFormat.html, ".htm": ReportFormat.html,
            ".md": ReportFormat.markdown, ".markdown": ReportFormat.markdown}
# Options that do not change the page, left out of the command it records.
UNRECORDED = frozenset({"output", "page_format", "workers", "quiet"})
NO_PLOTS_IN_MARKDOWN = ("Markdown hosts strip inline SVG; the HTML version of this report "
                        "(-o forecast.html) has them.")


@app.command()
@handled
def report(
    ctx: typer.Context,
    runs: RunsArg = None,
    budget: BudgetOpt = [],  # noqa: B006 - typer needs a literal default
    steps: StepsOpt = 5,
    band: BandOpt = "0.005",
    unique_tokens: UniqueTokensOpt = None,
    gpu: GpuOpt = None, gpus: GpusOpt = None, mfu: MfuOpt = None, peak_tflops: PeakOpt = None,
    usd_per_gpu_hour: PriceOpt = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    skip_invalid: SkipInvalidOpt = False, reduce: ReduceOpt = "last",
    tokens_per_step: TokensPerStepOpt = None, log_params: LogParamsOpt = None,
    params_file: ParamsFileOpt = None, restarts: RestartsOpt = "refuse",
    seed: SeedOpt = 0, level: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    form: FormOpt = "auto", repeated_data: RepeatedDataOpt = "effective",
    checkpoints: CheckpointsOpt = "final",
    output: Annotated[str, typer.Option(
        "--output", "-o", help="The page: FILE.html (self-contained, plots inline) or FILE.md, "
                               "written atomically; - (the default) for standard output, "
                               "as Markdown unless --format html.", metavar="FILE",
        rich_help_panel="Output")] = "-",
    page_format: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="html or markdown (default: from the -o file's extension; "
                               "markdown on standard output).", show_default=False,
        rich_help_panel="Output")] = None,
    title: Annotated[str | None, typer.Option(
        "--title", help="The page's title (default: Compute-optimal training forecast).",
        metavar="TEXT", rich_help_panel="Output")] = None,
    quiet: QuietOpt = False,
) -> None:
    """One page for the planning meeting: the forecast with its intervals, costs, the
    near-optimal band, the fitted law, plots, fit health, every warning and provenance.

    The numbers are those of `scaling optimal -f json` for the same options. The HTML page
    is self-contained (nothing is fetched when it is viewed) and prints to PDF; the Markdown
    page (-o FILE.md, or standard output) carries the same content but the plots.

    Example: scaling report sample_runs/ -b 1e22..1e25 --gpu h100 --gpus 1024 -o forecast.html
    """
    from scaling_cli.cli.output import output_target
    from scaling_cli.forecast.answers import optimal
    from scaling_cli.read.plausible import check_plausible

    kind = page_format_for(output, page_format)
    hw = hardware(ctx.params)
    given = budgets(budget, steps, hw)
    tolerance = number("band", band, allow_zero=True)
    unique = None if unique_tokens is None else check_plausible(
        "unique_tokens", number("unique_tokens", unique_tokens))
    conf = confidence(level)
    request = law_request(ctx)
    target = output_target(output, inputs=request.inputs)
    model = request.model()
    forecast = optimal(model, given, confidence=conf, band=tolerance or None,
                       unique_tokens=unique, hardware=hw)
    inputs = _report_inputs(ctx, forecast, kind, title)
    target.write(_page(inputs, kind))
    if quiet:
        return
    if not (target.kind == "stdout" and _tty(sys.stdout)):  # a terminal shows them on the page
        for w in inputs.optimal["warnings"]:
            say(f"Warning: {w}")
    if target.kind != "stdout":
        say(f"wrote {output} ({kind.value} report, {len(given)} budgets)")


def _report_inputs(ctx: typer.Context, forecast: "OptimalForecast", kind: ReportFormat,
                   title: str | None) -> "ReportInputs":
    """What the page shows: the forecast's JSON document (the very text `scaling optimal -f
    json` prints, read back), the fit's (for the runs), the plots and the provenance."""
    from scaling_cli.render.documents import dumps, fit_document, optimal_document
    from scaling_cli.render.report_content import Provenance, ReportInputs
    from scaling_cli.render.report_plots import ReportPlots, report_plots

    model, conf = forecast.model, forecast.confidence
    as_json = replace(output_request(ctx), fmt=OutputFormat.json, fields=())
    doc: dict[str, Any] = json.loads(render(optimal_document(forecast), as_json))
    fit_doc = None
    if model.runs is not None:
        fit_doc = json.loads(dumps({key: value for key, value in
                                    fit_document(model, conf).items() if key != "replicates"}))
    if kind is ReportFormat.html:
        largest = max(row.compute_flops for row in forecast.rows)
        plots = report_plots(model, budget=largest, confidence=conf)
        if plots.missing is not None:
            note(f"the page has no plots: {plots.missing}")
    else:
        plots = ReportPlots(missing=NO_PLOTS_IN_MARKDOWN)
    inputs = ReportInputs(
        optimal=doc, fit=fit_doc, plots=plots.svgs, plots_missing=plots.missing,
        provenance=Provenance.from_document(doc, command=command_line(ctx, kind),
                                            plots_by=plots.drawn_by))
    return inputs if title is None else replace(inputs, title=title)


def _page(inputs: "ReportInputs", kind: ReportFormat) -> str:
    if kind is ReportFormat.html:
        from scaling_cli.render.report_page import render_html

        return render_html(inputs)
    from scaling_cli.render.report_markdown import render_markdown

    return render_markdown(inputs)


def page_format_for(output: str, chosen: ReportFormat | None) -> ReportFormat:
    """The page's format: ``--format`` if given, else the -o file's extension; Markdown on
    standard output. A file named for one format with ``--format`` the other is refused."""
    if output == "-":
        return chosen or ReportFormat.markdown
    implied = SUFFIXES.get(Path(output).suffix.lower())
    if chosen is None:
        if implied is None:
            raise UsageError(f"{output}: name a .html or .md file, or choose the page "
                             "with --format html or --format markdown", field="output")
        return implied
    if implied is not None and implied is not chosen:
        raise UsageError(f"{output} names a {implied.value} file but --format is "
                         f"{chosen.value}: drop --format, or rename the file", field="output")
    return chosen


def command_line(ctx: typer.Context, kind: ReportFormat) -> str:
    """The command that remakes the page on standard output: the options given (not left at
    their defaults) in the command's own order, ``--format`` explicit, and without the
    options that do not change the page (:data:`UNRECORDED`)."""
    words = ["scaling", ctx.info_name or "report"]
    positional: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if name is None or name in UNRECORDED:
            continue
        source = ctx.get_parameter_source(name)
        if getattr(source, "name", "DEFAULT") in {"DEFAULT", "DEFAULT_MAP"}:
            continue
        value = ctx.params.get(name)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if param.param_type_name == "argument":
            positional += [str(v) for v in values]
            continue
        flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        if isinstance(value, bool):
            off = param.secondary_opts[:1]
            words += [flag] if value else off
            continue
        for v in values:
            words += [flag, str(v)]
    words += ["--format", kind.value]
    if any(p.startswith("-") and p != "-" for p in positional):
        return shlex.join([*words, "--", *positional])
    return shlex.join([*words[:2], *positional, *words[2:]])


def _tty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
