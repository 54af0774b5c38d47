"""The `scaling` command: parse options, make one core call, render, map errors to exit codes.

Heavy modules (numpy, scipy, rich) are imported inside the commands so that
``scaling --help`` and preset answers start fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from . import __version__
from .errors import EXIT_INTERRUPTED, ScalingError, UsageError
from .units import QuantityError, parse_number

if TYPE_CHECKING:
    from rich.console import Console

    from .model import Model
    from .resolve import ModelRequest

app = typer.Typer(
    name="scaling",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Fit a Chinchilla-style loss surface L(N, D) = E + A/N^alpha + B/D^beta to your run "
         "logs and plan compute-optimal training runs, with bootstrap error bars.",
)

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _handled(func: F) -> F:
    """Turn the tool's own errors into one `Error:` line and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScalingError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted: nothing was written.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- options

RunsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Run logs: YAML/CSV files, directories (recursive), globs, or - for "
                        "stdin.", show_default=False),
]
LawOpt = Annotated[str | None, typer.Option(
    "--law", help="Use a published law instead of runs (see `scaling laws`).",
    rich_help_panel="Law source")]
FitOpt = Annotated[str | None, typer.Option(
    "--fit", help="Reuse a fit file written by `scaling fit -o FILE` instead of refitting.",
    rich_help_panel="Law source")]
ColumnOpt = Annotated[list[str] | None, typer.Option(
    "--column", help="CSV column for a run field, FIELD=COLUMN (repeatable), e.g. "
                     "group=train_run_key.", rich_help_panel="Inputs")]
WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", help="Keep only records with COLUMN==VALUE (also != < <= > >=; repeatable, "
                    "all must hold).", rich_help_panel="Inputs")]
MethodOpt = Annotated[str, typer.Option(
    "--method", help="approach3 (Huber on log residuals) or lsq (least squares on log "
                     "residuals).", rich_help_panel="Fit")]
FixOpt = Annotated[list[str] | None, typer.Option(
    "--fix", help="Hold a parameter at a value, NAME=VALUE (repeatable), e.g. E=1.69.",
    rich_help_panel="Fit")]
TieOpt = Annotated[bool, typer.Option(
    "--tie-exponents", help="Fit with alpha = beta (small ladders often cannot identify both).",
    rich_help_panel="Fit")]
InputFormatOpt = Annotated[str, typer.Option(
    "--input-format", help="auto (by extension; stdin sniffed), yaml or csv.",
    rich_help_panel="Inputs")]
KOpt = Annotated[str, typer.Option(
    "--flops-per-param-token", "-k", help="k in the FLOP convention C = k*N*D.",
    rich_help_panel="Convention")]
BootOpt = Annotated[str, typer.Option(
    "--bootstrap", help="Bootstrap replicates for the intervals (0 for none).",
    rich_help_panel="Error bars")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resampling.",
                                      rich_help_panel="Error bars")]
ConfOpt = Annotated[str, typer.Option("--confidence", help="Interval coverage, in (0, 1).",
                                      rich_help_panel="Error bars")]
ResampleOpt = Annotated[str, typer.Option(
    "--resample-by", help="run, group, or auto (group when runs carry group labels).",
    rich_help_panel="Error bars")]
WorkersOpt = Annotated[int, typer.Option(
    "--workers", help="Processes for the bootstrap (results do not depend on it).",
    rich_help_panel="Error bars")]
UnverifiedOpt = Annotated[bool, typer.Option(
    "--allow-unverified", help="Report a fit whose optimum could not be verified "
                               "(normally exit 2).", rich_help_panel="Error bars")]
FormatOpt = Annotated[OutputFormat, typer.Option(
    "--format", "-f", help="table for people, json (stable schema), or csv.",
    rich_help_panel="Output")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No warnings or progress on stderr; with --field, just the number.",
    rich_help_panel="Output")]
FieldOpt = Annotated[str | None, typer.Option(
    "--field", help="Print only this field's bare value (one line per row), e.g. params, "
                    "params_low, tokens, loss_high.", rich_help_panel="Output")]


def _number(flag: str, text: str, *, allow_zero: bool = False) -> float:
    try:
        return parse_number(text, allow_zero=allow_zero)
    except QuantityError as exc:
        raise UsageError(f"{flag}: {exc.problem}") from None


def _count(flag: str, text: str) -> int:
    value = _number(flag, text, allow_zero=True)
    if value != int(value):
        raise UsageError(f"{flag}: {text!r} is not a whole number")
    return int(value)


def _confidence(text: str) -> float:
    value = _number("--confidence", text)
    if not 0 < value < 1:
        raise UsageError(f"--confidence: {text!r} must be between 0 and 1, e.g. 0.95")
    return value


def _request(runs: list[str] | None, law: str | None, fit: str | None,
             column: list[str] | None, where: list[str] | None, input_format: str, k: str,
             bootstrap: str, seed: int, resample_by: str, workers: int,
             allow_unverified: bool, *, method: str = "approach3",
             fix: list[str] | None = None, tie_exponents: bool = False) -> ModelRequest:
    from .resolve import ModelRequest, parse_columns, parse_fixed

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    return ModelRequest(
        paths=tuple(runs or ()), law=law, fit_file=fit, columns=parse_columns(column or []),
        where=tuple(where or ()), input_format=input_format,
        flops_per_param_token=_number("--flops-per-param-token", k),
        replicates=_count("--bootstrap", bootstrap), seed=seed, resample_by=resample_by,
        workers=workers, allow_unverified=allow_unverified, method=method,
        fixed=parse_fixed(fix or []), tie_exponents=tie_exponents,
    )


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False,
                   soft_wrap=False)


def _model(request: ModelRequest, quiet: bool) -> Model:
    from .resolve import resolve_model

    stdin_text = sys.stdin.read() if "-" in request.paths else None
    show = (not quiet and request.replicates > 0 and not request.law and not request.fit_file
            and sys.stderr.isatty())
    if not show:
        return resolve_model(request, stdin_text=stdin_text)
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task("bootstrap", total=request.replicates)
        return resolve_model(request, stdin_text=stdin_text,
                             progress=lambda done, total: bar.update(task, completed=done))


def _emit(doc: dict[str, Any], fmt: OutputFormat, field: str | None, quiet: bool) -> None:
    from . import report

    if not quiet:
        report.render_warnings(doc.get("warnings", []), _console(stderr=True))
    if field is not None:
        sys.stdout.write(report.render_field(doc, field))
    elif fmt is OutputFormat.json:
        from .documents import dumps

        sys.stdout.write(dumps(doc))
    elif fmt is OutputFormat.csv:
        sys.stdout.write(report.render_csv(doc))
    else:
        report.render_table(doc, _console())


# --------------------------------------------------------------------------- commands


@app.command()
@_handled
def optimal(
    runs: RunsArg = None,
    budget: Annotated[list[str], typer.Option(
        "--budget", "-b", help="Training compute in FLOPs, e.g. 1e24 (repeatable).",
        show_default=False)] = [],  # noqa: B006 - typer needs a literal default
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, confidence: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    workers: WorkersOpt = 1, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Compute-optimal model size N* and tokens D* for a FLOP budget, with intervals.

    Example: scaling optimal sample_runs/ --budget 1e24
    """
    from .documents import optimal_document
    from .plan import compute_optimal

    if not budget:
        raise UsageError("--budget is required, e.g. --budget 1e24")
    budgets = [_number("--budget", b) for b in budget]
    level = _confidence(confidence)
    model = _model(_request(runs, law, fit_file, column, where, input_format, k, bootstrap, seed,
                            resample_by, workers, allow_unverified, method=method, fix=fix,
                            tie_exponents=tie_exponents), quiet)
    doc = optimal_document(model, compute_optimal(model, budgets, level), level)
    _emit(doc, fmt, field, quiet)


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
    workers: WorkersOpt = 1, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit the law to run logs; print it with intervals and optionally save a fit file.

    Example: scaling fit sample_runs/ -o fit.json && scaling optimal --fit fit.json -b 1e24
    """
    from .atomic import write_atomic
    from .documents import dumps, fit_document

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


def _compare(request: ModelRequest, budget: str | None, level: float, fmt: OutputFormat,
             field: str | None, quiet: bool, output: str | None) -> None:
    from .compare import compare_methods
    from .constraints import Constraints
    from .documents import compare_document
    from .runs import load_runs

    if budget is None:
        raise UsageError("--compare needs --budget, e.g. --compare --budget 1e24")
    if not request.paths or output is not None or request.method != "approach3":
        raise UsageError("--compare fits run logs with every method: give RUNS, and no "
                         "--output, --method, --law or --fit")
    stdin_text = sys.stdin.read() if "-" in request.paths else None
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
    workers: WorkersOpt = 1, allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Expected loss of a model of N parameters trained on D tokens, with its interval.

    Example: scaling predict sample_runs/ --params 70B --tokens 1.4T
    """
    from .documents import predict_document
    from .plan import predict as predict_loss

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
    resample_by: ResampleOpt = "auto", workers: WorkersOpt = 1,
    method: MethodOpt = "approach3", fix: FixOpt = None, tie_exponents: TieOpt = False,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Fit on the smaller-compute runs and score the forecast on the larger ones.

    Example: scaling backtest sample_runs/ --holdout-largest 7
    """
    from .backtest import backtest as run_backtest
    from .constraints import Constraints
    from .documents import backtest_document
    from .runs import load_runs

    level = _confidence(confidence)
    request = _request(runs, None, None, column, where, input_format, k, bootstrap, seed,
                       resample_by, workers, False, method=method, fix=fix,
                       tie_exponents=tie_exponents)
    if not request.paths:
        raise UsageError("backtest needs run logs (RUNS)")
    if folds < 1:
        raise UsageError("--folds must be at least 1")
    stdin_text = sys.stdin.read() if "-" in request.paths else None
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
    from .law import load_presets

    presets = load_presets()
    if fmt is OutputFormat.json:
        from .documents import dumps

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
    from .runs import FIELDS

    if fmt is OutputFormat.json:
        from .documents import dumps

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


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scaling-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                          is_eager=True, help="Show the version.")] = False,
) -> None:
    """Chinchilla-style scaling-law forecasts from your run logs."""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # outside a command (e.g. during import or option parsing)
        sys.stderr.write("Interrupted: nothing was written.\n")
        sys.exit(EXIT_INTERRUPTED)


__all__ = ["app", "main"]
from . import cli_plot  # noqa: E402,F401  (registers `scaling plot`)
