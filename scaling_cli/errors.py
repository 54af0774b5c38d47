"""One exception hierarchy for the whole tool; the CLI maps it to exit codes.

Exit codes (documented in the README):

====  =====================================================================
0     success (and, for ``scaling check``, every check passed)
1     ``scaling check``: at least one check failed (or was inconclusive with
      ``--fail-on inconclusive``)
2     usage, input, fit-file or fit error: nothing was written
130   interrupted (Ctrl-C, SIGTERM, SIGHUP): nothing was written
====  =====================================================================

The library speaks in *settings*, not flags. An error about a setting carries its name in
``field`` (``"budget"``, ``"hardware.mfu"``, ``"fix.alpha"``) and the text of the problem
without a subject in ``problem``; hints that mention another setting write it between
backticks (`` `allow_unverified` ``). :meth:`ScalingError.render` names them as the caller
needs: the CLI as flags (``--budget``), the plan-file reader as the file's keys
(``plan.yaml: hardware: 'mfu'``), and ``str(error)`` as the library's own names.
Errors about run logs name the file, the run and the field in ``problem`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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

_MENTION = re.compile(r"`([a-z][a-z0-9_.]*)`")
_VERBS = ("is required", "needs ", "applies ", "shape ")


class ScalingError(Exception):
    """Base class of every error the tool reports to a user (never a bug).

    ``problem``: what is wrong and how to fix it (one line). ``field``: the setting at
    fault, if any, in the library's names (``budget``, ``hardware.mfu``).
    """

    exit_code: int = 2

    def __init__(self, problem: str, *, field: str | None = None) -> None:
        self.problem = problem
        self.field = field
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """The one-line message, with ``field`` and every backticked setting named by
        ``name`` (the library's own names when None)."""
        def named(setting: str) -> str:
            return setting if name is None else name(setting)

        text = _MENTION.sub(lambda m: named(m.group(1)) if name else m.group(0), self.problem)
        if self.field is None:
            return text
        # "--budget is required" reads as a sentence; "--budget: '1e' is not a number" names
        # the setting, then the problem.
        sep = " " if text.startswith(_VERBS) else ": "
        return f"{named(self.field)}{sep}{text}"


class InputError(ScalingError):
    """A run log, number or setting value that cannot be used as given."""


class UsageError(ScalingError):
    """Settings that contradict each other or are missing."""


class FitFileError(InputError):
    """A saved fit file that is corrupted or from an incompatible version."""


class FitError(ScalingError):
    """The data cannot identify the law, or the optimum could not be verified."""


class DependencyError(UsageError):
    """An optional dependency (an extra such as ``plot``) is not installed."""
