"""The names training logs use: each field's aliases, and how a W&B export's header looks.

Kept apart from the readers so that telling a run table from a training log
(:mod:`scaling_cli.read.logs.discover`) loads none of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["LOG_ALIASES", "LOG_FIELDS", "WANDB_SEP", "wandb_layout"]

LOG_FIELDS = ("id", "step", "tokens", "loss", "lr", "params")

# Tried in this order; the first one a log has is used. `train_loss` is NOT an alias in a
# Hugging Face trainer_state.json, where it is the mean loss over the whole run.
LOG_ALIASES: Mapping[str, tuple[str, ...]] = {
    "id": ("run_id", "run", "run_name"),
    "step": ("step", "global_step", "_step", "trainer/global_step", "train/global_step",
             "iteration", "iter", "Step"),
    "tokens": ("tokens", "num_tokens", "tokens_seen", "consumed_tokens",
               "num_input_tokens_seen", "train/num_input_tokens_seen", "train/tokens"),
    "loss": ("loss", "train/loss", "train_loss", "lm_loss", "train/lm_loss"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr"),
    "params": ("params", "n_params", "num_params", "num_parameters", "model/num_parameters"),
}

_SUMMARY_MARKS = ("Notes", "User", "Tags", "Created", "Runtime", "Sweep")
WANDB_SEP = " - "  # between run name and metric in a wide W&B history export's columns


def wandb_layout(header: Sequence[str]) -> str | None:
    """Which W&B export ``header`` (stripped cells) belongs to, or None."""
    names = set(header)
    if {"Name", "State"} <= names and names & set(_SUMMARY_MARKS):
        return "summary"
    if "_step" in names:
        return "history-long"
    metrics = [h for h in header if WANDB_SEP in h]
    if metrics and any(h.endswith(("__MIN", "__MAX")) for h in metrics):
        return "history-wide"
    if metrics and "Step" in names:
        return "history-wide"
    return None
