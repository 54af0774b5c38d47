"""`scaling fit`, `predict` and `backtest`: the law itself, its predictions, its track record."""

from typing import Annotated

import typer

from scaling_cli.cli.base import app, handled
from scaling_cli.cli.options import (
    BootOpt,
    CheckpointsOpt,
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FitOpt,
    FixOpt,
    FormatOpt,
    FormOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    LogParamsOpt,
    MethodOpt,
    OutputFormat,
    OutputRequest,
    ParamsFileOpt,
    QuietOpt,
    ReduceOpt,
    RepeatedDataOpt,
    ResampleOpt,
    RestartsOpt,
    RunsArg,
    SeedOpt,
    SkipInvalidOpt,
    TieOpt,
    TokensPerStepOpt,
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    confidence,
    emit,
    law_request,
    number,
    output_request,
    progress_bar,
    render,
)
from scaling_cli.errors import UsageError
from scaling_cli.render.fields import columns
from scaling_cli.units import shown

__all__ = ["backtest", "fit", "predict"]

MAX_FOLDS = 1000


@app.command()
@handled
def fit(
    ctx: typer.Context,
    runs: RunsArg = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write the fit file (JSON, with replicates) here, atomically "
                               "(- for standard output).", metavar="FILE",
        rich_help_panel="Output")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Fit with every method and compare N* at --budget (a "
                          "model-uncertainty error bar).", rich_help_panel="Fit")] = False,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Budget in FLOPs for --compare.", metavar="FLOPS",
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
    checkpoints: CheckpointsOpt = "final",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit the law to run logs; print it with intervals and optionally save a fit file.

    Example: scaling fit sample_runs/ -o fit.json && scaling optimal --fit fit.json -b 1e24
    """
    from scaling_cli.cli.output import output_target
    from scaling_cli.render.documents import dumps, fit_document

    conf = confidence(level)
    request = law_request(ctx)
    out = output_request(ctx, columns("compare" if compare else "fit"))
    if compare:
        _compare(ctx, budget, conf, out)
        return
    if budget is not None:
        raise UsageError("applies with --compare only", field="budget")
    target = None if output is None else output_target(output, inputs=request.inputs)
    model = request.model()
    doc = fit_document(model, conf)
    shown = {key: value for key, value in doc.items() if key != "replicates"}
    text = render(shown if out.fmt is OutputFormat.table and not out.fields else doc, out)
    if target is None:
        emit(doc, out, text=text)
        return
    saved = dumps(doc)  # the fit file, made (and checked) before anything is written
    if target.kind == "stdout":  # the fit file is the output: no table after it
        target.write(saved)
    else:  # the table first, then the file replaces the old one: an error leaves it as it was
        target.write(saved, then=lambda: emit(doc, out, text=text))


def _compare(ctx: typer.Context, budget: str | None, conf: float, out: OutputRequest) -> None:
    from scaling_cli.forecast.compare import compare_methods
    from scaling_cli.render.documents import compare_document

    if budget is None:
        raise UsageError("--compare needs --budget, e.g. --compare --budget 1e24")
    p = ctx.params
    if p.get("output") is not None or p.get("method") != "approach3" or \
            p.get("law") is not None or p.get("fit_file") is not None:
        raise UsageError("--compare fits run logs with every method: give RUNS, and no "
                         "--output, --method, --law or --fit")
    request = law_request(ctx)
    flops = _flops(budget)
    comparison = compare_methods(request.runs(), flops, request.settings, confidence=conf)
    emit(compare_document(comparison), out)


def _flops(budget: str) -> float:
    """A --compare budget: FLOPs, within the range every budget is held to."""
    from scaling_cli.read.hardware import parse_budget

    try:
        return parse_budget(budget).compute_flops
    except UsageError:  # a unit that needs hardware (30days): `fit` has no --gpu
        raise UsageError(f"{shown(budget)}: --compare takes a budget in FLOPs, e.g. 1e24",
                         field="budget") from None


@app.command()
@handled
def predict(
    ctx: typer.Context,
    runs: RunsArg = None,
    params: Annotated[list[str], typer.Option(
        "--params", "-N", help="Model size(s), e.g. 70B (repeatable, paired with --tokens).",
        metavar="COUNT", show_default=False)] = [],  # noqa: B006
    tokens: Annotated[list[str], typer.Option(
        "--tokens", "-D", help="Training tokens, e.g. 1.4T (repeatable).", metavar="COUNT",
        show_default=False)] = [],  # noqa: B006
    unique_tokens: Annotated[list[str], typer.Option(
        "--unique-tokens", help="Distinct tokens the D are drawn from, when data repeats "
                                "(one for every pair, or one per pair): the loss of repeated "
                                "data (Muennighoff et al. 2023).", metavar="COUNT",
        show_default=False)] = [],  # noqa: B006
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
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Expected loss of a model of N parameters trained on D tokens, with its interval.

    Example: scaling predict sample_runs/ --params 70B --tokens 1.4T
    """
    from scaling_cli.forecast.answers import predict as predict_loss
    from scaling_cli.read.plausible import check_plausible
    from scaling_cli.render.documents import predict_document

    if not params or len(params) != len(tokens):
        raise UsageError("give --params and --tokens in pairs, e.g. --params 70B --tokens 1.4T")
    ns = [check_plausible("params", number("params", p)) for p in params]
    ds = [check_plausible("tokens", number("tokens", t)) for t in tokens]
    us = [check_plausible("unique_tokens", number("unique_tokens", u)) for u in unique_tokens]
    if len(us) not in (0, 1, len(ns)):
        raise UsageError(f"give one --unique-tokens for every pair, or one per pair ({len(ns)})"
                         f", not {len(us)}", field="unique_tokens")
    conf = confidence(level)
    out = output_request(ctx, columns("predict"))
    model = law_request(ctx).model()
    emit(predict_document(predict_loss(model, ns, ds, confidence=conf, unique_tokens=(
        None if not us else us * len(ns) if len(us) == 1 else us))), out)


@app.command()
@handled
def backtest(
    ctx: typer.Context,
    runs: RunsArg = None,
    holdout_largest: Annotated[int | None, typer.Option(
        "--holdout-largest", help="Single split: hold out the K runs with the most compute.",
        metavar="K", show_default=False)] = None,
    folds: Annotated[int, typer.Option(
        "--folds", help="Rolling-origin folds, spread over the compute range.",
        metavar="COUNT")] = 4,
    column: ColumnOpt = None, where: WhereOpt = None, input_format: InputFormatOpt = "auto",
    skip_invalid: SkipInvalidOpt = False, reduce: ReduceOpt = "last",
    tokens_per_step: TokensPerStepOpt = None, log_params: LogParamsOpt = None,
    params_file: ParamsFileOpt = None, restarts: RestartsOpt = "refuse",
    k: KOpt = "6", bootstrap: BootOpt = "1000", seed: SeedOpt = 0, level: ConfOpt = "0.95",
    resample_by: ResampleOpt = "auto", workers: WorkersOpt = 0,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    form: FormOpt = "auto", repeated_data: RepeatedDataOpt = "effective",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit on the smaller-compute runs and score the forecast on the larger ones.

    Example: scaling backtest sample_runs/ --holdout-largest 7
    """
    from scaling_cli.forecast.backtest import backtest as run_backtest
    from scaling_cli.render.documents import backtest_document

    conf = confidence(level)
    request = law_request(ctx)
    out = output_request(ctx, columns("backtest"))
    if folds > MAX_FOLDS:  # each fold is a refit; a huge count would not even allocate
        raise UsageError(f"{shown(folds)}: give at most {MAX_FOLDS:,} folds", field="folds")
    loaded = request.runs()
    with progress_bar(folds if holdout_largest is None else 1, quiet=request.quiet,
                      what="backtest: refitting each fold") as tick:
        result = run_backtest(loaded, request.settings, holdout_largest=holdout_largest,
                              folds=folds, confidence=conf, progress=tick)
    emit(backtest_document(result), out)
