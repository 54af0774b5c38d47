"""Training logs -> loss curves -> the run records a fit needs (docs/logs.md).

Formats: JSON Lines metrics logs (:mod:`.jsonl`), Hugging Face ``trainer_state.json``
(:mod:`.hf_trainer`), W&B CSV exports (:mod:`.wandb`), TensorBoard event files
(:mod:`.tensorboard`, an optional extra). :mod:`.discover` tells formats and runs apart,
:mod:`.series` holds what every reader shares, :mod:`.sizes` where a run's size comes
from, :mod:`.reader` puts them together, and :mod:`.curves` reduces each curve to a final
loss (``last``, ``mean:K``, ``ema:W``, ``at:TOKENS``).

Names load their module on first use (PEP 562): a run table read with ``split_inputs``
(is this CSV a table or a log?) does not load the log readers, nor PyYAML with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it (loaded on first access).
_API = {
    **dict.fromkeys(("Curve", "CurveRecord", "CurveSet", "RecordSet", "Reduction", "Skipped",
                     "parse_tokens_per_step", "to_records"), "scaling_cli.read.logs.curves"),
    **dict.fromkeys(("LOG_FORMATS", "group_logs", "split_inputs"),
                    "scaling_cli.read.logs.discover"),
    **dict.fromkeys(("LogSettings", "read_curves", "read_logs"),
                    "scaling_cli.read.logs.reader"),
    "LOG_FIELDS": "scaling_cli.read.logs.names",
    "RESTARTS": "scaling_cli.read.logs.series",
    "read_params_file": "scaling_cli.read.logs.sizes",
}

__all__ = [
    "LOG_FIELDS", "LOG_FORMATS", "RESTARTS", "Curve", "CurveRecord", "CurveSet", "LogSettings",
    "RecordSet", "Reduction", "Skipped", "group_logs", "parse_tokens_per_step", "read_curves",
    "read_logs", "read_params_file", "split_inputs", "to_records",
]

if TYPE_CHECKING:
    from scaling_cli.read.logs.curves import (
        Curve,
        CurveRecord,
        CurveSet,
        RecordSet,
        Reduction,
        Skipped,
        parse_tokens_per_step,
        to_records,
    )
    from scaling_cli.read.logs.discover import LOG_FORMATS, group_logs, split_inputs
    from scaling_cli.read.logs.names import LOG_FIELDS
    from scaling_cli.read.logs.reader import LogSettings, read_curves, read_logs
    from scaling_cli.read.logs.series import RESTARTS
    from scaling_cli.read.logs.sizes import read_params_file


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'scaling_cli.read.logs' has no attribute {name!r}")
