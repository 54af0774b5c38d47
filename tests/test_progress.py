"""Long work shows progress on standard error when it is a terminal, and only then (issue 14
§2): the bootstrap (a bar with the replicates done), reading run logs and a backtest's refits
(a spinner with the time elapsed). Not with -q, not when standard error is a pipe or a file
(CI logs), and never on standard output. The terminal is a real pseudo-terminal (``pty``)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT

# What rich draws a live display with: cursor hiding and line erasing.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FAST = ("--workers", "1")


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR", "CI"}}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120"}


def on_terminal(*args: str) -> Ran:
    """``scaling ARGS`` with standard error on a pseudo-terminal and standard output a file."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received = bytearray()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "scaling_cli", *args], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=slave, env=_env())
        os.close(slave)
        try:
            # Read while it runs: a terminal's buffer is small and rich redraws 10 times a
            # second, so an unread terminal would stall the command.
            while True:
                ready, _, _ = select.select([master], [], [], 1.0)
                if ready:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # EIO: every process holding the terminal has exited
                        break
                    if not chunk:
                        break
                    received += chunk
                elif proc.poll() is not None:
                    break
            code = proc.wait(timeout=600)
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
        out.seek(0)
        return Ran(code, out.read().decode(), received.decode(errors="replace"))


def on_pipes(*args: str) -> Ran:
    done = subprocess.run([sys.executable, "-m", "scaling_cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=_env(), check=False, timeout=600)
    return Ran(done.returncode, done.stdout, done.stderr)


def shown(terminal: str) -> str:
    """The terminal's text without the control sequences that draw and erase the bar."""
    return ANSI.sub("", terminal).replace("\r", "")


def test_bootstrap_shows_a_bar_on_a_terminal_and_nothing_else_changes() -> None:
    args = ("fit", "sample_runs/", "--bootstrap", "400", *FAST)
    term, piped = on_terminal(*args), on_pipes(*args)
    assert term.returncode == piped.returncode == 0
    assert "bootstrap" in shown(term.stderr) and "reading run logs" in shown(term.stderr)
    assert ANSI.search(term.stderr)  # drawn, then erased (transient)
    assert term.stdout == piped.stdout  # the answer is the same bytes, with no control codes
    assert not ANSI.search(term.stdout)


def test_no_progress_when_standard_error_is_not_a_terminal() -> None:
    piped = on_pipes("fit", "sample_runs/", "--bootstrap", "400", *FAST)
    assert piped.returncode == 0
    assert not ANSI.search(piped.stderr)
    assert "bootstrap" not in piped.stderr and "reading run logs" not in piped.stderr


@pytest.mark.parametrize("args", [
    ("fit", "sample_runs/", "--bootstrap", "400", "-q", *FAST),
    ("backtest", "sample_runs/", "--holdout-largest", "7", "--bootstrap", "40", "-q", *FAST),
])
def test_quiet_shows_no_progress_on_a_terminal(args: tuple[str, ...]) -> None:
    term = on_terminal(*args)
    assert term.returncode == 0
    assert term.stderr == ""


def test_backtest_shows_that_it_is_refitting() -> None:
    term = on_terminal("backtest", "sample_runs/", "--holdout-largest", "7", "--bootstrap", "40",
                       *FAST)
    assert term.returncode == 0
    text = shown(term.stderr)
    assert "reading run logs" in text and "backtest: refitting each fold" in text
    assert re.search(r"\d:\d\d:\d\d", text)  # the time elapsed, for work of unknown length


def test_a_preset_reads_no_runs_and_shows_nothing() -> None:
    term = on_terminal("optimal", "--law", "epoch-2024", "-b", "1e24")
    assert term.returncode == 0 and term.stderr == ""


def test_joint_fit_reads_both_ladders_then_shows_the_joint_bootstrap() -> None:
    # Reading happens before the bar, not inside it: a terminal holds one live display.
    term = on_terminal("compare", "sample_runs/", "sample_runs/", "--bootstrap", "40",
                       "-b", "1e22")
    text = shown(term.stderr)
    assert "reading run logs" in text and "joint bootstrap" in text
    assert "LiveError" not in text and "Traceback" not in text
