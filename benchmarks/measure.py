"""Bookkeeping of the speed benchmark: repeated timings and the report of targets.

A :class:`Report` collects the headline figures (met, missed or not applicable), prints
each section as it goes and keeps a Markdown copy for ``--markdown``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Report", "Stat", "timed", "verdict"]


# --------------------------------------------------------------------------- bookkeeping


@dataclass(frozen=True)
class Stat:
    """Repeated measurements of one figure (seconds unless stated)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    def show(self, unit: str = "s", digits: int = 3) -> str:
        lo, hi = min(self.values), max(self.values)
        return (f"{self.median:.{digits}g} {unit} (min-max {lo:.{digits}g}-{hi:.{digits}g}, "
                f"n={len(self.values)})")


def timed(func: Callable[[], Any], repeat: int) -> tuple[Stat, Any]:
    values, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = func()
        values.append(time.perf_counter() - began)
    return Stat(tuple(values)), result


@dataclass
class Report:
    """Targets met or missed, and Markdown blocks for benchmarks/README.md."""

    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)

    def target(self, name: str, measured: str, goal: str, ok: bool | None) -> None:
        self.targets.append((name, measured, goal, ok))

    def section(self, title: str) -> None:
        print(f"\n== {title} ==", flush=True)
        self.markdown.append(f"\n### {title}\n")

    def say(self, text: str, *, md: bool = True) -> None:
        print(text, flush=True)
        if md:
            self.markdown.append(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        for row in (header, *rows):
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        self.markdown.append("| " + " | ".join(header) + " |")
        self.markdown.append("|" + "---|" * len(header))
        self.markdown.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
        self.markdown.append("")


def verdict(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[ok]
