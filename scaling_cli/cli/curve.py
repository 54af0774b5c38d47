"""`scaling curve`: forecasts from loss curves with a schedule-aware law (docs/curves.md).

The command reads the curves (:func:`~scaling_cli.read.loss_curves.read_loss_curves`),
turns them into the law's inputs (:func:`~scaling_cli.fit.curve_inputs.curve_inputs`),
makes one call (:func:`~scaling_cli.forecast.curve.answer_curve`) and renders the answer as
a table, JSON or CSV, and optionally as a plot (``-o``).
"""

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaling_cli.cli.base import app, handled, say
from scaling_cli.cli.options import (
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FormatOpt,
    InputFormatOpt,
    LogParamsOpt,
    OutputFormat,
    OutputRequest,
    ParamsFileOpt,
    QuietOpt,
    RestartsOpt,
    SeedOpt,
    SkipInvalidOpt,
    TokensPerStepOpt,
    confidence,
    emit,
    number,
    output_request,
    parse_columns,
)
from scaling_cli.errors import UsageError
from scaling_cli.render.fields import curve_columns
from scaling_cli.units import shown

if TYPE_CHECKING:
    from scaling_cli.cli.output import OutputTarget
    from scaling_cli.read.logs import CurveSet

__all__ = ["CurveLaw", "curve"]

MIN_REPLICATES, MAX_REPLICATES = 40, 10_000  # each replicate is a refit of the curve law


class CurveLaw(StrEnum):
    tissue = "tissue"
    multi_power = "multi-power"


@app.command()
@handled
def curve(
    ctx: typer.Context,
    logs: Annotated[list[str] | None, typer.Argument(
        help="Loss curves of ONE model: training logs (JSON Lines, trainer_state.json, W&B "
             "history CSV, TensorBoard events) or CSV tables of step, loss, lr; files, "
             "directories, globs, or - for stdin.", show_default=False,
        metavar="LOGS...")] = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="The run in flight (default: the only curve read); the other curves "
                      "are fitted with it as references.", metavar="ID",
        rich_help_panel="Questions")] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", help="The run's planned schedule, KIND:KEY=VALUE,... e.g. "
                           "cosine:steps=72k,final=10% (kinds constant, cosine, wsd, logged; "
                           "see docs/curves.md). Needed to forecast beyond the log.",
        metavar="SPEC", rich_help_panel="Questions")] = None,
    under: Annotated[list[str] | None, typer.Option(
        "--under", help="Another schedule to predict the loss under (repeatable); keys it "
                        "leaves out come from --schedule: cosine:steps=100k, "
                        "wsd:cooldown=20%,shape=1-sqrt, wsd:at=40k,cooldown=8k.",
        metavar="SPEC", rich_help_panel="Questions")] = None,
    until: Annotated[int | None, typer.Option(
        "--until", help="Fit only the run's points up to this step (to check the forecast "
                        "against the rest of its log).", metavar="STEP",
        rich_help_panel="Questions", show_default=False)] = None,
    every: Annotated[int | None, typer.Option(
        "--every", help="Also give the predicted curve of each schedule every STEPS steps.",
        metavar="STEPS", rich_help_panel="Output", show_default=False)] = None,
    warmup_steps: Annotated[int, typer.Option(
        "--warmup-steps", help="Linear warm-up of runs whose logs start after it (and of "
                               "schedules that do not give theirs).", metavar="STEPS",
        rich_help_panel="Inputs")] = 0,
    curve_law: Annotated[CurveLaw, typer.Option(
        "--curve-law", help="tissue (Tissue et al. 2024, 4 parameters) or multi-power (Luo et "
                            "al. 2025, 7 parameters).", rich_help_panel="Fit")] = CurveLaw.tissue,
    bootstrap: Annotated[str, typer.Option(
        "--bootstrap", help=f"Moving-block bootstrap refits for the intervals "
                            f"({MIN_REPLICATES:,} to {MAX_REPLICATES:,}).", metavar="COUNT",
        rich_help_panel="Error bars")] = "200",
    seed: SeedOpt = 0, level: ConfOpt = "0.95",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Also draw the curves and forecasts to this image (.png, .svg, "
                               ".pdf; needs the plot extra).", metavar="FILE",
        rich_help_panel="Output")] = None,
    column: ColumnOpt = None, input_format: InputFormatOpt = "auto",
    skip_invalid: SkipInvalidOpt = False, tokens_per_step: TokensPerStepOpt = None,
    log_params: LogParamsOpt = None, params_file: ParamsFileOpt = None,
    restarts: RestartsOpt = "refuse",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Forecast from loss curves: a run's final loss from its curve so far, the loss under
    another schedule, and the curve itself, each with an interval.

    Example: scaling curve logs/ --run big --schedule cosine:steps=72k,final=10%
    """
    from scaling_cli.fit.curve_inputs import curve_inputs
    from scaling_cli.fit.curve_spec import ScheduleSpec
    from scaling_cli.forecast.curve import answer_curve
    from scaling_cli.render.curve_documents import curve_document

    conf = confidence(level)
    plan = None if schedule is None else ScheduleSpec.parse(schedule, setting="schedule")
    others = [ScheduleSpec.parse(text, setting="under") for text in under or []]
    replicates = _counts(bootstrap, seed, every, until, warmup_steps)
    target = _plot_target(output, [*(logs or []), *([params_file] if params_file else [])])
    out = output_request(ctx, curve_columns(curve_law.value, every=every is not None))
    curves = _read(logs or [], input_format, column, tokens_per_step, log_params, params_file,
                   restarts, skip_invalid)
    inputs = curve_inputs(curves.curves, run_id=run, schedule=plan, until_step=until,
                          warmup_steps=warmup_steps, under=others)
    answer = answer_curve(inputs.run, reference=inputs.reference, observed=inputs.observed,
                          alternatives=inputs.alternatives, every=every, law=curve_law.value,
                          level=conf, n_resamples=replicates, seed=seed,
                          warnings=[*curves.warnings, *inputs.warnings])
    doc = curve_document(answer, inputs, sources=curves.sources, skipped=curves.skipped)
    text = _render(doc, out)
    if target is None:
        emit(doc, out, text=text)
        return
    from scaling_cli.render.curve_plot import curve_figure
    from scaling_cli.render.plot import image_format, render

    image = render(curve_figure(answer), image_format(target.path))
    target.write(image, then=lambda: emit(doc, out, text=text))


def _counts(text: str, seed: int, every: int | None, until: int | None,
            warmup_steps: int) -> int:
    """The bootstrap count; the other whole-number options checked with it."""
    count = number("replicates", text)
    if count != int(count) or not MIN_REPLICATES <= count <= MAX_REPLICATES:
        raise UsageError(f"{shown(text)}: give a whole number from {MIN_REPLICATES:,} to "
                         f"{MAX_REPLICATES:,}", field="replicates")
    if not 0 <= seed < 2**63:
        raise UsageError(f"{shown(seed)} is out of range; give a whole number from 0 to "
                         "2**63 - 1", field="seed")
    for value, setting in ((every, "every"), (until, "until")):
        if value is not None and value < 1:
            raise UsageError(f"{shown(value)}: give a step count of 1 or more", field=setting)
    if warmup_steps < 0:
        raise UsageError(f"{shown(warmup_steps)}: give 0 or more steps", field="warmup_steps")
    return int(count)


def _plot_target(output: str | None, inputs: list[str]) -> "OutputTarget | None":
    """The checked ``-o`` image (before the fit: a bad path or a missing matplotlib costs
    nothing), or None."""
    if output is None:
        return None
    from scaling_cli.cli.output import output_target
    from scaling_cli.render.plot import image_format, require_matplotlib

    if output == "-":
        raise UsageError("-: a plot is an image file, not text for standard output; name a "
                         ".png, .svg or .pdf file", field="output")
    image_format(output)
    require_matplotlib()
    return output_target(output, inputs=[p for p in inputs if p != "-"])


def _read(paths: list[str], input_format: str, column: list[str] | None,
          tokens_per_step: str | None, log_params: str | None, params_file: str | None,
          restarts: str, skip_invalid: bool) -> "CurveSet":
    """The curves, every run left out by --skip-invalid named on stderr (even when quiet)."""
    from scaling_cli.read.logs import parse_tokens_per_step
    from scaling_cli.read.loss_curves import read_loss_curves

    if not paths:
        raise UsageError("give loss curves (LOGS): training logs, or CSV tables of step, "
                         "loss and lr")
    curves = read_loss_curves(
        paths, stdin_text=_stdin_text(paths), input_format=input_format,
        columns=parse_columns(column or []),
        tokens_per_step=None if tokens_per_step is None else parse_tokens_per_step(
            tokens_per_step),
        params=None if log_params is None else number("log_params", log_params),
        params_file=params_file, restarts=restarts, skip_invalid=skip_invalid)
    for skipped in curves.skipped:
        say(f"Skipped: {skipped.reason}")
    return curves


def _stdin_text(paths: list[str]) -> str | None:
    """Standard input when ``-`` is among the logs: bounded, decoded like a file."""
    from scaling_cli.read.sources import LIMITS, decode_input

    if "-" not in paths:
        return None
    if sys.stdin is None or getattr(sys.stdin, "buffer", None) is None:
        raise UsageError("-: standard input is closed; pipe the logs in or name files")
    return decode_input("<stdin>", sys.stdin.buffer.read(LIMITS["max_file_bytes"] + 1))


def _render(doc: dict[str, Any], out: OutputRequest) -> str:
    """The document as the requested text (checked before anything is written)."""
    from scaling_cli.render.curve_tables import curve_csv, curve_fields, curve_table

    if out.fields:
        return curve_fields(doc, out.fields)
    if out.fmt is OutputFormat.json:
        from scaling_cli.render.documents import dumps

        return dumps(doc)
    if out.fmt is OutputFormat.csv:
        return curve_csv(doc)
    from scaling_cli.cli.options import _color  # the one colour rule (NO_COLOR, TERM=dumb)
    from scaling_cli.render.text import Style

    return curve_table(doc, Style(color=_color(sys.stdout)))
