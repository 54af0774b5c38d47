"""`scaling optimal`, `target` and `check`: planning answers and CI budget checks."""

from typing import Annotated

import typer

from scaling_cli.cli.common import (
    BootOpt,
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FitOpt,
    FixOpt,
    FormatOpt,
    GpuOpt,
    GpusOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    MethodOpt,
    MfuOpt,
    OutputFormat,
    PeakOpt,
    PriceOpt,
    QuietOpt,
    ResampleOpt,
    RunsArg,
    SeedOpt,
    TieOpt,
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    _budgets,
    _confidence,
    _emit,
    _handled,
    _hardware,
    _model,
    _number,
    _request,
    app,
)
from scaling_cli.errors import EXIT_CHECK_FAILED, UsageError

__all__ = ["check", "optimal", "target"]


BudgetOpt = Annotated[list[str], typer.Option(
    "--budget", "-b", help="Training compute: 1e24 (FLOPs), 2e6gpu-hours, 30days, 5e6usd, "
                           "or a range 1e21..1e25 (repeatable).", show_default=False)]
StepsOpt = Annotated[int, typer.Option(
    "--steps", help="Budgets in each LOW..HIGH range (log-spaced, ends included).")]


@app.command()
@_handled
def optimal(
    runs: RunsArg = None,
    budget: BudgetOpt = [],  # noqa: B006 - typer needs a literal default
    steps: StepsOpt = 5,
    band: Annotated[str, typer.Option(
        "--band", help="Show model sizes whose loss is within this fraction of the optimum "
                       "(0 to hide).", rich_help_panel="Planning")] = "0.005",
    params: Annotated[str | None, typer.Option(
        "--params", "-N", help="Fix the model size (e.g. 7B): tokens, loss and the penalty "
                               "versus compute-optimal.", rich_help_panel="Planning")] = None,
    unique_tokens: Annotated[str | None, typer.Option(
        "--unique-tokens", help="Unique training tokens available (e.g. 500B): plan with "
                                "repeated data (Muennighoff et al. 2023).",
        rich_help_panel="Planning")] = None,
    gpu: GpuOpt = None, gpus: GpusOpt = None, mfu: MfuOpt = "0.4", peak_tflops: PeakOpt = None,
    usd_per_gpu_hour: PriceOpt = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Compute-optimal model size N* and tokens D* for FLOP budgets, with intervals.

    Also: the near-optimal band of sizes, a fixed size (--params), limited unique data
    (--unique-tokens), and costs in GPU-hours, days and dollars (--gpu).

    Example: scaling optimal sample_runs/ --budget 1e24
    """
    from scaling_cli.render.documents import fixed_size_document, optimal_document
    from scaling_cli.forecast.answers import compute_optimal, fixed_size

    if not budget:
        raise UsageError("--budget is required, e.g. --budget 1e24")
    if params is not None and unique_tokens is not None:
        raise UsageError("--params and --unique-tokens cannot be combined; use one")
    hardware = _hardware(gpu, gpus, mfu, peak_tflops, usd_per_gpu_hour)
    given = _budgets(budget, steps, hardware)
    flops = [b.compute_flops for b in given]
    level = _confidence(confidence)
    tolerance = _number("--band", band, allow_zero=True)
    unique = None if unique_tokens is None else _number("--unique-tokens", unique_tokens)
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, allow_unverified, method=method, fix=fix,
                            tie_exponents=tie_exponents), quiet)
    if params is not None:
        size = _number("--params", params)
        doc = fixed_size_document(model, fixed_size(model, flops, size, level,
                                                    hardware=hardware),
                                  level, hardware=hardware, given=given)
    else:
        forecasts = compute_optimal(model, flops, level, band_tolerance=tolerance or None,
                                    unique_tokens=unique, hardware=hardware)
        doc = optimal_document(model, forecasts, level, hardware=hardware, given=given)
    _emit(doc, fmt, field, quiet)


@app.command()
@_handled
def target(
    runs: RunsArg = None,
    loss: Annotated[list[str], typer.Option(
        "--loss", "-L", help="Target loss in nats/token (repeatable).",
        show_default=False)] = [],  # noqa: B006
    inference_tokens: Annotated[str | None, typer.Option(
        "--inference-tokens", help="Lifetime inference tokens (e.g. 2T): size for training + "
                                   "inference FLOPs (Sardana & Frankle 2024).",
        rich_help_panel="Planning")] = None,
    gpu: GpuOpt = None, gpus: GpusOpt = None, mfu: MfuOpt = "0.4", peak_tflops: PeakOpt = None,
    usd_per_gpu_hour: PriceOpt = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Least compute (and its N*, D*) that reaches a target loss, with intervals.

    Example: scaling target sample_runs/ --loss 2.1 --inference-tokens 2T --gpu h100
    """
    from scaling_cli.render.documents import target_document
    from scaling_cli.forecast.answers import target as plan_target

    if not loss:
        raise UsageError("--loss is required, e.g. --loss 2.1")
    losses = [_number("--loss", x) for x in loss]
    tokens = None if inference_tokens is None else _number("--inference-tokens",
                                                           inference_tokens, allow_zero=True)
    hardware = _hardware(gpu, gpus, mfu, peak_tflops, usd_per_gpu_hour)
    level = _confidence(confidence)
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, allow_unverified, method=method, fix=fix,
                            tie_exponents=tie_exponents), quiet)
    forecasts = plan_target(model, losses, level, inference_tokens=tokens, hardware=hardware)
    _emit(target_document(model, forecasts, level, hardware=hardware), fmt, field, quiet)


@app.command()
@_handled
def check(
    plan_file: Annotated[str | None, typer.Argument(
        help="Plan file (YAML): params, tokens or budget, hardware, limits "
             "(configs/example_plan.yaml).", show_default=False)] = None,
    runs: Annotated[list[str] | None, typer.Option(
        "--runs", help="Run logs to fit (files, directories, globs; repeatable).",
        rich_help_panel="Law source")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Plan name.")] = None,
    params: Annotated[str | None, typer.Option("--params", "-N", help="Model size.")] = None,
    tokens: Annotated[str | None, typer.Option("--tokens", "-D", help="Training tokens.")] = None,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Budget instead of tokens: 6e23, 2e5gpu-hours, 30days, "
                               "5e6usd.")] = None,
    max_flops: Annotated[str | None, typer.Option("--max-flops", rich_help_panel="Limits")] = None,
    max_gpu_hours: Annotated[str | None, typer.Option(
        "--max-gpu-hours", rich_help_panel="Limits")] = None,
    max_usd: Annotated[str | None, typer.Option("--max-usd", rich_help_panel="Limits")] = None,
    max_days: Annotated[str | None, typer.Option("--max-days", rich_help_panel="Limits")] = None,
    max_loss: Annotated[str | None, typer.Option(
        "--max-loss", help="Predicted loss must stay below (nats/token).",
        rich_help_panel="Limits")] = None,
    max_params_ratio: Annotated[str | None, typer.Option(
        "--max-params-ratio", help="N within this factor of the compute-optimal N*.",
        rich_help_panel="Limits")] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help="fail: only failed checks fail the job; inconclusive: intervals "
                          "that straddle a limit fail it too.")] = "fail",
    gpu: GpuOpt = None, gpus: GpusOpt = None, mfu: MfuOpt | None = None,
    peak_tflops: PeakOpt = None, usd_per_gpu_hour: PriceOpt = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, method: MethodOpt = "approach3", fix: FixOpt = None,
    tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Check a planned run against the forecast; exit 1 if a limit fails (for CI).

    Exit codes: 0 every check passed, 1 a check failed (or was inconclusive with
    --fail-on inconclusive), 2 usage, input or fit error.

    Example: scaling check configs/example_plan.yaml --runs sample_runs/
    """
    from scaling_cli.forecast.checks import Plan, load_plan, run_checks
    from scaling_cli.render.documents import check_document

    if fail_on not in {"fail", "inconclusive"}:
        raise UsageError(f"--fail-on {fail_on!r}: use fail or inconclusive")
    plan = Plan(source="flags")
    if plan_file is not None:
        try:
            with open(plan_file, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"{plan_file}: cannot read the plan ({reason})") from None
        plan = load_plan(text, plan_file)
    limits = {key: _number(f"--{key.replace('_', '-')}", value) for key, value in (
        ("max_flops", max_flops), ("max_gpu_hours", max_gpu_hours), ("max_usd", max_usd),
        ("max_days", max_days), ("max_loss", max_loss), ("max_params_ratio", max_params_ratio),
    ) if value is not None}
    hardware = {key: value for key, value in (
        ("gpu", gpu), ("gpus", gpus), ("peak_tflops", peak_tflops),
        ("usd_per_gpu_hour", usd_per_gpu_hour), ("mfu", mfu)) if value is not None}
    plan = plan.merged(Plan(
        name=name or "", params=None if params is None else _number("--params", params),
        tokens=None if tokens is None else _number("--tokens", tokens), budget=budget,
        hardware=hardware, limits=limits))
    level = _confidence(confidence)
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, False, method=method, fix=fix,
                            tie_exponents=tie_exponents), quiet)
    report = run_checks(model, plan, level)
    _emit(check_document(model, report, fail_on=fail_on), fmt, field, quiet)
    if report.failed(fail_on):
        raise typer.Exit(EXIT_CHECK_FAILED)
