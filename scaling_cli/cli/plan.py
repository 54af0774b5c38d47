"""`scaling optimal`, `target` and `check`: planning answers and CI budget checks."""

from typing import Annotated

import typer

from scaling_cli.cli.base import app, handled, say
from scaling_cli.cli.decision_inputs import HparamsOpt, SeqLenOpt, hparam_source, variant_fit
from scaling_cli.cli.options import (
    BandOpt,
    BootOpt,
    BudgetOpt,
    CheckpointsOpt,
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FitOpt,
    FixOpt,
    FormatOpt,
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
    emit,
    hardware,
    law_request,
    number,
    output_request,
)
from scaling_cli.errors import EXIT_CHECK_FAILED, UsageError
from scaling_cli.render.fields import columns

__all__ = ["check", "optimal", "target"]

@app.command()
@handled
def optimal(
    ctx: typer.Context,
    runs: RunsArg = None,
    budget: BudgetOpt = [],  # noqa: B006 - typer needs a literal default
    steps: StepsOpt = 5,
    band: BandOpt = "0.005",
    params: Annotated[str | None, typer.Option(
        "--params", "-N", help="Fix the model size (e.g. 7B): tokens, loss and the penalty "
                               "versus compute-optimal.", metavar="COUNT",
        rich_help_panel="Planning")] = None,
    unique_tokens: UniqueTokensOpt = None,
    hparams: HparamsOpt = None, seq_len: SeqLenOpt = None,
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
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Compute-optimal model size N* and tokens D* for FLOP budgets, with intervals.

    Also: the near-optimal band of sizes, a fixed size (--params), limited unique data
    (--unique-tokens), costs in GPU-hours, days and dollars (--gpu), and the learning rate
    and batch size for N*, D* from a hyperparameter law (--hparams).

    Example: scaling optimal sample_runs/ --budget 1e24
    """
    from scaling_cli.forecast.answers import fixed_size
    from scaling_cli.forecast.answers import optimal as plan_optimal
    from scaling_cli.read.plausible import check_plausible
    from scaling_cli.render.documents import fixed_size_document, optimal_document

    if params is not None and unique_tokens is not None:
        raise UsageError("--params and --unique-tokens cannot be combined; use one")
    if hparams is not None and (params is not None or unique_tokens is not None):
        raise UsageError("--hparams recommends settings for the compute-optimal N*, D*; for a "
                         "fixed size use `scaling hparams --params N --tokens D`")
    hw = hardware(ctx.params)
    given = budgets(budget, steps, hw)
    tolerance = number("band", band, allow_zero=True)
    unique = None if unique_tokens is None else check_plausible(
        "unique_tokens", number("unique_tokens", unique_tokens))
    size = None if params is None else check_plausible("params", number("params", params))
    conf = confidence(level)
    out = output_request(ctx, columns("optimal" if size is None else "fixed-size"))
    model = law_request(ctx).model()
    if size is not None:
        doc = fixed_size_document(fixed_size(model, given, size, confidence=conf, hardware=hw))
    else:
        doc = optimal_document(plan_optimal(model, given, confidence=conf,
                                            band=tolerance or None, unique_tokens=unique,
                                            hardware=hw))
    if hparams is not None:
        from scaling_cli.forecast.hparams import hparams_at_optimum
        from scaling_cli.render.documents import add_hparams

        advice = hparams_at_optimum(
            hparam_source(hparams, seed), model, [b.compute_flops for b in given],
            confidence=conf, seq_len=None if seq_len is None else number("seq_len", seq_len),
            seed=seed)
        doc = add_hparams(doc, advice)
    emit(doc, out)


@app.command()
@handled
def target(
    ctx: typer.Context,
    runs: RunsArg = None,
    loss: Annotated[list[str], typer.Option(
        "--loss", "-L", help="Target loss in nats/token (repeatable).", metavar="LOSS",
        show_default=False)] = [],  # noqa: B006
    inference_tokens: Annotated[str | None, typer.Option(
        "--inference-tokens", help="Lifetime inference tokens (e.g. 2T): size for training + "
                                   "inference FLOPs (Sardana & Frankle 2024).", metavar="COUNT",
        rich_help_panel="Planning")] = None,
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
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Least compute (and its N*, D*) that reaches a target loss, with intervals.

    Example: scaling target sample_runs/ --loss 2.1 --inference-tokens 2T --gpu h100
    """
    from scaling_cli.forecast.answers import target as plan_target
    from scaling_cli.read.plausible import check_plausible
    from scaling_cli.render.documents import target_document

    if not loss:
        raise UsageError("is required, e.g. --loss 2.1", field="loss")
    losses = [check_plausible("loss", number("loss", x)) for x in loss]
    tokens = None if inference_tokens is None else check_plausible(
        "inference_tokens", number("inference_tokens", inference_tokens, allow_zero=True))
    hw = hardware(ctx.params)
    conf = confidence(level)
    out = output_request(ctx, columns("target"))
    model = law_request(ctx).model()
    emit(target_document(plan_target(model, losses, confidence=conf, inference_tokens=tokens,
                                     hardware=hw)), out)


@app.command()
@handled
def check(
    ctx: typer.Context,
    plan_file: Annotated[str | None, typer.Argument(
        help="Plan file (YAML): params, tokens or budget, hardware, limits "
             "(configs/example_plan.yaml).", show_default=False, metavar="PLAN")] = None,
    runs: Annotated[list[str] | None, typer.Option(
        "--runs", help="Run logs to fit (files, directories, globs; repeatable).",
        metavar="PATH", rich_help_panel="Law source")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Plan name (shown in the output).", metavar="NAME")] = None,
    params: Annotated[str | None, typer.Option(
        "--params", "-N", help="Model size, e.g. 30B.", metavar="COUNT")] = None,
    tokens: Annotated[str | None, typer.Option(
        "--tokens", "-D", help="Training tokens, e.g. 600B.", metavar="COUNT")] = None,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Budget instead of tokens: 6e23, 2e5gpu-hours, 30days, "
                               "5e6usd.", metavar="BUDGET")] = None,
    max_flops: Annotated[str | None, typer.Option(
        "--max-flops", help="Training compute must stay below (FLOPs).", metavar="FLOPS",
        rich_help_panel="Limits")] = None,
    max_gpu_hours: Annotated[str | None, typer.Option(
        "--max-gpu-hours", help="GPU-hours must stay below (needs a GPU).", metavar="HOURS",
        rich_help_panel="Limits")] = None,
    max_usd: Annotated[str | None, typer.Option(
        "--max-usd", help="Dollars must stay below (needs a price).", metavar="DOLLARS",
        rich_help_panel="Limits")] = None,
    max_days: Annotated[str | None, typer.Option(
        "--max-days", help="Wall-clock days must stay below (needs --gpus).", metavar="DAYS",
        rich_help_panel="Limits")] = None,
    max_loss: Annotated[str | None, typer.Option(
        "--max-loss", help="Predicted loss must stay below (nats/token).", metavar="LOSS",
        rich_help_panel="Limits")] = None,
    max_params_ratio: Annotated[str | None, typer.Option(
        "--max-params-ratio", help="N within this factor of the compute-optimal N*.",
        metavar="RATIO", rich_help_panel="Limits")] = None,
    min_compute_multiplier: Annotated[str | None, typer.Option(
        "--min-compute-multiplier", help="The variant recipe (--variant-runs) must be worth at "
                                         "least this many times the compute at the plan's "
                                         "budget.", metavar="FACTOR",
        rich_help_panel="Limits")] = None,
    max_hparam_ratio: Annotated[str | None, typer.Option(
        "--max-hparam-ratio", help="The plan's --lr and --batch-tokens within this factor of "
                                   "the --hparams law's.", metavar="RATIO",
        rich_help_panel="Limits")] = None,
    variant_runs: Annotated[list[str] | None, typer.Option(
        "--variant-runs", help="Run logs of a variant recipe, fitted jointly with --runs (the "
                               "baseline) for --min-compute-multiplier.", metavar="PATH",
        rich_help_panel="Recipes")] = None,
    variant_where: Annotated[list[str] | None, typer.Option(
        "--variant-where", help="Filter for the variant's records (--where filters the "
                                "baseline's).",
        metavar="FILTER", rich_help_panel="Recipes")] = None,
    recipe_mode: Annotated[str, typer.Option(
        "--recipe-mode", help="What the two ladders share: shared, separate or pinned.",
        metavar="MODE", rich_help_panel="Recipes")] = "shared",
    hparams: HparamsOpt = None,
    lr: Annotated[str | None, typer.Option(
        "--lr", help="Planned peak learning rate.", metavar="LR",
        rich_help_panel="Hyperparameters")] = None,
    batch_tokens: Annotated[str | None, typer.Option(
        "--batch-tokens", help="Planned batch size in tokens, e.g. 4M.", metavar="TOKENS",
        rich_help_panel="Hyperparameters")] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help="fail: only failed checks fail the job; inconclusive: intervals "
                          "that straddle a limit fail it too.", metavar="VERDICT")] = "fail",
    gpu: GpuOpt = None, gpus: GpusOpt = None, mfu: MfuOpt = None,
    peak_tflops: PeakOpt = None, usd_per_gpu_hour: PriceOpt = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    skip_invalid: SkipInvalidOpt = False, reduce: ReduceOpt = "last",
    tokens_per_step: TokensPerStepOpt = None, log_params: LogParamsOpt = None,
    params_file: ParamsFileOpt = None, restarts: RestartsOpt = "refuse",
    seed: SeedOpt = 0, level: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, method: MethodOpt = "approach3", fix: FixOpt = None,
    tie_exponents: TieOpt = False,
    form: FormOpt = "auto", repeated_data: RepeatedDataOpt = "effective",
    checkpoints: CheckpointsOpt = "final",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Check a planned run against the forecast; exit 1 if a limit fails (for CI).

    Exit codes: 0 every check passed, 1 a check failed (or was inconclusive with
    --fail-on inconclusive), 2 usage, input or fit error. Every failed or inconclusive limit
    is also named on stderr, whatever the format.

    Example: scaling check configs/example_plan.yaml --runs sample_runs/
    """
    from scaling_cli.forecast.checks import check_plan
    from scaling_cli.read.hardware import HardwareSpec
    from scaling_cli.read.planfile import Plan, read_plan_file
    from scaling_cli.read.plausible import check_plausible
    from scaling_cli.render.documents import check_document

    plan = Plan() if plan_file is None else read_plan_file(plan_file)
    limits = {key: number(key, value) for key, value in (
        ("max_flops", max_flops), ("max_gpu_hours", max_gpu_hours), ("max_usd", max_usd),
        ("max_days", max_days), ("max_loss", max_loss), ("max_params_ratio", max_params_ratio),
        ("min_compute_multiplier", min_compute_multiplier),
        ("max_hparam_ratio", max_hparam_ratio),
    ) if value is not None}
    flags = HardwareSpec(
        gpu=gpu, gpus=gpus, mfu=None if mfu is None else number("hardware.mfu", mfu),
        peak_tflops=None if peak_tflops is None else number("hardware.peak_tflops",
                                                            peak_tflops),
        usd_per_gpu_hour=None if usd_per_gpu_hour is None
        else number("hardware.usd_per_gpu_hour", usd_per_gpu_hour))
    plan = plan.merged(Plan(
        name=name or "",
        params=None if params is None else check_plausible("params", number("params", params)),
        tokens=None if tokens is None else check_plausible("tokens", number("tokens", tokens)),
        budget=budget, hardware=flags, limits=limits,
        lr=None if lr is None else check_plausible("lr", number("lr", lr)),
        batch_tokens=None if batch_tokens is None
        else check_plausible("batch_tokens", number("batch_tokens", batch_tokens))))
    conf = confidence(level)
    out = output_request(ctx, columns("check"))
    request = law_request(ctx)
    model = request.model()
    recipes = None if not variant_runs else variant_fit(
        request, variant_runs, variant_where or (), recipe_mode)
    report = check_plan(model, plan, confidence=conf, fail_on=fail_on, recipes=recipes,
                        hparams=None if hparams is None else hparam_source(hparams, seed))
    emit(check_document(report), out)
    for c in report.not_passed:
        say(f"Check {c.verdict.upper()}: {c.limit_name} {c.value:.4g} {c.units} vs limit "
            f"{c.limit:.4g}" + ("" if c.low is None else f" (interval {c.low:.4g} – "
                                                         f"{c.high:.4g})"))
    if report.failed:
        raise typer.Exit(EXIT_CHECK_FAILED)
