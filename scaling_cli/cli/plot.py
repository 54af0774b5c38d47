"""`scaling plot`: the forecast and its uncertainty as a PNG, SVG or PDF (see docs/plots.md)."""

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from scaling_cli.cli.common import (
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
    _stdin_text,
    app,
)
from scaling_cli.errors import UsageError

if TYPE_CHECKING:
    from scaling_cli.model import Model
    from scaling_cli.render.plot import HeldOutRuns
    from scaling_cli.resolve import ModelRequest

__all__ = ["PlotKind", "plot"]


class PlotKind(StrEnum):
    summary = "summary"
    isoflop = "isoflop"
    allocation = "allocation"
    residuals = "residuals"
    bootstrap = "bootstrap"


def _holdout(request: "ModelRequest", largest: int,
             level: float) -> "tuple[Model, HeldOutRuns]":
    """Fit without the ``largest`` biggest runs; the model keeps every run for drawing."""
    import dataclasses

    from scaling_cli.forecast.backtest import holdout_split
    from scaling_cli.model import RunData
    from scaling_cli.render.plot import held_out_from_ids
    from scaling_cli.read.runs import load_runs

    if not request.paths:
        raise UsageError("--holdout-largest needs run logs (RUNS), not --fit or --law")
    stdin_text = _stdin_text(request.paths)
    loaded = load_runs(request.paths, stdin_text=stdin_text, input_format=request.input_format,
                       columns=request.columns, where=request.where)
    model, fold = holdout_split(
        loaded, largest, confidence=level, flops_per_param_token=request.flops_per_param_token,
        replicates=request.replicates, seed=request.seed, resample_by=request.resample_by,
        workers=request.workers)
    model = dataclasses.replace(model, runs=RunData.from_runset(
        loaded, request.flops_per_param_token))
    assert model.runs is not None
    held = held_out_from_ids(model.runs, [h.run_id for h in fold.held_out],
                             [h.predicted_loss.value for h in fold.held_out])
    return model, held


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
    holdout_largest: Annotated[int | None, typer.Option(
        "--holdout-largest", help="Backtest: fit without the K runs with the most compute and "
                                  "mark them in the residual panel.",
        show_default=False)] = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False, quiet: QuietOpt = False,
) -> None:
    """Draw the forecast with its uncertainty: isoFLOP profiles, N*/D* vs compute, residuals
    and the bootstrap cloud (needs matplotlib, the optional plot extra).

    Example: scaling plot sample_runs/ --budget 1e24 -o forecast.png
    """
    from scaling_cli.cli.output import write_atomic
    from scaling_cli.render.plot import figure, image_format, render, require_matplotlib

    if not output:
        raise UsageError("--output is required, e.g. -o forecast.png (.png, .svg or .pdf)")
    fmt = image_format(output)
    if not 10 <= dpi <= 1200:
        raise UsageError(f"--dpi {dpi}: give a resolution between 10 and 1200, e.g. 150")
    target = None if budget is None else _number("--budget", budget)
    level = _confidence(confidence)
    require_matplotlib()  # before a long fit, not after it
    request = _request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                       resample_by, workers, allow_unverified)
    held = None
    if holdout_largest is None:
        model = _model(request, quiet)
    else:
        model, held = _holdout(request, holdout_largest, level)
    image = render(figure(model, kind.value, budget=target, confidence=level, held_out=held),
                   fmt, dpi=dpi)
    write_atomic(output, image)
    if not quiet:
        from scaling_cli.render.tables import render_warnings

        console = _console(stderr=True)
        render_warnings(model.warnings, console)
        console.print(f"wrote {output} ({kind.value}, {len(image):,} bytes)", markup=False)
