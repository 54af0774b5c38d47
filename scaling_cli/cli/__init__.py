"""The `scaling` command-line entry point.

The app and what commands share live in :mod:`scaling_cli.cli.common`; importing the
command modules below registers their commands, in the order ``--help`` lists them.
"""

from __future__ import annotations

import sys

from scaling_cli.cli.common import app
from scaling_cli.errors import EXIT_INTERRUPTED

# isort: off
from scaling_cli.cli import plan as cli_plan  # noqa: F401  (optimal, target, check)
from scaling_cli.cli import fit as cli_fit  # noqa: F401  (fit, predict, backtest, laws, schema)
from scaling_cli.cli import plot as cli_plot  # noqa: F401  (plot)
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # outside a command (e.g. during import or option parsing)
        sys.stderr.write("Interrupted: nothing was written.\n")
        sys.exit(EXIT_INTERRUPTED)
