"""Training logs (one loss curve per run) -> :class:`~scaling_cli.read.curves.CurveSet`.

Formats (``input_format``; ``auto`` sniffs each file, see :func:`sniff_format`):

==================  ========================================================================
``jsonl``           JSON Lines metrics logs (:mod:`scaling_cli.read.jsonl_log`)
``hf-trainer``      Hugging Face ``trainer_state.json`` (:mod:`scaling_cli.read.hf_trainer`)
``wandb-history``   W&B history exports, long or panel-wide (:mod:`scaling_cli.read.wandb_csv`)
``wandb-summary``   W&B Runs-table exports (:mod:`scaling_cli.read.wandb_csv`)
``tensorboard``     TensorBoard event files (:mod:`scaling_cli.read.tensorboard_log`; extra)
``yaml``, ``csv``   run tables of final losses: not read here, returned in ``tables`` for
                    :func:`scaling_cli.read.runs.load_runs`
==================  ========================================================================

Sniffing (content first, the name only where content cannot tell):

1. TensorBoard: the name contains ``tfevents``, or the first record (after its 12-byte
   header) holds ``brain.Event:``, the version every event file starts with.
2. Text (UTF-8 rules of :func:`~scaling_cli.read.sources.decode_input`) starting with
   ``{``: ``hf-trainer`` if the text has a ``"log_history"`` key, else ``jsonl`` if the
   first line is a whole JSON object; anything else in braces is refused.
3. A CSV header (first line) whose columns are a W&B export's (:func:`wandb_csv.layout`):
   ``Name`` + ``State`` + one of ``Notes``/``User``/``Tags``/``Created``/``Runtime``/``Sweep``
   -> ``wandb-summary``; ``_step``, or ``RUN - METRIC`` columns -> ``wandb-history``.
4. Otherwise a run table: ``csv`` for ``*.csv`` (or a first line with commas and no
   colon on stdin), else ``yaml``.

Directories are searched recursively (hidden entries skipped) for ``*.jsonl``/``*.ndjson``,
``trainer_state.json``, ``*tfevents*``, ``*.csv``, ``*.yaml``/``*.yml``. Run ids: a
TensorBoard run is its directory (relative to the directory searched; its name when a
file is named); a Hugging Face run is its output directory (``checkpoint-N/`` folders
belong to their parent, and the top-level ``trainer_state.json`` wins over them, else the
highest N); a JSON Lines or W&B history file without a run key is named by its file name
without suffix, or by its directory when the name is generic (``metrics.jsonl``).

Everything is bounded like run tables (``LIMITS`` in :mod:`scaling_cli.read.sources`:
bytes per file, in all; runs), and every problem is one line naming the file, the line
(or entry, or step), the run and the field. With ``skip_invalid``, a run with a problem
(NaN loss, empty summary cell, crashed state, unordered steps, damaged event file, ...)
is left out and listed in ``CurveSet.skipped`` with that message; problems with a whole
file (not UTF-8, not CSV, missing columns) still raise.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scaling_cli.errors import InputError
from scaling_cli.read.curves import Curve, CurveSet
from scaling_cli.read.hf_trainer import read_hf_trainer
from scaling_cli.read.jsonl_log import read_jsonl, run_id_text
from scaling_cli.read.log_series import LogOptions, Problems
from scaling_cli.read.sources import LIMITS, decode_input
from scaling_cli.read.tensorboard_log import read_tensorboard
from scaling_cli.read.wandb_csv import layout, read_wandb_history, read_wandb_summary
from scaling_cli.read.yamlsafe import load_yaml_documents
from scaling_cli.units import QuantityError, format_bytes, parse_number, shown

__all__ = [
    "FORMATS",
    "LogFile",
    "find_logs",
    "read_curves",
    "read_params_file",
    "sniff_format",
]

FORMATS = ("jsonl", "hf-trainer", "wandb-history", "wandb-summary", "tensorboard", "yaml", "csv")
TABLES = ("yaml", "csv")
_GENERIC_STEMS = {"metrics", "metric", "log", "logs", "train", "training", "history",
                  "events", "progress", "scalars", "trainer_state"}
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


@dataclass(frozen=True)
class LogFile:
    """One input to read: a file (or, for TensorBoard, a run directory and its event
    ``files``), its format and the run id to use when the log does not name its runs."""

    path: str
    kind: str
    run_id: str
    files: tuple[str, ...] = ()
    text: str | None = None  # standard input, already read


# --------------------------------------------------------------------------- reading


class _Budget:
    """Bytes read so far, against ``LIMITS`` (the messages of sources.read_sources)."""

    def __init__(self) -> None:
        self.total = 0

    def charge(self, name: str, size: int) -> None:
        limit = LIMITS["max_file_bytes"]
        if size > limit:
            raise InputError(f"{name}: is {format_bytes(size)}, over the {format_bytes(limit)} "
                             "limit per run log; split it into several files")
        self.total += size
        if self.total > LIMITS["max_total_bytes"]:
            raise InputError(f"{name}: the run logs together are over the "
                             f"{format_bytes(LIMITS['max_total_bytes'])} limit; pass fewer "
                             "files")

    def read(self, name: str) -> bytes:
        try:
            self.charge(name, os.stat(name).st_size)
            with open(name, "rb") as handle:  # bounded even for pipes and devices
                data = handle.read(LIMITS["max_file_bytes"] + 1)
        except OSError as exc:
            raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the path "
                             "and its permissions") from None
        return data

    def text(self, name: str) -> str:
        return decode_input(name, self.read(name))


def _head(name: str) -> bytes:
    try:
        with open(name, "rb") as handle:
            return handle.read(64)
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the path and "
                         "its permissions") from None


# --------------------------------------------------------------------------- sniffing


def sniff_format(name: str, head: bytes, text: str | None = None) -> str:
    """The format of a file from its name, its first bytes and (for text) its decoded
    text; see the module docstring for the rules."""
    if "tfevents" in os.path.basename(name) or b"brain.Event:" in head[12:64]:
        return "tensorboard"
    if text is None:
        return "yaml"
    body = text.lstrip()
    if body.startswith("{"):
        if '"log_history"' in body:
            return "hf-trainer"
        try:
            first = json.loads(body.split("\n", 1)[0])
        except (ValueError, RecursionError):
            first = None
        if isinstance(first, dict):
            return "jsonl"
        raise InputError(f"{name}: is JSON but neither a JSON Lines log (one object per line) "
                         "nor a Hugging Face trainer_state.json; pass --input-format to say "
                         "which")
    first_line = body.split("\n", 1)[0]
    try:
        header = [h.strip() for h in next(csv.reader([first_line]))] if first_line else []
    except csv.Error:
        header = []
    kind = layout(header)
    if kind == "summary":
        return "wandb-summary"
    if kind is not None:
        return "wandb-history"
    low = name.lower()
    if low.endswith((".jsonl", ".ndjson")):  # content could not tell (e.g. empty)
        return "jsonl"
    if os.path.basename(low) == "trainer_state.json":
        return "hf-trainer"
    if low.endswith(".csv"):
        return "csv"
    if name == "<stdin>" and "," in first_line and ":" not in first_line:
        return "csv"
    return "yaml"


def _default_id(path: str) -> str:
    p = Path(path)
    stem = p.name.split(".")[0] if p.name else p.name
    if stem.lower() in _GENERIC_STEMS or not stem:
        parent = p.resolve().parent.name
        return parent or stem or path
    return stem


# --------------------------------------------------------------------------- discovery


def _walk(top: str) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
    return sorted(found)


def _relative_id(directory: str, top: str) -> str:
    rel = os.path.relpath(directory, top)
    return Path(top).resolve().name if rel == "." else Path(rel).as_posix()


def _from_directory(top: str) -> list[LogFile]:
    out: list[LogFile] = []
    events: dict[str, list[str]] = {}
    states: dict[str, dict[int, str]] = {}  # output dir -> checkpoint number (-1: top)
    for path in _walk(top):
        base = os.path.basename(path)
        low = base.lower()
        if "tfevents" in base:
            events.setdefault(os.path.dirname(path), []).append(path)
        elif base == "trainer_state.json":
            folder = os.path.dirname(path)
            match = _CHECKPOINT.fullmatch(os.path.basename(folder))
            owner = os.path.dirname(folder) if match else folder
            states.setdefault(owner, {})[int(match.group(1)) if match else -1] = path
        elif low.endswith((".jsonl", ".ndjson")):
            out.append(LogFile(path, "jsonl", _default_id(path)))
        elif low.endswith((".csv", ".yaml", ".yml")):
            out.append(LogFile(path, "", _default_id(path)))  # sniffed when read
    for folder, files in events.items():
        out.append(LogFile(folder, "tensorboard", _relative_id(folder, top), tuple(files)))
    for owner, found in states.items():
        path = found.get(-1) or found[max(found)]
        out.append(LogFile(path, "hf-trainer", _relative_id(owner, top)))
    return sorted(out, key=lambda f: f.path)


def _named_file(path: str, input_format: str) -> LogFile:
    kind = "" if input_format == "auto" else input_format
    if kind == "" and sniff_format(path, _head(path)) == "tensorboard":
        kind = "tensorboard"
    if kind == "tensorboard":
        folder = os.path.dirname(os.path.abspath(path))
        return LogFile(path, kind, Path(folder).name, (path,))
    if kind == "hf-trainer" or os.path.basename(path) == "trainer_state.json":
        state_dir = Path(path).resolve().parent
        owner = state_dir.parent if _CHECKPOINT.fullmatch(state_dir.name) else state_dir
        return LogFile(path, kind or "", owner.name)
    return LogFile(path, kind, _default_id(path))


def find_logs(paths: Sequence[str], *, input_format: str = "auto",
              stdin_text: str | None = None) -> tuple[LogFile, ...]:
    """The inputs ``paths`` name (files, directories, globs, ``-``), each with its run id;
    ``kind`` is empty where the content decides (when read). ``input_format`` applies to
    files named directly and to standard input; directories are always sniffed."""
    if input_format != "auto" and input_format not in FORMATS:
        raise InputError(f"input format {shown(input_format)} is not one of auto, "
                         f"{', '.join(FORMATS)}")
    if not paths:
        raise InputError("no run logs given; pass files, directories or - for stdin")
    out: list[LogFile] = []
    for arg in paths:
        if arg == "-":
            if stdin_text is None:
                raise InputError("-: no standard input was given")
            kind = "" if input_format == "auto" else input_format
            out.append(LogFile("<stdin>", kind, "stdin", text=stdin_text))
        elif os.path.isdir(arg):
            found = _from_directory(arg)
            if not found:
                raise InputError(f"{arg}: directory has no training logs (*.jsonl, "
                                 "trainer_state.json, event files, *.csv, *.yaml)")
            out.extend(found)
        elif os.path.exists(arg):
            out.append(_named_file(arg, input_format))
        elif any(ch in arg for ch in "*?["):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m))
            if not matches:
                raise InputError(f"{arg}: pattern matches no files")
            out.extend(_named_file(m, input_format) for m in matches)
        else:
            raise InputError(f"{arg}: no such file or directory")
    unique: dict[str, LogFile] = {}
    for log in out:  # the same file reached twice (`logs/ logs/a.jsonl`)
        unique.setdefault(log.path if log.text is not None else os.path.realpath(log.path), log)
    return tuple(unique.values())


# --------------------------------------------------------------------------- params


def read_params_file(path: str) -> dict[str, float]:
    """Run id -> parameter count from a small file: CSV with columns ``id`` (or
    ``run_id``/``run``/``Name``) and ``params``, or YAML mapping ``RUN: COUNT`` (``70M``)."""
    text = _Budget().text(path)
    rows: list[tuple[str, str, object]] = []  # (where, run id, count)
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(text.splitlines())
        header = [h.strip() for h in reader.fieldnames or []]
        id_col = next((c for c in ("id", "run_id", "run", "Name") if c in header), None)
        if id_col is None or "params" not in header:
            raise InputError(f"{path}: a params file needs columns id and params (columns are "
                             f"{', '.join(header) or 'none'})")
        for row in reader:
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            rows.append((f"{path}: line {reader.line_num}", clean[id_col], clean["params"]))
    else:
        docs = [d for d in load_yaml_documents(text, path) if d is not None]
        if len(docs) != 1 or not isinstance(docs[0], Mapping):
            raise InputError(f"{path}: a params file maps run ids to counts, e.g. "
                             "`ladder-70M: 70M`, one per line")
        rows = [(f"{path}: run {shown(k)}", str(k), v) for k, v in docs[0].items()]
    out: dict[str, float] = {}
    for where, key, value in rows:
        run_id = run_id_text(key, where)
        try:
            count = parse_number(value)
        except QuantityError as exc:
            raise InputError(f"{where}: field 'params': {exc.problem}") from None
        if not 1e3 <= count <= 1e15:
            raise InputError(f"{where}: field 'params': {shown(value)} is not a plausible "
                             "parameter count (1000 to 1e15); give the full count, e.g. 70M")
        if run_id in out:
            raise InputError(f"{where}: run {shown(run_id)} is given twice; keep one")
        out[run_id] = count
    if not out:
        raise InputError(f"{path}: is empty; list runs and their sizes, e.g. `ladder-70M: 70M`")
    return out


# --------------------------------------------------------------------------- assembly


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
    """Read the training logs ``paths`` name into curves (see the module docstring).

    ``columns`` maps log fields (id, step, tokens, loss, lr, params) to keys, columns or
    tags; ``tokens_per_step`` (global batch x sequence length) gives tokens where only
    steps are logged; ``params`` is the size of the ONE run read, ``params_file`` sizes
    by run id (:func:`read_params_file`); ``restarts="keep-last"`` resolves resumed runs.
    """
    options = LogOptions(columns=dict(columns or {}), tokens_per_step=tokens_per_step,
                         params=params, restarts=restarts, skip_invalid=skip_invalid)
    options.check()
    if params_file is not None:
        options = LogOptions(columns=options.columns, tokens_per_step=tokens_per_step,
                             params=params, params_by_run=read_params_file(params_file),
                             restarts=restarts, skip_invalid=skip_invalid)
    problems = Problems(skip_invalid)
    budget = _Budget()
    curves: list[Curve] = []
    tables: list[str] = []
    sources: list[str] = []
    for log in find_logs(paths, input_format=input_format, stdin_text=stdin_text):
        found = _read_one(log, options, problems, budget, tables)
        if found is not None:
            sources.append(log.path)
            curves.extend(found)
        if len(curves) > LIMITS["max_runs"]:
            raise InputError(f"{log.path}: more than {LIMITS['max_runs']:,} runs in all; fit a "
                             "sample of them")
    return _assemble(curves, problems, tables, sources, options)


def _read_one(log: LogFile, options: LogOptions, problems: Problems, budget: _Budget,
              tables: list[str]) -> list[Curve] | None:
    if log.kind == "tensorboard":
        for f in log.files:
            budget.charge(f, _size(f))
        return read_tensorboard(log.path, log.files, options, problems, run_id=log.run_id)
    if log.text is not None:
        budget.charge(log.path, len(log.text))
        text = decode_input(log.path, log.text.encode("utf-8", "surrogateescape"))
    else:
        text = budget.text(log.path)
    kind = log.kind or sniff_format(log.path, _head(log.path) if log.text is None else b"",
                                    text)
    if kind in TABLES:
        tables.append(log.path)
        return None
    if kind == "jsonl":
        return read_jsonl(log.path, text, options, problems, default_id=log.run_id)
    if kind == "hf-trainer":
        return read_hf_trainer(log.path, text, options, problems, run_id=log.run_id,
                               config=_config_beside(log.path, budget))
    if kind == "wandb-summary":
        return read_wandb_summary(log.path, text, options, problems)
    if kind == "wandb-history":
        return read_wandb_history(log.path, text, options, problems, default_id=log.run_id)
    raise InputError(f"{log.path}: format {kind!r} cannot be read from standard input")


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and "
                         "its permissions") from None


def _config_beside(state: str, budget: _Budget) -> tuple[str, str] | None:
    if state == "<stdin>":
        return None
    folder = Path(state).parent
    for candidate in (folder / "config.json", folder.parent / "config.json"):
        if candidate.is_file() and (candidate.parent == folder
                                    or _CHECKPOINT.fullmatch(folder.name)):
            name = str(candidate)
            return name, budget.text(name)
    return None


def _assemble(curves: list[Curve], problems: Problems, tables: list[str], sources: list[str],
              options: LogOptions) -> CurveSet:
    seen: dict[str, Curve] = {}
    for curve in curves:
        first = seen.get(curve.run_id)
        if first is not None:
            raise InputError(f"{curve.where}: duplicate run id, also read from {first.source}; "
                             "rename one (--column id=KEY) or pass only one of them")
        seen[curve.run_id] = curve
    if options.params is not None and len(curves) > 1:
        raise InputError(f"--params gives one size, but {len(curves)} runs were read; give "
                         "each run its size with --params-file")
    warnings = [w for c in curves for w in c.warnings]
    if options.tokens_per_step is not None and curves and all(
            c.metadata.get("tokens_from") == "log" for c in curves):
        warnings.append("--tokens-per-step was not used: every run logs its tokens")
    return CurveSet(curves=tuple(curves), skipped=tuple(problems.skipped.values()),
                    tables=tuple(tables), sources=tuple(sources), warnings=tuple(warnings))
