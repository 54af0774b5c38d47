"""Every command the README and docs/*.md show is run, and what they show it printing is
compared with what it prints (issue 14 §4).

How docs authors write examples (the convention this test enforces)
--------------------------------------------------------------------
A *command* is a line that starts with ``scaling ``, ``$ scaling ``, ``python -m
scaling_cli`` or ``NAME=$(scaling ...`` in

* a fenced block whose language is empty, ``bash``, ``sh``, ``shell`` or ``console``;
* an indented (4-space) code block;
* a table column headed ``example`` (inline code spans; other inline code is prose, such as
  the synopsis ``scaling check PLAN.yaml``, and is never run).

A line ending in ``\\`` continues on the next one. Commands run with bash, in the order of
the document, in one scratch directory per document holding a copy of the repository's
``sample_runs/``, ``configs/``, ``docs/`` and ``scripts/``, with ``../shared/data`` pointing
at the public data (``SCALING_SHARED_DATA`` or the repository's ``../shared/data``); so a
file written by one command (``-o fit.json``) is read by the next, and nothing is written
into the repository. A command naming ``../shared/data/`` is skipped, with the reason, when
that data is absent. Each command must exit 0.

What a command prints is compared with what the document shows:

* in a block whose commands start with ``$``, the lines after a command (up to the next
  ``$`` line) are its standard output;
* a block right after ``<!-- output -->`` is the standard output of the last command shown
  before it;
* a trailing comment ``# e.g. VALUE`` or ``# -> VALUE`` is the command's standard output
  (for ``N=$(scaling ...)``, what the command inside prints);
* a command writing (``-o``, ``>``) a file the repository holds (``docs/img/forecast.png``)
  must reproduce it: text byte for byte, a PNG image with at most ``IMAGE_PIXELS_TOL``
  pixels differing by more than ``IMAGE_PIXEL_DELTA`` of full scale (anti-aliasing noise
  passes; a changed number, line or error bar does not);
* a command may write only inside its working directory (relative paths): a doc that writes
  ``/tmp/x`` fails, as two runs of the test would share that file.

Comparison is line by line after collapsing runs of blanks; a line ``...`` stands for any
number of lines, a line ending in ``...`` for any line starting with what precedes it.
Numbers (``122B``, ``1.36T``, ``0.000154114``, ``4.2e+06``, ``3,401``) must agree to the
precision they are printed with: half a unit in their last shown digit.

Markers are HTML comments (invisible on GitHub) on the lines just before a block or table:

* ``<!-- not run: REASON -->``: the block's commands are not run (user data not in the
  repository, a command that installs software, a synopsis); the test reports the skip with
  REASON, which must be given;
* ``<!-- output -->``: the next block is output (above);
* ``<!-- output: stderr -->``: the same for standard error: the next block shows the
  standard error of the last command before it or, before a block of ``$`` commands, the
  lines after each command are its standard error;
* ``<!-- exit: N -->``: the block's commands exit N (e.g. 1 for a failing ``scaling check``).

A marker that applies to nothing, or is misspelt, fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED

DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
COPIED = ("sample_runs", "configs", "docs", "scripts")
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
IMAGE_PIXEL_DELTA = 0.1  # of full scale
IMAGE_PIXELS_TOL = 20
TIMEOUT_S = 900

_COMMAND = re.compile(r"^(?:\$ )?(?:scaling |python -m scaling_cli\b|[A-Za-z_]\w*=\$\(scaling )")
_MARKER = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_COMMENT_VALUE = re.compile(r"\s#\s*(?:e\.g\.|->)\s*(\S+)\s*$")


# --------------------------------------------------------------------------- markdown


@dataclass
class Example:
    """One command a document shows, and what it shows it printing."""

    doc: str
    line: int
    command: str
    expected: str | None = None  # stdout (or stderr) as shown, None when nothing is shown
    stream: str = "stdout"
    exit_code: int = 0
    not_run: str | None = None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.doc, self.line, self.command)


@dataclass
class _Markers:
    line: int = 0
    not_run: str | None = None
    output: bool = False
    stderr: bool = False
    exit_code: int = 0
    given: list[str] = field(default_factory=list)


class DocError(ValueError):
    """A document breaks the convention (an unknown or orphaned marker)."""


def _marker(markers: _Markers, text: str, where: str) -> None:
    name, _, arg = text.partition(":")
    name, arg = name.strip(), arg.strip()
    if name == "not run":
        if not arg:
            raise DocError(f"{where}: `<!-- not run: REASON -->` needs its reason")
        markers.not_run = arg
    elif name == "output" and arg in {"", "stderr", "stdout"}:
        markers.output, markers.stderr = True, arg == "stderr"
    elif name == "exit" and arg.isdigit():
        markers.exit_code = int(arg)
    else:
        raise DocError(f"{where}: unknown marker <!-- {text} -->; use `not run: REASON`, "
                       "`output`, `output: stderr` or `exit: N`")
    markers.given.append(text)


def _join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in lines:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.strip()
            pending = None
        if text.rstrip().endswith("\\"):
            pending = (number, text.rstrip()[:-1].rstrip())
            continue
        out.append((number, text))
    if pending is not None:
        out.append(pending)
    return out


def _block_examples(doc: str, lines: list[tuple[int, str]], m: _Markers) -> list[Example]:
    """The commands of one code block, with what the block shows them printing."""
    console = any(text.startswith("$ ") for _, text in lines)
    examples: list[Example] = []
    if console:
        current: Example | None = None
        shown: list[str] = []
        for number, text in _join_continuations(lines):
            if text.startswith("$ "):
                if current is not None:
                    current.expected = "\n".join(shown) if shown else None
                current, shown = Example(doc, number, text[2:].strip()), []
                examples.append(current)
            elif current is not None:
                shown.append(text)
        if current is not None:
            current.expected = "\n".join(shown) if shown else None
        examples = [e for e in examples if _COMMAND.match(e.command)]
    else:
        for number, text in _join_continuations(lines):
            if not _COMMAND.match(text.strip()):
                continue
            command, expected = text.strip(), None
            found = _COMMENT_VALUE.search(command)
            if found:
                command, expected = command[: found.start()].rstrip(), found.group(1)
            examples.append(Example(doc, number, command, expected))
    for e in examples:
        e.not_run, e.exit_code = m.not_run, m.exit_code
        e.stream = "stderr" if m.stderr else "stdout"
    return examples


def _table_examples(doc: str, rows: list[tuple[int, str]], m: _Markers) -> list[Example]:
    """Inline commands in a table's ``example`` column."""
    cells = [[c.strip() for c in text.strip().strip("|").split("|")] for _, text in rows]
    header = [c.lower() for c in cells[0]]
    if "example" not in header:
        return []
    column = header.index("example")
    out = []
    for (number, _), row in zip(rows[2:], cells[2:], strict=True):
        if column < len(row):
            for code in re.findall(r"`([^`]+)`", row[column]):
                if _COMMAND.match(code):
                    out.append(Example(doc, number, code, not_run=m.not_run,
                                       exit_code=m.exit_code))
    return out


def parse(doc: str, text: str) -> list[Example]:
    """Every command ``text`` (the document ``doc``) shows, in order (see the module doc)."""
    lines = text.splitlines()
    examples: list[Example] = []
    markers: _Markers | None = None
    last_command: Example | None = None

    def take_markers() -> _Markers:
        nonlocal markers
        found, markers = markers or _Markers(), None
        return found

    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{doc}:{i + 1}"
        found = _MARKER.match(line)
        fence = _FENCE.match(line)
        if found:
            markers = markers or _Markers(line=i + 1)
            _marker(markers, found.group(1), where)
            i += 1
            continue
        if not line.strip():
            i += 1
            continue
        if fence:
            indent, ticks, language = fence.groups()
            body: list[tuple[int, str]] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append((i + 1, lines[i][len(indent):] if lines[i].startswith(indent)
                             else lines[i]))
                i += 1
            i += 1
            m = take_markers()
            console = any(text.startswith("$ ") for _, text in body)
            if m.output and m.stderr and console:  # the `$` block shows standard error
                m.output = False
            if m.output:
                if console:
                    raise DocError(f"{where}: `<!-- output -->` before commands; put it before "
                                   "the block that shows their output")
                if last_command is None:
                    raise DocError(f"{where}: `<!-- output -->` but no command before it")
                last_command.expected = "\n".join(t for _, t in body)
                last_command.stream = "stderr" if m.stderr else "stdout"
                if m.not_run is not None or m.exit_code:
                    raise DocError(f"{where}: an output block takes no other marker")
                continue
            if language.lower() not in SHELL_LANGUAGES:
                if m.given:
                    raise DocError(f"{doc}:{m.line}: marker before a {language} block, "
                                   "which is never run")
                continue
            made = _block_examples(doc, body, m)
            if m.given and not made:
                raise DocError(f"{doc}:{m.line}: marker before a block with no command")
            examples += made
            last_command = made[-1] if made else last_command
            continue
        if line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append((i + 1, lines[i][4:]))
                i += 1
            m = take_markers()
            made = _block_examples(doc, body, m)
            if m.given and not made:
                raise DocError(f"{doc}:{m.line}: marker before a block with no command")
            examples += made
            last_command = made[-1] if made else last_command
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append((i + 1, lines[i]))
                i += 1
            m = take_markers()
            made = _table_examples(doc, rows, m)
            if m.given and not made:
                raise DocError(f"{doc}:{m.line}: marker before a table with no example")
            examples += made
            continue
        if markers is not None:
            raise DocError(f"{doc}:{markers.line}: marker <!-- {markers.given[0]} --> is not "
                           "followed by a code block or table (blank lines between are fine)")
        i += 1
    if markers is not None:
        raise DocError(f"{doc}:{markers.line}: marker at the end applies to nothing")
    return examples


# --------------------------------------------------------------------------- comparing

_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:[kMBT](?![A-Za-z]))?"
    r"(?![\w.]*[A-Za-z_])")
_SCALE = {"k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


@dataclass(frozen=True)
class Number:
    """A number as printed: its value and half a unit in its last shown digit."""

    value: float
    tolerance: float

    @classmethod
    def of(cls, text: str) -> Number:
        scale = _SCALE.get(text[-1], 1.0)
        mantissa = text[:-1] if text[-1] in _SCALE else text
        body, _, exponent = mantissa.replace(",", "").lower().partition("e")
        decimals = len(body.partition(".")[2])
        power = int(exponent) if exponent else 0
        value = float(body) * 10.0**power * scale
        return cls(value, 0.5 * 10.0 ** (power - decimals) * scale)

    def holds(self, actual: Number) -> bool:
        return abs(actual.value - self.value) <= self.tolerance * (1 + 1e-9) + 1e-300


def tokens(line: str) -> list[str | Number]:
    """A line as text pieces (blanks collapsed) and numbers."""
    out: list[str | Number] = []
    at = 0
    for found in _NUMBER.finditer(line):
        out.append(" ".join(line[at:found.start()].split()))
        out.append(Number.of(found.group()))
        at = found.end()
    out.append(" ".join(line[at:].split()))
    return out


def _pieces_match(want: str | Number, got: str | Number, *, prefix: bool) -> bool:
    if isinstance(want, Number):
        return isinstance(got, Number) and want.holds(got)
    if isinstance(got, Number):
        return False
    return got.startswith(want) if prefix else got == want


def line_matches(want: str, got: str) -> bool:
    """``got`` as printed against ``want`` as shown (numbers to their shown precision; a
    trailing ``...`` accepts any rest of the line)."""
    prefix = want.rstrip().endswith("...") and want.strip() != "..."
    if prefix:
        want = want.rstrip()[:-3]
    w, g = tokens(want), tokens(got)
    if prefix:
        w = w[:-1] if w[-1] == "" and len(w) > 1 else w
        if len(g) < len(w):
            return False
        last = len(w) - 1
        return all(_pieces_match(a, b, prefix=i == last)
                   for i, (a, b) in enumerate(zip(w, g[: len(w)], strict=True)))
    return len(w) == len(g) and all(_pieces_match(a, b, prefix=False)
                                    for a, b in zip(w, g, strict=True))


def mismatch(expected: str, actual: str) -> str | None:
    """None when ``actual`` shows what ``expected`` shows; else the first line that fails."""
    want = [line.rstrip() for line in expected.strip("\n").splitlines()]
    got = [line.rstrip() for line in actual.strip("\n").splitlines()]

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and line_matches(want[i], got[j]) and match(i + 1, j + 1)

    if match(0, 0):
        return None
    # Report the first shown line that no printed line at or after the last match fits.
    j = 0
    for line in want:
        if line.strip() == "...":
            continue
        hits = [k for k in range(j, len(got)) if line_matches(line, got[k])]
        if not hits:
            return f"shown line not printed: {line!r}"
        j = hits[0] + 1
    return "the shown lines are all printed, but with lines between them that are not shown"


def pixels_differing(expected: Path, actual: Path) -> int:
    """Pixels whose largest channel differs by more than ``IMAGE_PIXEL_DELTA`` of full scale
    (every pixel when the sizes differ). A changed label or error bar moves tens to hundreds
    of pixels that far; anti-aliasing noise moves a few, by less."""
    import numpy as np
    from matplotlib import image

    a = np.asarray(image.imread(str(expected)), dtype=float)
    b = np.asarray(image.imread(str(actual)), dtype=float)
    if a.shape != b.shape:
        return max(a.size, b.size)
    return int((np.abs(a - b).max(axis=-1) > IMAGE_PIXEL_DELTA).sum())


# --------------------------------------------------------------------------- running


def _examples() -> list[Example]:
    found = []
    for doc in DOCS:
        try:
            found += parse(doc, (ROOT / doc).read_text(encoding="utf-8"))
        except DocError:  # reported by test_every_document_follows_the_convention
            continue
    return found


EXAMPLES = _examples()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


class Workspace:
    """One scratch copy of the repository per document; commands run in document order."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ran: dict[str, Ran] = {}
        self.dirs: dict[str, Path] = {}

    def cwd(self, doc: str) -> Path:
        if doc not in self.dirs:
            top = self.base / doc.replace("/", "_")
            repo = top / "repo"
            for name in COPIED:
                shutil.copytree(ROOT / name, repo / name)
            (top / "shared").mkdir()
            if SHARED.is_dir():
                (top / "shared" / "data").symlink_to(SHARED.resolve())
            self.dirs[doc] = repo
        return self.dirs[doc]

    def run(self, example: Example) -> Ran:
        """Run ``example`` after every earlier runnable command of its document."""
        for earlier in EXAMPLES:
            if earlier.doc == example.doc and earlier.key not in self.ran and _runnable(earlier):
                self.ran[earlier.key] = self._execute(earlier)
            if earlier is example:
                break
        return self.ran[example.key]

    def _execute(self, example: Example) -> Ran:
        command = example.command
        assignment = re.match(r"^[A-Za-z_]\w*=\$\((.*)\)$", command)
        if assignment:  # show what the command inside prints
            command = assignment.group(1)
        bin_dir = self.base / "bin"
        if not bin_dir.is_dir():
            bin_dir.mkdir()
            for name, args in (("scaling", "-m scaling_cli"), ("python", "")):
                shim = bin_dir / name
                shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {args} "$@"\n')
                shim.chmod(0o755)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(["bash", "-c", command], cwd=self.cwd(example.doc), env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        return Ran(done.returncode, done.stdout, done.stderr)


def _runnable(example: Example) -> bool:
    """Not marked "not run", and neither reading the public data when it is absent nor a
    file that an earlier example of its document writes from it (`-o steplaw.json`)."""
    if example.not_run is not None:
        return False
    if SHARED.is_dir():
        return True
    return "../shared/data/" not in example.command and not (
        set(shlex.split(example.command, comments=True)) & _written_from_shared(example.doc))


@cache
def _written_from_shared(doc: str) -> frozenset[str]:
    """The files that examples of ``doc`` reading the public data write."""
    return frozenset(target for e in EXAMPLES if e.doc == doc and "../shared/data/" in
                     e.command for target in written(e.command))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    yield Workspace(tmp_path_factory.mktemp("docs_run"))


def written(command: str) -> list[str]:
    """The files a command writes: ``-o``/``--output`` targets and ``>`` redirections."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    words = list(lexer)
    targets = [words[i + 1] for i, w in enumerate(words[:-1])
               if w in {"-o", "--output", ">", ">>"} and words[i + 1] != "-"]
    return targets + [w.split("=", 1)[1] for w in words if w.startswith("--output=")]


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_doc_example_runs(example: Example, workspace: Workspace) -> None:
    if example.not_run is not None:
        pytest.skip(f"{example.id}: not run: {example.not_run}")
    if not _runnable(example):
        pytest.skip(f"{example.id}: needs the public data in {SHARED} (absent; set "
                    "SCALING_SHARED_DATA to its directory)")
    outside = [t for t in written(example.command) if Path(t).is_absolute() or ".." in
               Path(t).parts]
    if outside:  # it would write outside the scratch copy: shared by every run of the test
        pytest.fail(f"{example.id}: `{example.command}` writes {', '.join(outside)}, outside "
                    "its working directory; write a relative path (e.g. -o forecast.html)",
                    pytrace=False)
    ran = workspace.run(example)
    problem = check(example, ran, workspace.cwd(example.doc))
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def check(example: Example, ran: Ran, cwd: Path) -> str | None:
    """What is wrong with ``example`` given how it ran in ``cwd``, or None."""
    where = f"{example.id}: `{example.command}`"
    if ran.returncode != example.exit_code:
        return (f"{where} exited {ran.returncode}, the doc expects {example.exit_code}\n"
                f"stderr:\n{ran.stderr[-3000:]}")
    if example.expected is not None:
        printed = ran.stderr if example.stream == "stderr" else ran.stdout
        problem = mismatch(example.expected, printed)
        if problem is not None:
            return (f"{where}: {problem}\n--- shown ---\n{example.expected}\n"
                    f"--- printed ({example.stream}) ---\n{printed}")
    for target in written(example.command):
        made, kept = cwd / target, ROOT / target
        if not kept.is_file() or Path(target).is_absolute():
            continue
        if target.endswith(".png"):
            differ = pixels_differing(kept, made)
            if differ > IMAGE_PIXELS_TOL:
                return (f"{where}: {differ} pixels differ from the committed {target} by more "
                        f"than {IMAGE_PIXEL_DELTA:.0%} (at most {IMAGE_PIXELS_TOL} may): "
                        "regenerate it with this command")
        elif made.read_bytes() != kept.read_bytes():
            return f"{where}: the file differs from the committed {target}: regenerate it"
    return None


# --------------------------------------------------------------------------- the convention


def test_every_document_follows_the_convention() -> None:
    for doc in DOCS:
        parse(doc, (ROOT / doc).read_text(encoding="utf-8"))  # raises DocError


def test_docs_show_commands() -> None:
    # A parser that finds nothing would pass every doc: the README alone shows over a dozen.
    assert sum(e.doc == "README.md" for e in EXAMPLES) >= 12
    assert {e.doc for e in EXAMPLES} >= {"README.md", "docs/plots.md", "docs/decisions.md"}


def test_parse_console_blocks_and_markers() -> None:
    text = "\n".join([
        "intro", "", "```console", "$ scaling laws \\", "    -f json", '{"a": 1}',
        "$ scaling schema", "```", "", "<!-- not run: needs your ladder -->",
        "```bash", "scaling fit runs/ -o fit.json   # fit once", "N=$(scaling optimal x) # e.g. 7B",
        "pip install scaling-cli", "```", "<!-- output -->", "```", "line 1", "```",
        "", "<!-- exit: 1 -->", "", "    scaling check plan.yaml", "",
        "| command | example |", "| --- | --- |", "| a | `scaling laws` and `scaling x Y` |",
    ])
    found = parse("d.md", text)
    assert [(e.line, e.command, e.expected, e.not_run, e.exit_code) for e in found] == [
        (4, "scaling laws -f json", '{"a": 1}', None, 0),
        (7, "scaling schema", None, None, 0),
        (12, "scaling fit runs/ -o fit.json   # fit once", None, "needs your ladder", 0),
        (13, "N=$(scaling optimal x)", "line 1", "needs your ladder", 0),
        (23, "scaling check plan.yaml", None, None, 1),
        (27, "scaling laws", None, None, 0), (27, "scaling x Y", None, None, 0),
    ]


@pytest.mark.parametrize("text", [
    "<!-- not run -->\n```bash\nscaling laws\n```",          # no reason
    "<!-- not run:   -->\n```bash\nscaling laws\n```",
    "<!-- notrun: x -->\n```bash\nscaling laws\n```",        # misspelt
    "<!-- output -->\nsome prose\n```bash\nscaling laws\n```",  # orphaned
    "<!-- output -->\n```\nx\n```",                          # output of nothing
    "<!-- not run: x -->\n```yaml\na: 1\n```",               # never run anyway
    "```bash\nscaling laws\n```\n<!-- exit: 2 -->",          # at the end
    "<!-- output -->\n```console\n$ scaling laws\n```",        # output of commands?
])
def test_parse_refuses_broken_markers(text: str) -> None:
    with pytest.raises(DocError):
        parse("d.md", text)


@pytest.mark.parametrize(("want", "got", "ok"), [
    ("1e24  122B  1.36T  11.1", "1e24 122B 1.36T 11.1", True),   # blanks collapse
    ("N* 1.36T", "N* 1.364T", True),                            # within half a unit
    ("N* 1.36T", "N* 1.366T", False),
    ("N* 1.36T", "N* 1360B", True),                             # the same number
    ("objective 0.000154114", "objective 0.0001541144", True),
    ("objective 0.000154114", "objective 0.000154116", False),
    ("condition 4.2e+06", "condition 4.24e+06", True),
    ("condition 4.2e+06", "condition 4.3e+06", False),
    ("3,401 tokens/param", "3,401 tokens/param", True),
    ("3,401 tokens/param", "3,402 tokens/param", False),
    ("1.41x and 99%", "1.41x and 98%", False),
    ("file isoflop_1e18.yaml sha256 bc87c995d02b", "file isoflop_1e18.yaml sha256 bc87c995d02b",
     True),
    ("sha256 bc87c995d02b", "sha256 bc87c995d02c", False),        # hashes are text
    ("12 of 12 starts agree, ...", "12 of 12 starts agree, Newton decrement 1e-21", True),
    ("12 of 12 starts agree, ...", "11 of 12 starts agree, Newton decrement 1e-21", False),
    ("loss 2.024", "loss 2.024 extra", False),
])
def test_line_matches(want: str, got: str, ok: bool) -> None:
    assert line_matches(want, got) is ok


def test_parse_standard_error_markers() -> None:
    text = "\n".join([
        "<!-- output: stderr -->", "```console", "$ scaling fit logs/", "Skipped: x", "```",
        "", "```bash", "scaling fit runs/", "```", "<!-- output: stderr -->", "```",
        "Error: y", "```",
    ])
    found = parse("d.md", text)
    assert [(e.command, e.expected, e.stream) for e in found] == [
        ("scaling fit logs/", "Skipped: x", "stderr"),
        ("scaling fit runs/", "Error: y", "stderr"),
    ]


def test_mismatch_with_elided_lines() -> None:
    printed = "head\na 1\nb 2\nc 3\ntail"
    assert mismatch("head\n...\nc 3\ntail", printed) is None
    assert mismatch("head\n...", printed) is None
    assert mismatch("head\nc 3\n...", printed) is not None       # lines between not shown
    assert mismatch("head\n...\nc 4\n...", printed) == "shown line not printed: 'c 4'"
    assert mismatch("", "") is None
    assert mismatch("x", "") is not None


def test_number_precision() -> None:
    assert Number.of("122B") == Number(122e9, 0.5e9)
    assert Number.of("0.5") == Number(0.5, 0.05)
    assert Number.of("4.2e+06").tolerance == pytest.approx(5e4)
    assert Number.of("1,000") == Number(1000.0, 0.5)


def test_written_targets() -> None:
    assert written("scaling fit runs/ -o fit.json") == ["fit.json"]
    assert written("scaling report x -f html > out.html   # for the wiki") == ["out.html"]
    assert written("scaling fit x -o - | head -3") == []
    assert written("scaling plot x --output=a.svg") == ["a.svg"]
    assert written("scaling laws") == []


def test_pixels_differing(tmp_path: Path) -> None:
    import numpy as np
    from matplotlib import image

    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, (60, 80, 3))
    noisy = base + rng.uniform(-0.05, 0.05, base.shape)      # anti-aliasing-like noise
    changed = base.copy()
    changed[10:16, 20:25] = 1.0 - changed[10:16, 20:25]      # a changed glyph: 30 pixels
    for name, pixels in (("base", base), ("noisy", noisy), ("changed", changed)):
        image.imsave(tmp_path / f"{name}.png", np.clip(pixels, 0, 1))
    assert pixels_differing(tmp_path / "base.png", tmp_path / "noisy.png") == 0
    assert pixels_differing(tmp_path / "base.png", tmp_path / "changed.png") > IMAGE_PIXELS_TOL
    image.imsave(tmp_path / "small.png", base[:30])
    assert pixels_differing(tmp_path / "base.png", tmp_path / "small.png") > IMAGE_PIXELS_TOL
