"""What commands share: option declarations, their parsing into typed settings, and output.

A command declares its options (Typer needs them in its signature, for ``--help``), then
builds its typed requests once from ``ctx.params``: :func:`law_request` (where the law comes
from, and how to fit it) and :func:`output_request` (format, fields, quiet, ``-o``). Every
number goes through the one unit parser; errors name the setting, rendered as the flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaling_cli.cli.base import say
from scaling_cli.errors import UsageError
from scaling_cli.render.fields import check_fields
from scaling_cli.units import QuantityError, parse_number, shown

if TYPE_CHECKING:
    from scaling_cli.fit.checkpoints import CheckpointMode
    from scaling_cli.fit.settings import FitSettings
    from scaling_cli.model import Model
    from scaling_cli.read.hardware import Budget, Hardware
    from scaling_cli.read.logs import LogSettings, Skipped
    from scaling_cli.read.runs import RunSet

__all__ = [
    "LawRequest",
    "OutputFormat",
    "OutputRequest",
    "emit",
    "emit_text",
    "law_request",
    "number",
    "output_request",
    "render",
]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# --------------------------------------------------------------------------- declarations

RunsArg = Annotated[list[str] | None, typer.Argument(
    help="Run logs: YAML/CSV tables or training logs (JSON Lines, trainer_state.json, W&B "
         "CSV exports, TensorBoard events); files, directories (recursive), globs, or - for "
         "stdin.", show_default=False, metavar="RUNS...")]
LawOpt = Annotated[str | None, typer.Option(
    "--law", help="Use a published law instead of runs (see `scaling laws`).",
    metavar="NAME", rich_help_panel="Law source")]
FitOpt = Annotated[str | None, typer.Option(
    "--fit", help="Reuse a fit file written by `scaling fit -o FILE` instead of refitting.",
    metavar="FILE", rich_help_panel="Law source")]
ColumnOpt = Annotated[list[str] | None, typer.Option(
    "--column", help="Column (or log key, or tag) for a field, FIELD=COLUMN (repeatable): a "
                     "run field of a CSV table (group=train_run_key) or a training-log field "
                     "id, step, tokens, loss, lr, params (loss=train/loss).",
    metavar="FIELD=COLUMN", rich_help_panel="Inputs")]
WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", help="Keep only records with COLUMN==VALUE (also != < <= > >=; repeatable, "
                    "all must hold).", metavar="FILTER", rich_help_panel="Inputs")]
InputFormatOpt = Annotated[str, typer.Option(
    "--input-format", help="auto (by name, then content), or for every input: yaml, csv, "
                           "jsonl, hf-trainer, wandb-history, wandb-summary, tensorboard.",
    metavar="FORMAT", rich_help_panel="Inputs")]
SkipInvalidOpt = Annotated[bool, typer.Option(
    "--skip-invalid", help="Leave out runs that cannot be used (a NaN loss, a crashed or "
                           "unfinished run, an empty cell), naming each on stderr and in "
                           "JSON (inputs.skipped).", rich_help_panel="Inputs")]
ReduceOpt = Annotated[str, typer.Option(
    "--reduce", help="A training log's curve -> the run's final loss: last, mean:K (last K "
                     "points), ema:W (TensorBoard's smoothing), at:TOKENS[,TOKENS..] (e.g. "
                     "at:20B; checkpoints of one run).", metavar="HOW",
    rich_help_panel="Training logs")]
TokensPerStepOpt = Annotated[str | None, typer.Option(
    "--tokens-per-step", help="Global batch x sequence length (e.g. 1024x2048 or 2M), for "
                              "logs that log steps but not tokens.", metavar="COUNT",
    rich_help_panel="Training logs")]
LogParamsOpt = Annotated[str | None, typer.Option(
    "--log-params", help="The parameter count of the one run the training log holds (e.g. "
                         "70M).", metavar="COUNT", rich_help_panel="Training logs")]
ParamsFileOpt = Annotated[str | None, typer.Option(
    "--params-file", help="Parameter counts by run id for training logs: YAML (RUN: 70M) or "
                          "CSV (id,params).", metavar="FILE", rich_help_panel="Training logs")]
RestartsOpt = Annotated[str, typer.Option(
    "--restarts", help="Steps logged again after a restart: refuse, or keep-last (the points "
                       "logged after the restart).", metavar="HOW",
    rich_help_panel="Training logs")]
CheckpointsOpt = Annotated[str, typer.Option(
    "--checkpoints", help="Rows a training log's curve adds to the ladder: final (its last "
                          "point), cooldowns (also each cooldown's end), corrected (also "
                          "checkpoints corrected by a loss-curve law to a finished run's loss) "
                          "or all (checkpoints as logged; biased unless cooled down). A run's "
                          "rows are resampled together.", metavar="ROWS",
    rich_help_panel="Training logs")]
MethodOpt = Annotated[str, typer.Option(
    "--method", help="approach3 (Huber on log residuals) or lsq (least squares on log "
                     "residuals).", metavar="METHOD", rich_help_panel="Fit")]
FixOpt = Annotated[list[str] | None, typer.Option(
    "--fix", help="Hold a parameter at a value, NAME=VALUE (repeatable), e.g. E=1.69.",
    metavar="NAME=VALUE", rich_help_panel="Fit")]
TieOpt = Annotated[bool, typer.Option(
    "--tie-exponents", help="Fit with alpha = beta (small ladders often cannot identify both).",
    rich_help_panel="Fit")]
FormOpt = Annotated[str, typer.Option(
    "--form", help="The law's form: auto (full or tied exponents, whichever predicts held-out "
                   "runs better), full (alpha and beta free) or tied (alpha = beta).",
    metavar="FORM", rich_help_panel="Fit")]
RepeatedDataOpt = Annotated[str, typer.Option(
    "--repeated-data", help="Runs whose data was repeated (unique_tokens below tokens): "
                            "effective (fit them at the fresh tokens they are worth, "
                            "Muennighoff et al. 2023) or fresh (as if every token were new).",
    metavar="HOW", rich_help_panel="Fit")]
KOpt = Annotated[str, typer.Option(
    "--flops-per-param-token", "-k", help="k in the FLOP convention C = k*N*D.",
    metavar="NUMBER", rich_help_panel="Convention")]
BootOpt = Annotated[str, typer.Option(
    "--bootstrap", help="Bootstrap replicates for the intervals: 0 for none, else at least "
                        "40.", metavar="COUNT", rich_help_panel="Error bars")]
SeedOpt = Annotated[int, typer.Option(
    "--seed", help="Seed of the bootstrap resampling.", metavar="INT",
    rich_help_panel="Error bars")]
ConfOpt = Annotated[str, typer.Option(
    "--confidence", help="Interval coverage, in (0, 1).", metavar="LEVEL",
    rich_help_panel="Error bars")]
ResampleOpt = Annotated[str, typer.Option(
    "--resample-by", help="run, group, or auto (group when runs carry group labels).",
    metavar="UNIT", rich_help_panel="Error bars")]
WorkersOpt = Annotated[int, typer.Option(
    "--workers", help="Processes for the bootstrap; 0 (default) uses every available core, "
                      "and more than that are capped. Results do not depend on it.",
    metavar="COUNT", rich_help_panel="Error bars")]
UnverifiedOpt = Annotated[bool, typer.Option(
    "--allow-unverified", help="Report a fit whose optimum could not be verified "
                               "(normally exit 2).", rich_help_panel="Error bars")]
FormatOpt = Annotated[OutputFormat, typer.Option(
    "--format", "-f", help="table for people, json (stable schema), or csv.",
    rich_help_panel="Output")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No warnings or progress on stderr (saved output keeps its "
                          "warnings); with --field, just the values.", rich_help_panel="Output")]
FieldOpt = Annotated[list[str] | None, typer.Option(
    "--field", help="Print only these fields' bare values (repeat for columns, one line per "
                    "row), e.g. params, params_low, tokens, loss_high.", metavar="NAME",
    rich_help_panel="Output")]
GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="Hardware preset for costs: a100, h100, h200 (configs/hardware.toml).",
    metavar="NAME", rich_help_panel="Hardware")]
GpusOpt = Annotated[int | None, typer.Option(
    "--gpus", help="Number of GPUs (for wall-clock days).", metavar="COUNT",
    rich_help_panel="Hardware")]
MfuOpt = Annotated[str | None, typer.Option(
    "--mfu", help="Model FLOPs utilisation, achieved / peak (default 0.4).", metavar="NUMBER",
    rich_help_panel="Hardware")]
PeakOpt = Annotated[str | None, typer.Option(
    "--peak-tflops", help="Dense bf16 peak per GPU in TFLOP/s (overrides the preset).",
    metavar="NUMBER", rich_help_panel="Hardware")]
PriceOpt = Annotated[str | None, typer.Option(
    "--usd-per-gpu-hour", help="Price per GPU-hour (the presets' prices are assumptions).",
    metavar="NUMBER", rich_help_panel="Hardware")]
BudgetOpt = Annotated[list[str], typer.Option(
    "--budget", "-b", help="Training compute: 1e24 (FLOPs), 2e6gpu-hours, 30days, 5e6usd, "
                           "or a range 1e21..1e25 (repeatable).", show_default=False,
    metavar="BUDGET")]
StepsOpt = Annotated[int, typer.Option(
    "--steps", help="Budgets in each LOW..HIGH range (log-spaced, ends included).",
    metavar="COUNT")]
BandOpt = Annotated[str, typer.Option(
    "--band", help="Show model sizes whose loss is within this fraction of the optimum "
                   "(0 to hide).", metavar="FRACTION", rich_help_panel="Planning")]
UniqueTokensOpt = Annotated[str | None, typer.Option(
    "--unique-tokens", help="Unique training tokens available (e.g. 500B): plan with "
                            "repeated data (Muennighoff et al. 2023).", metavar="COUNT",
    rich_help_panel="Planning")]

# Options that only shape a fit of run logs: with --fit or --law they would change nothing.
FIT_ONLY = ("column", "where", "input_format", "skip_invalid", "reduce", "tokens_per_step",
            "log_params", "params_file", "restarts", "bootstrap", "seed", "resample_by",
            "method", "fix", "tie_exponents", "form", "repeated_data", "workers", "checkpoints")
_PARAM_FLAGS = {"column": "--column", "where": "--where", "input_format": "--input-format",
                "skip_invalid": "--skip-invalid", "reduce": "--reduce",
                "tokens_per_step": "--tokens-per-step", "log_params": "--log-params",
                "params_file": "--params-file", "restarts": "--restarts",
                "bootstrap": "--bootstrap", "seed": "--seed", "resample_by": "--resample-by",
                "method": "--method", "fix": "--fix", "tie_exponents": "--tie-exponents",
                "form": "--form", "repeated_data": "--repeated-data", "workers": "--workers",
                "checkpoints": "--checkpoints"}


# --------------------------------------------------------------------------- parsing


def number(setting: str, text: str | None, *, allow_zero: bool = False) -> float:
    """A flag's value through the one unit parser; errors name the setting."""
    try:
        return parse_number(text, allow_zero=allow_zero)
    except QuantityError as exc:
        raise UsageError(exc.problem, field=setting) from None


def _count(setting: str, text: str) -> int:
    value = number(setting, text, allow_zero=True)
    if value != int(value):
        raise UsageError(f"{text!r} is not a whole number", field=setting)
    return int(value)


def confidence(text: str) -> float:
    value = number("confidence", text)
    if not 0 < value < 1:
        raise UsageError(f"{text!r} must be between 0 and 1, e.g. 0.95", field="confidence")
    return value


def _pairs(option: str, items: Sequence[str], example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise UsageError(f"{item!r}: expected NAME=VALUE, e.g. {example}", field=option)
        if name in out:
            raise UsageError(f"{name} is given twice ({out[name]!r} and {value!r}); give it "
                             "once", field=option)
        out[name] = value
    return out


def parse_fixed(items: Sequence[str]) -> dict[str, float]:
    """``["E=1.69", "alpha=0.34"]`` -> ``{"E": 1.69, "alpha": 0.34}``."""
    return {name: number(f"fix.{name}", value)
            for name, value in _pairs("fix", items, "E=1.69").items()}


def parse_columns(items: Sequence[str]) -> dict[str, str]:
    """``["group=train_run_key"]`` -> ``{"group": "train_run_key"}``."""
    return _pairs("column", items, "group=train_run_key")


def workers(requested: int) -> int:
    """0 means every core this process may run on; more than that is capped (and said, once
    the command has succeeded: :func:`~scaling_cli.cli.base.note`)."""
    from scaling_cli.cli.base import note

    if requested < 0:
        raise UsageError(f"{shown(requested)}: give 0 (every core) or a positive number",
                         field="workers")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    available = cores or os.cpu_count() or 1
    if requested == 0:
        return available
    if requested > available:
        note(f"--workers {shown(requested)} capped at the {available} cores available")
        return available
    return requested


def hardware(params: Mapping[str, Any]) -> Hardware | None:
    """The hardware the flags describe, or None when no GPU was named."""
    from scaling_cli.read.hardware import HardwareSpec

    def optional(setting: str, key: str) -> float | None:
        text = params.get(key)
        return None if text is None else number(setting, text)

    return HardwareSpec(
        gpu=params.get("gpu"), gpus=params.get("gpus"),
        mfu=optional("hardware.mfu", "mfu"),
        peak_tflops=optional("hardware.peak_tflops", "peak_tflops"),
        usd_per_gpu_hour=optional("hardware.usd_per_gpu_hour", "usd_per_gpu_hour"),
    ).resolve()


def budgets(texts: Sequence[str], steps: int, hw: Hardware | None) -> list[Budget]:
    from scaling_cli.read.hardware import parse_budgets

    if not texts:
        raise UsageError("is required, e.g. --budget 1e24", field="budget")
    return parse_budgets(list(texts), steps, hw)


# --------------------------------------------------------------------------- law requests


class RunsRead:
    """What reading the run logs left out (``--skip-invalid``), for the documents: the law
    request that reads and the output request that renders share one per command, through
    the command's context (``None`` until run logs are read)."""

    def __init__(self) -> None:
        self.skipped: tuple[Skipped, ...] | None = None


def _runs_read(ctx: typer.Context) -> RunsRead:
    found = ctx.meta.setdefault("scaling_cli.runs_read", RunsRead())
    assert isinstance(found, RunsRead)
    return found


@dataclass(frozen=True)
class LawRequest:
    """Where the law comes from (exactly one of run logs, a fit file, a published law) and,
    for run logs, how to read them (training logs: ``logs``) and fit them."""

    paths: tuple[str, ...] = ()
    law: str | None = None
    fit_file: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    where: tuple[str, ...] = ()
    input_format: str = "auto"
    settings: FitSettings | None = None
    quiet: bool = False
    skip_invalid: bool = False
    logs: LogSettings | None = None
    read: RunsRead = field(default_factory=RunsRead, compare=False, repr=False)
    checkpoints: CheckpointMode = "final"  # rows from training-log curves

    @property
    def inputs(self) -> tuple[str, ...]:
        """The files read (for refusing an output path that is one of them)."""
        params_file = None if self.logs is None else self.logs.params_file
        return tuple(p for p in (*self.paths, self.fit_file, params_file) if p and p != "-")

    def runs(self) -> RunSet:
        """The run logs, read and validated (standard input when ``-`` is among them); every
        run left out by ``--skip-invalid`` is named on stderr, even when quiet."""
        from scaling_cli.read.runs import load_runs

        if not self.paths:
            raise UsageError("needs run logs (RUNS), not a fit file or a published law",
                             field="runs")
        with progress_bar(None, quiet=self.quiet, what="reading run logs"):
            if self.checkpoints == "final":
                runs = load_runs(self.paths, stdin_text=_stdin_text(self.paths),
                                 input_format=self.input_format, columns=self.columns,
                                 where=self.where, skip_invalid=self.skip_invalid,
                                 logs=self.logs)
            else:
                from scaling_cli.fit.checkpoints import CheckpointSettings, load_checkpoint_runs

                runs = load_checkpoint_runs(
                    self.paths, settings=CheckpointSettings(mode=self.checkpoints),
                    stdin_text=_stdin_text(self.paths), input_format=self.input_format,
                    columns=self.columns, where=self.where, skip_invalid=self.skip_invalid,
                    logs=self.logs)
        for skipped in runs.skipped:
            say(f"Skipped: {skipped.reason}")
        self.read.skipped = runs.skipped
        return runs

    def model(self) -> Model:
        """Fit the runs (with a progress bar on a terminal), or read the fit file or preset."""
        if self.settings is None:
            raise UsageError("no fit settings")
        k = self.settings.flops_per_param_token
        if self.law is not None:
            from scaling_cli.read.presets import published_model

            return published_model(self.law, flops_per_param_token=k)
        if self.fit_file is not None:
            from scaling_cli.read.fitfile import read_fit_file

            return read_fit_file(self.fit_file, flops_per_param_token=k,
                                 allow_unverified=self.settings.allow_unverified)
        from scaling_cli.fit.build import fit_runs  # the fitting code: only to fit

        runs = self.runs()
        with progress_bar(self.settings.replicates, quiet=self.quiet) as tick:
            return fit_runs(runs, self.settings, progress=tick)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set option ``name`` (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", "DEFAULT") not in {"DEFAULT", "DEFAULT_MAP"}


def law_request(ctx: typer.Context, *, runs_key: str = "runs") -> LawRequest:
    """The law request the command's options describe, validated (see :class:`LawRequest`)."""
    from scaling_cli.fit.settings import FitSettings
    from scaling_cli.read.plausible import check_plausible

    p = ctx.params
    paths = tuple(p.get(runs_key) or ())
    given = [name for name, on in (("--law", p.get("law") is not None),
                                   ("--fit", p.get("fit_file") is not None),
                                   ("RUNS", bool(paths))) if on]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} cannot be combined; give only one")
    if not given:
        raise UsageError("give run logs (RUNS), a fit file (--fit FILE) or a published law "
                         "(--law NAME)")
    if not paths:
        wasted = [_PARAM_FLAGS[name] for name in FIT_ONLY if name in p and _given(ctx, name)]
        if wasted:
            one = len(wasted) == 1
            raise UsageError(f"{', '.join(wasted)} {'shapes' if one else 'shape'} a fit of run "
                             f"logs; with {given[0]} nothing is refitted, so "
                             f"{'it' if one else 'they'} would change nothing: "
                             f"drop {'it' if one else 'them'}")
    if p.get("law") is not None and _given(ctx, "allow_unverified"):
        raise UsageError("--allow-unverified applies to fits; a published law (--law) has "
                         "no fit to verify: drop it")
    logs = _log_settings(p) if paths else None
    replicates = _count("replicates", p.get("bootstrap", "1000"))
    seed = p.get("seed", 0)
    if not 0 <= seed < 2**63:  # here, so a 400-digit seed is not echoed whole
        raise UsageError(f"{shown(seed)} is out of range; give a whole number from 0 to "
                         "2**63 - 1", field="seed")
    settings = FitSettings.with_constraints(
        parse_fixed(p.get("fix") or []), tie_exponents=bool(p.get("tie_exponents")),
        flops_per_param_token=check_plausible(
            "flops_per_param_token", number("flops_per_param_token", p.get("k", "6"))),
        replicates=replicates, seed=seed, resample_by=p.get("resample_by", "auto"),
        workers=workers(p.get("workers", 0)), method=p.get("method", "approach3"),
        allow_unverified=bool(p.get("allow_unverified")), form=p.get("form", "auto"),
        repeated_data=p.get("repeated_data", "effective"))
    return LawRequest(paths, p.get("law"), p.get("fit_file"),
                      parse_columns(p.get("column") or []), tuple(p.get("where") or ()),
                      p.get("input_format", "auto"), settings, bool(p.get("quiet")),
                      bool(p.get("skip_invalid")), logs, _runs_read(ctx),
                      checkpoints=_checkpoints(p.get("checkpoints") or "final"))


def _checkpoints(mode: str) -> CheckpointMode:
    """``--checkpoints``, checked without loading the fitter."""
    modes: tuple[CheckpointMode, ...] = ("final", "cooldowns", "corrected", "all")
    for known in modes:  # fit.checkpoints.MODES
        if mode == known:
            return known
    raise UsageError(f"{shown(mode)}: choose one of {', '.join(modes)}", field="checkpoints")


def _log_settings(p: Mapping[str, Any]) -> LogSettings | None:
    """How training logs become runs, from the training-log options; None where every one is
    at its default (the readers then use their defaults, and a run table's fit does not load
    the log readers: ~10 ms of every `scaling fit` on a CSV)."""
    per_step, size = p.get("tokens_per_step"), p.get("log_params")
    if (p.get("reduce") in (None, "last") and per_step is None and size is None
            and p.get("params_file") is None and p.get("restarts") in (None, "refuse")):
        return None
    from scaling_cli.read.logs import LogSettings, Reduction, parse_tokens_per_step

    return LogSettings(
        reduce=Reduction.parse(p.get("reduce") or "last"),
        tokens_per_step=None if per_step is None else parse_tokens_per_step(per_step),
        params=None if size is None else number("log_params", size),
        params_file=p.get("params_file"), restarts=p.get("restarts") or "refuse")


def _stdin_text(paths: Sequence[str]) -> str | None:
    """Standard input when ``-`` is among the run logs: bytes, bounded, decoded like a file's."""
    if "-" not in paths:
        return None
    from scaling_cli.read.sources import LIMITS, decode_input

    if sys.stdin is None or getattr(sys.stdin, "buffer", None) is None:
        raise UsageError("-: standard input is closed; pipe the run logs in or name files")
    return decode_input("<stdin>", sys.stdin.buffer.read(LIMITS["max_file_bytes"] + 1))


class progress_bar:
    """A progress bar on standard error when it is a terminal (and not quiet): ``total``
    steps (bootstrap replicates), or ``None`` for work of unknown size (reading run logs, a
    backtest's refits), shown as a spinner with the time elapsed. Inside another bar it
    shows nothing (a terminal holds one live display)."""

    showing = False

    def __init__(self, total: int | None, *, quiet: bool, what: str = "bootstrap") -> None:
        self.total, self.what = total, what
        self.show = ((total is None or total > 0) and not quiet and sys.stderr is not None
                     and sys.stderr.isatty())
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.show or progress_bar.showing:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = () if self.total is not None else (
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        self.bar = Progress(*columns, console=Console(file=sys.stderr), transient=True)
        self.bar.__enter__()
        progress_bar.showing = True
        task = self.bar.add_task(self.what, total=self.total)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            progress_bar.showing = False
            self.bar.__exit__(*exc)


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class OutputRequest:
    fmt: OutputFormat = OutputFormat.table
    fields: tuple[str, ...] = ()
    quiet: bool = False
    read: RunsRead = field(default_factory=RunsRead, compare=False, repr=False)


def output_request(ctx: typer.Context, known: Sequence[str] | None = None) -> OutputRequest:
    """The output the options ask for. ``known``: the names the command's document will have
    (``render.fields.columns``), so an unknown ``--field`` is refused now, before any run is
    read or fitted, rather than when the document is rendered."""
    p = ctx.params
    # ctx.params holds what click parsed (a choice's text), not typer's converted enum.
    out = OutputRequest(OutputFormat(p.get("fmt") or "table"), tuple(p.get("field") or ()),
                        bool(p.get("quiet")), _runs_read(ctx))
    if known is not None:
        check_fields(out.fields, known)
    return out


def _with_skipped(doc: dict[str, Any], read: RunsRead) -> dict[str, Any]:
    """The document with ``inputs.skipped`` (docs/json-schema.md) when run logs were read."""
    inputs = doc.get("inputs")
    if read.skipped is None or not isinstance(inputs, dict):
        return doc
    skipped = [{"run_id": s.run_id or None, "source": s.source, "reason": s.reason}
               for s in read.skipped]
    return {**doc, "inputs": {**inputs, "skipped": skipped}}


def render(doc: dict[str, Any], out: OutputRequest) -> str:
    """The document as the requested text (checked, e.g. an unknown --field, before anything
    is written anywhere)."""
    doc = _with_skipped(doc, out.read)
    if out.fields:
        from scaling_cli.render.fields import render_fields

        return render_fields(doc, out.fields)
    if out.fmt is OutputFormat.json:
        from scaling_cli.render.documents import dumps

        return dumps(doc)
    if out.fmt is OutputFormat.csv:
        from scaling_cli.render.fields import render_csv

        return render_csv(doc)
    from scaling_cli.render.tables import render_table
    from scaling_cli.render.text import Style

    return render_table(doc, Style(color=_color(sys.stdout)))


def _color(stream: Any) -> bool:
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
    return tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def emit(doc: dict[str, Any], out: OutputRequest, *, text: str | None = None) -> None:
    """Write the rendered document to standard output, and its warnings to standard error
    (unless quiet, or already on a terminal's table)."""
    from scaling_cli.cli.output import write_stream

    text = render(doc, out) if text is None else text
    write_stream(sys.stdout, text.encode("utf-8"))
    shown_on_screen = out.fmt is OutputFormat.table and not out.fields and _tty(sys.stdout)
    if not out.quiet and not shown_on_screen:
        for w in doc.get("warnings", []):
            say(f"Warning: {w}")


def _tty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False



def emit_text(text: str) -> None:
    """Write ready text to standard output (closed, full or broken pipes handled)."""
    from scaling_cli.cli.output import write_stream

    write_stream(sys.stdout, text.encode("utf-8"))
