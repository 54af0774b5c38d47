"""One exception hierarchy for the whole tool; the CLI maps it to exit codes.

Exit codes (documented in the README):

====  =====================================================================
0     success (and, for ``scaling check``, every check passed)
1     ``scaling check``: at least one check failed (or was inconclusive with
      ``--fail-on inconclusive``)
2     usage, input, fit-file or fit error: nothing was written
130   interrupted (Ctrl-C): nothing was written
====  =====================================================================
"""

from __future__ import annotations

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "DependencyError",
    "FitError",
    "FitFileError",
    "InputError",
    "ScalingError",
    "UsageError",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class ScalingError(Exception):
    """Base class of every error the tool reports to a user (never a bug)."""

    exit_code: int = EXIT_ERROR


class InputError(ScalingError):
    """A run log, number or option value that cannot be used as given."""


class UsageError(ScalingError):
    """Options that contradict each other or are missing."""


class FitFileError(InputError):
    """A saved fit file that is corrupted or from an incompatible version."""


class FitError(ScalingError):
    """The data cannot identify the law, or the optimum could not be verified."""


class DependencyError(UsageError):
    """An optional dependency (an extra such as ``plot``) is not installed."""
