"""Run logs -> validated, de-duplicated :class:`RunSet`.

A run log names training runs: a run table names one per record (YAML or CSV,
:mod:`scaling_cli.read.tables`), a training log logs one loss curve per run, reduced to
its final loss (``--reduce``; JSON Lines, Hugging Face ``trainer_state.json``, W&B exports,
TensorBoard events: :mod:`scaling_cli.read.logs`). Either way each run becomes one record,
validated here against one schema (``FIELDS``, printed by ``scaling schema``). Paths may be
files, directories (searched recursively: :mod:`scaling_cli.read.sources`), globs, or ``-``
for text passed in as ``stdin_text``. Every problem raises
:class:`~scaling_cli.errors.InputError` naming the file, the run (position and id) and the
field, and saying how to fix it, in one line whose echoed values are cut to 40 characters.

With ``skip_invalid`` a run that fails (a record that does not validate, a log whose run
is unusable) is left out, named with that message in ``RunSet.skipped``; problems of a
whole file (not UTF-8, not YAML or CSV, missing columns), duplicate run ids and limits
still raise.

``--where`` filters records before validation: a CSV row by its columns, a YAML run by its
fields and ``meta`` keys, a logged run by the fields of its reduced record (``id``,
``params``, ``tokens``, ``loss``; ``group`` and ``non_embedding_params`` where known): e.g.
``--where 'params>=100M'``; a log's own keys cannot be filtered on.

Run tables (without ``--where``) are validated column by column (vectorised, the same
rules); only a table where a record would fail goes record by record, for its message.

Run logs are untrusted: ``LIMITS`` bounds what is read (bytes per input and in all, runs),
inputs must be UTF-8 text without NUL or control characters, and YAML goes through
:mod:`scaling_cli.read.yamlsafe`. docs/input-errors.md lists every limit and message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_cli.errors import InputError, UsageError
from scaling_cli.read.runset import Positions, Run, RunSet, RunTable, digest
from scaling_cli.read.sources import CONTROL_CHARACTERS, LIMITS, Source, decode_input, read_sources
from scaling_cli.read.tables import (
    column_names,
    csv_columns,
    records_from_csv,
    records_from_yaml,
    run_id_text,
    type_name,
)
from scaling_cli.units import QuantityError, format_flops, parse_number, shown

if TYPE_CHECKING:  # the training-log readers load only when there are training logs
    from scaling_cli.read.logs import LogSettings, Skipped

__all__ = [
    "FIELDS",
    "LIMITS",
    "Field",
    "Run",
    "RunSet",
    "RunTable",
    "Source",
    "decode_input",
    "load_runs",
    "read_sources",
    "runset_from_arrays",
]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "id", "count", "loss", "text", "tags", "bool"
    required: bool
    doc: str
    low: float = 0.0
    high: float = math.inf


FIELDS: tuple[Field, ...] = (
    Field("id", "id", True, "unique run name (alias: run_id)"),
    Field("params", "count", True, "parameter count N, e.g. 70M, 1.3B, 7e9", 1e3, 1e15),
    Field("tokens", "count", True, "training tokens D, e.g. 1.4T, 2e10", 1e3, 1e18),
    Field("loss", "loss", True, "final loss in nats/token (not perplexity)", 0.0, 20.0),
    Field("flops", "count", False, "training FLOPs; overrides k*N*D for this run", 1e6, 1e35),
    Field("group", "text", False, "rows sharing a group come from one training run "
          "(checkpoints, isoFLOP points of one curve); the bootstrap resamples whole groups"),
    Field("non_embedding_params", "count", False, "non-embedding parameter count", 1.0, 1e15),
    Field("unique_tokens", "count", False, "distinct tokens in the training data", 1.0, 1e18),
    Field("tags", "tags", False, "list of free-form labels"),
    Field("exclude", "bool", False, "true to keep the run in the log but out of the fit"),
    Field("exclude_reason", "text", False, "why the run is excluded (shown in the output)"),
    Field("meta", "meta", False, "free-form mapping, ignored by the fit (YAML only)"),
)
_BY_NAME = {f.name: f for f in FIELDS}
_ALIASES = {"run_id": "id"}
# More passes over a run's unique tokens than this is a unit slip, not a training run (the
# most-repeated public runs, Muennighoff et al.'s, made 9,000; repeats past ~16 are worth
# little): it would pull the fit to D' ~ 16 U for a run that saw far more.
MAX_EPOCHS = 1e5
_TABLE_FIELDS = tuple(f.name for f in FIELDS if f.kind != "meta")
_REQUIRED = tuple(f.name for f in FIELDS if f.required)


# --------------------------------------------------------------------------- filters

_OPS = ("==", "!=", "<=", ">=", "<", ">", "=")


@dataclass(frozen=True)
class Where:
    """A row filter ``COLUMN OP VALUE`` (OP one of == != < <= > >=; ``=`` means ==)."""

    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Where:
        for op in _OPS:
            left, sep, right = text.partition(op)
            if sep and left.strip() and right.strip():
                return cls(left.strip(), "==" if op == "=" else op, right.strip())
        raise InputError(
            f"--where {shown(text)}: expected COLUMN==VALUE (or != < <= > >=), "
            "e.g. --where epoch_default_fit==1"
        )

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"

    def matches(self, raw: Mapping[str, Any], source: str) -> bool:
        """Whether the record ``raw`` passes; a record without the column passes only !=."""
        if self.column not in raw:
            if "__csv__" in raw:
                raise InputError(
                    f"{source}: --where {shown(str(self))}: no column {shown(self.column)}; "
                    f"columns are {column_names([k for k in raw if k != '__csv__'])}"
                )
            return self.op == "!="
        actual = raw[self.column]
        try:
            left = parse_number(actual, allow_zero=True, allow_negative=True)
            right = parse_number(self.value, allow_zero=True, allow_negative=True)
        except QuantityError:
            text = str(actual).lower() if isinstance(actual, bool) else str(actual)
            if self.op in {"==", "!="}:
                return (text == self.value) == (self.op == "==")
            raise InputError(
                f"{source}: --where {shown(str(self))}: {shown(actual)} and "
                f"{shown(self.value)} are not both numbers; compare numbers with "
                f"{self.op}, or text with == or !="
            ) from None
        return {
            "==": left == right, "!=": left != right, "<": left < right,
            "<=": left <= right, ">": left > right, ">=": left >= right,
        }[self.op]


# --------------------------------------------------------------------------- validation


def _check_count(where: str, f: Field, value: object) -> float:
    try:
        number = parse_number(value)
    except QuantityError as exc:
        raise InputError(f"{where}: field {f.name!r}: {exc.problem}") from None
    if not f.low <= number <= f.high:
        raise InputError(f"{where}: field {f.name!r}: {_implausible(f, value, number)}")
    return number


def _implausible(f: Field, value: object, number: float) -> str:
    echo = shown(value) if isinstance(value, str) else f"{number:g}"
    if f.kind == "loss":
        return (f"{echo} is not a plausible loss in nats/token (expected 0 < loss <= "
                f"{f.high:g}); if it is a perplexity, give its natural log")
    if number < f.low:
        return (f"{echo} is implausibly small for {f.name} (minimum {f.low:g}); "
                "give the full count, e.g. 1.4T or 1.4e12, not 1.4")
    return f"{echo} is implausibly large for {f.name} (maximum {f.high:g}); check the units"


def _check_text(where: str, f: Field, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{where}: field {f.name!r}: expected text, got {type_name(value)}; "
                         f"write `{f.name}: some-text` (or leave the field out)")
    text = str(value).strip()
    if not text:
        raise InputError(f"{where}: field {f.name!r}: is empty; give a value or leave the "
                         "field out")
    return text


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _check_bool(where: str, f: Field, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputError(f"{where}: field {f.name!r}: expected true or false, got "
                     f"{type_name(value)}; write `{f.name}: true` or `{f.name}: false`")


def _check_tags(where: str, f: Field, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(";") if t.strip())
    if not isinstance(value, list):
        raise InputError(f"{where}: field {f.name!r}: expected a list of labels, got "
                         f"{type_name(value)}; write e.g. `tags: [isoflop, baseline]`")
    for number, tag in enumerate(value, start=1):
        if isinstance(tag, bool) or not isinstance(tag, (str, int, float)):
            raise InputError(f"{where}: field {f.name!r}: label {number} is "
                             f"{type_name(tag)}; labels are plain text, e.g. "
                             "`tags: [isoflop, baseline]`")
    return tuple(str(t) for t in value)


def _run_id(where: str, record: Mapping[Any, Any]) -> str:
    raw = record.get("id", record.get("run_id"))
    if raw is None:
        raise InputError(f"{where}: field 'id' is missing; give each run a unique `id:`")
    return run_id_text(raw, where, example=", e.g. `id: ladder-70M-1e19` (quote it if YAML "
                                           "misreads it)")


def _make_run(source: str, position: str, record: object) -> Run:
    where = f"{source}: {position}"
    if not isinstance(record, Mapping):
        raise InputError(
            f"{where}: is {type_name(record)}, not a run; "
            "write `id: ..., params: ..., tokens: ..., loss: ...`"
        )
    run_id = _run_id(where, record)
    where = f"{where} (id {shown(run_id)})"
    fields: dict[str, Any] = {}
    for key, value in record.items():
        if key == "__row__":
            continue
        if not isinstance(key, str):
            key_text = "~ (null)" if key is None else shown(key)
            raise InputError(f"{where}: key {key_text} is not a field name; field names are "
                             "text such as `params:` (put other data under `meta:`)")
        name = _ALIASES.get(key, key)
        if name not in _BY_NAME:
            import difflib

            hint = difflib.get_close_matches(key, [*_BY_NAME, *_ALIASES], n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else "put free-form data under `meta:`"
            raise InputError(f"{where}: unknown field {shown(key)}; {fix}")
        if name in fields:
            raise InputError(f"{where}: gives the id twice (as `id` and `run_id`); keep one")
        fields[name] = value
    for f in FIELDS:
        if f.required and fields.get(f.name) is None:
            if "__row__" in record:
                raise InputError(f"{where}: field {f.name!r} is empty; fill in the cell or "
                                 "delete the row")
            raise InputError(f"{where}: field {f.name!r} is missing; add `{f.name}: ...`")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        f = _BY_NAME[name]
        if value is None or f.kind in {"id", "meta"}:
            continue
        if f.kind in {"count", "loss"}:
            values[name] = _check_count(where, f, value)
        elif f.kind == "text":
            values[name] = _check_text(where, f, value)
        elif f.kind == "bool":
            values[name] = _check_bool(where, f, value)
        elif f.kind == "tags":
            values[name] = _check_tags(where, f, value)
    if values.get("flops") is not None:
        ratio = values["flops"] / (6.0 * values["params"] * values["tokens"])
        if not 0.05 <= ratio <= 20:
            raise InputError(
                f"{where}: field 'flops': {format_flops(values['flops'])} is "
                f"{format_flops(ratio)} times 6*params*tokens; check its units "
                "(or drop it to use k*N*D)"
            )
    if values.get("non_embedding_params", 0.0) > values["params"]:
        raise InputError(f"{where}: field 'non_embedding_params' exceeds 'params'; "
                         "check that the two are not swapped")
    if values.get("unique_tokens") and values["tokens"] > MAX_EPOCHS * values["unique_tokens"]:
        raise InputError(f"{where}: field 'unique_tokens': {values['unique_tokens']:.3g} "
                         f"would make the {values['tokens']:.3g} tokens "
                         f"{values['tokens'] / values['unique_tokens']:.3g} epochs (more than "
                         f"{MAX_EPOCHS:,.0f}); check its units")
    return Run(run_id=run_id, source=source, position=position, **values)


# --------------------------------------------------------------------------- by column
#
# A large table is validated column by column: _make_run's rules, vectorised, accepting
# only what _make_run accepts, giving the Run objects it would give. Anything else (a value
# that is not a plain decimal number, a value out of range, an unknown key, a duplicate
# id, ...) returns None, and the table goes through _make_run record by record, which
# raises the one message for the first bad record: every message is made in one place.

_DECIMAL = str.maketrans("", "", "0123456789.eE+-\n")  # with these alone, float() = parse_number
_TRUE_FALSE = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_ALLOWED_KEYS = frozenset({*_BY_NAME, *_ALIASES})
_Columns = dict[str, list[Any]]  # field -> each record's value (None: no value)


def _record_columns(records: list[Any]) -> _Columns | None:
    """YAML records as columns, or None if one is not a mapping of known fields."""
    if not all(type(r) is dict for r in records):
        return None
    keys = set().union(*records) if records else set()
    return _key_columns({k: [r.get(k) for r in records] for k in keys})


def _key_columns(columns: Mapping[str, list[Any]]) -> _Columns | None:
    """Columns by key -> by field (aliases resolved), or None for a key that is no field."""
    if not set(columns) <= _ALLOWED_KEYS or {"id", "run_id"} <= set(columns):
        return None
    return {_ALIASES.get(k, k): v for k, v in columns.items()}


def _by_column(source: str, positions: Sequence[str], columns: _Columns) -> RunTable | None:
    """The table of the records ``columns`` hold, if every record passes :func:`_make_run`
    and their ids are unique; else None (module comment)."""
    n = len(positions)
    if n == 0 or any(columns.get(name) is None or None in columns[name] for name in _REQUIRED):
        return None
    ids = _ids(columns["id"])
    if ids is None or len(set(ids)) != n:
        return None
    values: dict[str, Any] = {}
    for name, column in columns.items():
        f = _BY_NAME[name]
        if f.kind in {"id", "meta"}:
            continue
        checked = (_counts(f, column) if f.kind in {"count", "loss"} else
                   _texts(column) if f.kind == "text" else
                   _bools(column) if f.kind == "bool" else _tags(column))
        if checked is None:
            return None
        values[name] = checked
    if not _consistent(values):
        return None
    nothing = np.full(n, np.nan)
    exclude = values.get("exclude")
    # fresh copies of the ids, side by side: the read ones lie scattered among the table's
    # other cells, and would keep every block of the allocator those filled alive
    ids = tuple("\n".join(ids).split("\n"))
    return RunTable(
        ids=ids, params=values["params"], tokens=values["tokens"], loss=values["loss"],
        flops=values.get("flops", nothing), unique_tokens=values.get("unique_tokens", nothing),
        non_embedding_params=values.get("non_embedding_params", nothing),
        groups=values.get("group", (None,) * n), tags=values.get("tags", ((),) * n),
        exclude=np.zeros(n, bool) if exclude is None else np.array(exclude, dtype=bool),
        exclude_reasons=values.get("exclude_reason", (None,) * n), sources=(source,) * n,
        positions=positions)


def _ids(column: list[Any]) -> tuple[str, ...] | None:
    """Run ids as :func:`run_id_text` makes them: text, stripped, not empty, one line."""
    try:
        ids = tuple(map(str.strip, column))
    except TypeError:  # not all text
        return None
    joined = "\n".join(ids)
    if "" in ids or joined.count("\n") != len(ids) - 1 or "\t" in joined or "\r" in joined:
        return None
    return None if CONTROL_CHARACTERS.search(joined) else ids


def _counts(f: Field, column: list[Any]) -> Any:
    """Numbers as :func:`_check_count` reads them (plain decimals only), within the field's
    range, as a float array (NaN: a record without one); None if one is not such a
    number."""
    present = [v for v in column if v is not None] if None in column else column
    try:
        joined = "\n".join(present)
    except TypeError:  # not all text
        return None
    if joined.translate(_DECIMAL):
        return None  # suffixes (7B), spaces, words: parse_number, record by record
    try:
        numbers = np.array(present, dtype=float)
    except ValueError:
        return None
    if not (np.all(numbers > 0) and np.all(numbers >= f.low) and np.all(numbers <= f.high)):
        return None  # zero, negative, infinite, underflow or implausible: its message
    if len(present) == len(column):
        return numbers
    out = np.full(len(column), np.nan)
    out[[v is not None for v in column]] = numbers
    return out


def _texts(column: list[Any]) -> tuple[str | None, ...] | None:
    out = tuple(None if v is None else v.strip() if type(v) is str else "" for v in column)
    return None if "" in out else out


def _bools(column: list[Any]) -> list[bool] | None:
    out = [v if type(v) is bool else _TRUE_FALSE.get(v.strip().lower()) if type(v) is str
           else None for v in column]  # (a missing value is false, as in Run)
    return None if any(o is None and v is not None for o, v in zip(out, column, strict=True)) \
        else [bool(o) for o in out]


def _tags(column: list[Any]) -> tuple[tuple[str, ...], ...] | None:
    out: list[tuple[str, ...]] = []
    for v in column:
        if v is None:
            out.append(())
        elif type(v) is str:
            out.append(tuple(t.strip() for t in v.split(";") if t.strip()))
        elif type(v) is list and all(type(t) is str for t in v):
            out.append(tuple(v))
        else:
            return None
    return tuple(out)


def _consistent(values: Mapping[str, Any]) -> bool:
    """The checks between fields of one record: flops near 6ND, non-embedding <= total,
    at most MAX_EPOCHS passes over the unique tokens (NaN: a field not given passes)."""
    params, tokens = values["params"], values["tokens"]
    if "flops" in values:
        ratio = values["flops"] / (6.0 * params * tokens)
        if np.any(~np.isnan(ratio) & ~((ratio >= 0.05) & (ratio <= 20))):
            return False
    if "unique_tokens" in values and np.any(tokens > MAX_EPOCHS * values["unique_tokens"]):
        return False
    return "non_embedding_params" not in values or not np.any(
        values["non_embedding_params"] > params)


# --------------------------------------------------------------------------- assembly


def load_runs(
    paths: Sequence[str],
    *,
    stdin_text: str | None = None,
    input_format: str = "auto",
    columns: Mapping[str, str] | None = None,
    where: Sequence[str] = (),
    skip_invalid: bool = False,
    logs: LogSettings | None = None,
) -> RunSet:
    """Read, validate and de-duplicate run logs: run tables and training logs.

    ``columns`` maps fields to columns or keys: run fields for CSV tables
    (``{"group": "train_run_key"}``), log fields (id, step, tokens, loss, lr, params) for
    training logs; ``where`` filters records (``"epoch_default_fit==1"``) before
    validation; ``skip_invalid`` leaves out runs that fail, naming each in
    ``RunSet.skipped``; ``logs`` says how training logs become runs (the reduction, tokens
    per step, sizes, restarts). Runs come back sorted by id so that results do not depend
    on file order.
    """
    table_columns, log_columns = _split_columns(dict(columns or {}))
    check = _Records([Where.parse(w) for w in where], skip_invalid)
    sources = read_sources(paths, stdin_text=stdin_text, input_format=input_format)
    tables, log_sources = _tables_and_logs(sources, input_format)
    for source in tables:
        if not check.filters and check.add_table(source, table_columns):
            continue  # validated column by column (large tables); else record by record:
        if source.kind == "csv":
            records: Iterable[tuple[str, Any]] = records_from_csv(
                source, table_columns, fields=_TABLE_FIELDS, required=_REQUIRED,
                aliases=_ALIASES)
        else:
            records = records_from_yaml(source)
        for position, record in records:
            check.add(source.name, position, record)
    warnings: tuple[str, ...] = ()
    used = {s.name for s in tables}
    if log_sources:
        from scaling_cli.read.logs import LogSettings, group_logs, read_logs, to_records

        settings = logs or LogSettings()
        options = settings.options(log_columns, skip_invalid=skip_invalid)
        found, notes = group_logs(log_sources, paths)
        curves = read_logs(found, options, notes=notes)
        reduced = to_records(curves, settings.reduce, skip_invalid=skip_invalid)
        check.skipped.extend(reduced.skipped)
        for rec in reduced.records:
            check.add(rec.source, rec.position, dict(rec.record))
        warnings, used = curves.warnings, used | set(curves.sources)
    elif _log_only(logs, log_columns, table_columns):
        raise UsageError("the training-log options (--reduce, --tokens-per-step, "
                         "--log-params, --params-file, --restarts, --column step/lr) apply "
                         "to training logs, and none were read; drop them")
    return check.run_set(tuple(s.name for s in sources if s.name in used), warnings)


def _split_columns(columns: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``columns`` for run tables (run fields) and for training logs (log fields)."""
    if not columns:
        return {}, {}
    from scaling_cli.read.logs import LOG_FIELDS

    unknown = [k for k in columns if k not in _TABLE_FIELDS and k not in LOG_FIELDS]
    if unknown:
        raise InputError(f"--column {unknown[0]}=...: {unknown[0]!r} is not a run field; "
                         f"fields are {', '.join(_TABLE_FIELDS)} (training logs: "
                         f"{', '.join(LOG_FIELDS)})")
    return ({k: v for k, v in columns.items() if k in _TABLE_FIELDS},
            {k: v for k, v in columns.items() if k in LOG_FIELDS})


def _log_only(logs: LogSettings | None, log_columns: Mapping[str, str],
              table_columns: Mapping[str, str]) -> bool:
    """Whether training-log settings were given (they would change nothing without logs)."""
    if set(log_columns) - set(table_columns):
        return True
    if logs is None:
        return False
    from scaling_cli.read.logs import LogSettings

    return logs != LogSettings()


def _tables_and_logs(sources: list[Source],
                     input_format: str) -> tuple[list[Source], list[Source]]:
    if all(s.kind == "yaml" and s.name.lower().endswith((".yaml", ".yml")) for s in sources):
        return sources, []  # nothing to sniff: the common case of YAML run tables
    from scaling_cli.read.logs import split_inputs

    return split_inputs(sources, input_format=input_format)


class _Records:
    """Records -> runs: the count limit, ``--where``, validation (or, with
    ``skip_invalid``, the run left out and named), and duplicate ids."""

    def __init__(self, filters: list[Where], skip_invalid: bool) -> None:
        self.filters, self.skip_invalid = filters, skip_invalid
        self.by_id: dict[str, Run] = {}  # the runs validated record by record
        self.tables: list[RunTable] = []  # the tables validated column by column
        self.table_ids: set[str] = set()
        self.seen = 0
        self.seen_columns: set[str] = set()
        self.skipped: list[Skipped] = []

    def add(self, source: str, position: str, record: Any) -> None:
        self.seen += 1
        if self.seen > LIMITS["max_runs"]:
            raise InputError(f"{source}: {position}: more than {LIMITS['max_runs']:,} runs in "
                             "all; fit a sample of them")
        if self.filters and not _passes(self.filters, record, source, self.seen_columns):
            return
        try:
            run = _make_run(source, position, record)
        except InputError as exc:
            if not self.skip_invalid:
                raise
            from scaling_cli.read.logs import Skipped

            self.skipped.append(Skipped(_record_id(record), source, str(exc)))
            return
        previous = self._find(run.run_id)
        if previous is not None:
            raise InputError(_duplicate_message(previous, run))
        self.by_id[run.run_id] = run

    def _find(self, run_id: str) -> Run | None:
        if run_id in self.table_ids:
            return next(t[t.ids.index(run_id)] for t in self.tables if run_id in t.ids)
        return self.by_id.get(run_id)

    def add_table(self, source: Source, columns: Mapping[str, str]) -> bool:
        """Add every run of a run table validated column by column (:func:`_by_column`),
        if each would pass :meth:`add` unchanged; otherwise add nothing and return False
        (the caller then goes record by record, for the exact message of the first bad
        one). Header problems of a CSV table raise here, as they would there."""
        if source.kind == "csv":
            table = csv_columns(source, columns, fields=_TABLE_FIELDS, required=_REQUIRED,
                                aliases=_ALIASES)
            if table is None:
                return False
            positions: Sequence[str] = Positions("line", table.line_numbers)
            cells: dict[str, list[Any]] = {  # an empty cell is no value
                f: [c or None for c in col] if "" in col else list[Any](col)
                for f, col in table.cells.items()}
        else:
            from scaling_cli.read.yamlsafe import plain_run_columns

            plain = plain_run_columns(source.text)  # a `runs:` list, one layout: no dicts
            if plain is not None:
                found = _key_columns(plain)
                n = len(next(iter(plain.values())))
                positions = Positions("run", range(1, n + 1))
            else:
                try:
                    records = list(records_from_yaml(source))
                except InputError:
                    return False  # raised again, in order, record by record
                positions = tuple(position for position, _ in records)
                found = _record_columns([record for _, record in records])
            if found is None:
                return False
            cells = found
        if self.seen + len(positions) > LIMITS["max_runs"]:
            return False
        made = _by_column(source.name, positions, cells)
        if made is None or not self.table_ids.isdisjoint(made.ids) or (
                self.by_id and not self.by_id.keys().isdisjoint(made.ids)):
            return False
        self.seen += len(made)
        self.tables.append(made)
        self.table_ids.update(made.ids)
        return True

    def run_set(self, sources: tuple[str, ...], warnings: tuple[str, ...]) -> RunSet:
        filters = self.filters
        absent = [f for f in filters if f.column not in self.seen_columns]
        if absent:
            raise InputError(
                f"--where {shown(str(absent[0]))}: no run has a field or meta key "
                f"{shown(absent[0].column)}; check the spelling (fields are "
                f"{', '.join(f.name for f in FIELDS)})"
            )
        skipped = tuple(sorted(self.skipped, key=lambda s: s.source))  # stable: file order
        if not self.by_id and not self.tables:
            left = f", {len(skipped)} skipped" if skipped else ""
            raise InputError(
                f"no runs left after --where {' --where '.join(shown(str(f)) for f in filters)} "
                f"({self.seen} read{left}); loosen the filters" if filters
                else f"no runs left: all {len(skipped)} were skipped as invalid; the first: "
                f"{skipped[0].reason}" if skipped else "no runs found in the inputs"
            )
        parts = [*self.tables, RunTable.of(self.by_id.values())] if self.by_id else self.tables
        every = RunTable.concat(parts).sorted_by_id()
        if every.exclude.any():
            kept = every.take(np.flatnonzero(~every.exclude))
            excluded = every.take(np.flatnonzero(every.exclude))
        else:
            kept, excluded = every, RunTable.of(())
        if skipped:
            names = [shown(s.run_id) if s.run_id else s.source for s in skipped[:5]]
            more = f" and {len(skipped) - 5:,} more" if len(skipped) > 5 else ""
            warnings = (*warnings, f"{_runs(len(skipped))} left out by --skip-invalid: "
                                   f"{', '.join(names)}{more}")
        return RunSet(runs=kept, excluded=excluded, sources=sources, sha256=digest(every),
                      warnings=warnings, skipped=skipped)


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n:,} runs"


def _record_id(record: Any) -> str:
    """The id a record that failed validation gives itself, as text ("" when none)."""
    raw = record.get("id", record.get("run_id")) if isinstance(record, Mapping) else None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return ""
    return str(raw).strip()


def _passes(filters: Sequence[Where], record: Any, source: str,
            seen_columns: set[str]) -> bool:
    """Whether ``record`` passes every filter; notes which filter columns it has."""
    if not isinstance(record, Mapping):
        return True  # let validation report the malformed record
    raw: dict[str, Any]
    if "__row__" in record:
        raw = {**record["__row__"], "__csv__": True}
    else:
        meta = record.get("meta")
        raw = {**(meta if isinstance(meta, Mapping) else {}), **record}
    seen_columns.update(f.column for f in filters if f.column in raw)
    return all(f.matches(raw, source) for f in filters)


_COMPARED = ("params", "tokens", "loss", "flops", "group", "non_embedding_params",
             "unique_tokens", "exclude")


def _value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else shown(value)


def _duplicate_message(first: Run, second: Run) -> str:
    diffs = [name for name in _COMPARED if getattr(first, name) != getattr(second, name)]
    if diffs:
        name = diffs[0]
        return (
            f"{second.where}: duplicate run id, conflicting with {first.source}: "
            f"{first.position}: field {name!r} is {_value(getattr(second, name))} here and "
            f"{_value(getattr(first, name))} there; rename one run or delete the wrong one"
        )
    return (
        f"{second.where}: duplicate run id, same values as {first.source}: {first.position}; "
        "delete one copy (each run must appear once or it counts twice in the fit)"
    )


def runset_from_arrays(
    params: Sequence[float],
    tokens: Sequence[float],
    loss: Sequence[float],
    *,
    groups: Sequence[str] | None = None,
    unique_tokens: Sequence[float | None] | None = None,
    name: str = "<arrays>",
) -> RunSet:
    """A RunSet from in-memory arrays (simulations, notebooks), validated like a run log.

    Runs get ids ``r000001``...; ``groups`` (optional) labels rows of one training run;
    ``unique_tokens`` (optional; None or NaN where not known) the distinct tokens of each
    run's data.
    """
    n = len(params)
    if not len(tokens) == len(loss) == n or any(
            c is not None and len(c) != n for c in (groups, unique_tokens)):
        raise InputError(f"{name}: params, tokens, loss (and groups, unique_tokens) must "
                         "have equal lengths")
    runs = []
    for i in range(n):
        record: dict[str, Any] = {"id": f"r{i + 1:06d}", "params": float(params[i]),
                                  "tokens": float(tokens[i]), "loss": float(loss[i])}
        if groups is not None:
            record["group"] = str(groups[i])
        if unique_tokens is not None and unique_tokens[i] is not None \
                and unique_tokens[i] == unique_tokens[i]:  # (NaN: not known)
            record["unique_tokens"] = float(unique_tokens[i])  # type: ignore[arg-type]
        runs.append(_make_run(name, f"row {i + 1}", record))
    table = RunTable.of(runs)
    return RunSet(runs=table, excluded=(), sources=(name,), sha256=digest(table))
