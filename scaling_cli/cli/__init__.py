"""The `scaling` command-line edge: a thin Typer app over the library.

:mod:`~scaling_cli.cli.base` holds the app, the error-to-exit-code mapping and the entry
point; :mod:`~scaling_cli.cli.options` the shared options and output; importing the command
modules below registers their commands, in the order ``--help`` lists them.
"""

from __future__ import annotations

from scaling_cli.cli.base import app, main

# isort: off
from scaling_cli.cli import plan as _plan  # noqa: F401  (optimal, target, check)
from scaling_cli.cli import fit as _fit  # noqa: F401  (fit, predict, backtest)
from scaling_cli.cli import plot as _plot  # noqa: F401  (plot)
from scaling_cli.cli import report as _report  # noqa: F401  (report)
from scaling_cli.cli import decide as _decide  # noqa: F401  (compare, hparams, shape)
from scaling_cli.cli import curve as _curve  # noqa: F401  (curve)
from scaling_cli.cli import info as _info  # noqa: F401  (laws, schema)
# isort: on

__all__ = ["app", "main"]
