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
from ``--params-file`` (by run id), ``--params``, or the ``config.json`` beside the state
(:mod:`scaling_cli.read.model_size`). A state whose ``global_step`` is short of
``max_steps`` is a checkpoint or a crashed run: refused (its last loss is not a finished
run's), or skipped with ``skip_invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.read.curves import Curve
from scaling_cli.read.log_series import (
    LogOptions,
    Problems,
    Series,
    json_number,
    load_json,
    resolve_fields,
    whole_step,
)
from scaling_cli.read.model_size import size_from_config
from scaling_cli.units import QuantityError, shown

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
        raise InputError(f"{name}: has no `log_history` list; is this a Hugging Face "
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
        if fields["loss"] not in entry:
            continue
        field = "loss"
        try:
            loss = json_number(entry[fields["loss"]], allow_zero=False)
            field = "step"
            if fields["step"] not in entry:
                raise QuantityError("is missing; every logged loss needs its step")
            step = whole_step(json_number(entry[fields["step"]], allow_zero=True))
            tokens = None
            if "tokens" in fields:
                field = "tokens"
                if fields["tokens"] not in entry:
                    raise QuantityError("is missing; every logged loss needs its token count")
                tokens = json_number(entry[fields["tokens"]], allow_zero=True)
            lr = None
            if "lr" in fields and fields["lr"] in entry:
                field = "lr"
                lr = json_number(entry[fields["lr"]], allow_zero=True)
        except QuantityError as exc:
            raise InputError(run.message(number, f"field {field!r}: {exc.problem}")) from None
        run.add(number, step, loss, tokens, lr)
    _check_finished(name, state, run_id)
    metadata = {"format": "hf-trainer", "loss_key": fields["loss"]}
    return run.curve(options, metadata, config_size=None if config is None
                     else lambda: _config_size(config))


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


def _config_size(config: tuple[str, str]) -> tuple[float, float | None, str]:
    config_name, config_text = config
    size = size_from_config(load_json(config_text, config_name), config_name)
    return size.params, size.non_embedding_params, f"config.json ({size.family})"
