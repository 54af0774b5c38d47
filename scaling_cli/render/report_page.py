"""``scaling report -o forecast.html``: the forecast as one self-contained HTML page.

The page is :func:`scaling_cli.render.report_sections.build_report` serialised: the headline
answer first (N*, D*, loss at each budget, with intervals), the warnings in full, then cost,
near-optimal sizes, the fitted law, plots, fit health, provenance and the runs.

Self-contained and inert: inline CSS, no JavaScript, no fonts, images or links to fetch; a
Content-Security-Policy (``default-src 'none'``) makes the browser refuse anything else.
Every string from the documents is HTML-escaped (run ids and file names are user text). Every
number is a ``<data value="...">`` element whose ``value`` is the document's float, so a reader
(or a test) can check that the page shows the document's numbers.

Plots are matplotlib SVG, inlined (:func:`inline_svg`): XML prolog, DOCTYPE and metadata
dropped, every id prefixed per plot (two figures both define ``clip-path`` ids and glyphs),
the figure's CSS scoped to it, and ``<title>``/``<desc>`` added for screen readers. Anything
that could run or fetch (scripts, event handlers, external references) is refused.

Printing: each section starts a page, tables and figures are not split, header rows repeat,
and the page is light (``color-scheme: light``) on screen and paper alike. Same inputs, same
bytes: nothing here reads a clock or the environment.
"""

from __future__ import annotations

import html
import re
from xml.etree import ElementTree as ET

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
    Provenance,
    Report,
    ReportInputs,
    Section,
    Styled,
    Subheading,
    Table,
)
from scaling_cli.render.report_sections import build_report

__all__ = ["CSP", "CSS", "Provenance", "ReportInputs", "inline_svg", "render_html"]

SVG_NS = "http://www.w3.org/2000/svg"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --rule: #d0d7de;
  --accent: #0072b2; --warn: #d55e00; --tint: #f6f8fa; }
* { box-sizing: border-box; }
html { background: #fff; color: var(--ink);
  font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
body { margin: 0 auto; max-width: 76rem; padding: 2rem 2.5rem 4rem; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 1rem; margin-bottom: 1.5rem; }
h1 { font-size: 2.1rem; line-height: 1.2; margin: 0 0 .4rem; }
h2 { font-size: 1.5rem; margin: 2.5rem 0 .75rem; padding-bottom: .25rem;
  border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.subtitle { color: var(--muted); margin: 0; font-size: 1.05rem; }
.alert { margin: .75rem 0 0; font-weight: 600; }
.alert a { color: var(--warn); }
nav ol { list-style: none; padding: 0; margin: .75rem 0 0; display: flex; flex-wrap: wrap;
  gap: .25rem 1.25rem; font-size: .95rem; }
nav a { color: var(--accent); }
table { border-collapse: collapse; min-width: 60%; margin: .5rem 0 1.25rem;
  font-variant-numeric: tabular-nums; }
table.answer { width: 100%; }
table.long { font-size: .9rem; }
table.long th, table.long td { padding: .2rem .7rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 .5rem; }
th, td { padding: .45rem .7rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); font-size: .85rem; font-weight: 600;
  color: var(--muted); text-align: right; vertical-align: bottom; }
thead th.text, td.text, th.text { text-align: left; }
td.num, th.num { text-align: right; }
tbody .num { white-space: nowrap; }
tbody th { font-weight: 600; }
.v { display: block; }
.ci { display: block; color: var(--muted); font-size: .85em; }
table.answer .v { font-size: 1.4rem; font-weight: 700; }
table.answer tbody th .v { font-size: 1.4rem; font-weight: 600; }
table.answer td.secondary .v { font-size: 1.1rem; font-weight: 400; }
table.answer .ci { font-size: .95rem; }
.notes { margin: -.75rem 0 1.25rem; padding-left: 1.2rem; color: var(--muted);
  font-size: .9rem; }
.lead { font-size: 1.2rem; }
.muted { color: var(--muted); }
ul.warnings { list-style: none; margin: .5rem 0 1rem; padding: 0; }
ul.warnings li { border: 1px solid var(--warn); border-left: .4rem solid var(--warn);
  padding: .5rem .8rem; margin: 0 0 .5rem; }
ul.warnings b { color: var(--warn); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
  monospace; font-size: .9em; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; background: var(--tint); border: 1px solid var(--rule);
  padding: .6rem .8rem; margin: .25rem 0 1rem; }
figure { margin: 0 0 2rem; }
figcaption { font-weight: 600; margin-bottom: .25rem; }
figure p { color: var(--muted); margin: .25rem 0 0; font-size: .9rem; }
svg.plot { display: block; width: 100%; height: auto; }
.wide { overflow-x: auto; }
@media screen and (max-width: 60rem) {
  body { padding: 1rem; }
  th, td { padding: .35rem .4rem; }
  table.answer .v, table.answer tbody th .v { font-size: 1.15rem; }
}
@media print {
  html { font-size: 10.5pt; }
  body { max-width: none; padding: 0; }
  nav { display: none; }
  section { break-before: page; }
  section:first-of-type { break-before: auto; }
  h2, h3, caption, figcaption { break-after: avoid; }
  table, figure, ul.warnings li, pre { break-inside: avoid; }
  table.long { break-inside: auto; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  pre { background: none; }
  .wide { overflow: visible; }
  a { color: inherit; text-decoration: none; }
  @page { margin: 14mm; }
}
""".strip()

_NAME_RE = re.compile(r"[^a-z0-9]+")
_URL_RE = re.compile(r"url\(\s*(['\"]?)#([^)'\"]+)\1\s*\)")
_FORBIDDEN = {"script", "foreignObject", "iframe", "object", "embed", "audio", "video"}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _inline(part: Inline) -> str:
    if isinstance(part, Num):
        return f'<data value="{part.value!r}">{_e(part.text)}</data>'
    if isinstance(part, Styled):
        return f"<{part.style}>{_inline(part.text)}</{part.style}>"  # strong, code, sup
    return _e(part)


def _line(parts: Line) -> str:
    return "".join(_inline(p) for p in parts)


def _cell(cell: Cell, tag: str) -> str:
    kind = ("num" if cell.numeric else "text") + (" secondary" if cell.secondary else "")
    scope = ' scope="row"' if tag == "th" else ""
    notes = "".join(f'<span class="ci">{_line(n)}</span>' for n in cell.notes)
    body = f'<span class="v">{_line(cell.main)}</span>{notes}'
    return f'<{tag}{scope} class="{kind}">{body}</{tag}>'


def _table(t: Table) -> str:
    classes = " ".join(c for c, on in (("answer", t.emphasis), ("long", t.long)) if on)
    first = t.rows[0] if t.rows else ()
    heads = "".join(
        f'<th scope="col" class="{"num" if i < len(first) and first[i].numeric else "text"}">'
        f"{_e(h)}</th>" for i, h in enumerate(t.columns))
    rows = "\n".join("<tr>" + "".join(_cell(c, "th" if i == 0 else "td")
                                      for i, c in enumerate(row)) + "</tr>" for row in t.rows)
    attrs = f' class="{classes}"' if classes else ""
    out = (f'<div class="wide"><table{attrs}>'
           f"<caption>{_line(t.caption)}</caption>\n<thead><tr>{heads}</tr></thead>\n"
           f"<tbody>\n{rows}\n</tbody></table></div>")
    if t.notes:
        out += '\n<ul class="notes">' + "".join(f"<li>{_line(n)}</li>" for n in t.notes) + \
            "</ul>"
    return out


def _block(block: Block, index: int) -> str:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Paragraph):
        kind = "" if block.kind == "text" else f' class="{block.kind}"'
        return f"<p{kind}>{_line(block.parts)}</p>"
    if isinstance(block, ItemList):
        if block.kind == "warning":
            items = "".join(f"<li><b>Warning:</b> {_line(i)}</li>" for i in block.items)
            return f'<ul class="warnings">{items}</ul>'
        return "<ul>" + "".join(f"<li>{_line(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Subheading):
        return f'<h3 id="{_e(block.anchor)}">{_e(block.text)}</h3>'
    if isinstance(block, Preformatted):
        return f"<h3>{_e(block.label)}</h3>\n<pre><code>{_e(block.text)}</code></pre>"
    return _figure(block, index)


def _figure(fig: Figure, index: int) -> str:
    prefix = f"plot{index}-{_NAME_RE.sub('-', fig.name.lower()).strip('-') or 'figure'}-"
    svg = inline_svg(fig.svg, prefix=prefix, title=fig.title, description=fig.description)
    return (f'<figure aria-labelledby="{prefix}caption">'
            f'<figcaption id="{prefix}caption">{_e(fig.title)}</figcaption>\n{svg}\n'
            f"<p>{_e(fig.description)}</p></figure>")


def _section(section: Section, first_figure: int) -> str:
    blocks = []
    for block in section.blocks:
        blocks.append(_block(block, first_figure))
        first_figure += isinstance(block, Figure)
    return (f'<section id="{_e(section.anchor)}" aria-labelledby="{_e(section.anchor)}-h">\n'
            f'<h2 id="{_e(section.anchor)}-h">{_e(section.title)}</h2>\n'
            + "\n".join(blocks) + "\n</section>")


def _page(report: Report) -> str:
    nav = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.title)}</a></li>'
                  for s in report.sections)
    alert = ""
    if report.warnings:
        n = len(report.warnings)
        alert = (f'<p class="alert">⚠ <a href="#warnings"><data value="{n}">{n}</data> '
                 f"warning{'s' if n != 1 else ''}</a>: read before using these numbers.</p>")
    sections, figures = [], 0
    for s in report.sections:
        sections.append(_section(s, figures))
        figures += sum(isinstance(b, Figure) for b in s.blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f"<title>{_e(report.title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{_e(report.title)}</h1>\n<p class=\"subtitle\">{_line(report.subtitle)}"
        f"</p>\n{alert}\n<nav aria-label=\"Sections\"><ol>{nav}</ol></nav>\n</header>\n<main>\n"
        + "\n".join(sections) + "\n</main>\n</body>\n</html>\n")


def render_html(report: ReportInputs) -> str:
    """The self-contained HTML page (same inputs, same bytes)."""
    return _page(build_report(report))


# --------------------------------------------------------------------------- SVG


def _refuse(problem: str) -> ValueError:
    return ValueError(f"plot SVG: {problem}; the report inlines matplotlib SVG only")


def _scope_css(css: str, root_id: str) -> str:
    """Prefix every selector of flat CSS (matplotlib's ``*{...}``) with the plot's id."""
    if "@" in css:
        raise _refuse("its CSS has an at-rule")

    def scope(match: re.Match[str]) -> str:
        selectors = (s.strip() for s in match.group(1).split(","))
        return ", ".join(f"#{root_id} {s}" for s in selectors if s) + " {"
    return re.sub(r"([^{}]+)\{", scope, css)


def inline_svg(svg: str, *, prefix: str, title: str, description: str) -> str:
    """matplotlib's SVG text as an ``<svg>`` element safe to place in an HTML page.

    Ids become ``prefix + id`` (and every ``#id`` / ``url(#id)`` reference with them; a
    repeated id, as matplotlib writes a gid shared by several artists, is numbered), the
    root gets ``role="img"`` with a ``<title>`` and ``<desc>``, its fixed width and height
    give way to the viewBox (CSS sizes it), and metadata, prolog and DOCTYPE are dropped.
    Raises ValueError for SVG that could run code or fetch anything.
    """
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise _refuse(f"not well-formed XML ({exc})") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise _refuse(f"the root element is {root.tag!r}, not svg")
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    seen: dict[str, int] = {}

    def ref(value: str) -> str:
        value = _URL_RE.sub(lambda m: f"url(#{prefix}{m.group(2)})"
                            if m.group(2) in ids else m.group(0), value)
        if "url(" in value.replace(f"url(#{prefix}", ""):
            raise _refuse(f"a reference outside the figure: {value[:60]!r}")
        return value

    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == f"{{{SVG_NS}}}metadata":
                parent.remove(child)
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        if local in _FORBIDDEN or not el.tag.startswith(f"{{{SVG_NS}}}"):
            raise _refuse(f"it has a <{local}> element")
        for name, value in list(el.attrib.items()):
            local_name = name.rsplit("}", 1)[-1]
            if local_name.lower().startswith("on"):
                raise _refuse(f"it has an event handler ({local_name})")
            if local_name == "href":
                target = value[1:]
                if value.startswith("#") and target in ids:
                    value = f"#{prefix}{target}"
                elif not value.startswith("data:image/"):
                    raise _refuse(f"it links to {value[:60]!r}")
            elif local_name == "id":
                # matplotlib writes a gid shared by several artists as repeated ids; a
                # reference finds the first, so numbering the later ones changes nothing.
                seen[value] = seen.get(value, 0) + 1
                value = f"{prefix}{value}" + (f"-{seen[value]}" if seen[value] > 1 else "")
            elif local_name in {"d", "points"}:
                value = " ".join(value.split())  # newlines would be escaped as &#10;
            else:
                value = ref(value)
            del el.attrib[name]
            el.set("href" if local_name == "href" else name, value)  # SVG 2: href, no xlink
        el.tag = local  # plain names: the HTML parser puts <svg> content in the SVG namespace
        if local == "style" and el.text:
            el.text = ref(_scope_css(el.text, f"{prefix}svg"))
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("xmlns", SVG_NS)
    root.set("id", f"{prefix}svg")
    root.set("class", "plot")
    root.set("role", "img")
    root.set("aria-labelledby", f"{prefix}title {prefix}desc")
    head_title = ET.Element("title", {"id": f"{prefix}title"})
    head_title.text = title
    head_desc = ET.Element("desc", {"id": f"{prefix}desc"})
    head_desc.text = description
    root.insert(0, head_desc)
    root.insert(0, head_title)
    return ET.tostring(root, encoding="unicode")
