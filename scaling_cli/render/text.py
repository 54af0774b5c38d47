"""Plain-text tables that never cut or wrap a value, with optional terminal styling.

A table is a title, column headers (several lines allowed) and rows of cells; a cell is one
or more lines, each with a style (``bold``, ``dim``, ``red``, ``green``, ``yellow``).
Columns are as wide as their widest line, two spaces apart, right-aligned unless declared
left, with a rule under the headers:

    Compute-optimal allocation (value, then 95% interval)
      budget   params        tokens
     (FLOPs)       N*            D*
    ───────────────────────────────
        1e24     122B         1.36T
           95.6B – 186B  896B – 1.74T

Nothing here knows the terminal's width: a table wider than the screen is left to the
terminal to scroll or soft-wrap, and output to a pipe or file is byte-for-byte the same
text, so a saved table keeps every digit (and, without styling, no escape codes).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Cell", "Line", "Style", "TextTable", "cell", "display_width"]

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33",
         "bold red": "1;31", "bold green": "1;32"}


@dataclass(frozen=True)
class Style:
    """Whether to emit ANSI styling (a terminal that allows colour, NO_COLOR unset)."""

    color: bool = False

    def apply(self, text: str, style: str) -> str:
        if not self.color or not style or not text:
            return text
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"


@dataclass(frozen=True)
class Line:
    text: str
    style: str = ""


Cell = tuple[Line, ...]


def cell(*lines: str | tuple[str, str] | None) -> Cell:
    """A cell from lines: plain text, or (text, style); None lines are skipped."""
    out = []
    for line in lines:
        if line is None:
            continue
        out.append(Line(line) if isinstance(line, str) else Line(*line))
    return tuple(out)


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (wide East Asian characters count twice)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else
               0 if unicodedata.combining(ch) else 1 for ch in text)


@dataclass
class TextTable:
    """Build with :meth:`add_row`, render with :meth:`render`."""

    title: str
    headers: Sequence[str]
    left: frozenset[int] = frozenset()  # column indices aligned left
    rows: list[Sequence[Cell]] = field(default_factory=list)
    caption: str = ""

    def add_row(self, *cells: Cell | str) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([cell(c) if isinstance(c, str) else c for c in cells])

    def render(self, style: Style) -> str:
        header_lines = [h.split("\n") for h in self.headers]
        depth = max(len(h) for h in header_lines)
        header_cells = [tuple(Line(t) for t in [""] * (depth - len(h)) + h)
                        for h in header_lines]
        widths = [max(display_width(line.text) for c in column for line in c) if column else 0
                  for column in zip(header_cells, *self.rows, strict=True)]

        def pad(text: str, j: int) -> str:
            gap = " " * (widths[j] - display_width(text))
            return text + gap if j in self.left else gap + text

        def block(cells: Sequence[Cell], line_style: str = "") -> list[str]:
            height = max((len(c) for c in cells), default=1)
            out = []
            for i in range(height):
                parts = []
                for j, c in enumerate(cells):
                    line = c[i] if i < len(c) else Line("")
                    parts.append(style.apply(pad(line.text, j), line.style or line_style))
                out.append("  ".join(parts).rstrip())
            return out

        total = sum(widths) + 2 * (len(widths) - 1)
        lines = [style.apply(self.title, "bold")] if self.title else []
        lines += block(header_cells)
        lines.append("─" * total)
        for row in self.rows:
            lines += block(row)
        if self.caption:
            lines.append(style.apply(self.caption, "dim"))
        return "\n".join(lines) + "\n"
