"""Training logs -> :class:`~scaling_cli.read.logs.curves.CurveSet`: each log to its format's
reader, the runs' sizes, and the checks across runs (duplicate ids, one ``--log-params``
for one run).

Everything is bounded like run tables (``LIMITS`` of :mod:`scaling_cli.read.sources`,
which reads every input), and every problem is one line naming the file, the line (or
entry, or step), the run and the field. With ``skip_invalid``, a run with a problem (NaN
loss, empty summary cell, crashed state, unordered steps, damaged event file, ...) is left
out and listed in ``CurveSet.skipped`` with that message; problems with a whole file (not
UTF-8, not CSV, missing columns) still raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scaling_cli.errors import InputError
from scaling_cli.read.logs.curves import Curve, CurveSet, Reduction
from scaling_cli.read.logs.discover import LogFile, group_logs, split_inputs
from scaling_cli.read.logs.hf_trainer import read_hf_trainer
from scaling_cli.read.logs.jsonl import read_jsonl
from scaling_cli.read.logs.series import LogOptions, Problems
from scaling_cli.read.logs.sizes import read_params_file
from scaling_cli.read.logs.tensorboard import read_tensorboard
from scaling_cli.read.logs.wandb import read_wandb_history, read_wandb_summary
from scaling_cli.read.sources import LIMITS, read_bounded_text, read_sources

__all__ = ["LogSettings", "read_curves", "read_logs"]

_CONFIG_BYTES = 1024 * 1024  # a config.json is a few kB


@dataclass(frozen=True)
class LogSettings:
    """How training logs become runs: the reduction of each curve to a final loss, tokens
    per step (global batch x sequence length) where only steps are logged, the size of
    the one run read (``params``) or a file of sizes by run id (``params_file``), and what
    to do with steps logged again after a restart (``refuse`` or ``keep-last``)."""

    reduce: Reduction = field(default_factory=Reduction)
    tokens_per_step: float | None = None
    params: float | None = None
    params_file: str | None = None
    restarts: str = "refuse"

    def options(self, columns: Mapping[str, str], *, skip_invalid: bool) -> LogOptions:
        """The readers' options (checked; the params file read)."""
        options = LogOptions(columns=dict(columns), tokens_per_step=self.tokens_per_step,
                             params=self.params, restarts=self.restarts,
                             skip_invalid=skip_invalid)
        options.check()
        if self.params_file is None:
            return options
        return LogOptions(columns=options.columns, tokens_per_step=self.tokens_per_step,
                          params=self.params, params_by_run=read_params_file(self.params_file),
                          restarts=self.restarts, skip_invalid=skip_invalid)


def read_curves(
    paths: Sequence[str],
    *,
    stdin_text: str | None = None,
    input_format: str = "auto",
    columns: Mapping[str, str] | None = None,
    tokens_per_step: float | None = None,
    params: float | None = None,
    params_file: str | None = None,
    restarts: str = "refuse",
    skip_invalid: bool = False,
) -> CurveSet:
    """The loss curves in the training logs ``paths`` name (files, directories, globs,
    ``-``); run tables met among them are not read, but named in ``CurveSet.tables``.

    ``columns`` maps log fields (id, step, tokens, loss, lr, params) to keys, columns or
    tags; for the other settings see :class:`LogSettings`.
    """
    settings = LogSettings(tokens_per_step=tokens_per_step, params=params,
                           params_file=params_file, restarts=restarts)
    options = settings.options(columns or {}, skip_invalid=skip_invalid)
    sources = read_sources(paths, stdin_text=stdin_text, input_format=input_format)
    tables, logs = split_inputs(sources, input_format=input_format)
    found, notes = group_logs(logs, paths)
    curves = read_logs(found, options, notes=notes)
    return CurveSet(curves.curves, curves.skipped, tuple(t.name for t in tables),
                    curves.sources, curves.warnings)


def read_logs(logs: Sequence[LogFile], options: LogOptions, *,
              notes: Sequence[str] = ()) -> CurveSet:
    """The curves of ``logs`` (see :func:`~scaling_cli.read.logs.discover.group_logs`);
    ``notes`` (what was found but not read) join the warnings."""
    problems = Problems(options.skip_invalid)
    curves: list[Curve] = []
    for log in logs:
        curves.extend(_read_one(log, options, problems))
        if len(curves) > LIMITS["max_runs"]:
            raise InputError(f"{log.path}: more than {LIMITS['max_runs']:,} runs in all; fit a "
                             "sample of them")
    return _assemble(curves, problems, logs, options, notes)


def _read_one(log: LogFile, options: LogOptions, problems: Problems) -> list[Curve]:
    if log.kind == "tensorboard":
        return read_tensorboard(log.path, log.files, options, problems, run_id=log.run_id)
    if log.kind == "jsonl":
        return read_jsonl(log.path, log.text, options, problems, default_id=log.run_id)
    if log.kind == "hf-trainer":
        return read_hf_trainer(log.path, log.text, options, problems, run_id=log.run_id,
                               config=_config_beside(log.path))
    if log.kind == "wandb-summary":
        return read_wandb_summary(log.path, log.text, options, problems)
    if log.kind == "wandb-history":
        return read_wandb_history(log.path, log.text, options, problems, default_id=log.run_id)
    raise InputError(f"{log.path}: {log.kind!r} is not a training-log format")


def _config_beside(state: str) -> tuple[str, str] | None:
    """The ``config.json`` beside a state (or beside its checkpoint folder), if any."""
    if state == "<stdin>":
        return None
    folder = Path(state).parent
    for candidate in (folder / "config.json", folder.parent / "config.json"):
        if candidate.is_file() and (candidate.parent == folder
                                    or re.fullmatch(r"checkpoint-\d+", folder.name)):
            name = str(candidate)
            return name, read_bounded_text(name, _CONFIG_BYTES, what="model config")
    return None


def _assemble(curves: list[Curve], problems: Problems, logs: Sequence[LogFile],
              options: LogOptions, notes: Sequence[str]) -> CurveSet:
    seen: dict[str, Curve] = {}
    for curve in curves:
        first = seen.get(curve.run_id)
        if first is not None:
            raise InputError(f"{curve.where}: duplicate run id, also read from {first.source}; "
                             "rename one (--column id=KEY) or pass only one of them")
        seen[curve.run_id] = curve
    if options.params is not None and len(curves) > 1:
        raise InputError(f"--log-params gives one size, but {len(curves)} runs were read; "
                         "give each run its size with --params-file")
    warnings = [*notes, *(w for c in curves for w in c.warnings)]
    if options.tokens_per_step is not None and curves and all(
            c.metadata.get("tokens_from") == "log" for c in curves):
        warnings.append("--tokens-per-step was not used: every run logs its tokens")
    read = [f for log in logs for f in (log.files or (log.path,))]
    return CurveSet(curves=tuple(curves), skipped=tuple(problems.skipped.values()),
                    sources=tuple(read), warnings=tuple(warnings))
