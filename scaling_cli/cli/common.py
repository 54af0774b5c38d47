"""What every `scaling` command shares: the Typer app, option types, error mapping, output.

Commands live in :mod:`scaling_cli.cli.plan` (optimal, target, check),
:mod:`scaling_cli.cli.fit` (fit, predict, backtest, laws, schema) and
:mod:`scaling_cli.cli.plot` (plot). Each parses its options, makes one core call, renders,
and lets :func:`_handled` map the tool's errors to exit codes. Heavy modules (numpy, rich)
are imported inside the commands so that ``scaling --help`` and preset answers start fast.
"""

import functools
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from scaling_cli import __version__
from scaling_cli.errors import EXIT_INTERRUPTED, ScalingError, UsageError
from scaling_cli.units import QuantityError, parse_number

if TYPE_CHECKING:
    from rich.console import Console

    from scaling_cli.forecast.costs import Budget, Hardware
    from scaling_cli.model import Model
    from scaling_cli.resolve import ModelRequest

app = typer.Typer(
    name="scaling",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rich help formatting imports ~100 ms of rich/markdown on
    # every `--help`, and CI logs read plain text better.
    rich_markup_mode=None,
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
    "--workers", help="Processes for the bootstrap; 0 (default) uses every core. Results "
                      "do not depend on it.",
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


GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="Hardware preset for costs: a100, h100, h200 (configs/hardware.toml).",
    rich_help_panel="Hardware")]
GpusOpt = Annotated[int | None, typer.Option(
    "--gpus", help="Number of GPUs (for wall-clock days).", rich_help_panel="Hardware")]
MfuOpt = Annotated[str, typer.Option(
    "--mfu", help="Model FLOPs utilisation: achieved / peak.", rich_help_panel="Hardware")]
PeakOpt = Annotated[str | None, typer.Option(
    "--peak-tflops", help="Dense bf16 peak per GPU in TFLOP/s (overrides the preset).",
    rich_help_panel="Hardware")]
PriceOpt = Annotated[str | None, typer.Option(
    "--usd-per-gpu-hour", help="Price per GPU-hour (the presets' prices are assumptions).",
    rich_help_panel="Hardware")]


def _hardware(gpu: str | None, gpus: int | None, mfu: str, peak: str | None,
              price: str | None) -> "Hardware | None":
    """The hardware the options describe, or None when no GPU was named."""
    if gpu is None and peak is None:
        if gpus is not None or price is not None:
            raise UsageError("--gpus and --usd-per-gpu-hour need a GPU: add --gpu NAME "
                             "(a100, h100, h200) or --peak-tflops")
        return None
    from scaling_cli.forecast.costs import make_hardware

    return make_hardware(
        gpu, peak_tflops=None if peak is None else _number("--peak-tflops", peak),
        usd_per_gpu_hour=None if price is None else _number("--usd-per-gpu-hour", price),
        mfu=_number("--mfu", mfu), gpus=gpus)


def _budgets(texts: list[str], steps: int,
             hardware: "Hardware | None") -> "list[Budget]":
    """Every --budget, expanded: ``1e21..1e25`` ranges take --steps log-spaced values."""
    from scaling_cli.forecast.costs import budget_range, parse_budget

    out: list[Budget] = []
    for text in texts:
        if ".." in text:
            out.extend(budget_range(text, steps, hardware))
        else:
            out.append(parse_budget(text, hardware))
    return out


def _number(flag: str, text: str, *, allow_zero: bool = False) -> float:
    try:
        return parse_number(text, allow_zero=allow_zero)
    except QuantityError as exc:
        raise UsageError(f"{flag}: {exc.problem}") from None


# Each replicate is a fit (~1 ms on 240 runs): 100,000 take minutes and a few MB; more is a
# typo (1e9 would ask for 37 GiB before failing) rather than extra precision.
MAX_REPLICATES = 100_000


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
             fix: list[str] | None = None, tie_exponents: bool = False) -> "ModelRequest":
    from scaling_cli.resolve import ModelRequest, parse_columns, parse_fixed

    if workers < 0:
        raise UsageError("--workers must be 0 (every core) or a positive number")
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed: {seed} is out of range; give a whole number from 0 to "
                         "2**63 - 1")
    replicates = _count("--bootstrap", bootstrap)
    if replicates > MAX_REPLICATES:
        raise UsageError(f"--bootstrap: {bootstrap!r} is over the limit of {MAX_REPLICATES:,} "
                         "replicates; 1,000 (the default) is enough for 95% intervals")
    if workers == 0:  # the cores this process may run on (affinity), at most 8
        import os

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        workers = min(cores or os.cpu_count() or 1, 8)
    return ModelRequest(
        paths=tuple(runs or ()), law=law, fit_file=fit, columns=parse_columns(column or []),
        where=tuple(where or ()), input_format=input_format,
        flops_per_param_token=_number("--flops-per-param-token", k),
        replicates=replicates, seed=seed, resample_by=resample_by,
        workers=workers, allow_unverified=allow_unverified, method=method,
        fixed=parse_fixed(fix or []), tie_exponents=tie_exponents,
    )


def _console(stderr: bool = False) -> "Console":
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False,
                   soft_wrap=False)


def _stdin_text(paths: tuple[str, ...]) -> str | None:
    """Standard input when ``-`` is among the run logs: bytes, bounded, decoded like a file's."""
    if "-" not in paths:
        return None
    from scaling_cli.read.runs import LIMITS, decode_input

    return decode_input("<stdin>", sys.stdin.buffer.read(LIMITS["max_file_bytes"] + 1))


def _model(request: "ModelRequest", quiet: bool) -> "Model":
    from scaling_cli.resolve import resolve_model

    stdin_text = _stdin_text(request.paths)
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
    if not quiet and doc.get("warnings"):
        from scaling_cli.render.tables import render_warnings

        render_warnings(doc["warnings"], _console(stderr=True))
    if field is not None:
        from scaling_cli.render.fields import render_field

        sys.stdout.write(render_field(doc, field))
    elif fmt is OutputFormat.json:
        from scaling_cli.render.documents import dumps

        sys.stdout.write(dumps(doc))
    elif fmt is OutputFormat.csv:
        from scaling_cli.render.fields import render_csv

        sys.stdout.write(render_csv(doc))
    else:
        from scaling_cli.render.tables import render_table

        render_table(doc, _console())


# --------------------------------------------------------------------------- commands


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
