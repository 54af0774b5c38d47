"""`scaling fit`, `predict`, `backtest`, `laws` and `schema`: thin commands over the core."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from scaling_cli.cli.common import (
    BootOpt,
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FitOpt,
    FixOpt,
    FormatOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    MethodOpt,
    OutputFormat,
    QuietOpt,
    ResampleOpt,
    RunsArg,
    SeedOpt,
    TieOpt,
    UnverifiedOpt,
    WhereOpt,
    WorkersOpt,
    _confidence,
    _console,
    _emit,
    _handled,
    _model,
    _number,
    _request,
    _stdin_text,
    app,
)
from scaling_cli.errors import UsageError

if TYPE_CHECKING:
    from scaling_cli.resolve import ModelRequest

__all__ = ["backtest", "fit", "laws", "predict", "schema"]


@app.command()
@_handled
def fit(
    runs: RunsArg = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write the fit file (JSON, with replicates) here, atomically.",
        rich_help_panel="Output")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Fit with every method and compare N* at --budget (a "
                          "model-uncertainty error bar).", rich_help_panel="Fit")] = False,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Budget in FLOPs for --compare.", show_default=False)] = None,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit the law to run logs; print it with intervals and optionally save a fit file.

    Example: scaling fit sample_runs/ -o fit.json && scaling optimal --fit fit.json -b 1e24
    """
    from scaling_cli.cli.output import write_atomic
    from scaling_cli.render.documents import dumps, fit_document

    level = _confidence(confidence)
    request = _request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                       resample_by, workers, allow_unverified, method=method, fix=fix,
                       tie_exponents=tie_exponents)
    if compare:
        _compare(request, budget, level, fmt, field, quiet, output)
        return
    model = _model(request, quiet)
    doc = fit_document(model, level)
    if output is not None:
        write_atomic(output, dumps(doc))
    if fmt is OutputFormat.table and field is None:
        doc = {key: value for key, value in doc.items() if key != "replicates"}
    _emit(doc, fmt, field, quiet)


def _compare(request: "ModelRequest", budget: str | None, level: float, fmt: OutputFormat,
             field: str | None, quiet: bool, output: str | None) -> None:
    from scaling_cli.forecast.compare import compare_methods
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.render.documents import compare_document
    from scaling_cli.read.runs import load_runs

    if budget is None:
        raise UsageError("--compare needs --budget, e.g. --compare --budget 1e24")
    if not request.paths or output is not None or request.method != "approach3":
        raise UsageError("--compare fits run logs with every method: give RUNS, and no "
                         "--output, --method, --law or --fit")
    stdin_text = _stdin_text(request.paths)
    runs = load_runs(request.paths, stdin_text=stdin_text, input_format=request.input_format,
                     columns=request.columns, where=request.where)
    comparison = compare_methods(
        runs, _number("--budget", budget), confidence=level,
        flops_per_param_token=request.flops_per_param_token, replicates=request.replicates,
        seed=request.seed, resample_by=request.resample_by, workers=request.workers,
        constraints=Constraints.make(request.fixed, tie_exponents=request.tie_exponents))
    _emit(compare_document(comparison, level), fmt, field, quiet)


@app.command()
@_handled
def predict(
    runs: RunsArg = None,
    params: Annotated[list[str], typer.Option(
        "--params", "-N", help="Model size(s), e.g. 70B (repeatable, paired with --tokens).",
        show_default=False)] = [],  # noqa: B006
    tokens: Annotated[list[str], typer.Option(
        "--tokens", "-D", help="Training tokens, e.g. 1.4T (repeatable).",
        show_default=False)] = [],  # noqa: B006
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 0, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Expected loss of a model of N parameters trained on D tokens, with its interval.

    Example: scaling predict sample_runs/ --params 70B --tokens 1.4T
    """
    from scaling_cli.render.documents import predict_document
    from scaling_cli.forecast.answers import predict as predict_loss

    if not params or len(params) != len(tokens):
        raise UsageError("give --params and --tokens in pairs, e.g. --params 70B --tokens 1.4T")
    ns = [_number("--params", p) for p in params]
    ds = [_number("--tokens", t) for t in tokens]
    level = _confidence(confidence)
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, allow_unverified, method=method, fix=fix,
                            tie_exponents=tie_exponents), quiet)
    doc = predict_document(model, predict_loss(model, ns, ds, level), level)
    _emit(doc, fmt, field, quiet)


@app.command()
@_handled
def backtest(
    runs: RunsArg = None,
    holdout_largest: Annotated[int | None, typer.Option(
        "--holdout-largest", help="Single split: hold out the K runs with the most compute.",
        show_default=False)] = None,
    folds: Annotated[int, typer.Option(
        "--folds", help="Rolling-origin folds, spread over the compute range.")] = 4,
    column: ColumnOpt = None, where: WhereOpt = None, input_format: InputFormatOpt = "auto",
    k: KOpt = "6", bootstrap: BootOpt = "1000", seed: SeedOpt = 0, confidence: ConfOpt = "0.95",
    resample_by: ResampleOpt = "auto", workers: WorkersOpt = 0,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit on the smaller-compute runs and score the forecast on the larger ones.

    Example: scaling backtest sample_runs/ --holdout-largest 7
    """
    from scaling_cli.forecast.backtest import backtest as run_backtest
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.render.documents import backtest_document
    from scaling_cli.read.runs import load_runs

    level = _confidence(confidence)
    request = _request(runs, None, None, column, where, input_format, k, bootstrap, seed,
                       resample_by, workers, False, method=method, fix=fix,
                       tie_exponents=tie_exponents)
    if not request.paths:
        raise UsageError("backtest needs run logs (RUNS)")
    if folds < 1:
        raise UsageError("--folds must be at least 1")
    stdin_text = _stdin_text(request.paths)
    loaded = load_runs(request.paths, stdin_text=stdin_text, input_format=request.input_format,
                       columns=request.columns, where=request.where)
    result = run_backtest(
        loaded, holdout_largest=holdout_largest, folds=folds, confidence=level,
        flops_per_param_token=request.flops_per_param_token, replicates=request.replicates,
        seed=request.seed, resample_by=request.resample_by, workers=request.workers,
        method=request.method,
        constraints=Constraints.make(request.fixed, tie_exponents=request.tie_exponents))
    _emit(backtest_document(result, loaded, flops_per_param_token=request.flops_per_param_token),
          fmt, field, quiet)


@app.command()
@_handled
def laws(fmt: FormatOpt = OutputFormat.table) -> None:
    """List the published laws usable with --law, with their sources.

    Example: scaling laws
    """
    from scaling_cli.law import load_presets

    presets = load_presets()
    if fmt is OutputFormat.json:
        from scaling_cli.render.documents import dumps

        sys.stdout.write(dumps({name: {"E": p.law.E, "A": p.law.A, "B": p.law.B,
                                       "alpha": p.law.alpha, "beta": p.law.beta,
                                       "title": p.title, "citation": p.citation,
                                       "note": p.note} for name, p in presets.items()}))
        return
    from rich.table import Table

    table = Table("name", "E", "A", "B", "α", "β", "source", show_lines=True)
    for name, p in presets.items():
        table.add_row(name, *(f"{v:.6g}" for v in p.law.as_tuple()),
                      f"{p.title}\n{p.citation}\n{p.note}")
    _console().print(table)


@app.command()
@_handled
def schema(fmt: FormatOpt = OutputFormat.table) -> None:
    """Print the run-log schema: every field, whether it is required, and what it means.

    Example: scaling schema --format json
    """
    from scaling_cli.read.runs import FIELDS

    if fmt is OutputFormat.json:
        from scaling_cli.render.documents import dumps

        sys.stdout.write(dumps({"fields": [
            {"name": f.name, "required": f.required, "kind": f.kind, "description": f.doc}
            for f in FIELDS]}))
        return
    from rich.table import Table

    table = Table("field", "required", "meaning")
    for f in FIELDS:
        table.add_row(f.name, "yes" if f.required else "", f.doc)
    console = _console()
    console.print(table)
    console.print(_SCHEMA_EXAMPLE, highlight=False, markup=False)


_SCHEMA_EXAMPLE = """Example run log (one file may hold one run, a `runs:` list, or --- documents):

runs:
  - id: ladder-70M-1e19
    params: 70M          # 7e7, 70M, 0.07B are all the same number
    tokens: 24B
    loss: 3.12           # final loss, nats/token
    flops: 1.0e19        # optional; defaults to k*N*D
    group: ladder-70M    # optional; rows of one training run share a group
    tags: [isoflop]
  - id: ladder-1B-diverged
    params: 1B
    tokens: 20B
    loss: 9.9
    exclude: true
    exclude_reason: diverged at step 4k
"""
