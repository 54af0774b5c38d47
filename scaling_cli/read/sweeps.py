"""Hyperparameter sweeps (CSV or YAML) -> a validated :class:`Sweep` of runs.

A sweep is a set of training runs that share a model size N and a token count D per cell
and vary the peak learning rate and the batch size; :mod:`scaling_cli.fit.hparams` finds the
near-best settings of each (N, D) cell and fits their scaling laws. One record per run:

=============  ========  ==================================================================
field          required  meaning
=============  ========  ==================================================================
id             yes       unique run name
params         yes       model size N (e.g. 215M; say which count you use: Step Law's N is
                         non-embedding parameters)
tokens         yes       training tokens D
lr             yes       peak learning rate
batch          yes       batch size, in tokens or in sequences (``batch_unit``)
loss           yes       final loss (nats/token)
smoothed_loss  no        final loss smoothed over the last steps (preferred for choosing the
                         best run: less noise)
seq_len        no        tokens per sequence of this run (overrides the ``seq_len`` option)
steps          no        optimizer steps; when given, tokens = batch (tokens) x steps is
                         checked to within 5% (it catches a wrong sequence length)
=============  ========  ==================================================================

CSV files name their columns in a header row; ``columns`` maps fields to other column names
(``{"params": "N", "smoothed_loss": "smooth loss"}``) and other
columns are ignored. YAML files hold a ``runs:`` list, a list of runs, or one run per
``---`` document; ``columns`` renames keys there too, and any other key is an error
(free-form data goes under ``meta:``). Every number goes through
:func:`scaling_cli.units.parse_number` (``3e-4``, ``215M``, ``1e11``), whatever YAML
thought it was. Each problem raises :class:`~scaling_cli.errors.InputError` in one line
naming the file, the line or run, the id and the field, and saying how to fix it.

Batch sizes come back in tokens (``batch_tokens``): with ``batch_unit="sequences"`` each is
multiplied by the run's sequence length. The Step Law release (``dense_lr_bs_loss.csv``)
gives ``bs`` in sequences of 2,048 tokens: its fitting code (``code/fit_tool.py``,
``seq_len=2048``) converts them so, and every released run satisfies D = bs x 2048 x ti to
within 0.3%.

YAML is read by the project's restricted loader
(:func:`scaling_cli.read.yamlsafe.load_yaml_documents`, as run logs are): numbers stay text
until the unit parser reads them, duplicate keys are refused, nesting and alias expansion
are bounded, and files by ``MAX_BYTES``.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling_cli.errors import InputError, UsageError
from scaling_cli.units import QuantityError, format_count, parse_number, shown

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

__all__ = [
    "BATCH_UNITS",
    "MAX_BYTES",
    "SWEEP_FIELDS",
    "Sweep",
    "SweepRun",
    "parse_sweep",
    "read_sweeps",
]

MAX_BYTES = 64 * 1024 * 1024  # per file: a sweep of 100,000 runs is ~20 MB of CSV
BATCH_UNITS = ("tokens", "sequences")
STEPS_TOLERANCE = 0.05  # |tokens / (batch_tokens x steps) - 1| allowed

# name -> (required, low, high, what it is); bounds catch unit slips, not real values
SWEEP_FIELDS: dict[str, tuple[bool, float, float, str]] = {
    "id": (True, 0.0, 0.0, "unique run name"),
    "params": (True, 1e3, 1e15, "model size N"),
    "tokens": (True, 1e3, 1e18, "training tokens D"),
    "lr": (True, 0.0, 10.0, "peak learning rate"),
    "batch": (True, 1.0, 1e10, "batch size (tokens or sequences)"),
    "loss": (True, 0.0, 20.0, "final loss in nats/token"),
    "smoothed_loss": (False, 0.0, 20.0, "smoothed final loss in nats/token"),
    "seq_len": (False, 1.0, 1e8, "tokens per sequence"),
    "steps": (False, 1.0, 1e12, "optimizer steps"),
}
_WHOLE = ("seq_len", "steps")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep; ``batch_tokens`` is always in tokens."""

    run_id: str
    params: float
    tokens: float
    lr: float
    batch_tokens: float
    loss: float
    smoothed_loss: float | None
    source: str
    position: str  # "line 17" (CSV) or "run 3" (YAML)

    @property
    def where(self) -> str:
        return f"{self.source}: {self.position} (id {shown(self.run_id)})"


@dataclass(frozen=True)
class Sweep:
    """Validated runs, sorted by (params, tokens, id) so results never depend on file order."""

    runs: tuple[SweepRun, ...]
    sources: tuple[str, ...]
    batch_unit: str  # as the files gave it; ``batch_tokens`` is converted
    warnings: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.runs)

    def column(self, name: str) -> Array:
        """One field of every run as a float array (NaN where an optional field is absent)."""
        import numpy as np

        return np.array([math.nan if getattr(r, name) is None else getattr(r, name)
                         for r in self.runs], dtype=float)


# --------------------------------------------------------------------------- reading


def read_sweeps(
    paths: Sequence[str | Path],
    *,
    columns: Mapping[str, str] | None = None,
    batch_unit: str = "tokens",
    seq_len: float | None = None,
) -> Sweep:
    """Read sweep files (``.csv``, ``.yaml``, ``.yml``) into one :class:`Sweep`."""
    if not paths:
        raise UsageError("give one or more .csv or .yaml sweep files", field="paths")
    texts = []
    for raw in paths:
        path = Path(raw)
        kind = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
        if kind is None:
            raise InputError(f"{path}: not a sweep file; give a .csv, .yaml or .yml file")
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if len(data) > MAX_BYTES:
            raise InputError(f"{path}: larger than {MAX_BYTES // 2**20} MiB; split the sweep "
                             "into several files")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: byte {exc.start} is not UTF-8; save the file as UTF-8 "
                             "text") from None
        texts.append((str(path), text, kind))
    return _assemble(texts, columns or {}, batch_unit, seq_len)


def parse_sweep(
    text: str,
    name: str,
    *,
    kind: str,
    columns: Mapping[str, str] | None = None,
    batch_unit: str = "tokens",
    seq_len: float | None = None,
) -> Sweep:
    """Parse one sweep given as text (``kind`` "csv" or "yaml"); ``name`` names it in errors."""
    if kind not in ("csv", "yaml"):
        raise UsageError(f"{kind!r}: use csv or yaml", field="kind")
    return _assemble([(name, text, kind)], columns or {}, batch_unit, seq_len)


def _assemble(texts: list[tuple[str, str, str]], columns: Mapping[str, str], batch_unit: str,
              seq_len: float | None) -> Sweep:
    for key in columns:
        if key not in SWEEP_FIELDS:
            raise UsageError(f"{key!r} is not a sweep field; fields are "
                             f"{', '.join(SWEEP_FIELDS)}", field="columns")
    if batch_unit not in BATCH_UNITS:
        raise UsageError(f"{batch_unit!r}: use tokens or sequences", field="batch_unit")
    if seq_len is not None:
        try:
            seq_len = parse_number(seq_len)
        except QuantityError as exc:
            raise UsageError(exc.problem, field="seq_len") from None
        if seq_len != int(seq_len):
            raise UsageError(f"{seq_len:g} is not a whole number of tokens", field="seq_len")
    runs: list[SweepRun] = []
    seen: dict[str, SweepRun] = {}
    for name, text, kind in texts:
        records = _csv_records(text, name, columns) if kind == "csv" else \
            _yaml_records(text, name, columns)
        for position, record in records:
            run = _make_run(name, position, record, batch_unit, seq_len)
            if run.run_id in seen:
                raise InputError(f"{run.where}: id also used at {seen[run.run_id].source}: "
                                 f"{seen[run.run_id].position}; give every run its own id")
            seen[run.run_id] = run
            runs.append(run)
    if not runs:
        raise InputError(f"{texts[0][0]}: no runs; a sweep needs runs with id, params, tokens, "
                         "lr, batch and loss")
    runs.sort(key=lambda r: (r.params, r.tokens, r.run_id))
    warnings = []
    if any(r.smoothed_loss is None for r in runs) and any(r.smoothed_loss is not None
                                                          for r in runs):
        missing = sum(r.smoothed_loss is None for r in runs)
        warnings.append(f"{missing} of {len(runs)} runs have no smoothed_loss; the fit uses "
                        "the final loss for every run unless all have it")
    return Sweep(tuple(runs), tuple(dict.fromkeys(t[0] for t in texts)), batch_unit,
                 tuple(warnings))


# --------------------------------------------------------------------------- CSV


def _csv_records(text: str, name: str,
                 columns: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{name}: is empty; it needs a header row and runs") from None
    except csv.Error as exc:
        raise InputError(f"{name}: line 1: not valid CSV ({exc}); fix the header row") from None
    index = {h: i for i, h in enumerate(header) if h}
    if len(index) != sum(1 for h in header if h):
        twice = next(h for h in header if h and header.count(h) > 1)
        raise InputError(f"{name}: line 1: column {shown(twice)} appears twice in the header; "
                         "rename or delete one")
    mapping: dict[str, str] = {}
    for fname in SWEEP_FIELDS:
        col = columns.get(fname, fname)
        if col in index:
            mapping[fname] = col
        elif fname in columns:
            raise InputError(f"{name}: no column {shown(col)} (mapped to field {fname!r} in "
                             f"`columns`); columns are "
                             f"{', '.join(shown(h) for h in header[:15])}")
        elif SWEEP_FIELDS[fname][0]:
            raise InputError(f"{name}: no column for required field {fname!r}; add it or map "
                             f"one to it in `columns` (columns are "
                             f"{', '.join(shown(h) for h in header[:15])})")
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            position = f"line {reader.line_num}"
            if len(row) != len(header):
                raise InputError(f"{name}: {position}: has {len(row)} cells but the header has "
                                 f"{len(header)}; fix the row or quote cells with commas")
            record = {f: row[index[c]].strip() for f, c in mapping.items()
                      if row[index[c]].strip() != ""}
            yield position, record
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num}: not valid CSV ({exc}); quote cells "
                         "that contain commas or quotes") from None


# --------------------------------------------------------------------------- YAML


def _yaml_records(text: str, name: str,
                  columns: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    from scaling_cli.read.yamlsafe import load_yaml_documents

    docs = [d for d in load_yaml_documents(text, name) if d is not None]
    if not docs:
        raise InputError(f"{name}: is empty; it should hold a `runs:` list")
    renamed = {col: fname for fname, col in columns.items()}
    count = 0
    for number, doc in enumerate(docs, start=1):
        if isinstance(doc, Mapping) and "runs" in doc:
            extra = sorted(str(k) for k in doc if k != "runs")
            if extra:
                raise InputError(f"{name}: document {number}: unexpected key {extra[0]!r} "
                                 "beside `runs:`; put run fields inside each entry")
            items = doc["runs"]
            if not isinstance(items, list):
                raise InputError(f"{name}: document {number}: `runs:` must be a list of runs "
                                 "(`- id: ...`)")
        else:
            items = doc if isinstance(doc, list) else [doc]
        for item in items:
            count += 1
            position = f"run {count}"
            if not isinstance(item, Mapping):
                raise InputError(f"{name}: {position}: is not a mapping; write `id: ..., "
                                 "params: ..., tokens: ..., lr: ..., batch: ..., loss: ...`")
            record: dict[str, Any] = {}
            raw_id = item.get(columns.get("id", "id"))
            where = f"{name}: {position}" + (
                f" (id {shown(str(raw_id).strip())})" if isinstance(raw_id, (str, int, float))
                and not isinstance(raw_id, bool) else "")
            for key, value in item.items():
                if key == "meta":
                    continue
                fname = renamed.get(str(key), str(key))
                if fname not in SWEEP_FIELDS:
                    hint = difflib.get_close_matches(str(key), list(SWEEP_FIELDS), n=1)
                    fix = f"did you mean {hint[0]!r}?" if hint else "put it under `meta:`"
                    raise InputError(f"{where}: unknown field {shown(key)}; {fix}")
                if value is not None:
                    record[fname] = value
            yield position, record


# --------------------------------------------------------------------------- validation


def _number(where: str, fname: str, value: object) -> float:
    _, low, high, what = SWEEP_FIELDS[fname]
    try:
        number = parse_number(value)
    except QuantityError as exc:
        raise InputError(f"{where}: field {fname!r}: {exc.problem}") from None
    if number < low or number > high:
        echo = shown(value) if isinstance(value, str) else format_count(number)
        raise InputError(f"{where}: field {fname!r}: {echo} is not a plausible {what} "
                         f"(expected {low:g} to {high:g}); check its units")
    return number


def _whole(where: str, fname: str, value: object) -> float:
    number = _number(where, fname, value)
    if number != int(number):
        raise InputError(f"{where}: field {fname!r}: {shown(value)} is not a whole number")
    return number


def _make_run(source: str, position: str, record: Mapping[str, Any], batch_unit: str,
              seq_len: float | None) -> SweepRun:
    where = f"{source}: {position}"
    raw_id = record.get("id")
    if raw_id is None or isinstance(raw_id, (bool, Mapping, list)) or not str(raw_id).strip():
        raise InputError(f"{where}: field 'id' is missing or empty; give each run a unique id")
    run_id = str(raw_id).strip()
    where = f"{where} (id {shown(run_id)})"
    for fname, (required, *_rest) in SWEEP_FIELDS.items():
        if required and fname not in record:
            raise InputError(f"{where}: field {fname!r} is missing; add it (or map a column "
                             "to it in `columns`)")
    values = {f: (_whole if f in _WHOLE else _number)(where, f, record[f])
              for f in SWEEP_FIELDS if f != "id" and f in record}
    batch = values["batch"]
    if batch_unit == "sequences":
        length = values.get("seq_len", seq_len)
        if length is None:
            raise UsageError(f"{where}: field 'batch' is in sequences but no sequence length "
                             "is known; give `seq_len` (e.g. 2048) or a seq_len field")
        batch *= length
    if "steps" in values:
        ratio = values["tokens"] / (batch * values["steps"])
        if abs(ratio - 1) > STEPS_TOLERANCE:
            raise InputError(f"{where}: field 'tokens': {format_count(values['tokens'])} is "
                             f"{ratio:.3g} times batch x steps ({format_count(batch)} tokens x "
                             f"{values['steps']:g}); check the batch unit and sequence length")
    return SweepRun(run_id=run_id, params=values["params"], tokens=values["tokens"],
                    lr=values["lr"], batch_tokens=batch, loss=values["loss"],
                    smoothed_loss=values.get("smoothed_loss"), source=source,
                    position=position)
