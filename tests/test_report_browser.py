"""The page `scaling report` writes, in a real browser (headless Chromium): it renders
without a console message, asks for nothing but its own file, shows `scaling optimal -f
json`'s numbers in the rendered DOM, lays out without sideways scrolling, prints to PDF (a
page per section, on white), and is photographed.

Two drivers, one set of checks:

- Playwright for Python driving the system's Chromium (``executable_path``), or Playwright's
  own browser where one is installed. Every request is routed through the test (and
  aborted unless it is the page's file), console messages and page errors are collected.
- Without Playwright, Chromium's command line: ``--dump-dom``, ``--screenshot``,
  ``--print-to-pdf``; console messages from ``--enable-logging=stderr``, requests from
  ``--log-net-log`` (those the page initiated; the browser's own housekeeping is not the
  page's). The layout checks need Playwright and skip without it.

Skipped only when neither finds a browser (failed instead when ``SCALING_REQUIRE_BROWSER=1``,
as CI should set). ``.ci/browser`` installs what this needs (Debian): ``apt-get install -y
chromium`` and ``pip install playwright`` — never ``playwright install``, which downloads a
browser build of its own.

docs/img/report.png is made the same way (see docs/report.md); test_screenshot checks that
it is such a photograph.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from .conftest import ROOT
from .test_report_page import (
    BUDGETS,
    FAST,
    SAMPLE,
    Page,
    assert_answer_table,
    fit_document,
    invoke,
    numbers_in,
    optimal_document,
)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Root in a container needs --no-sandbox; the rest keep the browser off the network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
WIDTH, HEIGHT = 1280, 1400
CANARY = ('<!DOCTYPE html><html lang="en"><title>canary</title><body><p>canary</p>'
          '<img alt="" src="http://127.0.0.1:9/canary.png">'
          '<script>console.error("canary says hello")</script></body></html>')


@dataclass
class Loaded:
    dom: str  # the DOM after load, serialised by the browser
    console: list[str] = field(default_factory=list)  # messages and page errors
    requests: list[str] = field(default_factory=list)  # URLs the page asked for


class Driver(Protocol):
    name: str

    def load(self, path: Path) -> Loaded: ...
    def screenshot(self, path: Path, out: Path) -> None: ...
    def pdf(self, path: Path, out: Path) -> None: ...
    def layout(self, path: Path) -> dict[str | int, Any]: ...


class PlaywrightDriver:
    name = "playwright"

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def _page(self, width: int = WIDTH) -> Any:
        return self.browser.new_page(viewport={"width": width, "height": HEIGHT})

    def load(self, path: Path) -> Loaded:
        page, loaded = self._page(), Loaded("")
        own = path.resolve().as_uri()

        def route(r: Any) -> None:
            loaded.requests.append(r.request.url)
            if r.request.url == own:
                r.continue_()
            else:
                r.abort()
        page.route("**/*", route)
        page.on("console", lambda m: loaded.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: loaded.console.append(f"pageerror: {e}"))
        page.goto(own, wait_until="load")
        loaded.dom = page.content()
        page.close()
        return loaded

    def screenshot(self, path: Path, out: Path) -> None:
        page = self._page()
        page.goto(path.resolve().as_uri())
        page.screenshot(path=str(out))
        page.close()

    def pdf(self, path: Path, out: Path) -> None:
        page = self._page()
        page.goto(path.resolve().as_uri())
        out.write_bytes(page.pdf(format="A4", print_background=True))
        page.close()

    def layout(self, path: Path) -> dict[str | int, Any]:
        facts: dict[str | int, Any] = {}
        for width in (WIDTH, 800):
            page = self._page(width)
            page.goto(path.resolve().as_uri())
            facts[width] = page.evaluate(_SCREEN_JS)
            page.close()
        page = self._page()
        page.goto(path.resolve().as_uri())
        page.emulate_media(media="print")
        facts["print"] = page.evaluate(_PRINT_JS)
        page.close()
        return facts


_SCREEN_JS = """() => ({
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  tables: [...document.querySelectorAll('table')].filter(
      t => t.offsetWidth > t.parentElement.parentElement.clientWidth + 1).length,
  svgHeights: [...document.querySelectorAll('svg.plot')].map(s => s.getBoundingClientRect().height),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
})"""
_PRINT_JS = """() => {
  const dark = [];
  for (const e of document.querySelectorAll('body, body *')) {
    const m = getComputedStyle(e).backgroundColor.match(/[\\d.]+/g).map(Number);
    const alpha = m.length > 3 ? m[3] : 1;
    const light = (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255;
    if (alpha > 0.1 && light < 0.8) dark.push(e.tagName + ' ' + e.className);
  }
  return {
    breaks: [...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore),
    nav: getComputedStyle(document.querySelector('nav')).display,
    dark: dark,
  };
}"""


class CommandLineDriver:
    name = "chromium command line"

    def __init__(self, executable: str, scratch: Path) -> None:
        self.executable, self.scratch = executable, scratch

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        profile = self.scratch / f"profile-{len(list(self.scratch.iterdir()))}"
        return subprocess.run([self.executable, "--headless", *FLAGS,
                               f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=60, check=True)

    def load(self, path: Path) -> Loaded:
        netlog = self.scratch / f"net-{path.stem}.json"
        done = self._run("--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}",
                         "--dump-dom", path.resolve().as_uri())
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        return Loaded(done.stdout, console, _page_requests(netlog))

    def screenshot(self, path: Path, out: Path) -> None:
        self._run(f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={out}",
                  path.resolve().as_uri())

    def pdf(self, path: Path, out: Path) -> None:
        self._run("--no-pdf-header-footer", f"--print-to-pdf={out}", path.resolve().as_uri())

    def layout(self, path: Path) -> dict[str | int, Any]:
        no_browser("the layout checks need Playwright (pip install playwright, or run "
                   ".ci/browser)")
        return {}


def _page_requests(netlog: Path) -> list[str]:
    """URLs in a net log that a page initiated (the browser's own have no origin)."""
    events = json.loads(netlog.read_text()).get("events", [])
    return sorted({e["params"]["url"] for e in events
                   if "method" in e.get("params", {}) and "url" in e["params"]
                   and e["params"].get("initiator") != "not an origin"})


def no_browser(reason: str) -> None:
    """Skip, or fail where CI promised a browser (SCALING_REQUIRE_BROWSER=1)."""
    if os.environ.get("SCALING_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SCALING_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    executable = next((p for p in map(shutil.which, BROWSERS) if p), None)
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        if executable is None:
            no_browser("no browser: install Chromium (Debian: apt-get install -y chromium) "
                       "and Playwright (pip install playwright), e.g. by running .ci/browser")
        assert executable is not None
        yield CommandLineDriver(executable, tmp_path_factory.mktemp("chromium"))
        return
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, args=FLAGS)
        except Error as exc:
            if executable is not None:
                raise
            no_browser(f"Playwright has no browser and none is installed ({exc.message[:80]}"
                       "...): apt-get install -y chromium")
        yield PlaywrightDriver(browser)
        browser.close()


@dataclass(frozen=True)
class Report:
    path: Path  # the page, written where the browser can open it
    optimal: dict[str, Any]
    fit: dict[str, Any]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The page as `scaling report` writes it, and the JSON of the same options."""
    pytest.importorskip("matplotlib")
    path = tmp_path_factory.mktemp("report") / "forecast.html"
    ran = invoke("report", SAMPLE, *BUDGETS, *FAST, "-o", str(path))
    assert ran.code == 0, ran.stderr
    return Report(path, optimal_document(), fit_document())


@pytest.fixture(scope="module")
def loaded(driver: Driver, report: Report) -> Loaded:
    return driver.load(report.path)


def test_the_checks_can_fail(driver: Driver, tmp_path: Path) -> None:
    """A page that fetches and logs is caught: the two checks below are not vacuous."""
    canary = tmp_path / "canary.html"
    canary.write_text(CANARY)
    seen = driver.load(canary)
    assert any("canary says hello" in line for line in seen.console), seen.console
    assert "http://127.0.0.1:9/canary.png" in seen.requests, seen.requests


def test_page_renders_without_console_messages(loaded: Loaded) -> None:
    assert loaded.console == []


def test_page_asks_for_nothing_but_itself(driver: Driver, loaded: Loaded,
                                          report: Report) -> None:
    own = [] if isinstance(driver, CommandLineDriver) else [report.path.resolve().as_uri()]
    assert loaded.requests == own  # file:// loads are not in a net log


def test_rendered_dom_shows_the_json_numbers(loaded: Loaded, report: Report) -> None:
    rendered, source = Page(loaded.dom), Page(report.path.read_text())
    assert rendered.data == source.data  # the browser parsed every number where it was put
    assert len(rendered.tables) == len(source.tables) >= 7
    known = numbers_in(report.optimal, report.fit)
    assert len(rendered.data) > 300
    assert all(float(value) in known for value, _ in rendered.data)
    assert_answer_table(rendered, report.optimal)  # value, statistical and total interval
    assert rendered.warnings() == report.optimal["warnings"]
    assert len(re.findall(r"<svg\b", loaded.dom)) == 4


def test_screen_layout(driver: Driver, report: Report) -> None:
    facts = driver.layout(report.path)
    for width in (WIDTH, 800):
        screen = facts[width]
        assert screen["overflow"] <= 0, (width, screen["overflow"])  # no sideways scrolling
        assert screen["tables"] == 0, width  # every table fits its column
        assert len(screen["svgHeights"]) == 4 and min(screen["svgHeights"]) > 200
        assert len(screen["ids"]) == len(set(screen["ids"]))
    printed = facts["print"]
    assert printed["breaks"] == ["auto"] + ["page"] * (len(printed["breaks"]) - 1)
    assert printed["nav"] == "none"
    assert printed["dark"] == []


def test_prints_to_pdf(driver: Driver, report: Report, tmp_path: Path) -> None:
    out = tmp_path / "forecast.pdf"
    driver.pdf(report.path, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    sections = report.path.read_text().count("<section ")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    # each section starts a page; the forecast, plots and runs run over a page or two each
    assert sections == 7 and sections <= pages <= 3 * sections
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data))
    assert len(boxes) == 1, boxes
    width, height = (float(x) for x in boxes.pop())
    assert any(abs(width - w) < 2 and abs(height - h) < 2  # points, as Chromium rounds them
               for w, h in ((595.3, 841.9), (612, 792)))  # A4 (Playwright), Letter (Chromium)


def test_screenshot(driver: Driver, report: Report, tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    driver.screenshot(report.path, out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 50_000  # text and tables, not a blank page
    # docs/img/report.png is such a photograph (docs/report.md says how it is made)
    docs = (ROOT / "docs" / "img" / "report.png").read_bytes()
    assert docs[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", docs[16:24]) == (WIDTH, HEIGHT)
