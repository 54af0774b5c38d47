"""Where the law comes from, resolved in one place: run logs, a saved fit file, or a preset.

Precedence is explicit, not guessed: exactly one of ``law`` (a published preset),
``fit_file`` (a document from ``scaling fit -o``) or ``paths`` (run logs) must be given;
anything else is a :class:`~scaling_cli.errors.UsageError` naming the conflicting options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scaling_cli.errors import FitFileError, UsageError

if TYPE_CHECKING:
    from scaling_cli.model import Model

__all__ = ["ModelRequest", "parse_columns", "parse_fixed", "resolve_model"]


@dataclass(frozen=True)
class ModelRequest:
    """Everything a command needs to obtain a :class:`Model`, as parsed from its options."""

    paths: tuple[str, ...] = ()
    law: str | None = None
    fit_file: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    where: tuple[str, ...] = ()
    input_format: str = "auto"
    flops_per_param_token: float = 6.0  # law.DEFAULT_FLOPS_PER_PARAM_TOKEN (numpy-free here)
    replicates: int = 1000
    seed: int = 0
    resample_by: str = "auto"
    workers: int = 1
    allow_unverified: bool = False
    method: str = "approach3"
    fixed: Mapping[str, float] = field(default_factory=dict)
    tie_exponents: bool = False


def parse_fixed(items: Sequence[str]) -> dict[str, float]:
    """``["E=1.69", "alpha=0.34"]`` -> ``{"E": 1.69, "alpha": 0.34}`` (numbers via units)."""
    from scaling_cli.units import QuantityError, parse_number

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--fix {item!r}: expected NAME=VALUE, e.g. --fix E=1.69")
        try:
            out[name.strip()] = parse_number(value)
        except QuantityError as exc:
            raise UsageError(f"--fix {name.strip()}: {exc.problem}") from None
    return out


def parse_columns(items: Sequence[str]) -> dict[str, str]:
    """``["group=train_run_key"]`` -> ``{"group": "train_run_key"}``."""
    out = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UsageError(f"--column {item!r}: expected FIELD=COLUMN, e.g. "
                             "--column group=train_run_key")
        out[name.strip()] = column.strip()
    return out


def resolve_model(
    request: ModelRequest,
    *,
    stdin_text: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Model:
    """Build the model the request asks for (fits and bootstraps when given run logs)."""
    given = [name for name, on in (("--law", request.law is not None),
                                   ("--fit", request.fit_file is not None),
                                   ("RUNS", bool(request.paths))) if on]
    if len(given) != 1:
        raise UsageError(
            "give run logs (RUNS), a fit file (--fit FILE) or a published law (--law NAME)"
            if not given else f"{' and '.join(given)} cannot be combined; give only one"
        )
    fitting = request.method != "approach3" or request.fixed or request.tie_exponents
    if fitting and not request.paths:
        raise UsageError("--method, --fix and --tie-exponents apply when fitting run logs, "
                         f"not to {given[0]}")
    if request.law is not None:
        from scaling_cli.model import preset_model

        return preset_model(request.law, flops_per_param_token=request.flops_per_param_token)
    if request.fit_file is not None:
        from scaling_cli.render.documents import model_from_fit_document

        try:
            with open(request.fit_file, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise FitFileError(f"{request.fit_file}: cannot read fit file ({reason})") from None
        return model_from_fit_document(text, request.fit_file,
                                       flops_per_param_token=request.flops_per_param_token)
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.model import build_model
    from scaling_cli.read.runs import load_runs

    runs = load_runs(request.paths, stdin_text=stdin_text, input_format=request.input_format,
                     columns=request.columns, where=request.where)
    return build_model(
        runs, flops_per_param_token=request.flops_per_param_token,
        replicates=request.replicates, seed=request.seed, resample_by=request.resample_by,
        workers=request.workers, progress=progress, allow_unverified=request.allow_unverified,
        method=request.method,
        constraints=Constraints.make(request.fixed, tie_exponents=request.tie_exponents),
    )
