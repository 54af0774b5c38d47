"""The second hardening pass (issue 12): each class of hostile or careless input, with its
variants, through the CLI. Nothing clobbered, nothing unbounded, no traceback, exit 2 with
one line for every refusal. The rules are in docs/input-errors.md.

Device nodes are made with ``os.mknod`` in the test's own directory (never the system's
/dev/null or /dev/full); permission tests run in a child process as ``nobody`` when the
tests run as root (root reads everything).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app
from scaling_cli.cli import options as cli_options
from scaling_cli.cli.base import LONGEST_WORD, one_line
from scaling_cli.errors import UsageError
from scaling_cli.read import fitfile, yamlsafe
from scaling_cli.read.runs import load_runs
from scaling_cli.render.documents import dumps

from .conftest import ROOT

SAMPLE = str(ROOT / "sample_runs")
QUICK = ("--bootstrap", "0")


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def fails(*args: str, input: str | None = None) -> str:
    """A command that must be refused: exit 2, nothing on stdout, one `Error:` line."""
    code, out, err = run(*args, input=input)
    assert (code, out) == (2, ""), err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    return err[len("Error: "):-1]


def cli(*args: str, redirect: str = "", stdout: int | IO[Any] = subprocess.PIPE,
        env: dict[str, str] | None = None, cwd: str | Path | None = None,
        ) -> subprocess.CompletedProcess[bytes]:
    """``python -m scaling_cli ARGS`` in a child process, its streams redirected by ``sh``
    (``>&-`` closes standard output) when ``redirect`` is given."""
    command = [sys.executable, "-m", "scaling_cli", *args]
    if redirect:
        command = ["sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=120, check=False, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})})


def device(path: Path, major: int, minor: int) -> Path:
    """A private character device node (1, 3 is null; 1, 7 is full), or skip."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        with open(path, "wb"):
            pass
    except OSError as exc:  # not root, or a filesystem mounted nodev
        pytest.skip(f"cannot make a device node here ({exc.strerror})")
    return path


@pytest.fixture(scope="module")
def fit_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("fit") / "fit.json"
    code, _, err = run("fit", SAMPLE, "-o", str(out), "--bootstrap", "40", "-q")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, fit_doc: dict[str, Any]) -> tuple[str, ...]:
    """`scaling fit --fit FILE`: writes a fit file without refitting (the -o rules do not
    depend on where the law came from)."""
    path = tmp_path_factory.mktemp("source") / "source.json"
    path.write_text(json.dumps(fit_doc))
    return ("fit", "--fit", str(path))


@pytest.fixture
def fit_path(tmp_path: Path, fit_doc: dict[str, Any]) -> Path:
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(fit_doc))
    return path


@pytest.fixture
def runs_copy(tmp_path: Path) -> Path:
    """The sample ladder copied: tests that try to write over an input use this copy."""
    target = tmp_path / "runs"
    shutil.copytree(SAMPLE, target)
    return target


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ----------------------------------------------------------------------------------- 1. -o targets


def test_a_fifo_is_written_through(tmp_path: Path, src: tuple[str, ...]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run(*src, "-o", str(fifo), "-q")
    reader.join(30)
    assert code == 0, err
    assert json.loads(got[0])["schema"] == "scaling-cli/fit"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not replaced by a file
    assert entries(tmp_path) == ["fifo"]


def test_a_fifo_with_no_reader_is_refused_not_waited_on(tmp_path: Path,
                                                        src: tuple[str, ...]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert fails(*src, "-o", str(fifo)) == (
        f"{fifo}: is a FIFO with nothing reading it; start the reader first, or choose another "
        "output path")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_character_device_is_written_through(tmp_path: Path, src: tuple[str, ...]) -> None:
    null = device(tmp_path / "null", 1, 3)
    code, _, err = run(*src, "-o", str(null), "-q")
    assert code == 0, err
    assert stat.S_ISCHR(null.lstat().st_mode) and entries(tmp_path) == ["null"]


def test_a_full_device_is_an_error_and_stays_a_device(tmp_path: Path, src: tuple[str, ...]) -> None:
    full = device(tmp_path / "full", 1, 7)
    assert fails(*src, "-o", str(full)) == (
        f"{full}: cannot write (No space left on device); check the directory's permissions "
        "and free space, or choose another output path")
    assert stat.S_ISCHR(full.lstat().st_mode) and entries(tmp_path) == ["full"]


def test_a_symlink_is_followed_and_kept(tmp_path: Path, src: tuple[str, ...]) -> None:
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old\n")
    link.symlink_to("real.json")
    code, _, err = run(*src, "-o", str(link), "-q")
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert json.loads(real.read_text())["schema"] == "scaling-cli/fit"


def test_a_dangling_symlink_creates_its_target(tmp_path: Path, src: tuple[str, ...]) -> None:
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    code, _, err = run(*src, "-o", str(link), "-q")
    assert code == 0, err
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text())
    assert entries(tmp_path) == ["link.json", "made.json"]


def test_a_symlink_to_a_directory_is_refused(tmp_path: Path, src: tuple[str, ...]) -> None:
    (tmp_path / "d").mkdir()
    link = tmp_path / "dlink"
    link.symlink_to("d")
    assert fails(*src, "-o", str(link)) == (
        f"{link}: is a directory; give a file name for the output")
    assert entries(tmp_path / "d") == []


def test_a_socket_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             src: tuple[str, ...]) -> None:
    monkeypatch.chdir(tmp_path)  # a short relative name: socket paths are limited to ~100
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("sock")
        assert fails(*src, "-o", "sock") == (
            "--output: sock is not a regular file (a block device or a socket); choose another "
            "output path")
        assert stat.S_ISSOCK(os.lstat("sock").st_mode)


def test_a_read_only_file_is_not_replaced(tmp_path: Path, src: tuple[str, ...]) -> None:
    old = tmp_path / "old.json"
    old.write_text("keep\n")
    old.chmod(0o444)
    assert fails(*src, "-o", str(old)) == (
        f"--output: {old} is read-only; make it writable (chmod u+w) to replace it, or choose "
        "another output path")
    assert old.read_text() == "keep\n"


def test_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 src: tuple[str, ...]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*src, "-o", "-")
    assert code == 0, err
    assert json.loads(out)["schema"] == "scaling-cli/fit"  # the fit file, no table after it
    assert entries(tmp_path) == []  # no file named "-"
    assert fails("plot", SAMPLE, *QUICK, "-o", "-") == (
        "--output: -: a plot is an image file, not text for standard output; name a .png, "
        ".svg or .pdf file")
    assert entries(tmp_path) == []


def test_an_input_is_never_the_output(tmp_path: Path, runs_copy: Path, fit_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in runs_copy.iterdir()}
    log = runs_copy / "isoflop_1e18.yaml"
    (tmp_path / "soft.yaml").symlink_to(log)
    os.link(log, tmp_path / "hard.yaml")
    os.link(log, tmp_path / "hard.png")
    cases = [
        # found by walking the directory, named directly, by a glob, by links
        (("fit", str(runs_copy), "-o", str(log)), str(log)),
        (("fit", str(log), "-o", str(log)), str(log)),
        (("fit", f"{runs_copy}/*.yaml", "-o", str(log)), str(log)),
        (("fit", str(runs_copy), "-o", str(tmp_path / "soft.yaml")), str(tmp_path / "soft.yaml")),
        (("fit", str(runs_copy), "-o", str(tmp_path / "hard.yaml")), str(tmp_path / "hard.yaml")),
        (("plot", str(runs_copy), "-o", str(tmp_path / "hard.png")), str(tmp_path / "hard.png")),
    ]
    for args, target in cases:
        message = fails(*args, *QUICK)
        assert message.startswith(f"--output: {target} is also an input (")
        assert message.endswith("); writing it would destroy that input: choose another output "
                                "path")
    fit_text = fit_path.read_bytes()
    assert fails("fit", "--fit", str(fit_path), "-o", str(fit_path)) == (
        f"--output: {fit_path} is also an input ({fit_path}); writing it would destroy that "
        "input: choose another output path")
    assert fit_path.read_bytes() == fit_text
    assert {p.name: p.read_bytes() for p in runs_copy.iterdir()} == before


def test_every_command_that_writes_files_checks_its_target_first() -> None:
    # A new command with -o must go through output_target (the rule above); this lists them.
    writers = []
    for command in app.registered_commands:
        callback = command.callback
        assert callback is not None
        if "output" in inspect.signature(callback).parameters:
            writers.append(callback.__name__)
            module = inspect.getmodule(callback)
            # output_target itself, or a helper of the command's module that calls it
            checkers = ["output_target"] + [
                name for name, fn in inspect.getmembers(module, inspect.isfunction)
                if fn.__module__ == module.__name__ and fn is not callback
                and "output_target(" in inspect.getsource(fn)]
            source = inspect.getsource(callback)
            assert any(f"{name}(" in source for name in checkers), callback.__name__
    assert {"fit", "plot", "curve", "report"} <= set(writers)


# --------------------------------------------------------------------- 2. nothing written on error


@pytest.mark.parametrize("args", [
    ("--field", "nope"),  # refused before the fit (tests/test_field_early.py)
    ("--confidence", "2"),
    ("--budget", "1e24"),  # only with --compare
    ("--compare", "--budget", "1e24"),
    ("--fix", "alpha=11"),
    ("-k", "1e300"),
], ids=lambda a: " ".join(a))
def test_a_refused_fit_leaves_the_old_file(tmp_path: Path, args: tuple[str, ...]) -> None:
    old = tmp_path / "old.json"
    old.write_bytes(b"old \x00 bytes\n")
    fails("fit", SAMPLE, *QUICK, "-o", str(old), *args)
    assert old.read_bytes() == b"old \x00 bytes\n" and entries(tmp_path) == ["old.json"]


def test_a_refused_hparams_field_leaves_the_old_file(tmp_path: Path) -> None:
    from scaling_cli.forecast.hparams import load_hparam_presets

    old = tmp_path / "old.json"
    old.write_text("old\n")
    law = next(iter(load_hparam_presets()))
    fails("hparams", "--law", law, "-o", str(old), "--field", "nope")
    assert old.read_text() == "old\n"


def test_a_fit_that_cannot_be_verified_leaves_the_old_file(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text("old\n")
    flat = str(ROOT / "tests" / "corpus" / "flat_losses.yaml")
    assert fails("fit", flat, *QUICK, "-o", str(old)).startswith(
        "the fit's optimum could not be verified")
    assert old.read_text() == "old\n" and entries(tmp_path) == ["old.json"]


def test_plot_errors_after_the_fit_leave_the_old_image(tmp_path: Path, fit_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "old.png"
    old.write_bytes(b"old image")
    # found out only when drawing, after the fit: no replicates for the bootstrap panel
    assert fails("plot", SAMPLE, *QUICK, "-o", str(old), "--kind", "bootstrap", "-b",
                 "1e24") == ("--kind bootstrap needs bootstrap replicates: give run logs with "
                             "--bootstrap of 40 or more, or a fit file that has them (a "
                             "published law has none)")
    assert old.read_bytes() == b"old image"
    # a renderer that fails
    import scaling_cli.render.plot as plot_module

    def broken(*args: object, **kwargs: object) -> bytes:
        raise UsageError("the renderer failed")

    monkeypatch.setattr(plot_module, "render", broken)
    assert fails("plot", "--fit", str(fit_path), "-o", str(old), "-b", "1e24") == (
        "the renderer failed")
    assert old.read_bytes() == b"old image"
    assert sorted(entries(tmp_path)) == ["fit.json", "old.png"]


def test_a_full_standard_output_leaves_the_old_fit_file(tmp_path: Path,
                                                       src: tuple[str, ...]) -> None:
    # The table goes to standard output before the fit file is renamed into place: when
    # standard output fails, the old file stays (and no temporary is left behind).
    full = device(tmp_path / "full", 1, 7)
    old = tmp_path / "old.json"
    old.write_text("old\n")
    with open(full, "wb") as sink:
        done = cli(*src, "-o", str(old), stdout=sink)
    assert (done.returncode, done.stderr) == (
        2, b"Error: cannot write the result to standard output (No space left on device)\n")
    assert old.read_text() == "old\n" and entries(tmp_path) == ["full", "old.json"]


# ----------------------------------------------------------------------- 3. unreadable directories

_AS_NOBODY = r"""
import json, os, sys
from typer.testing import CliRunner
from scaling_cli.cli import app
top = sys.argv[1]
def fit(*paths):
    result = CliRunner().invoke(app, ["fit", *paths, "--bootstrap", "0", "-q", "--field", "E"])
    return [result.exit_code, result.stdout, result.stderr]
warm = fit(os.path.join(top, "good"))  # every import done while the files are readable
if os.geteuid() == 0:
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError as exc:
        print(json.dumps({"skip": f"cannot switch to user nobody ({exc.strerror})"}))
        sys.exit(0)
cases = {name: fit(*(os.path.join(top, p) for p in paths))
         for name, paths in json.loads(sys.argv[2]).items()}
print(json.dumps({"warm": warm, "cases": cases}))
"""


@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A directory another user can enter (tmp_path's parents are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="scaling-perm-"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        for path in [top, *top.rglob("*")]:
            with contextlib.suppress(OSError):
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(top, ignore_errors=True)


def test_unreadable_directories_and_files_are_errors_not_skips(shared_tree: Path) -> None:
    logs = sorted(Path(SAMPLE).glob("isoflop_*.yaml"))
    for tree in ("good", "bad"):
        for i, sub in enumerate(("a", "b", "c")):
            (shared_tree / tree / sub).mkdir(parents=True)
            for log in logs[i::3]:
                shutil.copy(log, shared_tree / tree / sub / log.name)
    for path in [shared_tree, *shared_tree.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    bad = shared_tree / "bad"
    (bad / "b").chmod(0o000)  # cannot be listed
    (bad / "c").chmod(0o644)  # listed, but its files cannot be reached
    (bad / "a" / logs[0].name).chmod(0o000)  # one file unreadable
    cases = {"walk": ["bad"], "glob": ["bad/*/*.yaml"], "deep glob": ["bad/**/*.yaml"],
             "walk c": ["bad/c"], "file": [f"bad/a/{logs[0].name}"], "good": ["good"]}
    done = subprocess.run([sys.executable, "-c", _AS_NOBODY, str(shared_tree), json.dumps(cases)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    if "skip" in result:
        pytest.skip(result["skip"])
    assert result["warm"][0] == 0, result["warm"]
    got = result["cases"]
    assert got["good"][0] == 0, got["good"]  # the child can fit: the refusals are real
    denied = f"{bad}/b: directory cannot be read (Permission denied); its run logs would be " \
             "left out: fix its permissions, or pass only the paths you mean\n"
    for name in ("walk", "glob", "deep glob"):
        assert got[name] == [2, "", f"Error: {denied}"], name
    first_c = sorted(p.name for p in logs[2::3])[0]
    assert got["walk c"] == [2, "", f"Error: {bad}/c/{first_c}: cannot be read (Permission "
                                    "denied); check the path and its permissions\n"]
    assert got["file"] == [2, "", f"Error: {bad}/a/{logs[0].name}: cannot be read (Permission "
                                  "denied); check the path and its permissions\n"]


def test_a_broken_link_in_a_directory_is_not_a_run_log(runs_copy: Path) -> None:
    (runs_copy / "gone.yaml").symlink_to("nowhere.yaml")
    code, out, err = run("fit", str(runs_copy), *QUICK, "-q", "--field", "E")
    assert code == 0 and float(out) > 0, err


def test_an_overlong_path_is_an_error_not_a_traceback() -> None:
    name = "x" * 5000
    message = fails("fit", name)
    assert message.endswith(": cannot be read (File name too long); check the path and its "
                            "permissions")


# -------------------------------------------------------------------------------- 4. bounded reads


class Feeder:
    """Write ``chunk`` into a FIFO over and over until the reader goes away: /dev/zero or
    /dev/urandom without touching the real devices."""

    def __init__(self, fifo: Path, chunk: bytes) -> None:
        self.fifo, self.chunk, self.sent = fifo, chunk, 0
        os.mkfifo(fifo)
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError), open(self.fifo, "wb") as sink:
            while self.sent < 2**31:
                sink.write(self.chunk)
                self.sent += len(self.chunk)

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_a_fit_file_that_never_ends_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with Feeder(tmp_path / "zero", b"\x00" * 65536) as feeder:  # /dev/zero
        assert fails("optimal", "--fit", str(feeder.fifo), "-b", "1e24") == (
            f"{feeder.fifo}: is a binary file, not a fit file")
    assert feeder.sent < 64 * 2**20  # refused at the first chunk, not at the size limit
    random = np.random.default_rng(0).integers(0, 256, 65536, dtype=np.uint8).tobytes()
    with Feeder(tmp_path / "random", random) as feeder:  # /dev/urandom
        assert fails("optimal", "--fit", str(feeder.fifo), "-b", "1e24") == (
            f"{feeder.fifo}: is a binary file, not a fit file")
    monkeypatch.setattr(fitfile, "MAX_FIT_FILE_BYTES", 2**20)
    with Feeder(tmp_path / "text", b"[" * 65536) as feeder:  # text, endless
        assert fails("optimal", "--fit", str(feeder.fifo), "-b", "1e24") == (
            f"{feeder.fifo}: is over the 1 MiB limit for a fit file; is this the right file?")


def test_a_plan_file_that_never_ends_is_refused(tmp_path: Path) -> None:
    with Feeder(tmp_path / "plan", b"name: x\n" * 8192) as feeder:
        assert fails("check", str(feeder.fifo), "--law", "epoch-2024") == (
            f"{feeder.fifo}: is over the 1 MiB limit for a plan file; is this the right file?")


def test_huge_files_are_refused_by_their_size_before_reading(tmp_path: Path) -> None:
    # "is 300 MiB" is known only from the file's size: a read would stop at the limit
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:  # sparse: no disk space, no time
        handle.truncate(300 * 2**20)
    assert fails("optimal", "--fit", str(huge), "-b", "1e24") == (
        f"{huge}: is 300 MiB, over the 256 MiB limit for a fit file; is this the right file?")
    assert fails("check", str(huge), "--law", "epoch-2024") == (
        f"{huge}: is 300 MiB, over the 1 MiB limit for a plan file; is this the right file?")


def test_a_million_replicate_rows_are_refused_before_parsing(
        tmp_path: Path, fit_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {**fit_doc, "replicates": []}
    text = json.dumps(doc)
    row = json.dumps(fit_doc["replicates"][0])
    table = "[" + ", ".join([row] * 1_000_000) + "]"
    path = tmp_path / "fit.json"
    path.write_text(text.replace('"replicates": []', f'"replicates": {table}'))

    def no_parsing(*args: object, **kwargs: object) -> object:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(fitfile, "json", SimpleNamespace(loads=no_parsing,
                                                         JSONDecodeError=json.JSONDecodeError))
    assert fails("optimal", "--fit", str(path), "-b", "1e24") == (
        f"{path}: corrupted fit file (field 'replicates' has more than 100,000 rows); "
        f"recreate it with `scaling fit RUNS -o {path}`")


@pytest.mark.parametrize("where", ["law_source", "tool_version", "inputs.sha256", "runs.ids",
                                   "warnings", "an unknown key"])
def test_a_50_mb_string_in_a_fit_file_is_refused(tmp_path: Path, fit_doc: dict[str, Any],
                                                 where: str) -> None:
    doc = copy.deepcopy(fit_doc)
    big = "x" * (50 * 2**20)
    if where == "runs.ids":
        doc["runs"]["ids"][3] = big
        field = "runs.ids[3]"
    elif where == "warnings":
        doc["warnings"] = [big]
        field = "warnings[0]"
    elif where == "an unknown key":
        doc["notes"] = {"text": big}
        field = "notes"
    elif "." in where:
        doc["inputs"]["sha256"] = big
        field = where
    else:
        doc[where] = big
        field = where
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(doc))
    message = fails("optimal", "--fit", str(path), "-b", "1e24")
    assert message.startswith(f"{path}: corrupted fit file (field '{field}' ")
    assert "x" * 41 not in message


def test_unknown_keys_in_a_fit_file_are_allowed_when_small(tmp_path: Path,
                                                           fit_doc: dict[str, Any]) -> None:
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({**fit_doc, "notes": {"by": "a later version", "n": [1, 2]}}))
    code, _, err = run("optimal", "--fit", str(path), "-b", "1e24", "-q")
    assert code == 0, err


# -------------------------------------------------------------------------------------- 5. workers


def test_workers_are_capped_at_the_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import scaling_cli.fit.build as build

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    seen: list[int] = []

    def capture(runs: object, settings: build.FitSettings, **kwargs: object) -> object:
        seen.append(settings.workers)
        raise UsageError("stop here")

    monkeypatch.setattr(build, "fit_runs", capture)
    for asked, used in ((400, cores), (0, cores), (1, 1)):
        assert fails("fit", SAMPLE, "--workers", str(asked), "--bootstrap", "100") == "stop here"
        assert seen.pop() == used
    assert fails("fit", SAMPLE, "--workers", "-1") == (
        "--workers: -1: give 0 (every core) or a positive number")


def test_the_cap_is_said_once_the_command_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    code, out, err = run("fit", SAMPLE, "--workers", "400", *QUICK, "--field", "E")
    assert code == 0 and float(out) > 0
    assert err == "Note: --workers 400 capped at the 2 cores available\n"
    code, out, err = run("fit", SAMPLE, "--workers", "400", *QUICK, "--field", "E", "-q")
    assert (code, err) == (0, "")
    # an error stays the only line
    assert fails("fit", SAMPLE, "--workers", "400", "--budget", "1e24") == (
        "--budget applies with --compare only")


# ------------------------------------------------------------------------------------- 6. overflow


@pytest.mark.parametrize(("args", "message"), [
    (("predict", "--params", "1e200", "--tokens", "1e200", "-f", "json"),
     "--params: 1e+200 is implausibly large (from 1000 to 1e+15); check the units"),
    (("predict", "--params", "7B", "--tokens", "1e200", "-f", "json"),
     "--tokens: 1e+200 is implausibly large (from 1000 to 1e+18); check the units"),
    (("optimal", "-b", "1e24", "-k", "1e300"),
     "--flops-per-param-token: 1e+300 is implausibly large (from 1 to 100); k in C = k*N*D is "
     "about 6 for training (2 for a forward pass only)"),
    (("optimal", "-b", "1e24", "-k", "1e-300"),
     "--flops-per-param-token: 1e-300 is implausibly small (from 1 to 100); k in C = k*N*D is "
     "about 6 for training (2 for a forward pass only)"),
    (("optimal", "-b", "1e300", "--params", "1e-300"),
     "--budget: '1e300' is 1e+300 FLOPs, implausibly large for a training budget (from 1e+06 "
     "to 1e+35 FLOPs); check the units"),
    (("optimal", "-b", "1e24", "--params", "1e-300"),
     "--params: 1e-300 is implausibly small (from 1000 to 1e+15); check the units"),
    (("optimal", "-b", "1e24", "--gpu", "h100", "--peak-tflops", "1e-300"),
     "--peak-tflops: 1e-300 is not plausible: give a positive number from 0.001 to 1e+06"),
    (("target", "--loss", "2", "--inference-tokens", "1e300"),
     "--inference-tokens: 1e+300 is implausibly large (from 0 to 1e+18); check the units"),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_overflowing_flags_are_refused(args: tuple[str, ...], message: str) -> None:
    assert fails(*args, "--law", "epoch-2024") == message


@pytest.mark.parametrize(("k", "ok"), [("0.5", False), ("1", True), ("2", True), ("6", True),
                                       ("100", True), ("101", False)])
def test_the_flop_convention_range(k: str, ok: bool) -> None:
    code, _, err = run("optimal", "--law", "epoch-2024", "-b", "1e24", "-k", k, "-q")
    assert code == (0 if ok else 2), err


@pytest.mark.parametrize(("plan", "message"), [
    ("params: 1e300\ntokens: 1T\n",
     "'params': 1e+300 is implausibly large (from 1000 to 1e+15); check the units"),
    ("params: 7B\ntokens: 1T\nhardware: {peak_tflops: 1e-300, gpus: 8}\n",
     "hardware: 'peak_tflops': 1e-300 is not plausible: give a positive number from 0.001 to "
     "1e+06"),
    ("params: 7B\ntokens: 1T\nhardware: {gpu: h100, gpus: 1e300}\n",
     "hardware: 'gpus': '1e300' is not a GPU count; give a whole number from 1 to 1e9"),
    ("params: 1\nbudget: 1e24\n",
     "'params': 1 is implausibly small (from 1000 to 1e+15); check the units"),
    ("params: 7B\ntokens: 1e-3\n",
     "'tokens': 0.001 is implausibly small (from 1000 to 1e+18); check the units"),
], ids=["params-1e300", "peak_tflops-1e-300", "gpus-1e300", "params-1", "tokens-1e-3"])
def test_plan_files_are_held_to_the_same_ranges(tmp_path: Path, plan: str,
                                                message: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(plan + "limits: {max_flops: 1e25}\n")
    assert fails("check", str(path), "--law", "epoch-2024") == f"{path}: {message}"


def test_json_never_holds_infinity() -> None:
    text = dumps({"a": 1.0, "b": [float("inf"), {"c": float("-inf"), "d": float("nan")}],
                  "e": (np.float64("inf"), 2)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": 1.0, "b": [None, {"c": None, "d": None}], "e": [None, 2]}
    # the widest answers the flags allow: every number finite or null
    for args in (("optimal", "-b", "1e35", "--params", "1e3"), ("optimal", "-b", "1e6"),
                 ("predict", "--params", "1e15", "--tokens", "1e3"),
                 ("target", "--loss", "1.8173", "--inference-tokens", "1e18")):
        code, out, err = run(*args, "--law", "epoch-2024", "-f", "json", "-q")
        assert code == 0, err
        assert "Infinity" not in out and "NaN" not in out, args
        json.loads(out)


# ----------------------------------------------------------------------------- 7. standard streams


@pytest.fixture
def private_full(tmp_path: Path) -> Path:
    return device(tmp_path / "full", 1, 7)


@pytest.mark.parametrize(("args", "message"), [
    (("optimal", "--law", "epoch-2024", "-b", "1e24"),
     b"Error: cannot write the result to standard output (No space left on device)\n"),
    (("optimal", "--law", "epoch-2024", "-b", "1e24", "-f", "json"),
     b"Error: cannot write the result to standard output (No space left on device)\n"),
    (("--help",), b"Error: cannot write the output (No space left on device)\n"),
    (("--version",), b"Error: cannot write the output (No space left on device)\n"),
    (("laws",), b"Error: cannot write the result to standard output (No space left on device)\n"),
], ids=["table", "json", "help", "version", "laws"])
def test_a_full_standard_output(private_full: Path, args: tuple[str, ...],
                                message: bytes) -> None:
    with open(private_full, "wb") as sink:
        done = cli(*args, stdout=sink)
    assert (done.returncode, done.stderr) == (2, message)


def test_closed_standard_streams() -> None:
    done = cli("optimal", "--law", "epoch-2024", "-b", "1e24", redirect=">&-")
    assert (done.returncode, done.stderr) == (
        2, b"Error: cannot write the result: standard output is closed\n")
    done = cli("fit", "-", *QUICK, redirect="<&-")
    assert (done.returncode, done.stdout, done.stderr) == (
        2, b"", b"Error: -: standard input is closed; pipe the run logs in or name files\n")
    # standard error closed: the exit code alone says it, and nothing lands on stdout
    for args in (("optimal", "--law", "nope", "-b", "1e24"), ("optimal", "--bogus")):
        done = cli(*args, redirect="2>&-")
        assert (done.returncode, done.stdout) == (2, b""), args


def test_a_plot_needs_no_standard_output(tmp_path: Path, fit_path: Path) -> None:
    done = cli("plot", "--fit", str(fit_path), "-o", str(tmp_path / "p.png"), "-b", "1e24",
               "-q", redirect=">&-")
    assert (done.returncode, done.stderr) == (0, b"")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    child = subprocess.Popen([sys.executable, "-m", "scaling_cli", "fit", SAMPLE, "-f", "json",
                              "--bootstrap", "40"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # `| head -0`: gone before anything is written
    err = child.stderr.read()
    assert (child.wait(120), err) == (0, b"")


# ------------------------------------------------------------------------------ 8. SIGTERM, SIGHUP


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_terminated_during_a_bootstrap_with_workers(tmp_path: Path, signum: int) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("--workers is capped at the cores available: two workers need two cores")
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    child = subprocess.Popen(
        [sys.executable, "-m", "scaling_cli", "fit", SAMPLE, "--bootstrap", "20000",
         "--workers", "2", "-o", str(tmp_path / "fit.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path})
    try:
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while len(workers := _children(child.pid)) < 1:  # one worker beside the parent
            assert child.poll() is None and time.monotonic() < deadline, "no workers started"
            time.sleep(0.05)
        time.sleep(0.5)  # the workers are busy with replicates
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert (child.returncode, out, err) == (130, b"", b"Interrupted: nothing was written.\n")
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers left behind"
    assert entries(tmp_path) == []


# ----------------------------------------------------------------------------- 9. edited fit files


def _edit(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return doc


EDITS = [
    ("law.alpha.value", True, "field 'law.alpha.value' is True, not a number"),
    ("law.alpha.value", 1e308, "field 'law.alpha.value' is 1e+308, outside 0 to 10"),
    ("law.E.value", 0, "field 'law.E.value' is 0, outside 1.38879e-11 to 22026.5"),
    ("law.A.value", "5", "field 'law.A.value' is '5', not a number"),
    ("inputs.compute_flops_max", 0, "field 'inputs.compute_flops_max' is 0, outside 1 to 1e+35"),
    ("inputs.params_max", 1e3, "field 'inputs.params_min' is 2.62e+07, above params_max (1000)"),
    ("convention", KeyError, "field 'convention' is missing"),
    ("convention.flops_per_param_token", 1e300,
     "field 'convention.flops_per_param_token' is 1e+300, outside 1 to 100"),
    ("confidence", 7, "field 'confidence' is 7, outside 1e-09 to 1"),
    ("fit.at_bounds", [[1]], "field 'fit.at_bounds' is not a list of E, A, B, alpha, beta"),
    ("fit.constraints", {"fixed": {"alpha": 11}, "tied_exponents": False},
     "field 'fit.constraints.fixed.alpha' is 11, outside 0 to 10"),
    ("fit.constraints", {"fixed": {}},
     "field 'fit.constraints' is not an object with fields fixed and tied_exponents"),
    ("fit.flat_direction", {"x": 0.5},
     "field 'fit.flat_direction' is not an object of log_E, log_A, log_B, alpha, beta, alpha=beta"),
    ("bootstrap.replicates", 1, "field 'bootstrap.replicates' is 1, too few for an interval "
                                "(at least 40)"),
    ("bootstrap", None, "field 'replicates' has rows but field 'bootstrap' is null"),
    ("runs.ids", ["r\n1"], "field 'runs.ids[0]' is 'r\\n1', which holds a control character"),
    ("form.form_error.tail_factor", 0.5,
     "field 'form.form_error.tail_factor' is 0.5, outside 1 to 10"),
    ("form.form_error.tail_factor", "2",
     "field 'form.form_error.tail_factor' is '2', not a number"),
    ("form.form_error.folds", -1,
     "field 'form.form_error.folds' is -1, not a whole number from 0 to 1000"),
    ("form.form_error.folds", 2.5,
     "field 'form.form_error.folds' is 2.5, not a whole number from 0 to 1000"),
    ("form.form_error.over_bias_per_decade", 11,
     "field 'form.form_error.over_bias_per_decade' is 11, outside -10 to 10"),
]


@pytest.mark.parametrize(("path", "value", "problem"), EDITS,
                         ids=[f"{p}={str(v)[:12]}" for p, v, _ in EDITS])
def test_edited_fit_files_are_refused(tmp_path: Path, fit_doc: dict[str, Any], path: str,
                                      value: object, problem: str) -> None:
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(_edit(fit_doc, path, value)))
    expected = (f"{fit}: corrupted fit file ({problem}); recreate it with `scaling fit RUNS -o "
                f"{fit}`")
    assert fails("optimal", "--fit", str(fit), "-b", "1e24") == expected
    assert fails("plot", "--fit", str(fit), "-o", str(tmp_path / "p.png"), "-b",
                 "1e24") == expected  # refused before matplotlib sees it
    assert entries(tmp_path) == ["fit.json"]


def test_an_unverified_fit_file_needs_allow_unverified(tmp_path: Path,
                                                       fit_doc: dict[str, Any]) -> None:
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(_edit(fit_doc, "fit.verified", False)))
    refused = (f"{fit}: the fit in this file was NOT verified; refit with more runs, or pass "
               "--allow-unverified to use it anyway")
    assert fails("optimal", "--fit", str(fit), "-b", "1e24") == refused
    assert fails("plot", "--fit", str(fit), "-o", str(tmp_path / "p.png"), "-b",
                 "1e24") == refused
    code, _, err = run("optimal", "--fit", str(fit), "-b", "1e24", "--allow-unverified", "-q")
    assert code == 0, err
    code, _, err = run("plot", "--fit", str(fit), "-o", str(tmp_path / "p.png"), "-b", "1e24",
                       "--allow-unverified", "-q")
    assert code == 0 and (tmp_path / "p.png").exists(), err


# ---------------------------------------------------------------------------------- 10. MPLBACKEND


@pytest.mark.parametrize("backend", ["bogus", "module://no.such.module"])
def test_a_bad_mplbackend_does_not_stop_a_plot(tmp_path: Path, fit_path: Path,
                                               backend: str) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.svg"
    done = cli("plot", "--fit", str(fit_path), "-o", str(out), "-b", "1e24", "-q",
               env={"MPLBACKEND": backend})
    assert (done.returncode, done.stderr) == (0, b"")
    assert out.read_text().startswith("<?xml")


# ------------------------------------------------------------------------------- 11. budget ranges


@pytest.mark.parametrize(("budget", "problem"), [
    ("1e21...1e25", "'1e21...1e25': write a range as LOW..HIGH with two dots, e.g. 1e21..1e25"),
    ("1e21....1e25", "'1e21....1e25': write a range as LOW..HIGH with two dots, e.g. "
                     "1e21..1e25"),
    ("..1e25", "'..1e25': write a range as LOW..HIGH with two dots, e.g. 1e21..1e25"),
    ("1e21..", "'1e21..': write a range as LOW..HIGH with two dots, e.g. 1e21..1e25"),
    ("..", "'..': write a range as LOW..HIGH with two dots, e.g. 1e21..1e25"),
    ("1e21..1e25..", "'1e21..1e25..': write a range as LOW..HIGH with two dots, e.g. "
                     "1e21..1e25"),
    ("1e21..1e25..1e26", "'1e21..1e25..1e26': write a range as LOW..HIGH with two dots, e.g. "
                         "1e21..1e25"),
    ("1e21\u20261e25", "'1e21\u20261e25': write a range as LOW..HIGH with two ASCII dots, "
                       "e.g. 1e21..1e25"),
    ("1e21 .. 1e25", "'1e21 .. 1e25' contains a space; write '1e21..1e25'"),
    ("1e21.. 1e25", "'1e21.. 1e25' contains a space; write '1e21..1e25'"),
    ("1e25..1e21", "'1e25..1e21': the low end must be below the high end"),
    ("1e21..1e25.", "'1e25.': not a number; write a budget as 1e24 (FLOPs), 2e6gpu-hours, "
                    "30days, 5e6usd or $5M"),
])
def test_budget_ranges_parse_exactly_or_fail(budget: str, problem: str) -> None:
    assert fails("optimal", "--law", "epoch-2024", "-b", budget) == f"--budget: {problem}"


def test_a_range_gives_exactly_its_steps() -> None:
    code, out, err = run("optimal", "--law", "epoch-2024", "-b", "1e21..1e25", "-q", "--field",
                         "compute_flops")
    assert code == 0, err
    assert [float(x) for x in out.split()] == pytest.approx([1e21, 1e22, 1e23, 1e24, 1e25],
                                                            rel=1e-12)


# ------------------------------------------------------------------- 12. options that cannot apply

FIT_ONLY_VALUES = {"column": ("--column", "id=x"), "where": ("--where", "a==b"),
                   "input_format": ("--input-format", "csv"), "skip_invalid": ("--skip-invalid",),
                   "reduce": ("--reduce", "last"), "tokens_per_step": ("--tokens-per-step", "2M"),
                   "log_params": ("--log-params", "70M"), "params_file": ("--params-file", "p"),
                   "restarts": ("--restarts", "keep-last"), "bootstrap": ("--bootstrap", "100"),
                   "seed": ("--seed", "1"), "resample_by": ("--resample-by", "run"),
                   "method": ("--method", "lsq"), "fix": ("--fix", "E=1.7"),
                   "tie_exponents": ("--tie-exponents",), "form": ("--form", "tied"),
                   "repeated_data": ("--repeated-data", "fresh"),
                   "checkpoints": ("--checkpoints", "all"), "workers": ("--workers", "1")}


COMMANDS = {"optimal": ("-b", "1e24"), "predict": ("-N", "7B", "-D", "1T"),
            "target": ("--loss", "2.1"), "check": ("-N", "7B", "-D", "1T", "--max-loss", "3"),
            "fit": (), "plot": ("-o", "never.png", "-b", "1e24")}


def _takes(command: str, name: str) -> bool:
    callback = next(c.callback for c in app.registered_commands
                    if c.callback is not None and c.callback.__name__ == command)
    return name in inspect.signature(callback).parameters


@pytest.mark.parametrize("source", ["--fit", "--law"])
@pytest.mark.parametrize("name", cli_options.FIT_ONLY)
def test_fit_options_are_refused_without_runs(fit_path: Path, source: str, name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(fit_path.parent)
    option = FIT_ONLY_VALUES[name]
    law = ["--fit", str(fit_path)] if source == "--fit" else ["--law", "epoch-2024"]
    expected = (f"{option[0]} shapes a fit of run logs; with {source} nothing is refitted, so "
                "it would change nothing: drop it")
    tried = [command for command in COMMANDS if _takes(command, name)]
    for command in tried:
        assert fails(command, *COMMANDS[command], *law, *option) == expected, command
    assert len(tried) >= 5
    assert entries(fit_path.parent) == ["fit.json"]


def test_every_fit_only_option_is_covered() -> None:
    assert set(cli_options.FIT_ONLY) == set(FIT_ONLY_VALUES)


def test_allow_unverified_with_a_published_law() -> None:
    assert fails("optimal", "--law", "epoch-2024", "-b", "1e24", "--allow-unverified") == (
        "--allow-unverified applies to fits; a published law (--law) has no fit to verify: "
        "drop it")


@pytest.mark.parametrize(("args", "message"), [
    (("check", "-N", "7B", "-D", "1T", "--max-loss", "3", "--runs", SAMPLE, "--law",
      "epoch-2024"), "--law and RUNS cannot be combined; give only one"),
    (("check", "-N", "7B", "-D", "1T", "--max-loss", "3", "--runs", SAMPLE, "--fit", "f.json"),
     "--fit and RUNS cannot be combined; give only one"),
    (("check", "-N", "7B", "-D", "1T", "--max-loss", "3"),
     "give run logs (RUNS), a fit file (--fit FILE) or a published law (--law NAME)"),
    (("fit", "--compare", "-b", "1e24", "--law", "epoch-2024"),
     "--compare fits run logs with every method: give RUNS, and no --output, --method, --law "
     "or --fit"),
    (("fit", SAMPLE, "--compare", "-b", "1e24", "-o", "x.json"),
     "--compare fits run logs with every method: give RUNS, and no --output, --method, --law "
     "or --fit"),
    (("fit", SAMPLE, "--compare", "-b", "1e24", "--method", "lsq"),
     "--compare fits run logs with every method: give RUNS, and no --output, --method, --law "
     "or --fit"),
    (("fit", SAMPLE, "--compare"), "--compare needs --budget, e.g. --compare --budget 1e24"),
    (("fit", SAMPLE, "-b", "1e24"), "--budget applies with --compare only"),
    (("fit", SAMPLE, "--compare", "-b", "30days"),
     "--budget: '30days': --compare takes a budget in FLOPs, e.g. 1e24"),
    (("fit", SAMPLE, "--compare", "-b", "1"),
     "--budget: '1' is 1 FLOPs, implausibly small for a training budget (from 1e+06 to 1e+35 "
     "FLOPs); check the units"),
], ids=lambda x: " ".join(x[:5]) if isinstance(x, tuple) else "")
def test_combinations_that_cannot_apply(args: tuple[str, ...], message: str) -> None:
    assert fails(*args) == message


def test_compare_with_a_fit_file(fit_path: Path) -> None:
    assert fails("fit", "--compare", "-b", "1e24", "--fit", str(fit_path)) == (
        "--compare fits run logs with every method: give RUNS, and no --output, --method, "
        "--law or --fit")


# ----------------------------------------------------------------- 13. flags as strict as run logs


@pytest.mark.parametrize(("args", "message"), [
    (("optimal", "-b", "1e24", "--gpu", "h100", "--gpus", "0"),
     "--gpus: 0 is not a GPU count: give a whole number from 1 to 1e9"),
    (("optimal", "-b", "1e24", "--params", "1"),
     "--params: 1 is implausibly small (from 1000 to 1e+15); check the units"),
    (("optimal", "-b", "1e24", "--params", "1e30"),
     "--params: 1e+30 is implausibly large (from 1000 to 1e+15); check the units"),
    (("predict", "--params", "1", "--tokens", "1T"),
     "--params: 1 is implausibly small (from 1000 to 1e+15); check the units"),
    (("check", "--params", "1", "--tokens", "1T", "--max-loss", "3"),
     "--params: 1 is implausibly small (from 1000 to 1e+15); check the units"),
    (("target", "--loss", "0"), "--loss: is zero; it must be positive"),
    (("target", "--loss", "25"), "--loss: 25 is implausibly large (from 0 to 20); a loss is in "
                                 "nats/token; if it is a perplexity, give its natural log"),
    (("optimal", "-b", "1e24", "--gpu", "h100", "--mfu", "1e-9"),
     "--mfu: 1e-09 is implausibly small: the model FLOPs utilisation is achieved / peak, at "
     "least 0.01 (1%); e.g. 0.4 for 40% of peak"),
    (("optimal", "-b", "1e24", "--unique-tokens", "1"),
     "--unique-tokens: 1 is implausibly small (from 1000 to 1e+18); check the units"),
    (("target", "--loss", "2", "--inference-tokens", "1e40"),
     "--inference-tokens: 1e+40 is implausibly large (from 0 to 1e+18); check the units"),
    (("optimal", "-b", "1"), "--budget: '1' is 1 FLOPs, implausibly small for a training "
                             "budget (from 1e+06 to 1e+35 FLOPs); check the units"),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_flags_refuse_what_run_logs_refuse(args: tuple[str, ...], message: str) -> None:
    assert fails(*args, "--law", "epoch-2024") == message


def test_the_plausible_edges_are_accepted() -> None:
    code, _, err = run("target", "--law", "epoch-2024", "--loss", "2", "--inference-tokens", "0",
                       "-q")
    assert code == 0, err
    code, _, err = run("optimal", "--law", "epoch-2024", "-b", "1e24", "--gpu", "h100", "--mfu",
                       "0.01", "--unique-tokens", "1e3", "-q")
    assert code == 0, err


# ------------------------------------------------------------------- 14. bootstrap, --fix, repeats


@pytest.mark.parametrize(("args", "message"), [
    (("--bootstrap", "1"), "--bootstrap: 1 is too few for an interval (at least 40); give 0 for "
                           "no intervals, or 1,000 (the default)"),
    (("--bootstrap", "39"), "--bootstrap: 39 is too few for an interval (at least 40); give 0 "
                            "for no intervals, or 1,000 (the default)"),
    (("--fix", "alpha=11"), "--fix alpha: 11.0 is outside the range the fit searches (0 to 10); "
                            "hold alpha at a value inside it"),
    (("--fix", "beta=10.5"), "--fix beta: 10.5 is outside the range the fit searches (0 to 10); "
                             "hold beta at a value inside it"),
    (("--fix", "E=1e300"), "--fix E: 1e+300 is outside the range the fit searches (1.39e-11 to "
                           "2.2e+04); hold E at a value inside it"),
    (("--fix", "alpha=0.3", "--fix", "alpha=0.4"),
     "--fix: alpha is given twice ('0.3' and '0.4'); give it once"),
    (("--column", "id=a", "--column", "id=b"),
     "--column: id is given twice ('a' and 'b'); give it once"),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_settings_out_of_range_or_repeated(args: tuple[str, ...], message: str) -> None:
    assert fails("fit", SAMPLE, *args) == message


def test_exponents_at_the_documented_edges_are_accepted() -> None:
    from scaling_cli.fit.constraints import Constraints

    assert Constraints.make({"alpha": 10.0}).fixed == (("alpha", 10.0),)
    assert Constraints.make({"beta": 1e-3}).fixed == (("beta", 1e-3),)


# ------------------------------------------------------------------------ 15. the two YAML readers


@pytest.mark.parametrize("blank", [" ", "  ", "\t", " \t"])
def test_an_empty_value_with_trailing_blanks_reads_alike(tmp_path: Path, blank: str) -> None:
    body = f"id: r1\nparams: 7B\ntokens: 1T\nloss: 2.5\nexclude:{blank}\ngroup:{blank}\n"
    plain, commented = tmp_path / "plain.yaml", tmp_path / "commented.yaml"
    plain.write_text(body)
    commented.write_text("# a comment line sends this one through the full loader\n" + body)
    assert (yamlsafe.load_yaml_documents(body, "x")
            == yamlsafe.load_yaml_documents("# c\n" + body, "x")
            == [{"id": "r1", "params": "7B", "tokens": "1T", "loss": "2.5", "exclude": None,
                 "group": None}])
    a, b = (load_runs([str(p)]) for p in (plain, commented))
    assert [(r.run_id, r.exclude, r.group) for r in a.runs] == [
        (r.run_id, r.exclude, r.group) for r in b.runs] == [("r1", False, None)]


# ----------------------------------------------------------------------- 16. stderr stays one line

TINY = "runs:\n" + "".join(
    f"  - {{id: r{i}, params: {n:.3g}, tokens: {6e20 / n:.3g}, loss: {loss}}}\n"
    for i, (n, loss) in enumerate(
        (n, loss) for n in np.geomspace(1e7, 1e10, 8) for loss in ("1e-300", "3e-300")))


def _degenerate(doc: dict[str, Any]) -> dict[str, Any]:
    """What a very noisy ladder leaves: most bootstrap replicates degenerate (alpha = 0, so
    the N term never shrinks; A at the bottom of the search box). Written as a fit file, so
    the forecast code sees them without minutes of refitting noise."""
    doc = copy.deepcopy(doc)
    for i, row in enumerate(doc["replicates"]):
        if i % 3 == 0:
            row[3] = 0.0
        elif i % 3 == 1:
            row[1] = -25.0
    doc["bootstrap"]["degenerate"] = len(doc["replicates"]) * 2 // 3
    return doc


WARNING_CASES = {
    "tiny losses": ("fit", "{tiny}", "--bootstrap", "40", "--allow-unverified", "--workers", "1"),
    "degenerate replicates at 1e35": ("optimal", "--fit", "{degenerate}", "-b", "1e35"),
    "target loss 1e-300": ("target", "--fit", "{degenerate}", "--loss", "1e-300"),
}


@pytest.fixture
def warning_inputs(tmp_path: Path, fit_doc: dict[str, Any]) -> dict[str, str]:
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "degenerate.json").write_text(json.dumps(_degenerate(fit_doc)))
    return {"tiny": str(tmp_path / "tiny.yaml"), "degenerate": str(tmp_path / "degenerate.json")}


def test_numeric_warnings_never_reach_stderr(warning_inputs: dict[str, str]) -> None:
    # through the real entry point: whatever the core emits, users see one kind of line
    for case, args in WARNING_CASES.items():
        done = cli(*(a.format(**warning_inputs) for a in args))
        assert done.returncode == 0, (case, done.stderr[-2000:])
        for line in done.stderr.decode().splitlines():
            assert line.startswith(("Warning: ", "Note: ")), (case, line)


@pytest.mark.parametrize("case", list(WARNING_CASES))
def test_the_core_raises_no_numeric_warnings(warning_inputs: dict[str, str], case: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(*(a.format(**warning_inputs) for a in WARNING_CASES[case]))
    assert code == 0, err
    assert [str(w.message) for w in caught] == []


def test_internal_text_never_leaks(tmp_path: Path, fit_doc: dict[str, Any]) -> None:
    messages = []
    for path, value in (("convention", KeyError), ("fit.at_bounds", [[1]]),
                        ("law", KeyError), ("inputs", [1]), ("runs.params", [float("inf")])):
        fit = tmp_path / "fit.json"
        fit.write_text(json.dumps(_edit(fit_doc, path, value)))
        messages.append(fails("optimal", "--fit", str(fit), "-b", "1e24"))
    for message in messages:
        for leak in ("KeyError", "TypeError", "array(", "np.float64", "Traceback", "inf]"):
            assert leak not in message, message


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "two\nlines.yaml"
    bad.write_text("id: r1\nparams: 7BB\ntokens: 1T\nloss: 2.5\n")
    message = fails("fit", str(bad))
    assert message == (f"{tmp_path}/two\\nlines.yaml: run 1 (id 'r1'): field 'params': '7BB' "
                       "repeats the suffix; write 7B")


NUMBER = "9" * 400


@pytest.mark.parametrize("args", [
    ("fit", SAMPLE, "--seed", NUMBER), ("fit", SAMPLE, "--workers", NUMBER, "-b", "1e24"),
    ("fit", SAMPLE, "--workers", "-" + NUMBER), ("fit", SAMPLE, "--bootstrap", NUMBER),
    ("fit", SAMPLE, "--fix", f"alpha={NUMBER}"), ("fit", SAMPLE, "-k", NUMBER),
    ("fit", SAMPLE, "--input-format", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", f"{NUMBER}gpu-hours", "--gpu", "h100"),
    ("optimal", "--law", "epoch-2024", "-b", "1e24", "--gpu", "h100", "--gpus", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", "1e21..1e24", "--steps", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", "1e24", "--confidence", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", "1e24", "--band", NUMBER),
    ("optimal", "--law", "epoch-2024", "-b", "1e24", "--gpu", NUMBER),
    ("backtest", SAMPLE, "--folds", NUMBER),
    ("plot", "--law", "epoch-2024", "-o", "x.png", "--dpi", NUMBER),
    ("check", "--law", "epoch-2024", "-N", "7B", "-D", "1T", "--max-loss", NUMBER),
], ids=lambda a: " ".join(x[:12] for x in a[2:]))
def test_a_400_digit_number_is_not_echoed(args: tuple[str, ...]) -> None:
    message = fails(*args)
    assert "9" * 41 not in message, message


@pytest.mark.parametrize("args", [
    ("optimal", "--law", NUMBER, "-b", "1e24"), ("fit", SAMPLE, "--method", NUMBER),
    ("fit", SAMPLE, "--resample-by", NUMBER, *QUICK),
    ("fit", "--law", "epoch-2024", "--field", NUMBER),
    ("fit", NUMBER), ("backtest", SAMPLE, *QUICK, "--holdout-largest", NUMBER),
    ("check", "--law", "epoch-2024", "-N", "7B", "-D", "1T", "--max-loss", "3", "--fail-on",
     NUMBER),
], ids=lambda a: " ".join(x[:12] for x in a[1:4]))
def test_whatever_echoes_a_value_the_line_stays_bounded(args: tuple[str, ...]) -> None:
    # the last line of defence (cli.base.one_line): no word longer than LONGEST_WORD
    message = fails(*args)
    assert NUMBER not in message
    assert max(len(word) for word in message.split()) <= LONGEST_WORD, message


def test_one_line_escapes_and_cuts() -> None:
    assert one_line("a\nb\tc\x1b[0m") == "a\\nb\\tc\\x1b[0m"
    cut = one_line("x " + "7" * 500 + " y")
    assert cut == "x " + "7" * 64 + "..." + "7" * 64 + " y"
    path = "/" + "/".join(["d" * 30] * 5)  # a long path stays whole
    assert one_line(path) == path and len(path) <= LONGEST_WORD



def test_a_fit_file_from_before_the_tail_factor_reads_as_one(tmp_path: Path,
                                                             fit_doc: dict[str, Any]) -> None:
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(fit_doc))
    before = CliRunner().invoke(app, ["optimal", "--fit", str(fit), "-b", "1e24", "-f", "json"])
    old = _edit(fit_doc, "form.form_error.tail_factor", KeyError)
    assert fit_doc["form"]["form_error"]["tail_factor"] == 1.0  # (the sample-like ladder)
    fit.write_text(json.dumps(old))
    after = CliRunner().invoke(app, ["optimal", "--fit", str(fit), "-b", "1e24", "-f", "json"])
    assert before.exit_code == after.exit_code == 0
    assert json.loads(after.stdout)["budgets"] == json.loads(before.stdout)["budgets"]


def test_a_fit_file_from_before_the_fold_factor_reads_its_estimate_as_it_was(
        tmp_path: Path, fit_doc: dict[str, Any]) -> None:
    """Fit files written before the fold factor carry no `folds`: their form error is read
    as the estimate it was (factor 1); a file with `folds` gets the factor back."""
    from scaling_cli.read.fitfile import read_fit_file

    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(fit_doc))
    error = read_fit_file(str(fit)).form_error
    assert error is not None and error.folds == fit_doc["form"]["form_error"]["folds"] > 0
    assert error.fold_factor == fit_doc["form"]["form_error"]["fold_factor"] > 1
    fit.write_text(json.dumps(_edit(fit_doc, "form.form_error.folds", KeyError)))
    old = read_fit_file(str(fit)).form_error
    assert old is not None and (old.folds, old.fold_factor) == (0, 1.0)
    assert old.sd(1.0, 0.0) == pytest.approx(error.sd(1.0, 0.0) / error.fold_factor)
