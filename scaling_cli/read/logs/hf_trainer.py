"""Hugging Face ``Trainer`` state (``trainer_state.json``) -> one curve.

The Trainer logs to ``log_history``, a list of objects: training entries
(``{"loss", "grad_norm", "learning_rate", "epoch", "step"}``, every ``logging_steps``),
evaluation entries (``{"eval_loss", ..., "step"}``) and one closing summary
(``{"train_loss", "train_runtime", "total_flos", ..., "step"}``). The curve is the
training entries: field ``loss`` (NOT ``train_loss``, the run's MEAN loss), ``step``
(optimizer steps, ``global_step``), ``learning_rate``, and ``num_input_tokens_seen`` when
the run set ``include_num_input_tokens_seen`` (else tokens come from
``--tokens-per-step``: the GLOBAL batch in tokens, per-device batch x devices x gradient
accumulation x sequence length; the state's ``train_batch_size`` is per device and is not
used). ``--column loss=eval_loss`` reads the evaluation curve instead.

The run is named by the caller (its output directory). Its size N comes, first found:
from ``--params-file`` (by run id), ``--log-params``, or the ``config.json`` beside the
state (:mod:`scaling_cli.read.logs.sizes`). A state whose ``global_step`` is short of
``max_steps`` is a checkpoint or a crashed run: refused (its last loss is not a finished
run's), or skipped with ``--skip-invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.read.logs.curves import Curve
from scaling_cli.read.logs.series import (
    LogOptions,
    Problems,
    Series,
    add_json_point,
    load_json,
    resolve_fields,
)
from scaling_cli.read.logs.sizes import size_from_config
from scaling_cli.units import shown

__all__ = ["HF_ALIASES", "read_hf_trainer"]

HF_ALIASES: Mapping[str, tuple[str, ...]] = {
    "step": ("step",),
    "loss": ("loss",),
    "tokens": ("num_input_tokens_seen",),
    "lr": ("learning_rate",),
}


def read_hf_trainer(
    name: str,
    text: str,
    options: LogOptions,
    problems: Problems,
    *,
    run_id: str,
    config: tuple[str, str] | None = None,
) -> list[Curve]:
    """The curve in one ``trainer_state.json``; ``config`` is (name, text) of the
    ``config.json`` beside it, when there is one."""
    state = load_json(text, name)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise InputError(f"{name}: has no 'log_history' list; is this a Hugging Face "
                         "trainer_state.json?")
    history: list[Any] = state["log_history"]
    keys: dict[str, None] = {}
    for number, entry in enumerate(history, start=1):
        if not isinstance(entry, dict):
            raise InputError(f"{name}: log_history entry {number} is {shown(entry)}, not an "
                             "object; the file is damaged: re-save the state")
        for key in entry:
            keys.setdefault(key, None)
    fields = resolve_fields(name, list(keys), options, wanted=("step", "tokens", "loss", "lr"),
                            required=("step", "loss", "tokens"), aliases=HF_ALIASES, noun="key")
    try:
        return [_curve(name, state, history, fields, options, run_id, config)]
    except InputError as exc:
        problems.run_failed(name, run_id, str(exc))
        return []


def _curve(name: str, state: Mapping[str, Any], history: list[dict[str, Any]],
           fields: Mapping[str, str], options: LogOptions, run_id: str,
           config: tuple[str, str] | None) -> Curve:
    run = Series(run_id, name, "log_history entry")
    for number, entry in enumerate(history, start=1):
        add_json_point(run, number, entry, fields)
    _check_finished(name, state, run_id)
    metadata = {"format": "hf-trainer", "loss_key": fields["loss"]}
    return run.curve(options, metadata, config_size=None if config is None
                     else lambda: _config_size(config, name, run_id))


def _check_finished(name: str, state: Mapping[str, Any], run_id: str) -> None:
    done, planned = state.get("global_step"), state.get("max_steps")
    if (isinstance(done, int) and isinstance(planned, int) and not isinstance(done, bool)
            and not isinstance(planned, bool) and planned > 0 and done < planned):
        raise InputError(
            f"{name} (id {shown(run_id)}): stopped at step {done:,} of max_steps "
            f"{planned:,} (a checkpoint, or a crashed run); its last loss is not a finished "
            "run's: read the finished run's trainer_state.json, or skip it with "
            "--skip-invalid"
        )


def _config_size(config: tuple[str, str], name: str,
                 run_id: str) -> tuple[float, float | None, str]:
    """N from the config.json beside the state; a config that cannot be counted is the
    run's problem, and the message names the run as well as the config."""
    config_name, config_text = config
    try:
        size = size_from_config(load_json(config_text, config_name), config_name)
    except InputError as exc:
        raise InputError(f"{name} (id {shown(run_id)}): {exc.problem}") from None
    return size.params, size.non_embedding_params, f"config.json ({size.family})"
