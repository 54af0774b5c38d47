"""Loss curves for ``scaling curve``: training logs, and CSV tables of a curve's points.

The training-log readers (:mod:`scaling_cli.read.logs`) give each run's curve. Two things
differ from reading runs for a ladder fit:

- A CSV file that is not a W&B export is a *curve table*, not a run table: one row per
  logged step with columns ``step``, ``loss`` and ``lr`` (and ``run_id`` when it holds
  several runs; any of the usual names, or ``--column``), exactly as a W&B history export
  is read (:func:`~scaling_cli.read.logs.wandb.read_wandb_history`). This is the hand-made
  form of a curve, and the form of Luo et al.'s published curves. A YAML run table (final
  losses, one row per run) holds no curve and is refused with that explanation.
- Tokens are optional: the curve law runs on steps and learning rates. Where a log has no
  token count and no tokens per step are given, the curve's ``tokens`` are its steps (the
  readers need some strictly increasing count) and ``metadata["tokens_from"]`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from scaling_cli.errors import InputError
from scaling_cli.read.logs import CurveSet, read_curves

__all__ = ["STEPS_AS_TOKENS", "read_loss_curves"]

STEPS_AS_TOKENS = "steps (no token count was logged or given)"
_UNUSED = "--tokens-per-step was not used: every run logs its tokens"


def read_loss_curves(
    paths: Sequence[str],
    *,
    stdin_text: str | None = None,
    input_format: str = "auto",
    columns: Mapping[str, str] | None = None,
    tokens_per_step: float | None = None,
    params: float | None = None,
    params_file: str | None = None,
    restarts: str = "refuse",
    skip_invalid: bool = False,
) -> CurveSet:
    """The loss curves in ``paths`` (training logs and CSV curve tables; module docstring).

    The settings are those of :func:`~scaling_cli.read.logs.read_curves`; run ids must be
    unique across every input."""
    def read(names: Sequence[str], fmt: str) -> CurveSet:
        return read_curves(names, stdin_text=stdin_text, input_format=fmt, columns=columns,
                           tokens_per_step=1.0 if tokens_per_step is None else tokens_per_step,
                           params=params, params_file=params_file, restarts=restarts,
                           skip_invalid=skip_invalid)

    logs = read(paths, input_format)
    parts = [logs]
    tables = list(logs.tables)
    for name in tables:
        if not name.lower().endswith(".csv") and input_format != "csv" and name != "<stdin>":
            raise InputError(f"{name}: is a run table of final losses (one row per run); "
                             "`scaling curve` reads loss curves: training logs, or a CSV table "
                             "of step, loss and lr (one row per logged step, and a run_id "
                             "column when it holds several runs)")
    if tables:
        table_paths = ["-" if t == "<stdin>" else t for t in tables]
        parts.append(read(table_paths, "wandb-history"))
    return _merged(parts, steps_as_tokens=tokens_per_step is None)


def _merged(parts: Sequence[CurveSet], *, steps_as_tokens: bool) -> CurveSet:
    seen: dict[str, str] = {}
    curves = []
    for part in parts:
        for curve in part.curves:
            if curve.run_id in seen:
                raise InputError(f"{curve.where}: duplicate run id, also read from "
                                 f"{seen[curve.run_id]}; rename one or pass only one of them")
            seen[curve.run_id] = curve.source
            if steps_as_tokens and curve.metadata.get("tokens_from", "log") != "log":
                curve = replace(curve, metadata={**curve.metadata,
                                                 "tokens_from": STEPS_AS_TOKENS})
            curves.append(curve)
    warnings = [w for p in parts for w in p.warnings if not (steps_as_tokens and w == _UNUSED)]
    return CurveSet(tuple(curves), tuple(s for p in parts for s in p.skipped), (),
                    tuple(dict.fromkeys(s for p in parts for s in p.sources)),
                    tuple(dict.fromkeys(warnings)))

