"""Run logs (YAML or CSV) -> validated, de-duplicated :class:`RunSet`.

A run log names one training run per record. YAML may hold one run per file, a ``runs:``
list, or several ``---`` documents; CSV holds one run per row (column names mapped with
``columns``). Paths may be files, directories (searched recursively for ``*.yaml``,
``*.yml``, ``*.csv``; hidden entries skipped), globs, or ``-`` for text passed in as
``stdin_text``. Every problem raises :class:`~scaling_cli.errors.InputError` naming the
file, the run (position and id) and the field, and saying how to fix it, in one line whose
echoed values are cut to 40 characters.

Run logs are untrusted: ``LIMITS`` bounds what is read (bytes per input and in all, runs),
inputs must be UTF-8 text without NUL or control characters, and YAML goes through
:mod:`scaling_cli.read.yamlsafe`. docs/input-errors.md lists every limit and message.

The schema (``FIELDS``) is printed by ``scaling schema`` and documented in the README.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.model import RunData
from scaling_cli.read.sources import CONTROL_CHARACTERS, LIMITS, Source, decode_input, read_sources
from scaling_cli.read.yamlsafe import load_yaml_documents
from scaling_cli.units import QuantityError, format_flops, parse_number, shown

__all__ = [
    "FIELDS",
    "LIMITS",
    "Field",
    "Run",
    "RunSet",
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



@dataclass(frozen=True)
class Run:
    """One training run as read from a log. Counts are floats (they can exceed 2**53)."""

    run_id: str
    params: float
    tokens: float
    loss: float
    source: str
    position: str  # "run 3" (YAML) or "line 17" (CSV): where in ``source`` it was found
    flops: float | None = None
    group: str | None = None
    non_embedding_params: float | None = None
    unique_tokens: float | None = None
    tags: tuple[str, ...] = ()
    exclude: bool = False
    exclude_reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}: {self.position} (id {shown(self.run_id)})"

    def canonical(self) -> str:
        """Stable text form used for the input hash (order- and formatting-independent)."""
        values = (self.run_id, self.params, self.tokens, self.loss, self.flops, self.group,
                  self.non_embedding_params, self.unique_tokens, self.exclude)
        return "\x1f".join(repr(v) for v in values)


@dataclass(frozen=True)
class RunSet:
    """The runs to fit (sorted by id), the ones excluded by their logs, and provenance."""

    runs: tuple[Run, ...]
    excluded: tuple[Run, ...]
    sources: tuple[str, ...]
    sha256: str
    warnings: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.runs)

    def columns(self, flops_per_param_token: float) -> RunData:
        """The runs as columns; a run's compute is its own ``flops``, else k N D."""
        import numpy as np

        k = flops_per_param_token
        labelled = [r.group for r in self.runs]
        return RunData(
            ids=tuple(r.run_id for r in self.runs),
            params=np.array([r.params for r in self.runs], dtype=float),
            tokens=np.array([r.tokens for r in self.runs], dtype=float),
            loss=np.array([r.loss for r in self.runs], dtype=float),
            compute_flops=np.array([r.flops if r.flops is not None else k * r.params * r.tokens
                                    for r in self.runs], dtype=float),
            groups=None if all(g is None for g in labelled)
            else tuple(g if g is not None else "" for g in labelled),
        )

    def subset(self, keep: Iterable[bool]) -> RunSet:
        """The runs where ``keep`` is true (same order, same provenance)."""
        return replace(self, runs=tuple(r for r, k in zip(self.runs, keep, strict=True) if k))


# --------------------------------------------------------------------------- records


def _records_from_yaml(source: Source) -> Iterable[tuple[str, Any]]:
    docs = load_yaml_documents(source.text, source.name)
    if not any(doc is not None for doc in docs):
        raise InputError(f"{source.name}: is empty; it should hold a run or a `runs:` list")
    count = 0
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if isinstance(doc, Mapping) and "runs" in doc:
            extra = sorted(str(k) for k in doc if k != "runs")
            if extra:
                raise InputError(
                    f"{source.name}: document {number}: unexpected top-level key {extra[0]!r} "
                    "beside `runs:`; put run fields inside each entry of the list"
                )
            items = doc["runs"]
            if not isinstance(items, list):
                raise InputError(
                    f"{source.name}: document {number}: `runs:` must be a list of runs, "
                    f"got {_type_name(items)}; write each run as an entry `- id: ...`"
                )
            if not items:
                raise InputError(f"{source.name}: document {number}: `runs:` is an empty list; "
                                 "add runs (`- id: ...`) or delete the file")
        elif isinstance(doc, (Mapping, list)):
            items = doc if isinstance(doc, list) else [doc]
        else:
            raise InputError(
                f"{source.name}: document {number} is {_type_name(doc)}, not a run; "
                "write `id: ..., params: ..., tokens: ..., loss: ...` or a `runs:` list"
            )
        for item in items:
            count += 1
            yield f"run {count}", item


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if value is None:
        return "empty"
    return f"a {type(value).__name__}"


_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")


def _lines(text: str) -> Iterator[str]:
    """Lines with their endings (\\n, \\r\\n or \\r), as ``StringIO(text, newline="")`` gives
    them but without its copy of the text (four bytes per character)."""
    return (match.group() for match in _LINE.finditer(text))


def _records_from_csv(
    source: Source, columns: Mapping[str, str]
) -> Iterable[tuple[str, dict[str, Any]]]:
    reader = csv.reader(_lines(source.text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source.name}: is empty; it needs a header row and runs") from None
    except csv.Error as exc:
        raise InputError(f"{source.name}: line 1: not valid CSV ({exc}); fix the header row") \
            from None
    header = [h.strip() for h in header]
    _check_header(source.name, header)
    index = {name: i for i, name in enumerate(header)}
    mapping = _csv_mapping(source.name, header, index, columns)
    any_row = False
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            any_row = True
            position = f"line {reader.line_num}"
            if len(row) != len(header):
                if "\n" in row[-1]:  # an open quote ran on to the end of the file
                    raise InputError(f"{source.name}: {position}: a quote (\") is never "
                                     "closed; close it or remove it")
                raise InputError(
                    f"{source.name}: {position}: has {_cells(len(row))} but the header has "
                    f"{len(header)}; fix the row or quote cells that contain commas"
                )
            record: dict[str, Any] = {"__row__": dict(zip(header, row, strict=True))}
            for fname, col in mapping.items():
                cell = row[index[col]].strip()
                if cell != "":
                    record[fname] = cell
            yield position, record
    except csv.Error as exc:
        raise InputError(f"{source.name}: line {reader.line_num}: not valid CSV ({exc}); fix "
                         "the row (quote cells that contain commas or quotes)") from None
    if not any_row:
        raise InputError(f"{source.name}: has a header but no rows")


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def _check_header(name: str, header: list[str]) -> None:
    if not any(header):
        raise InputError(f"{name}: line 1: the header row is empty; the first row must name "
                         "the columns, e.g. id,params,tokens,loss")
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise InputError(f"{name}: line 1: column {shown(column)} appears twice in the "
                             "header; rename or delete one")
        seen.add(column)


def _columns_list(header: Sequence[str]) -> str:
    names = ", ".join(shown(h) if not h.isidentifier() else h for h in header[:12])
    return names + (" ..." if len(header) > 12 else "")


def _csv_mapping(
    name: str, header: list[str], index: Mapping[str, int], columns: Mapping[str, str]
) -> dict[str, str]:
    for fname, col in columns.items():
        if col not in index:
            raise InputError(
                f"{name}: --column {fname}={shown(col)}: no column {shown(col)}; "
                f"columns are {_columns_list(header)}"
            )
    mapping: dict[str, str] = {}
    for f in FIELDS:
        if f.kind == "meta":
            continue
        if f.name in columns:
            mapping[f.name] = columns[f.name]
        elif f.name in index:
            mapping[f.name] = f.name
        elif f.name == "id" and "run_id" in index:
            mapping["id"] = "run_id"
    missing = [f.name for f in FIELDS if f.required and f.name not in mapping]
    if missing:
        raise InputError(
            f"{name}: no column for required field {missing[0]!r}; add the column or map one "
            f"with --column {missing[0]}=COLUMN (columns are {_columns_list(header)})"
        )
    return mapping


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
                    f"columns are {_columns_list([k for k in raw if k != '__csv__'])}"
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
        raise InputError(f"{where}: field {f.name!r}: expected text, got {_type_name(value)}; "
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
                     f"{_type_name(value)}; write `{f.name}: true` or `{f.name}: false`")


def _check_tags(where: str, f: Field, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(";") if t.strip())
    if not isinstance(value, list):
        raise InputError(f"{where}: field {f.name!r}: expected a list of labels, got "
                         f"{_type_name(value)}; write e.g. `tags: [isoflop, baseline]`")
    for number, tag in enumerate(value, start=1):
        if isinstance(tag, bool) or not isinstance(tag, (str, int, float)):
            raise InputError(f"{where}: field {f.name!r}: label {number} is "
                             f"{_type_name(tag)}; labels are plain text, e.g. "
                             "`tags: [isoflop, baseline]`")
    return tuple(str(t) for t in value)


def _run_id(where: str, record: Mapping[Any, Any]) -> str:
    raw = record.get("id", record.get("run_id"))
    if raw is None:
        raise InputError(f"{where}: field 'id' is missing; give each run a unique `id:`")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InputError(f"{where}: field 'id' is {_type_name(raw)}; give each run a unique "
                         "text id, e.g. `id: ladder-70M-1e19` (quote it if YAML misreads it)")
    run_id = str(raw).strip()
    if not run_id:
        raise InputError(f"{where}: field 'id' is empty; give each run a unique `id:`")
    bad = CONTROL_CHARACTERS.search(run_id) or re.search(r"[\r\n\t]", run_id)
    if bad is not None:
        raise InputError(f"{where}: field 'id': {shown(run_id)} contains the control character "
                         f"U+{ord(bad.group()):04X}; write the id on one line without it")
    return run_id


def _make_run(source: str, position: str, record: object) -> Run:
    where = f"{source}: {position}"
    if not isinstance(record, Mapping):
        raise InputError(
            f"{where}: is {_type_name(record)}, not a run; "
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
    return Run(run_id=run_id, source=source, position=position, **values)


# --------------------------------------------------------------------------- assembly


def load_runs(
    paths: Sequence[str],
    *,
    stdin_text: str | None = None,
    input_format: str = "auto",
    columns: Mapping[str, str] | None = None,
    where: Sequence[str] = (),
) -> RunSet:
    """Read, validate and de-duplicate run logs.

    ``columns`` maps run fields to CSV column names (``{"group": "train_run_key"}``);
    ``where`` filters records (``"epoch_default_fit==1"``) before validation.
    Runs come back sorted by id so that results do not depend on file order.
    """
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in _BY_NAME or _BY_NAME[k].kind == "meta"]
    if unknown:
        raise InputError(f"--column {unknown[0]}=...: {unknown[0]!r} is not a run field; "
                         f"fields are {', '.join(f.name for f in FIELDS if f.kind != 'meta')}")
    filters = [Where.parse(w) for w in where]
    sources = read_sources(paths, stdin_text=stdin_text, input_format=input_format)
    by_id: dict[str, Run] = {}
    seen_records = 0
    seen_columns: set[str] = set()
    for source in sources:
        if source.kind == "csv":
            records: Iterable[tuple[str, Any]] = _records_from_csv(source, columns)
        else:
            records = _records_from_yaml(source)
        for position, record in records:
            seen_records += 1
            if seen_records > LIMITS["max_runs"]:
                raise InputError(f"{source.name}: {position}: more than "
                                 f"{LIMITS['max_runs']:,} runs in all; fit a sample of them")
            if filters and not _passes(filters, record, source, seen_columns):
                continue
            run = _make_run(source.name, position, record)
            previous = by_id.get(run.run_id)
            if previous is not None:
                raise InputError(_duplicate_message(previous, run))
            by_id[run.run_id] = run
    absent = [f for f in filters if f.column not in seen_columns]
    if absent:
        raise InputError(
            f"--where {shown(str(absent[0]))}: no run has a field or meta key "
            f"{shown(absent[0].column)}; check the spelling (fields are "
            f"{', '.join(f.name for f in FIELDS)})"
        )
    if not by_id:
        raise InputError(
            f"no runs left after --where {' --where '.join(shown(str(f)) for f in filters)} "
            f"({seen_records} read); loosen the filters" if filters
            else "no runs found in the inputs"
        )
    ordered = tuple(by_id[k] for k in sorted(by_id))
    kept = tuple(r for r in ordered if not r.exclude)
    excluded = tuple(r for r in ordered if r.exclude)
    digest = hashlib.sha256("\x1e".join(r.canonical() for r in ordered).encode()).hexdigest()
    return RunSet(runs=kept, excluded=excluded, sources=tuple(s.name for s in sources),
                  sha256=digest)


def _passes(filters: Sequence[Where], record: Any, source: Source,
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
    return all(f.matches(raw, source.name) for f in filters)


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
    name: str = "<arrays>",
) -> RunSet:
    """A RunSet from in-memory arrays (simulations, notebooks), validated like a run log.

    Runs get ids ``r000001``...; ``groups`` (optional) labels rows of one training run.
    """
    n = len(params)
    if not len(tokens) == len(loss) == n or (groups is not None and len(groups) != n):
        raise InputError(f"{name}: params, tokens, loss (and groups) must have equal lengths")
    runs = []
    for i in range(n):
        record: dict[str, Any] = {"id": f"r{i + 1:06d}", "params": float(params[i]),
                                  "tokens": float(tokens[i]), "loss": float(loss[i])}
        if groups is not None:
            record["group"] = str(groups[i])
        runs.append(_make_run(name, f"row {i + 1}", record))
    digest = hashlib.sha256("\x1e".join(r.canonical() for r in runs).encode()).hexdigest()
    return RunSet(runs=tuple(runs), excluded=(), sources=(name,), sha256=digest)
