"""The Typer app, the one place errors become exit codes, and the entry point.

Commands (in :mod:`~scaling_cli.cli.plan`, :mod:`~scaling_cli.cli.fit`,
:mod:`~scaling_cli.cli.info`, :mod:`~scaling_cli.cli.plot`) parse their options, make one
library call, render, and let :func:`handled` turn the library's errors into one ``Error:``
line and a documented exit code. The library names settings (``hardware.mfu``); here they
become the flags a user typed (``--mfu``).
"""

from __future__ import annotations

import functools
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from scaling_cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, ScalingError
from scaling_cli.version import __version__

__all__ = ["FLAGS", "app", "flag", "handled", "main", "say"]

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


def say(text: str) -> None:
    """One line on standard error, even when it is closed or full (then: nothing)."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text.replace("\n", " ") + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class Interrupted(Exception):
    """SIGTERM or SIGHUP, raised in the main process like Ctrl-C."""


def handled(func: F) -> F:
    """Turn the tool's own errors into one `Error:` line and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScalingError as exc:
            say(f"Error: {exc.render(flag)}")
            raise typer.Exit(exc.exit_code) from None
        except (KeyboardInterrupt, Interrupted):
            say("Interrupted: nothing was written.")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


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


def main() -> None:
    """Console-script entry point: signals as interrupts, closed standard streams handled."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to put a result
        say("Error: standard output is closed; nothing to write the result to")
        sys.exit(EXIT_ERROR)
    # Numeric warnings (overflow in a replicate, matplotlib font notes) never reach users as
    # extra stderr lines: what matters is in the result's own warnings.
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", UserWarning)
    try:
        app()
    except (KeyboardInterrupt, Interrupted):  # outside a command (import, option parsing)
        say("Interrupted: nothing was written.")
        sys.exit(EXIT_INTERRUPTED)
