"""`scaling plot`: the forecast and its uncertainty as a PNG, SVG or PDF (see docs/plots.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from .cli_common import (
    BootOpt,
    ColumnOpt,
    ConfOpt,
    FitOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    QuietOpt,
    ResampleOpt,
    RunsArg,
    SeedOpt,
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    _confidence,
    _console,
    _handled,
    _model,
    _number,
    _request,
    app,
)
from .errors import UsageError

__all__ = ["PlotKind", "plot"]


class PlotKind(StrEnum):
    summary = "summary"
    isoflop = "isoflop"
    allocation = "allocation"
    residuals = "residuals"
    bootstrap = "bootstrap"


@app.command()
@_handled
def plot(
    runs: RunsArg = None,
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Image file to write (atomically): .png, .svg or .pdf.",
        show_default=False, rich_help_panel="Output")] = "",
    kind: Annotated[PlotKind, typer.Option(
        "--kind", help="summary (all four on one page), isoflop, allocation, residuals or "
                       "bootstrap.", rich_help_panel="Output")] = PlotKind.summary,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Compute to forecast and mark, in FLOPs, e.g. 1e24 (needed by "
                               "summary and bootstrap).", show_default=False)] = None,
    dpi: Annotated[int, typer.Option(
        "--dpi", help="Resolution of a PNG (dots per inch).", rich_help_panel="Output")] = 150,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 1, allow_unverified: UnverifiedOpt = False, quiet: QuietOpt = False,
) -> None:
    """Draw the forecast with its uncertainty: isoFLOP profiles, N*/D* vs compute, residuals
    and the bootstrap cloud (needs matplotlib, the optional plot extra).

    Example: scaling plot sample_runs/ --budget 1e24 -o forecast.png
    """
    from .atomic import write_atomic
    from .plot import figure, image_format, render, require_matplotlib

    if not output:
        raise UsageError("--output is required, e.g. -o forecast.png (.png, .svg or .pdf)")
    fmt = image_format(output)
    if not 10 <= dpi <= 1200:
        raise UsageError(f"--dpi {dpi}: give a resolution between 10 and 1200, e.g. 150")
    target = None if budget is None else _number("--budget", budget)
    level = _confidence(confidence)
    require_matplotlib()  # before a long fit, not after it
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, allow_unverified), quiet)
    image = render(figure(model, kind.value, budget=target, confidence=level), fmt, dpi=dpi)
    write_atomic(output, image)
    if not quiet:
        from .report import render_warnings

        console = _console(stderr=True)
        render_warnings(model.warnings, console)
        console.print(f"wrote {output} ({kind.value}, {len(image):,} bytes)", markup=False)
