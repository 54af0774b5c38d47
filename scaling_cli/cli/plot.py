"""`scaling plot`: the forecast and its uncertainty as a PNG, SVG or PDF (see docs/plots.md)."""

from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from scaling_cli.cli.base import app, handled, say
from scaling_cli.cli.options import (
    BootOpt,
    CheckpointsOpt,
    ColumnOpt,
    ConfOpt,
    FitOpt,
    FixOpt,
    FormOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    LawRequest,
    LogParamsOpt,
    MethodOpt,
    ParamsFileOpt,
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
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    budgets,
    confidence,
    law_request,
)
from scaling_cli.errors import UsageError
from scaling_cli.units import shown

if TYPE_CHECKING:
    from scaling_cli.model import Model
    from scaling_cli.render.plot import HeldOutRuns

__all__ = ["PlotKind", "plot"]


class PlotKind(StrEnum):
    summary = "summary"
    isoflop = "isoflop"
    allocation = "allocation"
    residuals = "residuals"
    bootstrap = "bootstrap"


@app.command()
@handled
def plot(
    ctx: typer.Context,
    runs: RunsArg = None,
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Image file to write (atomically): .png, .svg or .pdf.",
        metavar="FILE", show_default=False, rich_help_panel="Output")] = "",
    kind: Annotated[PlotKind, typer.Option(
        "--kind", help="summary (all four on one page), isoflop, allocation, residuals or "
                       "bootstrap.", rich_help_panel="Output")] = PlotKind.summary,
    budget: Annotated[list[str], typer.Option(
        "--budget", "-b", help="Compute to forecast and mark, in FLOPs (e.g. 1e24, or a range "
                               "1e22..1e25: the largest is forecast, all are marked; needed by "
                               "summary and bootstrap).", metavar="FLOPS",
        show_default=False)] = [],  # noqa: B006
    steps: StepsOpt = 5,
    dpi: Annotated[int, typer.Option(
        "--dpi", help="Resolution of a PNG (dots per inch).", metavar="DPI",
        rich_help_panel="Output")] = 150,
    holdout_largest: Annotated[int | None, typer.Option(
        "--holdout-largest", help="Backtest: fit without the K runs with the most compute and "
                                  "mark them in the residual panel.", metavar="K",
        show_default=False)] = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    skip_invalid: SkipInvalidOpt = False, reduce: ReduceOpt = "last",
    tokens_per_step: TokensPerStepOpt = None, log_params: LogParamsOpt = None,
    params_file: ParamsFileOpt = None, restarts: RestartsOpt = "refuse",
    seed: SeedOpt = 0, level: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    form: FormOpt = "auto", repeated_data: RepeatedDataOpt = "effective",
    checkpoints: CheckpointsOpt = "final", quiet: QuietOpt = False,
) -> None:
    """Draw the forecast with its uncertainty: isoFLOP profiles, N*/D* vs compute, residuals
    and the bootstrap cloud (needs matplotlib, the optional plot extra).

    Example: scaling plot sample_runs/ --budget 1e24 -o forecast.png
    """
    from scaling_cli.cli.output import output_target
    from scaling_cli.forecast.answers import optimal
    from scaling_cli.render.plot import figure, image_format, render, require_matplotlib

    if not output:
        raise UsageError("is required, e.g. -o forecast.png (.png, .svg or .pdf)",
                         field="output")
    if output == "-":
        raise UsageError("-: a plot is an image file, not text for standard output; name a "
                         ".png, .svg or .pdf file", field="output")
    fmt = image_format(output)
    if not 10 <= dpi <= 1200:
        raise UsageError(f"`dpi` {shown(dpi)}: give a resolution between 10 and 1200, e.g. 150")
    marked = [b.compute_flops for b in budgets(budget, steps, None)] if budget else []
    conf = confidence(level)
    require_matplotlib()  # before a long fit, not after it
    request = law_request(ctx)
    target = output_target(output, inputs=request.inputs)
    held = None
    if holdout_largest is None:
        model = request.model()
    else:
        model, held = _holdout(request, holdout_largest, conf)
    largest = max(marked) if marked else None
    image = render(figure(model, kind.value, budget=largest, confidence=conf, held_out=held),
                   fmt, dpi=dpi)
    warnings = list(model.warnings)
    if marked:
        warnings = list(optimal(model, marked, confidence=conf).warnings)
    target.write(image)
    if not quiet:
        for w in warnings:
            say(f"Warning: {w}")
        say(f"wrote {output} ({kind.value}, {len(image):,} bytes)")


def _holdout(request: LawRequest, largest: int,
             level: float) -> "tuple[Model, HeldOutRuns]":
    """Fit without the ``largest`` biggest runs; the model keeps every run for drawing."""
    from scaling_cli.fit.build import FitSettings
    from scaling_cli.forecast.backtest import holdout_split
    from scaling_cli.render.plot import held_out_from_ids

    if not request.paths:
        raise UsageError("needs run logs (RUNS), not --fit or --law", field="holdout_largest")
    loaded = request.runs()
    settings = request.settings or FitSettings()
    model, fold = holdout_split(loaded, largest, settings, confidence=level)
    every_run = loaded.columns(settings.flops_per_param_token,
                               repeated_data=settings.repeated_data)
    held = held_out_from_ids(every_run, [h.run_id for h in fold.held_out],
                             [h.predicted_loss.value for h in fold.held_out])
    return replace(model, runs=every_run), held
