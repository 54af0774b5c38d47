"""`scaling report` (HTML and Markdown): the numbers on the page are `scaling optimal -f
json`'s for the same options, at the table output's digits; warnings appear once each, in
order; user text is inert; nothing is fetched; the same inputs give the same bytes; -o
follows the rules of every output.

The command's pages are checked first; then the renderers, fed documents the CLI made. HTML
is read back with the stdlib's html.parser, Markdown by splitting its tables.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app
from scaling_cli.errors import DependencyError, InputError
from scaling_cli.render.report_content import Column, Provenance, ReportInputs, budget_table
from scaling_cli.render.report_markdown import escape, render_markdown
from scaling_cli.render.report_page import inline_svg, render_html
from scaling_cli.render.report_sections import build_report
from scaling_cli.units import format_count, format_flops, format_number

from .conftest import ROOT

SAMPLE = str(ROOT / "sample_runs")
FAST = ["--bootstrap", "200"]
BUDGETS = ["-b", "1e21..1e25", "--gpu", "h100", "--gpus", "1024"]
COMMAND = "scaling report sample_runs/ -b 1e21..1e25 --gpu h100 --gpus 1024 -o forecast.html"
HOSTILE = "<script>alert(1)</script> | `x` $y$ & \"q\" *em* [l](http://e.x)\nnext"
NO_MATPLOTLIB = ("plots need matplotlib, an optional extra: pip install 'scaling-cli[plot]' "
                 "(in a source checkout: pip install -e '.[plot]')")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def invoke(*args: str) -> Ran:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def run(*args: str) -> str:
    ran = invoke(*args)
    assert ran.code == 0, ran.stderr
    return ran.stdout


def fails(*args: str) -> str:
    """A refused command: exit 2, nothing on stdout, one `Error:` line (returned)."""
    ran = invoke(*args)
    assert (ran.code, ran.stdout) == (2, ""), ran.stderr
    assert ran.stderr.startswith("Error: ") and ran.stderr.count("\n") == 1, ran.stderr
    return ran.stderr[len("Error: "):-1]


def cli_json(*args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(*args, "--format", "json"))
    return doc


def optimal_document() -> dict[str, Any]:
    return cli_json("optimal", SAMPLE, *BUDGETS, *FAST)


def fit_document() -> dict[str, Any]:
    doc = cli_json("fit", SAMPLE, *FAST)
    doc.pop("replicates")
    return doc


def plot_svgs(out: Path) -> dict[str, str]:
    """Two real matplotlib SVGs: they share ids (figure_1, glyphs), as any two do."""
    pytest.importorskip("matplotlib")
    svgs = {}
    for kind in ("allocation", "isoflop"):
        path = out / f"{kind}.svg"
        run("plot", SAMPLE, "-b", "1e24", "--kind", kind, "-o", str(path), *FAST)
        svgs[kind] = path.read_text()
    return svgs


@pytest.fixture(scope="module")
def optimal() -> dict[str, Any]:
    return optimal_document()


@pytest.fixture(scope="module")
def fit() -> dict[str, Any]:
    return fit_document()


@pytest.fixture(scope="module")
def plots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return plot_svgs(tmp_path_factory.mktemp("plots"))


def make_inputs(optimal: dict[str, Any], fit: dict[str, Any] | None = None,
                plots: dict[str, str] | None = None, **kw: Any) -> ReportInputs:
    return ReportInputs(optimal=optimal, fit=fit, plots=plots or {},
                        provenance=Provenance.from_document(optimal, command=COMMAND), **kw)


# --------------------------------------------------------------------------- reading pages


class Page(HTMLParser):
    """The HTML read back: tables (caption, headers, cells as lines and as the <data>
    values in them), <data> elements, the visible text outside them, every tag's
    attributes, every id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.data: list[tuple[str, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.outside: list[str] = []  # visible text, <data> contents left out
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._values: list[float] = []
        self._data: tuple[str, list[str]] | None = None
        self._caption: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag in {"br", "meta", "link", "img", "input", "hr", "path", "use", "rect"}:
            return  # void (or self-closed SVG) elements
        self._stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": "", "headers": [], "rows": [], "values": [],
                                "scopes": []})
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and "tbody" in self._stack:
            self.tables[-1]["rows"].append([])
            self.tables[-1]["values"].append([])
        elif tag in {"td", "th"}:
            self._cell, self._values = [""], []
            if "tbody" in self._stack:
                self.tables[-1]["scopes"].append((tag, a.get("scope")))
        elif tag == "span" and a.get("class") == "ci" and self._cell is not None:
            self._cell.append("")
        elif tag == "data":
            self._data = (str(a["value"]), [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(str(a["id"]))

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self._stack.pop() != tag:
            pass
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = "".join(self._caption)
            self._caption = None
        elif tag in {"td", "th"} and self._cell is not None:
            lines = [line.strip() for line in self._cell]
            if "thead" in self._stack:
                self.tables[-1]["headers"].append(lines[0])
            else:
                self.tables[-1]["rows"][-1].append(lines)
                self.tables[-1]["values"][-1].append(self._values)
            self._cell = None
        elif tag == "data" and self._data is not None:
            self.data.append((self._data[0], "".join(self._data[1])))
            if self._cell is not None:
                self._values.append(float(self._data[0]))
            self._data = None

    def handle_data(self, text: str) -> None:
        if self._cell is not None:
            self._cell[-1] += text
        if self._caption is not None:
            self._caption.append(text)
        if self._data is not None:
            self._data[1].append(text)
        elif not {"style", "svg", "title"} & set(self._stack):
            self.outside.append(text)

    def table(self, caption_start: str) -> dict[str, Any]:
        found = [t for t in self.tables if t["caption"].startswith(caption_start)]
        assert len(found) == 1, [t["caption"] for t in self.tables]
        return found[0]

    def warnings(self) -> list[str]:
        """The warnings listed on the page, in order."""
        text = "".join(self.outside)
        start = text.index("Warnings")
        return [w.strip() for w in re.findall(r"Warning: (.*?)(?=Warning: |$)",
                                              text[start:text.index("Plan details", start)],
                                              flags=re.S)]


def md_tables(text: str) -> dict[str, dict[str, Any]]:
    """Markdown tables by caption (the bold line above each): headers and cells."""
    tables, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and i >= 2 and not lines[i - 1].startswith("|"):
            caption = lines[i - 2].strip("*")
            block = [row for row in _takewhile(lines[i:])]
            split = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in block]
            tables[caption] = {"headers": split[0], "rows": split[2:]}
    return tables


def _takewhile(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("|"):
            return
        yield line


# --------------------------------------------------------------------------- numbers


def numbers_in(*docs: Any) -> set[float]:
    """Every number in the documents, and every list's length (counts are shown too)."""
    found: set[float] = set()

    def walk(x: Any) -> None:
        if isinstance(x, bool) or x is None or isinstance(x, str):
            return
        if isinstance(x, (int, float)):
            found.add(float(x))
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            found.add(float(len(x)))
            for v in x:
                walk(v)
    for d in docs:
        walk(d)
    return found


def strings_in(*docs: Any) -> set[str]:
    found: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str):
            found.add(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                found.add(str(k))
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
    for d in docs:
        walk(d)
    return found


_SHOWN = re.compile(r"(?<![\w.])(-?)[$×]?(\d[\d,]*(?:\.\d+)?)(?:e(-?\d+))?([kMBT]?)(%?)×?")
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def shown_value(text: str) -> tuple[float, float]:
    """A number as printed -> (value, half a unit in its last printed digit)."""
    m = _SHOWN.fullmatch(text.strip())
    assert m is not None, f"not a printed number: {text!r}"
    sign, digits, exponent, suffix, percent = m.groups()
    scale = _SCALE[suffix] * (10.0 ** int(exponent) if exponent else 1.0)
    scale /= 100 if percent else 1
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    value = float(digits.replace(",", "")) * scale * (-1 if sign else 1)
    return value, 0.5 * 10.0 ** -decimals * scale


def agrees(text: str, value: float) -> bool:
    shown, half_unit = shown_value(text)
    return abs(shown - value) <= half_unit * (1 + 1e-9)


# The renderer's own words that contain digits (citations, units).
STATIC_DIGITS = ("SHA-256", "bf16", "Hoffmann et al. 2022", "Approach 3", "Muennighoff et al. 2023")


def without_known_text(text: str, *docs: Any, extra: tuple[str, ...] = ()) -> str:
    known = strings_in(*docs) | set(extra) | set(STATIC_DIGITS)
    for s in sorted((s for s in known if re.search(r"\d", s)), key=len, reverse=True):
        text = text.replace(s, " ")
    return text


# --------------------------------------------------------------------------- expected cells


def est_lines(est: dict[str, Any], fmt: Any) -> list[str]:
    """An estimate's cell as the table output writes it: the value, then the statistical
    interval, then the total interval."""
    lines = [fmt(est["value"])]
    if est["low"] is not None:
        lines.append(f"{fmt(est['low'])} – {fmt(est['high'])}")
    if est.get("total_low") is not None:
        lines.append(f"{fmt(est['total_low'])} – {fmt(est['total_high'])}")
    return lines


def est_values(est: dict[str, Any]) -> list[float]:
    keys = ("value", "low", "high", "total_low", "total_high")
    return [float(est[k]) for k in keys if est.get(k) is not None]


ANSWER = {  # header -> (key, the table output's format)
    "Model size N* (parameters)": ("params", format_count),
    "Training tokens D*": ("tokens", format_count),
    "Loss (nats/token)": ("loss", lambda x: format_number(x, digits=4)),
    "Tokens per parameter": ("tokens_per_param", lambda x: format_number(x, digits=3)),
}


def assert_answer_table(page: Page, optimal: dict[str, Any]) -> None:
    """The headline table holds each budget's N*, D*, loss and D/N: the value, the
    statistical interval and the total interval, in the table output's digits, from exactly
    the document's numbers; and how far the budget is beyond the runs."""
    table = page.table("Compute-optimal model size N*")
    assert table["caption"].endswith(
        "(value, then 95% statistical interval, then 95% total interval)")
    assert table["headers"][0] == "Budget (FLOPs)"
    assert len(table["rows"]) == len(optimal["budgets"]) == 5
    for row, values, budget in zip(table["rows"], table["values"], optimal["budgets"],
                                   strict=True):
        assert row[0] == [format_flops(budget["compute_flops"])]
        cells = dict(zip(table["headers"], row, strict=True))
        numbers = dict(zip(table["headers"], values, strict=True))
        for header, (key, fmt) in ANSWER.items():
            assert cells[header] == est_lines(budget[key], fmt), header
            assert len(cells[header]) == 3  # value, statistical and total interval
            assert numbers[header] == est_values(budget[key]), header  # exactly, not rounded
        assert agrees(cells["Compute vs the largest run"][0], budget["extrapolation"])


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class Made:
    """`scaling report` run on sample_runs/, and `scaling optimal -f json` for the same
    options."""

    html: str
    md: str
    stderr: str
    optimal: dict[str, Any]
    fit: dict[str, Any]
    folder: Path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    pytest.importorskip("matplotlib")
    folder = tmp_path_factory.mktemp("made")
    ran = invoke("report", SAMPLE, *BUDGETS, *FAST, "-o", str(folder / "forecast.html"))
    assert (ran.code, ran.stdout) == (0, ""), ran.stderr
    run("report", SAMPLE, *BUDGETS, *FAST, "-o", str(folder / "forecast.md"))
    return Made((folder / "forecast.html").read_text(encoding="utf-8"),
                (folder / "forecast.md").read_text(encoding="utf-8"), ran.stderr,
                optimal_document(), fit_document(), folder)


def test_report_shows_the_numbers_of_optimal_json(made: Made) -> None:
    page = Page(made.html)
    assert_answer_table(page, made.optimal)
    known = numbers_in(made.optimal, made.fit)
    assert len(page.data) > 300
    for value, text in page.data:  # every number on the page is one of the JSON's, as shown
        assert float(value) in known, (value, text)
        assert agrees(text, float(value)), (value, text)
    cost = page.table("Cost on 1,024 × NVIDIA H100")
    for values, budget in zip(cost["values"], made.optimal["budgets"], strict=True):
        assert values[1:] == [[budget["cost"][k]] for k in ("gpu_hours", "days", "usd")]
    law = page.table("Fitted parameters of L(N, D)")
    for values, (name, est) in zip(law["values"], made.optimal["law"].items(), strict=True):
        assert values[1:3] == [[est["value"]], [est["low"], est["high"]]], name


def test_report_page_has_every_section_and_four_plots(made: Made) -> None:
    assert re.findall(r'<section id="([^"]+)"', made.html) == [
        "forecast", "details", "law", "plots", "health", "provenance", "runs"]
    svgs = re.findall(r'<svg [^>]*id="(plot\d-[a-z]+)-svg"', made.html)
    assert svgs == ["plot0-isoflop", "plot1-allocation", "plot2-residuals", "plot3-bootstrap"]
    page = Page(made.html)
    rows = {row[0][0]: row[1][0] for row in page.table("How this page was made")["rows"]}
    import matplotlib

    assert rows["Plots drawn with"] == f"matplotlib {matplotlib.__version__}"
    assert rows["Inputs' SHA-256"] == made.optimal["inputs"]["sha256"]
    assert rows["Seed"] == "0" and rows["Tool version"] == made.optimal["tool_version"]


def test_report_lists_every_warning_once_in_order(made: Made) -> None:
    warnings = made.optimal["warnings"]
    assert len(warnings) == len(set(warnings)) == 5
    page = Page(made.html)
    assert page.warnings() == warnings
    assert f'<data value="{len(warnings)}">{len(warnings)}</data> warnings' in made.html
    assert made.md.count("- **Warning:** ") == len(warnings)
    # stderr: the same warnings, once each, in order, then what was written
    assert made.stderr.splitlines() == [*(f"Warning: {w}" for w in warnings),
                                        f"wrote {made.folder / 'forecast.html'} (html report, "
                                        "5 budgets)"]


def test_markdown_report_has_the_same_content(made: Made) -> None:
    html_page = Page(made.html)
    md = made.md.replace("\\", "")
    for _, text in html_page.data:
        assert text in md, text
    html_sections = re.findall(r'<h2 id="[^"]+">([^<]+)</h2>', made.html)
    assert re.findall(r"^## (.+)$", made.md, flags=re.M) == html_sections
    for w in made.optimal["warnings"]:
        assert f"- **Warning:** {escape(w)}" in made.md
    assert "<svg" not in made.md
    assert ("No plots: Markdown hosts strip inline SVG; the HTML version of this report "
            "(-o forecast.html) has them.") in md


def test_the_recorded_command_remakes_the_page_byte_for_byte(made: Made) -> None:
    """The page records the command that remakes it on standard output; run again (a second
    fit, same seed), it gives the same bytes."""
    recorded = re.search(r"<pre><code>(.*?)</code></pre>", made.html)
    assert recorded is not None
    words = shlex.split(html.unescape(recorded.group(1)))
    assert words == ["scaling", "report", SAMPLE, "--budget", "1e21..1e25", "--gpu", "h100",
                     "--gpus", "1024", "--bootstrap", "200", "--format", "html"]
    assert run(*words[1:]) == made.html


def test_the_recorded_command_is_the_options_given_in_a_fixed_order() -> None:
    """Options given, in the command's own order (so typing them in another order gives the
    same page); flags as flags; -q and --workers (which change nothing on it) left out."""
    md = run("report", "--fix", "E=1.8", "--tie-exponents", SAMPLE, "-q", "--workers", "1",
             "-b", "1e24", "--title", "Q3 plan: 7B? `yes`", "--bootstrap", "0", "-b", "1e23")
    fenced = re.findall(r"^```\n(.*)\n```$", md, flags=re.M)
    assert [shlex.split(line) for line in fenced] == [[
        "scaling", "report", SAMPLE, "--budget", "1e24", "--budget", "1e23", "--bootstrap",
        "0", "--fix", "E=1.8", "--tie-exponents", "--title", "Q3 plan: 7B? `yes`", "--format",
        "markdown"]]
    assert md.startswith("# Q3 plan: 7B? \\`yes\\`\n")
    assert run(*shlex.split(fenced[0])[1:]) == md


def test_standard_output_gets_markdown_unless_format_html(made: Made) -> None:
    ran = invoke("report", SAMPLE, *BUDGETS, *FAST, "-q")
    assert ran.code == 0 and ran.stderr == ""  # -q: no warnings on stderr
    assert ran.stdout.startswith("# Compute-optimal training forecast\n")
    # the page records --format markdown, as the file's does: the same bytes
    assert ran.stdout == made.md
    assert run("report", SAMPLE, *BUDGETS, *FAST, "-o", "-", "-q") == made.md


def test_published_law_report_and_a_title_that_is_text() -> None:
    pytest.importorskip("matplotlib")
    text = run("report", "--law", "epoch-2024", "-b", "1e24", "--title", HOSTILE,
               "--format", "html")
    page = Page(text)
    assert [tag for tag, _ in page.tags].count("script") == 0
    assert re.findall(r"<title>(.*?)</title>\n", text, flags=re.S) == [
        "&lt;script&gt;alert(1)&lt;/script&gt; | `x` $y$ &amp; &quot;q&quot; *em* "
        "[l](http://e.x)\nnext"]
    # no runs and no replicates: the two plots a published law can fill
    assert re.findall(r'<svg [^>]*id="(plot\d-[a-z]+)-svg"', text) == [
        "plot0-isoflop", "plot1-allocation"]
    assert "Runs behind the fit" not in text
    assert re.findall(r"<h1>(.*?)</h1>", text, flags=re.S) == [html.escape(HOSTILE)]
    doc = cli_json("optimal", "--law", "epoch-2024", "-b", "1e24")
    assert {float(v) for v, _ in page.data} <= numbers_in(doc)


def test_without_matplotlib_the_page_says_why(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    from scaling_cli.render import plot

    def missing() -> None:
        raise DependencyError(plot.MISSING_MATPLOTLIB)

    monkeypatch.setattr(plot, "require_matplotlib", missing)
    out = tmp_path / "forecast.html"
    ran = invoke("report", "--law", "epoch-2024", "-b", "1e24", "-o", str(out))
    assert ran.code == 0, ran.stderr
    text = out.read_text()
    assert "<svg" not in text and "Plots drawn with" not in text
    assert f"No plots: {NO_MATPLOTLIB}" in "".join(Page(text).outside)
    assert ran.stderr.splitlines()[-1] == f"Note: the page has no plots: {NO_MATPLOTLIB}"


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "forecast.txt"], "--output: forecast.txt: name a .html or .md file, or choose the "
                             "page with --format html or --format markdown"),
    (["-o", "forecast.md", "--format", "html"], "--output: forecast.md names a markdown file "
                                                "but --format is html: drop --format, or "
                                                "rename the file"),
    (["-o", "f.html", "--band", "x"],
     "--band: 'x' is not a number; write e.g. 7e9, 7B, 1.4T or 3e23"),
], ids=["extension", "clash", "band"])
def test_refused_before_anything_is_written(tmp_path: Path, args: list[str], message: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert fails("report", SAMPLE, "-b", "1e24", *args).startswith(message)
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    source = Path(SAMPLE) / "isoflop_1e18.yaml"
    victim = runs / "isoflop_1e18.yaml"
    victim.write_bytes(source.read_bytes())
    message = fails("report", str(runs), "-b", "1e20", "-o", str(victim), "--format", "html")
    assert message == (f"--output: {victim} is also an input ({victim}); writing it would "
                       "destroy that input: choose another output path")
    assert victim.read_bytes() == source.read_bytes()


def test_an_error_after_the_checks_leaves_the_old_page(tmp_path: Path) -> None:
    old = tmp_path / "forecast.html"
    old.write_text("the old page\n")
    broken = tmp_path / "fit.json"
    broken.write_text("{not json")
    message = fails("report", "--fit", str(broken), "-b", "1e24", "-o", str(old))
    assert message.startswith(f"{broken}")
    assert old.read_text() == "the old page\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json", "forecast.html"]


def test_the_command_is_documented() -> None:
    help_text = run("report", "--help")
    assert "Example: scaling report sample_runs/ -b 1e22..1e25" in help_text
    for option in ("--output", "--format", "--title", "--unique-tokens", "--gpu", "--law"):
        assert option in help_text, option
    docs = (ROOT / "docs" / "report.md").read_text()
    assert "scaling report" in docs and "--format html" in docs


# --------------------------------------------------------------------------- the renderers


def test_headline_table_shows_each_budgets_answer_with_its_intervals(
        optimal: dict[str, Any], fit: dict[str, Any]) -> None:
    assert_answer_table(Page(render_html(make_inputs(optimal, fit))), optimal)


def test_page_shows_the_digits_of_the_table_output(optimal: dict[str, Any]) -> None:
    """The same numbers, the same digits: every headline value and both its intervals, and
    every cost, appear in `scaling optimal`'s table for the same runs, budgets and seed."""
    text = run("optimal", SAMPLE, *BUDGETS, *FAST)
    assert "(value, then 95% statistical interval, then 95% total interval)" in text
    page = Page(render_html(make_inputs(optimal)))
    answer = page.table("Compute-optimal model size N*")
    for row in answer["rows"]:
        for lines in row[1:5]:
            # value, statistical, total: one above the other, in the table output too
            assert re.search(r".*\n.*".join(re.escape(line) for line in lines), text), lines
    cost = page.table("Cost on 1,024 × NVIDIA H100")
    assert cost["headers"] == ["Budget (FLOPs)", "GPU-hours", "Days", "Dollars"]
    for row in cost["rows"]:
        assert re.search(r"\s+".join(re.escape(c[0]) for c in row), text), row


def test_every_number_on_the_html_page_is_a_document_value(
        optimal: dict[str, Any], fit: dict[str, Any]) -> None:
    """Each number is a <data value> holding a document number exactly, shown at its printed
    precision; no digit appears outside them but in the documents' own strings."""
    inputs = make_inputs(optimal, fit)
    page = Page(render_html(inputs))
    known = numbers_in(optimal, fit)
    assert len(page.data) > 300  # 5 budgets x 4 tables, law, health, provenance, 49 runs
    for value, text in page.data:
        assert float(value) in known, (value, text)
        assert agrees(text, float(value)), (value, text)
    rest = without_known_text(" ".join(page.outside), optimal, fit, extra=(COMMAND,))
    assert not re.search(r"\d", rest), re.findall(r".{0,30}\d.{0,30}", rest)


def test_every_number_in_the_markdown_is_a_document_value(
        optimal: dict[str, Any], fit: dict[str, Any]) -> None:
    inputs = make_inputs(optimal, fit)
    md = render_markdown(inputs)
    known = sorted(numbers_in(optimal, fit))
    rest = without_known_text(md.replace("\\", ""), optimal, fit, extra=(COMMAND,))
    tokens = [m.group(0) for m in _SHOWN.finditer(rest)]
    assert len(tokens) > 300
    for token in tokens:
        assert any(agrees(token, v) for v in known), token
    tables = md_tables(md)
    answer = next(t for c, t in tables.items() if c.startswith("Compute-optimal model size"))
    assert answer["headers"][0] == "Budget (FLOPs)"
    for row, budget in zip(answer["rows"], optimal["budgets"], strict=True):
        cells = dict(zip([escape(h) for h in ANSWER], row[1:5], strict=True))
        for header, (key, fmt) in ANSWER.items():
            value, stat, total = est_lines(budget[key], fmt)
            strong = header != "Tokens per parameter"  # the answer in bold, context plain
            shown = f"**{value}**" if strong else value
            assert cells[escape(header)] == f"{shown} ({stat}; {total})", header


def test_html_and_markdown_show_the_same_numbers(
        optimal: dict[str, Any], fit: dict[str, Any]) -> None:
    inputs = make_inputs(optimal, fit)
    html_numbers = sorted(text for _, text in Page(render_html(inputs)).data)
    md = render_markdown(inputs).replace("\\", "")
    for text in set(html_numbers):
        assert text in md, text


def test_same_inputs_same_bytes(optimal: dict[str, Any], fit: dict[str, Any],
                                plots: dict[str, str]) -> None:
    again = optimal_document()  # a second CLI run, same seed
    first = render_html(make_inputs(optimal, fit, plots))
    assert first == render_html(make_inputs(again, copy.deepcopy(fit), dict(plots)))
    assert render_markdown(make_inputs(optimal, fit)) == render_markdown(make_inputs(again, fit))
    assert "generated" not in first.lower()  # no clock unless a timestamp is passed
    stamped = ReportInputs(optimal=optimal, provenance=Provenance.from_document(
        optimal, command=COMMAND, generated="2025-01-31 12:00 UTC"))
    assert "2025-01-31 12:00 UTC" in render_html(stamped)


def test_without_a_bootstrap_the_total_interval_keeps_its_place() -> None:
    """No replicates: no statistical interval, but a total one (the form's error): the
    statistical line is —, so the caption's order still says which line is which."""
    doc = cli_json("optimal", SAMPLE, "-b", "1e24", "--bootstrap", "0")
    page = Page(render_html(make_inputs(doc)))
    answer = page.table("Compute-optimal model size N*")
    params = doc["budgets"][0]["params"]
    assert params["low"] is None and params["total_low"] is not None
    assert answer["rows"][0][1] == [
        format_count(params["value"]), "—",
        f"{format_count(params['total_low'])} – {format_count(params['total_high'])}"]
    assert "no bootstrap, so no statistical intervals" in "".join(page.outside)


# --------------------------------------------------------------------------- safety


def hostile_documents(optimal: dict[str, Any], fit: dict[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    opt, fit = copy.deepcopy(optimal), copy.deepcopy(fit)
    opt["inputs"]["sources"][0] = HOSTILE
    opt["warnings"] = [f"run {HOSTILE} diverged"]
    opt["fit"]["large_residuals"] = [{"id": HOSTILE, "log_residual": -0.031}]
    opt["budgets"][0]["budget_given"] = {"text": HOSTILE, "amount": 5e6, "unit": "usd"}
    opt["hardware"]["title"] = HOSTILE
    opt["inputs"]["skipped"] = [{"run_id": HOSTILE, "source": HOSTILE, "reason": HOSTILE}]
    fit["runs"]["ids"][0] = HOSTILE
    return opt, fit


# Where the hostile text is shown: an input file, the warning, a large residual, a run of
# the appendix, the first budget as given in the 4 budget tables (forecast, cost, reach,
# band), the GPU, the command, and the skipped run's id, source and reason.
HOSTILE_PLACES = 1 + 1 + 1 + 1 + 4 + 1 + 1 + 3


def test_user_text_renders_as_text_in_html(optimal: dict[str, Any],
                                           fit: dict[str, Any]) -> None:
    opt, hostile_fit = hostile_documents(optimal, fit)
    text = render_html(ReportInputs(optimal=opt, fit=hostile_fit,
                                    provenance=Provenance.from_document(
                                        opt, command=f"scaling report {HOSTILE}")))
    page = Page(text)
    assert [tag for tag, _ in page.tags].count("script") == 0
    assert all(str(a.get("href", "#")).startswith("#") for _, a in page.tags)
    visible = "".join(page.outside)
    for shown in ("<script>alert(1)</script>", "[l](http://e.x)", "$y$", '"q"'):
        assert visible.count(shown) == HOSTILE_PLACES, shown


def test_user_text_renders_as_text_in_markdown(optimal: dict[str, Any],
                                               fit: dict[str, Any]) -> None:
    opt, hostile_fit = hostile_documents(optimal, fit)
    md = render_markdown(ReportInputs(optimal=opt, fit=hostile_fit, provenance=Provenance(
        command=f"scaling report {HOSTILE}", tool_version="0.1.0", seed=None,
        inputs_sha256=None, input_files=(HOSTILE,))))
    fenced = re.findall(r"^(`{3,})\n(.*?)\n\1$", md, flags=re.M | re.S)
    assert [body for _, body in fenced] == [f"scaling report {HOSTILE}"]  # verbatim, fenced
    outside = re.sub(r"^(`{3,})\n.*?\n\1$", "", md, flags=re.M | re.S)
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", outside)  # code spans are literal
    assert "<script>" not in outside and "\\<script\\>" in outside
    assert "$y$" not in outside and "\\$y\\$" in outside
    assert "[l](http" not in outside and "\\[l\\](http" in outside
    assert "\nnext" not in outside  # a newline in user text cannot end a table row
    for table in md_tables(md).values():
        assert all(len(r) == len(table["headers"]) for r in table["rows"]), table["headers"]


def test_markdown_renders_to_the_same_text_and_tables(optimal: dict[str, Any],
                                                      fit: dict[str, Any]) -> None:
    """Through a CommonMark renderer with tables and raw HTML on (markdown-it, which rich
    brings): user text stays text, every row keeps its cells, the headline numbers hold."""
    markdown_it = pytest.importorskip("markdown_it")
    opt, hostile_fit = hostile_documents(optimal, fit)
    md = render_markdown(ReportInputs(optimal=opt, fit=hostile_fit, provenance=Provenance
                                      .from_document(opt, command=f"scaling report {HOSTILE}")))
    page = Page(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md))
    assert not {tag for tag, _ in page.tags} & {"script", "img"}
    assert [a["href"] for tag, a in page.tags if tag == "a"] == ["#warnings"]  # ours only
    assert "".join(page.outside).count("<script>alert(1)</script>") == HOSTILE_PLACES
    assert len(page.tables) == 10
    for table in page.tables:
        assert all(len(row) == len(table["headers"]) for row in table["rows"]), table["headers"]
    answer = next(t for t in page.tables if t["headers"][1] == "Model size N* (parameters)")
    for row, budget in zip(answer["rows"], opt["budgets"], strict=True):
        value, stat, total = est_lines(budget["params"], format_count)
        assert row[1] == [f"{value} ({stat}; {total})"]


def assert_fetches_nothing(text: str) -> None:
    page = Page(text)
    csp = [a for tag, a in page.tags if tag == "meta" and a.get("http-equiv")]
    assert csp == [{"http-equiv": "Content-Security-Policy",
                    "content": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"}]
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src", "xlink:href", "action", "srcset", "poster"}:
                assert str(value).startswith("#"), (tag, name, value)
            for target in re.findall(r"url\(([^)]*)\)", str(value)):
                assert target.startswith("#"), (tag, name, value)
    assert "@import" not in text and "@font-face" not in text
    assert not re.search(r"url\((?!#)", text)
    # a URL is only ever text to read (the GPU's datasheet), never an attribute but the
    # SVG namespace
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if "//" in str(value):
                assert (tag, name, value) == ("svg", "xmlns", "http://www.w3.org/2000/svg")


def test_the_page_fetches_nothing_and_runs_nothing(made: Made) -> None:
    assert_fetches_nothing(made.html)  # the command's page, with its four plots


def test_two_plots_with_the_same_ids_stay_apart(optimal: dict[str, Any],
                                                plots: dict[str, str]) -> None:
    shared = {re.search(r'id="([^"]+)"', s).group(1) for s in plots.values()}  # type: ignore[union-attr]
    assert shared == {"figure_1"}  # matplotlib names every figure's first group alike
    text = render_html(make_inputs(optimal, plots=plots))
    assert_fetches_nothing(text)
    page = Page(text)
    assert len(page.ids) == len(set(page.ids)) > 100
    ids = set(page.ids)
    refs = re.findall(r'href="#([^"]+)"', text) + re.findall(r"url\(#([^)]+)\)", text)
    assert len(refs) > 100
    assert set(refs) <= ids
    # each SVG's references stay inside it, and its CSS applies to it alone
    for n, svg in enumerate(re.findall(r"<svg\b.*?</svg>", text, flags=re.S)):
        prefix = re.search(r'<svg[^>]* id="([^"]+)svg"', svg).group(1)  # type: ignore[union-attr]
        assert prefix.startswith(f"plot{n}-")
        assert all(r.startswith(prefix) for r in re.findall(r'href="#([^"]+)"', svg))
        assert re.findall(r"<style[^>]*>(.*?)</style>", svg, flags=re.S) == [
            f"#{prefix}svg * {{stroke-linejoin: round; stroke-linecap: butt}}"]
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text and "<metadata" not in text


@pytest.mark.parametrize(("svg", "problem"), [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "it has a <script> element"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><g onload="alert(1)"/></svg>',
     "it has an event handler (onload)"),
    ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
     '<image xlink:href="https://example.com/x.png"/></svg>',
     "it links to 'https://example.com/x.png'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><g style="fill: url(https://e.x/f)"/></svg>',
     "a reference outside the figure: 'fill: url(https://e.x/f)'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://e.x/a.css";</style>'
     "</svg>", "its CSS has an at-rule"),
    ('<html xmlns="http://www.w3.org/1999/xhtml"/>',
     "the root element is '{http://www.w3.org/1999/xhtml}html', not svg"),
    ("<svg", "not well-formed XML (unclosed token: line 1, column 0)"),
])
def test_svg_that_could_run_or_fetch_is_refused(svg: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        inline_svg(svg, prefix="p-", title="t", description="d")
    assert str(info.value) == f"plot SVG: {problem}; the report inlines matplotlib SVG only"


def test_inline_svg_keeps_internal_references_and_embedded_images() -> None:
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
           '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
           '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
           ' width="10pt" height="5pt" viewBox="0 0 10 5"><defs><clipPath id="c"><rect/>'
           '</clipPath><path id="g" d="M 0 0 \nL 1 1"/></defs><g clip-path="url(#c)">'
           '<use xlink:href="#g"/><image xlink:href="data:image/png;base64,AAAA"/></g></svg>')
    out = inline_svg(svg, prefix="plot0-x-", title="A <title>", description="B & C")
    assert out == (
        '<svg viewBox="0 0 10 5" xmlns="http://www.w3.org/2000/svg" id="plot0-x-svg" '
        'class="plot" role="img" aria-labelledby="plot0-x-title plot0-x-desc">'
        '<title id="plot0-x-title">A &lt;title&gt;</title><desc id="plot0-x-desc">B &amp; C'
        '</desc><defs><clipPath id="plot0-x-c"><rect /></clipPath>'
        '<path id="plot0-x-g" d="M 0 0 L 1 1" /></defs><g clip-path="url(#plot0-x-c)">'
        '<use href="#plot0-x-g" /><image href="data:image/png;base64,AAAA" /></g></svg>')


# --------------------------------------------------------------------------- structure


def test_page_is_accessible(optimal: dict[str, Any], fit: dict[str, Any],
                            plots: dict[str, str]) -> None:
    text = render_html(make_inputs(optimal, fit, plots))
    page = Page(text)
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert len(page.tables) >= 7
    for table in page.tables:
        assert table["caption"], table
        assert table["headers"] and all(table["headers"])
        # the first cell of every row names it: <th scope="row">; the rest are <td>
        per_row = len(table["headers"])
        scopes = table["scopes"]
        assert scopes[::per_row] == [("th", "row")] * len(table["rows"])
        assert all(s == ("td", None) for i, s in enumerate(scopes) if i % per_row)
    heads = [a for tag, a in page.tags if tag == "th" and a.get("scope") == "col"]
    assert len(heads) == sum(len(t["headers"]) for t in page.tables)
    svgs = [a for tag, a in page.tags if tag == "svg"]
    assert len(svgs) == 2
    for a in svgs:
        assert a["role"] == "img"
        labels = str(a["aria-labelledby"]).split()
        assert [lab.rsplit("-", 1)[1] for lab in labels] == ["title", "desc"]
        assert set(labels) <= set(page.ids)
    # meaning is in words, not only colour: each warning says "Warning:", the verdict is text
    assert text.count("<b>Warning:</b>") == len(optimal["warnings"]) > 0
    assert "<strong>verified</strong>" in text


def test_sections_in_reading_order(optimal: dict[str, Any], fit: dict[str, Any],
                                   plots: dict[str, str]) -> None:
    text = render_html(make_inputs(optimal, fit, plots))
    order = re.findall(r'<section id="([^"]+)"', text)
    assert order == ["forecast", "details", "law", "plots", "health", "provenance", "runs"]
    assert text.index("Compute-optimal model size N*") < text.index('id="warnings"')
    n = len(optimal["warnings"])
    assert f'<a href="#warnings"><data value="{n}">{n}</data> warnings</a>' in text
    md = render_markdown(make_inputs(optimal, fit, plots))
    assert re.findall(r"^## (.+)$", md, flags=re.M) == [
        "Forecast", "Plan details", "Fitted law", "Plots", "Fit health", "Provenance",
        "Runs behind the fit"]
    assert "\n### Command line\n\n```\n" + COMMAND + "\n```\n" in md


def test_print_css_breaks_pages_between_sections_and_keeps_tables_whole(
        optimal: dict[str, Any]) -> None:
    text = render_html(make_inputs(optimal))
    css = text[text.index("@media print"):text.index("</style>")]
    for rule in ("section { break-before: page; }", "section:first-of-type { break-before: auto; }",
                 "table, figure, ul.warnings li, pre { break-inside: avoid; }",
                 "thead { display: table-header-group; }", "tr { break-inside: avoid; }"):
        assert rule in css, rule
    assert "color-scheme: light" in text


def test_a_published_law_has_no_intervals_and_says_why() -> None:
    doc = cli_json("optimal", "--law", "epoch-2024", "-b", "1e24")
    inputs = ReportInputs(optimal=doc, provenance=Provenance.from_document(
        doc, command="scaling report --law epoch-2024 -b 1e24 -o f.html"))
    page = Page(render_html(inputs))
    answer = page.table("Compute-optimal model size N*, training tokens D* and the loss")
    assert answer["caption"].endswith("at each budget")  # no "(value, then its interval)"
    assert "Compute vs the largest run" not in answer["headers"]  # no runs: no column
    assert all(len(cell) == 1 for cell in answer["rows"][0])
    assert "Published law epoch-2024 (no runs, so no intervals)" in "".join(page.outside)
    assert "A published law: no fit and no bootstrap to check here (source: " \
        "preset:epoch-2024)." in "".join(page.outside)
    md = render_markdown(inputs)
    assert "| **1e24** | **95.9B** | **1.74T** | **1.96** | 18.1 |" in md


def test_limited_data_costs_and_budgets_given_in_gpu_hours() -> None:
    doc = cli_json("optimal", SAMPLE, "-b", "1e23", "-b", "2e6gpu-hours", "--gpu", "h100",
                   "--unique-tokens", "200B", *FAST)
    page = Page(render_html(make_inputs(doc)))
    limited = page.table("Limited unique data")
    assert limited["headers"] == ["Budget (FLOPs)", "Unique tokens", "Data-limited", "Epochs",
                                  "Effective tokens", "Loss with unlimited data",
                                  "Loss ignoring the limit"]
    second = doc["budgets"][1]
    assert limited["rows"][1][0] == [format_flops(second["compute_flops"]), "= 2e6gpu-hours"]
    assert limited["rows"][1][2] == ["yes"]
    cost = page.table("Cost on NVIDIA H100")  # no --gpus: no GPU count, days unknown
    assert cost["headers"] == ["Budget (FLOPs)", "GPU-hours", "Dollars"]
    assert cost["rows"][1][1:] == [["2M"], ["$5M"]]
    assert "Days need the number of GPUs (--gpus)." in "".join(page.outside)
    assert not any(t["caption"].startswith("Near-optimal") for t in page.tables)


def test_new_keys_are_tolerated_and_further_intervals_shown(optimal: dict[str, Any]) -> None:
    doc = copy.deepcopy(optimal)
    doc["some_future_key"] = {"x": 1}
    for b in doc["budgets"]:
        b["params"]["prior_low"] = b["params"]["low"] / 2
        b["params"]["prior_high"] = b["params"]["high"] * 2
        b["loss"]["model"] = {"low": b["loss"]["low"] - 0.1, "high": b["loss"]["high"] + 0.1}
        b["future_budget_key"] = "ignored"
    page = Page(render_html(make_inputs(doc)))
    answer = page.table("Compute-optimal model size N*")
    first = dict(zip(answer["headers"], answer["rows"][0], strict=True))
    b = doc["budgets"][0]["params"]
    assert first["Model size N* (parameters)"] == [
        *est_lines(b, format_count),
        f"prior: {format_count(b['prior_low'])} – {format_count(b['prior_high'])}"]
    assert first["Loss (nats/token)"][3].startswith("model: ")
    reach = page.table("How far each forecast reaches beyond the fitted runs")
    assert reach["headers"] == ["Budget (FLOPs)", "Compute", "Model size",
                                "Tokens per parameter", "Past a warning threshold"]
    assert reach["rows"][-1] == [["1e25"], ["9,975×", "above the runs"],
                                 ["27.3×", "above the runs"], ["1×", "inside the runs"],
                                 ["yes"]]


def test_a_new_column_is_one_line(optimal: dict[str, Any]) -> None:
    doc = copy.deepcopy(optimal)
    for b in doc["budgets"]:
        b["decades_beyond"] = 3.0
    columns = (Column("Decades beyond", ("decades_beyond",), "ratio"),
               Column("Never present", ("nowhere",), "ratio"))
    table = budget_table(doc["budgets"], columns, ("caption",))
    assert table is not None and table.columns == ("Budget (FLOPs)", "Decades beyond")
    assert budget_table(doc["budgets"], columns[1:], ("caption",)) is None


def test_warnings_from_every_source_once_in_order(optimal: dict[str, Any],
                                                  fit: dict[str, Any]) -> None:
    fit_doc = {**fit, "warnings": ["from the fit", optimal["warnings"][0]]}
    inputs = make_inputs(optimal, fit_doc, warnings=("from the report", "from the fit"))
    expected = (*optimal["warnings"], "from the fit", "from the report")
    assert build_report(inputs).warnings == expected
    assert Page(render_html(inputs)).warnings() == list(expected)
    md = render_markdown(inputs)
    assert md.count("- **Warning:** ") == len(expected)
    assert f"> **⚠ {len(expected)} warnings:** read them ([Warnings](#warnings)) before " in md


def test_runs_appendix_lists_every_fitted_run(optimal: dict[str, Any],
                                              fit: dict[str, Any]) -> None:
    page = Page(render_html(make_inputs(optimal, fit)))
    runs = page.table("The runs in the fit")
    assert sorted(row[0][0] for row in runs["rows"]) == sorted(fit["runs"]["ids"])
    i = fit["runs"]["ids"].index(runs["rows"][0][0][0])
    assert runs["rows"][0][1:] == [[format_count(fit["runs"]["params"][i])],
                                   [format_count(fit["runs"]["tokens"][i])],
                                   [format_flops(fit["runs"]["compute_flops"][i])],
                                   [format_number(fit["runs"]["loss"][i], digits=4)]]
    assert "Runs behind the fit" not in render_html(make_inputs(optimal))


def test_runs_left_out_while_reading_are_listed(optimal: dict[str, Any]) -> None:
    doc = copy.deepcopy(optimal)
    doc["inputs"]["skipped"] = [{"run_id": "r7", "source": "logs/r7.jsonl",
                                 "reason": "logs/r7.jsonl: loss is NaN at step 900"}]
    page = Page(render_html(make_inputs(doc)))
    health = {row[0][0]: row[1][0] for row in page.table("How far to trust the fit")["rows"]}
    assert health["Runs"] == "49 in the fit, 1 marked exclude: true, 1 left out as unusable"
    skipped = page.table("Runs left out while reading")
    assert skipped["rows"] == [[["r7"], ["logs/r7.jsonl"],
                                ["logs/r7.jsonl: loss is NaN at step 900"]]]


@pytest.mark.parametrize(("change", "message"), [
    (lambda o, f, p: ({**o, "schema": "scaling-cli/fixed-size"}, f, p),
     "optimal document: schema is 'scaling-cli/fixed-size', expected 'scaling-cli/optimal' "
     "(from `scaling optimal ... --format json`)"),
    (lambda o, f, p: ({**o, "schema_version": 2}, f, p),
     "optimal document: schema_version 2 is not 1; render it with the scaling-cli version "
     "that wrote it"),
    (lambda o, f, p: ({k: v for k, v in o.items() if k != "budgets"}, f, p),
     "optimal document: no 'budgets' field; regenerate it with "
     "`scaling optimal ... --format json`"),
    (lambda o, f, p: (o, {**f, "law": {**f["law"], "E": {**f["law"]["E"], "value": 1.5}}}, p),
     "the fit document's E = 1.5 differs from the optimal document's "),
    (lambda o, f, p: (o, f, dataclasses.replace(p, seed=7)),
     "provenance seed 7 differs from the optimal document's 0"),
])
def test_documents_that_do_not_belong_together_are_refused(
        optimal: dict[str, Any], fit: dict[str, Any], change: Any, message: str) -> None:
    prov = Provenance.from_document(optimal, command=COMMAND)
    o, f, p = change(optimal, fit, prov)
    with pytest.raises(InputError) as info:
        render_html(ReportInputs(optimal=o, fit=f, provenance=p))
    assert str(info.value).startswith(message)


def test_provenance_names_everything_needed_to_make_the_page_again(
        optimal: dict[str, Any]) -> None:
    page = Page(render_html(make_inputs(optimal)))
    table = page.table("How this page was made")
    rows = {row[0][0]: row[1][0] for row in table["rows"]}
    assert rows == {"Tool version": optimal["tool_version"], "Seed": "0",
                    "Inputs' SHA-256": optimal["inputs"]["sha256"], "Law source": "runs",
                    "Schema": "scaling-cli/optimal version 1"}
    text = "".join(page.outside)
    assert COMMAND in text
    for source in optimal["inputs"]["sources"]:
        assert source in text


def test_markdown_plot_links(optimal: dict[str, Any]) -> None:
    inputs = make_inputs(optimal, plots={"allocation": "<svg/>"})
    md = render_markdown(inputs, plot_links={"allocation": "forecast files/allocation.svg"})
    assert "![N\\* and D\\* against compute](<forecast files/allocation.svg>)" in md
    assert "(The plot is in the HTML version of this report.)" in render_markdown(inputs)
    with pytest.raises(ValueError, match="a relative URL without"):
        render_markdown(inputs, plot_links={"allocation": "a>b"})
