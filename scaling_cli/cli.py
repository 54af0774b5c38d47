"""The `scaling` command-line entry point.

The app and what commands share live in :mod:`scaling_cli.cli_common`; importing the
command modules below registers their commands, in the order ``--help`` lists them.
"""

from __future__ import annotations

import sys

from .cli_common import app
from .errors import EXIT_INTERRUPTED

# isort: off
from . import cli_plan  # noqa: F401  (optimal, target, check)
from . import cli_fit  # noqa: F401  (fit, predict, backtest, laws, schema)
from . import cli_plot  # noqa: F401  (plot)
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # outside a command (e.g. during import or option parsing)
        sys.stderr.write("Interrupted: nothing was written.\n")
        sys.exit(EXIT_INTERRUPTED)
