"""The vocabulary of ``scaling report``: its inputs, and content that is neither HTML nor
Markdown. :mod:`scaling_cli.render.report_sections` says what the page says in these terms;
:mod:`~scaling_cli.render.report_page` (HTML) and :mod:`~scaling_cli.render.report_markdown`
serialise it, so the two pages cannot disagree with each other.

Inputs (:class:`ReportInputs`) are data only: the ``scaling-cli/optimal`` document
(docs/json-schema.md), optionally the ``scaling-cli/fit`` document of the same fit, the
plots as SVG text, warnings and :class:`Provenance`. The renderers never modify them.

Numbers are shown with :mod:`scaling_cli.units`, in the digits of the table output
(:data:`FORMATS`), and each travels as a :class:`Num` holding the document value it was
formatted from. Budget tables are data-driven: a tuple of :class:`Column` (header, keys into
one budget entry, format), so showing a new document key is one line; a column is shown when
some budget has a value for it. Under an estimate's value come its statistical interval
(``low``/``high``), then its total interval (``total_low``/``total_high``), unlabelled as in
the table output (the caption says which is which); any further interval (a ``<name>_low`` /
``<name>_high`` pair, or a ``<name>: {"low", "high"}`` object) follows, labelled ``<name>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from scaling_cli.units import format_count, format_flops, format_number

__all__ = [
    "FORMATS",
    "MISSING",
    "Block",
    "Cell",
    "Column",
    "Figure",
    "Inline",
    "ItemList",
    "Line",
    "Num",
    "Paragraph",
    "Preformatted",
    "Provenance",
    "Report",
    "ReportInputs",
    "Section",
    "Styled",
    "Subheading",
    "Table",
    "budget_table",
    "dig",
    "interval_lines",
    "is_number",
    "num",
    "value_cell",
]

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Provenance:
    """How the page was made: enough to make it again."""

    command: str  # the command line as typed (shell-quoted)
    tool_version: str
    seed: int | None  # the bootstrap seed; None without replicates
    inputs_sha256: str | None  # canonical hash of the runs read (docs/json-schema.md)
    input_files: tuple[str, ...]
    generated: str | None = None  # a timestamp, only when the caller passes one
    plots_by: str | None = None  # what drew the plots ("matplotlib 3.10.1"): SVG bytes vary

    @classmethod
    def from_document(cls, optimal: Mapping[str, Any], *, command: str,
                      generated: str | None = None, plots_by: str | None = None
                      ) -> Provenance:
        """Everything but the command line (and the plotting library), read from the
        ``optimal`` document itself."""
        inputs = optimal.get("inputs") or {}
        boot = optimal.get("bootstrap") or {}
        return cls(command=command, tool_version=str(optimal.get("tool_version", "")),
                   seed=boot.get("seed"), inputs_sha256=inputs.get("sha256"),
                   input_files=tuple(str(s) for s in inputs.get("sources", ())),
                   generated=generated, plots_by=plots_by)


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page shows. The renderers read these and never modify them."""

    optimal: Mapping[str, Any]  # schema scaling-cli/optimal
    provenance: Provenance
    fit: Mapping[str, Any] | None = None  # schema scaling-cli/fit (replicates not needed)
    plots: Mapping[str, str] = field(default_factory=dict)  # name -> SVG text, in page order
    plots_missing: str | None = None  # why there are no plots, said in their place
    warnings: tuple[str, ...] = ()  # shown after the documents' own (duplicates once)
    title: str = "Compute-optimal training forecast"


# --------------------------------------------------------------------------- content model


@dataclass(frozen=True)
class Num:
    """A number as shown (``text``) and the document value it was formatted from."""

    text: str
    value: float


@dataclass(frozen=True)
class Styled:
    text: str | Num
    style: Literal["strong", "code", "sup"]


Inline = str | Num | Styled
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Cell:
    """A value (``main``) and, under it in smaller type, its intervals or notes."""

    main: Line
    notes: tuple[Line, ...] = ()
    numeric: bool = True  # right-aligned, tabular digits
    secondary: bool = False  # context for the row rather than the answer: smaller


@dataclass(frozen=True)
class Table:
    caption: Line
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[Line, ...] = ()  # under the table
    emphasis: bool = False  # the headline table: larger values
    long: bool = False  # may break across printed pages (row by row)


@dataclass(frozen=True)
class Paragraph:
    parts: Line
    kind: Literal["text", "lead", "muted"] = "text"


@dataclass(frozen=True)
class ItemList:
    items: tuple[Line, ...]
    kind: Literal["plain", "warning"] = "plain"


@dataclass(frozen=True)
class Subheading:
    text: str
    anchor: str


@dataclass(frozen=True)
class Preformatted:
    text: str
    label: str


@dataclass(frozen=True)
class Figure:
    name: str
    svg: str
    title: str
    description: str


Block = Paragraph | Table | ItemList | Subheading | Preformatted | Figure


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: Line
    warnings: tuple[str, ...]
    sections: tuple[Section, ...]


# --------------------------------------------------------------------------- numbers


def _extrapolation(x: float) -> str:
    # As the warnings write it ("9,975x the largest run"): whole numbers once it is large.
    return f"{x:,.0f}×" if x >= 100 else f"{format_number(x, digits=3)}×"


FORMATS: dict[str, Callable[[float], str]] = {
    "count": format_count,  # params, tokens, GPU-hours: 3.61B
    "flops": format_flops,  # 1e24
    "ratio": lambda x: format_number(x, digits=3),  # tokens/param, epochs, days
    "loss": lambda x: format_number(x, digits=4),  # nats/token, law coefficients
    "usd": lambda x: f"${format_count(x)}",
    "times": lambda x: f"×{format_number(x, digits=3)}",  # a high/low spread
    "extrapolation": _extrapolation,
    "percent": lambda x: f"{format_number(100 * x, digits=3)}%",
    "integer": lambda x: f"{x:,.0f}",
    "small": lambda x: format_number(x, digits=2),  # gradients, decrements: 7.2e-26
    "precise": lambda x: format_number(x, digits=3),
    "plain": lambda x: f"{x:g}",  # hardware settings, as the cost table writes them
    "flag": lambda x: "yes" if x else "no",  # booleans (never numbers: see _cell)
}
MISSING = "—"


def num(kind: str, x: float) -> Num:
    return Num(FORMATS[kind](x), float(x))


def is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def dig(entry: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in nested mappings; None where a key is missing."""
    value: Any = entry
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _pair(low: Any, high: Any, kind: str, label: str = "") -> Line | None:
    if not (is_number(low) and is_number(high)):
        return None
    prefix: Line = (f"{label.replace('_', ' ')}: ",) if label else ()
    return (*prefix, num(kind, low), " – ", num(kind, high))


def interval_lines(est: Mapping[str, Any], kind: str) -> tuple[Line, ...]:
    """The estimate's intervals in the order the table output writes them: the statistical
    interval (``low``-``high``, the bootstrap's), then the total one (``total_low``-
    ``total_high``), then any further named interval, labelled. Where there is a total but
    no statistical interval (no bootstrap), the first line is —: a line's place says which
    interval it is, as the caption says."""
    stat = _pair(est.get("low"), est.get("high"), kind)
    total = _pair(est.get("total_low"), est.get("total_high"), kind)
    lines: list[Line] = []
    if stat is not None or total is not None:
        lines.append(stat or (MISSING,))
    if total is not None:
        lines.append(total)
    for key, value in est.items():
        further = None
        if key.endswith("_low") and key != "total_low" and f"{key[:-4]}_high" in est:
            further = _pair(value, est[f"{key[:-4]}_high"], kind, key[:-4])
        elif isinstance(value, Mapping) and "low" in value and "high" in value:
            further = _pair(value["low"], value["high"], kind, key)
        if further is not None:
            lines.append(further)
    return tuple(lines)


def value_cell(value: Any, kind: str) -> Cell:
    """A document value as a cell: an estimate with its intervals, a number, a flag, or —."""
    if isinstance(value, Mapping) and "value" in value:
        if not is_number(value["value"]):
            return Cell((MISSING,))
        return Cell((num(kind, value["value"]),), interval_lines(value, kind))
    if isinstance(value, bool):
        return Cell(("yes" if value else "no",))
    if is_number(value):
        return Cell((num(kind, value),))
    return Cell((MISSING,))


# --------------------------------------------------------------------------- budget tables


@dataclass(frozen=True)
class Column:
    """One column of a budget table: header, keys into one budget entry, number format."""

    header: str
    path: tuple[str, ...]
    kind: str
    note: Callable[[float], str] | None = None  # a word under a plain number
    secondary: bool = False  # context rather than the answer (shown smaller)


def _has_value(value: Any) -> bool:
    if isinstance(value, Mapping) and "value" in value:
        return is_number(value["value"])
    return isinstance(value, bool) or is_number(value)


def _present(budgets: Sequence[Mapping[str, Any]], column: Column) -> bool:
    return any(_has_value(dig(b, column.path)) for b in budgets)


def _budget_cell(b: Mapping[str, Any]) -> Cell:
    given = b.get("budget_given") or {}
    notes: tuple[Line, ...] = ()
    if given.get("unit", "flops") != "flops" and given.get("text"):
        notes = ((f"= {given['text']}",),)
    return Cell((num("flops", b["compute_flops"]),), notes)


def budget_table(budgets: Sequence[Mapping[str, Any]], columns: Iterable[Column],
                 caption: Line, *, notes: tuple[Line, ...] = (),
                 emphasis: bool = False) -> Table | None:
    """One row per budget, one column per ``Column`` some budget has a value for."""
    shown = [c for c in columns if _present(budgets, c)]
    if not shown:
        return None
    rows = []
    for b in budgets:
        cells = [_budget_cell(b)]
        for c in shown:
            value = dig(b, c.path)
            cell = value_cell(value, c.kind)
            under = (c.note(value),) if c.note and is_number(value) else None
            cells.append(Cell(cell.main, (*cell.notes, under) if under else cell.notes,
                              secondary=c.secondary))
        rows.append(tuple(cells))
    return Table(caption, ("Budget (FLOPs)", *(c.header for c in shown)), tuple(rows),
                 notes, emphasis=emphasis)
