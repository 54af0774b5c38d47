"""Run tables -> plain run records: YAML (one run per file, a ``runs:`` list, or several
``---`` documents) and CSV (one run per row), each record with the position its messages
name (``run 3``, ``line 17``). The records are validated against the schema by
:mod:`scaling_cli.read.runs`; this module knows the shapes of the files, not the fields.

:func:`csv_rows` is the one CSV reader of the package (run tables here, W&B exports in
:mod:`scaling_cli.read.logs.wandb`): a header, then rows, every problem one line naming the
file and the line.

:func:`csv_columns` is the fast path for large tables: the same cells as
:func:`records_from_csv`, column by column, when the text is plain enough (no quotes, no
lone carriage returns, every row complete) to be split exactly without the csv module;
otherwise ``None``, and the row-by-row reader gives every message.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.read.sources import CONTROL_CHARACTERS, Source
from scaling_cli.units import shown

__all__ = [
    "CsvColumns",
    "column_names",
    "csv_columns",
    "csv_rows",
    "lines",
    "records_from_csv",
    "records_from_yaml",
    "run_id_text",
    "type_name",
]


# --------------------------------------------------------------------------- YAML


def records_from_yaml(source: Source) -> Iterable[tuple[str, Any]]:
    """(position, record) for every run in a YAML run table; the records as YAML gave them."""
    from scaling_cli.read.yamlsafe import load_yaml_documents  # PyYAML: only for YAML

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
                    f"got {type_name(items)}; write each run as an entry `- id: ...`"
                )
            if not items:
                raise InputError(f"{source.name}: document {number}: `runs:` is an empty list; "
                                 "add runs (`- id: ...`) or delete the file")
        elif isinstance(doc, (Mapping, list)):
            items = doc if isinstance(doc, list) else [doc]
        else:
            raise InputError(
                f"{source.name}: document {number} is {type_name(doc)}, not a run; "
                "write `id: ..., params: ..., tokens: ..., loss: ...` or a `runs:` list"
            )
        for item in items:
            count += 1
            yield f"run {count}", item


def type_name(value: object) -> str:
    """How a message names a value of the wrong type (``the text 'x'``, ``a list``)."""
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


def run_id_text(value: object, where: str, *, example: str = "") -> str:
    """A run id from a record's value (a table's, a log's): text or a number, one line, not
    empty; ``example`` ends the message for a value of the wrong type."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{where}: field 'id' is {type_name(value)}; give each run a unique "
                         f"text id{example}")
    run_id = str(value).strip()
    if not run_id:
        raise InputError(f"{where}: field 'id' is empty; give each run a unique text id")
    bad = CONTROL_CHARACTERS.search(run_id) or re.search(r"[\r\n\t]", run_id)
    if bad is not None:
        raise InputError(f"{where}: field 'id': {shown(run_id)} contains the control character "
                         f"U+{ord(bad.group()):04X}; write the id on one line without it")
    return run_id


# --------------------------------------------------------------------------- CSV

_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")


def lines(text: str) -> Iterator[str]:
    """Lines with their endings (\\n, \\r\\n or \\r), as ``StringIO(text, newline="")`` gives
    them but without its copy of the text (four bytes per character)."""
    return (match.group() for match in _LINE.finditer(text))


def column_names(header: Sequence[str]) -> str:
    """The columns for a message: the first 12, quoted where they are not plain names."""
    names = ", ".join(shown(h) if not h.isidentifier() else h for h in header[:12])
    return names + (" ..." if len(header) > 12 else "")


def csv_rows(name: str, text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (cells stripped) of CSV ``text`` and its rows as (line number, cells as
    written), blank rows skipped. Refused, naming the line: text that is not CSV, an empty
    or duplicated header column, a row whose cell count differs from the header's (or a
    quote never closed), a file without a header or without rows."""
    reader = csv.reader(lines(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{name}: is empty; it needs a header row and runs") from None
    except csv.Error as exc:
        raise InputError(f"{name}: line 1: not valid CSV ({exc}); fix the header row") from None
    _check_header(name, header)
    return header, _rows(name, reader, len(header))


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


def _rows(name: str, reader: Any, width: int) -> Iterator[tuple[int, list[str]]]:
    any_row = False
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            any_row = True
            if len(row) != width:
                if "\n" in row[-1]:  # an open quote ran on to the end of the file
                    raise InputError(f"{name}: line {reader.line_num}: a quote (\") is never "
                                     "closed; close it or remove it")
                cells = "1 cell" if len(row) == 1 else f"{len(row)} cells"
                raise InputError(f"{name}: line {reader.line_num}: has {cells} but the header "
                                 f"has {width}; fix the row or quote cells that contain commas")
            yield reader.line_num, row
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num}: not valid CSV ({exc}); fix the row "
                         "(quote cells that contain commas or quotes)") from None
    if not any_row:
        raise InputError(f"{name}: has a header but no rows")


def records_from_csv(
    source: Source,
    columns: Mapping[str, str],
    *,
    fields: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, str],
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(position, record) for every row of a CSV run table: ``record[field]`` is the cell
    (stripped; empty cells left out) of the column ``columns`` maps the field to, else of
    the column named like the field (or one of its ``aliases``, alias -> field), and
    ``record["__row__"]`` is the whole row by column, for ``--where``."""
    header, rows = csv_rows(source.name, source.text)
    index = {name: i for i, name in enumerate(header)}
    mapping = _mapping(source.name, header, index, columns, fields, required, aliases)
    picks = [(f, index[col]) for f, col in mapping.items()]
    for line, row in rows:
        record: dict[str, Any] = {"__row__": dict(zip(header, row, strict=True))}
        for fname, i in picks:
            cell = row[i].strip()
            if cell != "":
                record[fname] = cell
        yield f"line {line}", record


def _mapping(
    name: str, header: list[str], index: Mapping[str, int], columns: Mapping[str, str],
    fields: Sequence[str], required: Sequence[str], aliases: Mapping[str, str],
) -> dict[str, str]:
    for fname, col in columns.items():
        if col not in index:
            raise InputError(
                f"{name}: --column {fname}={shown(col)}: no column {shown(col)}; "
                f"columns are {column_names(header)}"
            )
    mapping: dict[str, str] = {}
    for f in fields:
        if f in columns:
            mapping[f] = columns[f]
        elif f in index:
            mapping[f] = f
        else:
            alias = next((a for a, target in aliases.items() if target == f and a in index),
                         None)
            if alias is not None:
                mapping[f] = alias
    missing = [f for f in required if f not in mapping]
    if missing:
        raise InputError(
            f"{name}: no column for required field {missing[0]!r}; add the column or map one "
            f"with --column {missing[0]}=COLUMN (columns are {column_names(header)})"
        )
    return mapping


# --------------------------------------------------------------------------- CSV, by column


@dataclass(frozen=True)
class CsvColumns:
    """A CSV run table by column: ``cells[field]`` holds each row's cell of the column the
    field maps to, stripped ("" where empty), and ``line_numbers`` each row's line."""

    line_numbers: list[int]
    cells: dict[str, list[str]]


def csv_columns(
    source: Source,
    columns: Mapping[str, str],
    *,
    fields: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, str],
) -> CsvColumns | None:
    """The cells :func:`records_from_csv` would give, by column, or ``None`` when the text
    is not plain: a quote, a carriage return other than in CRLF, a row whose cell count
    differs from the header's (other than a blank row), a line longer than the csv
    module's field limit. The header and its mapping are checked (and refused) exactly as
    there."""
    header, _ = csv_rows(source.name, source.text)  # header checks; its rows are not read
    index = {name: i for i, name in enumerate(header)}
    mapping = _mapping(source.name, header, index, columns, fields, required, aliases)
    text = source.text
    if '"' in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    width = len(header)
    body = text.split("\n")[1:]  # no quotes: line 1 is the header, one line per row
    if body and not body[-1]:
        body.pop()  # after the final line break
    numbers = list(range(2, len(body) + 2))
    if set(map(str.count, body, repeat(","))) - {width - 1}:
        kept = [(n, line) for n, line in zip(numbers, body, strict=True) if not _blank(line)]
        if any(line.count(",") != width - 1 for _, line in kept):
            return None
        numbers, body = [n for n, _ in kept], [line for _, line in kept]
    if not body or max(map(len, body)) > csv.field_size_limit():
        return None  # no rows, or a line the csv module may refuse: its message
    flat = ",".join(body).split(",")
    # ASCII without spaces or tabs: no cell has anything to strip (the other ASCII white
    # space is refused control characters or line breaks)
    plain = text.isascii() and " " not in text and "\t" not in text
    cells = {f: flat[index[col]::width] if plain else list(map(str.strip, flat[index[col]::width]))
             for f, col in mapping.items()}
    if "" in cells["id"]:  # rows of empty cells (commas only) are skipped like blank lines
        keep = [i for i, line in enumerate(body) if cells["id"][i] or not _blank(line)]
        if len(keep) < len(body):
            numbers = [numbers[i] for i in keep]
            cells = {f: [col[i] for i in keep] for f, col in cells.items()}
    return CsvColumns(numbers, cells)


def _blank(line: str) -> bool:
    """Whether a plain CSV line is a blank row (no cell holds more than spaces)."""
    return not line.replace(",", "").strip()
