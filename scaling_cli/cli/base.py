"""The Typer app, the one place errors become exit codes, and the entry point.

Commands (in :mod:`~scaling_cli.cli.plan`, :mod:`~scaling_cli.cli.fit`,
:mod:`~scaling_cli.cli.info`, :mod:`~scaling_cli.cli.plot`) parse their options, make one
library call, render, and let :func:`handled` turn the library's errors into one ``Error:``
line and a documented exit code. The library names settings (``hardware.mfu``); here they
become the flags a user typed (``--mfu``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import re
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from scaling_cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, ScalingError
from scaling_cli.fit.allocator import keep_freed_memory
from scaling_cli.version import __version__

__all__ = ["FLAGS", "LONGEST_WORD", "app", "flag", "handled", "main", "note", "one_line", "say"]

app = typer.Typer(
    name="scaling",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help and usage errors: rich help formatting imports ~100 ms of rich/markdown on
    # every `--help`, and CI logs read plain text better.
    rich_markup_mode=None,
    help="Fit a Chinchilla-style loss surface L(N, D) = E + A/N^alpha + B/D^beta to your run "
         "logs and plan compute-optimal training runs, with honest error bars.",
)

# Library setting -> the flag that sets it (others are --name-with-dashes).
FLAGS = {
    "replicates": "--bootstrap",
    "fit_file": "--fit",
    "flops_per_param_token": "--flops-per-param-token",
    "hardware.gpu": "--gpu",
    "hardware.gpus": "--gpus",
    "hardware.mfu": "--mfu",
    "hardware.peak_tflops": "--peak-tflops",
    "hardware.usd_per_gpu_hour": "--usd-per-gpu-hour",
    "columns": "--column",
    "output": "--output",
}
F = TypeVar("F", bound=Callable[..., Any])


def flag(setting: str) -> str:
    """The flag for a library setting: ``hardware.mfu`` -> ``--mfu``; ``fix.alpha`` ->
    ``--fix alpha``."""
    if setting in FLAGS:
        return FLAGS[setting]
    head, _, leaf = setting.partition(".")
    if leaf and head in {"fix", "column"}:
        return f"--{head} {leaf}"
    return "--" + setting.replace("_", "-").replace(".", "-")


# Control characters are shown escaped, so a message stays one line whatever a file name
# or value holds; a "word" longer than LONGEST_WORD (a 400-digit number, a path of
# hundreds of characters) is cut in the middle: the last line of defence behind each
# message's own `units.shown`.
LONGEST_WORD = 160  # long paths survive whole; a 400-digit number does not
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LONG_WORD = re.compile(rf"\S{{{LONGEST_WORD + 1},}}")


def one_line(text: str) -> str:
    """``text`` as one bounded line: control characters escaped, overlong words cut."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return _LONG_WORD.sub(lambda m: m.group()[:64] + "..." + m.group()[-64:], text)


def say(text: str) -> None:
    """One line on standard error, even when it is closed or full (then: nothing)."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(one_line(text) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


_NOTES: list[str] = []


def note(text: str) -> None:
    """A remark about how the command runs (``--workers`` capped): said on standard error
    once the command has succeeded, unless ``--quiet``; an error replaces it, so an error
    stays the only line."""
    _NOTES.append(text)


class Interrupted(Exception):
    """SIGTERM or SIGHUP, raised in the main process like Ctrl-C."""


def handled(func: F) -> F:
    """Turn the tool's own errors into one `Error:` line and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _NOTES.clear()
        try:
            result = func(*args, **kwargs)
        except ScalingError as exc:
            _NOTES.clear()
            say(f"Error: {exc.render(flag)}")
            raise typer.Exit(exc.exit_code) from None
        except (KeyboardInterrupt, Interrupted):
            _NOTES.clear()
            say("Interrupted: nothing was written.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except typer.Exit as done:  # e.g. `check`: exit 1 after its answer
            _say_notes(kwargs, done.exit_code)
            raise
        _say_notes(kwargs, 0)
        return result

    return wrapper  # type: ignore[return-value]


def _say_notes(kwargs: dict[str, Any], code: int) -> None:
    if code in (0, 1) and not kwargs.get("quiet"):
        for text in _NOTES:
            say(f"Note: {text}")
    _NOTES.clear()


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scaling-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=version_callback,
                                 is_eager=True, help="Show the version and exit."),
) -> None:
    """Chinchilla-style scaling-law forecasts from your run logs."""


def _terminate(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _occupy_closed_descriptors() -> None:
    """Started with standard streams closed (``>&-``, ``<&-``, ``2>&-``): put /dev/null on
    descriptors 0-2 so no file opened later lands there (a run log read as "stdin", a fit
    file written through "stdout"). Python has already set the stream to None: a command
    that needs it says so (`cannot write the result: standard output is closed`); with
    standard error closed, messages go nowhere and only the exit code remains."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                spare = os.open(os.devnull, os.O_RDWR)
                if spare != fd:
                    os.dup2(spare, fd)
                    os.close(spare)
    if sys.stderr is None:  # click would otherwise print usage errors on standard output
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def main() -> None:
    """Console-script entry point: signals as interrupts, closed or full standard streams
    as one line and exit 2 (docs/input-errors.md)."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    _occupy_closed_descriptors()
    keep_freed_memory()  # numpy's temporaries reused, not faulted in afresh (1.8x on Epoch)
    # Numeric warnings (overflow in a replicate, matplotlib font notes) never reach users as
    # extra stderr lines: what matters is in the result's own warnings.
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", UserWarning)
    try:
        _app_for(sys.argv[1:])()
    except (KeyboardInterrupt, Interrupted):  # outside a command (import, option parsing)
        say("Interrupted: nothing was written.")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # typer's own output (--help, --version, usage) to a full stream
        say(f"Error: cannot write the output ({exc.strerror or exc})")
        _quiet_exit_streams()
        sys.exit(EXIT_ERROR)


def _app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command ``argv`` starts with: Typer builds the options of
    every registered command on each run (the signatures of 14 commands, ~30 ms of every
    command's start-up), and one command's options are all a run of it parses. Anything
    else (no command, an option first, an unknown command, shell completion) gets the whole
    app, so help, ``--version`` and usage errors are unchanged."""
    if not argv or any(name.endswith("_COMPLETE") for name in os.environ):
        return app
    chosen = [c for c in app.registered_commands if c.callback is not None
              and (c.name or c.callback.__name__.lower().replace("_", "-")) == argv[0]]
    if len(chosen) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    return one


def _quiet_exit_streams() -> None:
    """Point standard output and error at /dev/null: the interpreter's final flush must not
    fail again (and print a traceback) on the way out."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, AttributeError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
