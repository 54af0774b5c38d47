"""Training logs -> loss curves -> the run records a fit needs (docs/logs.md).

Formats: JSON Lines metrics logs (:mod:`.jsonl`), Hugging Face ``trainer_state.json``
(:mod:`.hf_trainer`), W&B CSV exports (:mod:`.wandb`), TensorBoard event files
(:mod:`.tensorboard`, an optional extra). :mod:`.discover` tells formats and runs apart,
:mod:`.series` holds what every reader shares, :mod:`.sizes` where a run's size comes
from, :mod:`.reader` puts them together, and :mod:`.curves` reduces each curve to a final
loss (``last``, ``mean:K``, ``ema:W``, ``at:TOKENS``).
"""

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
from scaling_cli.read.logs.reader import LogSettings, read_curves, read_logs
from scaling_cli.read.logs.series import LOG_FIELDS, RESTARTS
from scaling_cli.read.logs.sizes import read_params_file

__all__ = [
    "LOG_FIELDS", "LOG_FORMATS", "RESTARTS", "Curve", "CurveRecord", "CurveSet", "LogSettings",
    "RecordSet", "Reduction", "Skipped", "group_logs", "parse_tokens_per_step", "read_curves",
    "read_logs", "read_params_file", "split_inputs", "to_records",
]
