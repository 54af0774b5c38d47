"""``scaling report -o forecast.md``: the report as GitHub-flavoured Markdown, for pull
requests and wikis.

The same content as the HTML page (:func:`scaling_cli.render.report_sections.build_report`),
in the same order, with the same digits. Differences the format forces: an interval follows
its value in parentheses (``**3.61B** (3.27B – 4.35B)``), exponents are written ``N^0.3427``,
and plots are not inlined (Markdown hosts strip inline SVG): each is named and described,
and shown as an image only where the caller passes ``plot_links`` (plot name -> relative
URL of an image file it wrote next to the page).

Every string is escaped for Markdown: ASCII punctuation that could start markup, raw HTML
or GitHub's ``$...$`` math is backslash-escaped, ``|`` cannot end a table cell, and
newlines in user text become spaces. Code spans and fences are longer than any backtick run
inside them. Same inputs, same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from scaling_cli.render.report_content import (
    Block,
    Cell,
    Figure,
    Inline,
    ItemList,
    Line,
    Num,
    Paragraph,
    Preformatted,
    Report,
    ReportInputs,
    Section,
    Styled,
    Subheading,
    Table,
)
from scaling_cli.render.report_sections import build_report

__all__ = ["escape", "render_markdown"]

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$#!{}])")
_TICKS = re.compile(r"`+")


def escape(text: str) -> str:
    """``text`` as literal Markdown: markup characters backslash-escaped, one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def _fence(text: str, least: int) -> str:
    longest = max((len(m) for m in _TICKS.findall(text)), default=0)
    return "`" * max(least, longest + 1)


def _code(text: str, *, in_table: bool) -> str:
    text = " ".join(text.splitlines())
    fence = _fence(text, 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # GFM splits table rows on | before it reads code spans; there (only) \| is a literal |.
    return f"{fence}{pad}{text.replace('|', chr(92) + '|') if in_table else text}{pad}{fence}"


def _inline(part: Inline, in_table: bool) -> str:
    if isinstance(part, Num):
        return escape(part.text)
    if isinstance(part, Styled):
        inner = part.text.text if isinstance(part.text, Num) else part.text
        if part.style == "code":
            return _code(inner, in_table=in_table)
        if part.style == "sup":
            return "^" + escape(inner)
        return f"**{escape(inner)}**"
    return escape(part)


def _line(parts: Line, *, in_table: bool = False) -> str:
    return "".join(_inline(p, in_table) for p in parts).strip()


def _cell(cell: Cell, *, strong: bool) -> str:
    main = _line(cell.main, in_table=True)
    if strong and main and main != "—":
        main = f"**{main}**"
    if cell.notes:
        main += " (" + "; ".join(_line(n, in_table=True) for n in cell.notes) + ")"
    return main


def _table(t: Table) -> str:
    first = t.rows[0] if t.rows else ()
    align = ["---:" if i < len(first) and first[i].numeric else ":---"
             for i in range(len(t.columns))]
    lines = [f"**{_line(t.caption)}**", "",
             "| " + " | ".join(escape(c) for c in t.columns) + " |",
             "| " + " | ".join(align) + " |"]
    for row in t.rows:
        cells = [_cell(c, strong=(i == 0 or (t.emphasis and not c.secondary)))
                 for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    if t.notes:
        lines += [""] + [f"- {_line(n)}" for n in t.notes]
    return "\n".join(lines)


def _block(block: Block, links: Mapping[str, str]) -> str:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Paragraph):
        text = _line(block.parts)
        return f"_{text}_" if block.kind == "muted" else text
    if isinstance(block, ItemList):
        lead = "- **Warning:** " if block.kind == "warning" else "- "
        return "\n".join(lead + _line(i) for i in block.items)
    if isinstance(block, Subheading):
        return f"### {escape(block.text)}"
    if isinstance(block, Preformatted):
        fence = _fence(block.text, 3)
        return f"### {escape(block.label)}\n\n{fence}\n{block.text}\n{fence}"
    return _figure(block, links)


def _figure(fig: Figure, links: Mapping[str, str]) -> str:
    text = f"**{escape(fig.title)}.** {escape(fig.description)}"
    url = links.get(fig.name)
    if url is None:
        return text + " _(The plot is in the HTML version of this report.)_"
    if any(c in url for c in "<>\n\r"):
        raise ValueError(f"plot link {url!r}: a relative URL without <, > or newlines")
    return f"![{escape(fig.title)}](<{url}>)\n\n{text}"


def _section(section: Section, links: Mapping[str, str]) -> str:
    return "\n\n".join([f"## {escape(section.title)}",
                        *(_block(b, links) for b in section.blocks)])


def _page(report: Report, links: Mapping[str, str]) -> str:
    head = [f"# {escape(report.title)}", _line(report.subtitle)]
    if report.warnings:
        n = len(report.warnings)
        head.append(f"> **⚠ {n} warning{'s' if n != 1 else ''}:** read them "
                    "([Warnings](#warnings)) before using these numbers.")
    return "\n\n".join([*head, *(_section(s, links) for s in report.sections)]) + "\n"


def render_markdown(report: ReportInputs, *, plot_links: Mapping[str, str] | None = None
                    ) -> str:
    """The report as Markdown (same inputs, same bytes); ``plot_links`` maps a plot's name
    to the relative URL of its image file, for hosts that show images."""
    return _page(build_report(report), plot_links or {})
