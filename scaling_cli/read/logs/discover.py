"""Which inputs are training logs, in which format, and which run each one is.

Files are found and read once, by :func:`scaling_cli.read.sources.read_sources` (one
search of every directory for run tables and training logs: ``*.yaml``, ``*.yml``,
``*.csv``, ``*.jsonl``, ``*.ndjson``, ``trainer_state.json``, ``*tfevents*``; hidden
entries skipped). Its :class:`~scaling_cli.read.sources.Source` objects carry a format
decided by name (or by ``--input-format``, which then holds for every input). Here, with
``--input-format auto``, the content decides where the name cannot:

1. A ``*.csv`` file (or CSV on standard input) whose header is a W&B export's
   (:func:`scaling_cli.read.logs.names.wandb_layout`): ``Name`` + ``State`` + one of ``Notes``,
   ``User``, ``Tags``, ``Created``, ``Runtime``, ``Sweep`` -> ``wandb-summary``; a
   ``_step`` column, or ``RUN - METRIC`` columns -> ``wandb-history``; else a run table.
2. Text not named ``*.yaml``/``*.yml`` (``.json``, ``.log``, standard input) that starts
   with ``{``: ``hf-trainer`` if it has a ``"log_history"`` key; ``jsonl`` if its first
   line is a whole JSON object with a step key, or without a ``params`` key; else YAML
   (JSON is YAML: a run table written as JSON stays a run table).

Runs (:func:`group_logs`): a TensorBoard run is a directory of event files (several when
a run was restarted); a Hugging Face run is its output directory, whose
``checkpoint-N/trainer_state.json`` snapshots belong to it: the top-level state is read,
else the highest N's (a checkpoint of an unfinished run, refused as such). Both are named
by their directory relative to the directory searched (its own name when a file is named
directly). TensorBoard events inside a Hugging Face run's output directory (the Trainer's
own callback writes them to ``runs/``) are that run again: only its state is read, and a
warning says so. A JSON Lines log or W&B history export without a run column is named by its
file name without suffix, or by its directory when the name is generic
(``metrics.jsonl``); standard input is ``stdin``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scaling_cli.errors import InputError
from scaling_cli.read.logs.names import LOG_ALIASES
from scaling_cli.read.logs.names import wandb_layout as layout
from scaling_cli.read.sources import Source

__all__ = ["LOG_FORMATS", "TABLE_FORMATS", "LogFile", "group_logs", "sniff", "split_inputs"]

LOG_FORMATS = ("jsonl", "hf-trainer", "wandb-history", "wandb-summary", "tensorboard")
TABLE_FORMATS = ("yaml", "csv")
_GENERIC_STEMS = {"metrics", "metric", "log", "logs", "train", "training", "history",
                  "events", "progress", "scalars", "trainer_state"}
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_STEP_KEYS = frozenset(LOG_ALIASES["step"])


@dataclass(frozen=True)
class LogFile:
    """One training log to read: its text (or, for TensorBoard, its run directory and event
    ``files``), its format, and the run id to use where the log does not name its runs."""

    path: str
    kind: str
    run_id: str
    text: str = ""
    files: tuple[str, ...] = ()


# --------------------------------------------------------------------------- formats


def sniff(source: Source) -> str:
    """The format of a source read with ``--input-format auto`` (module docstring)."""
    if source.kind == "csv":
        first = source.text[:65536].split("\n", 1)[0]
        try:
            header = [h.strip() for h in next(csv.reader([first]))] if first else []
        except csv.Error:
            return "csv"
        kind = layout(header)
        return "csv" if kind is None else "wandb-summary" if kind == "summary" \
            else "wandb-history"
    if source.kind != "yaml" or source.name.lower().endswith((".yaml", ".yml")):
        return source.kind
    body = source.text.lstrip()
    if not body.startswith("{"):
        return "yaml"
    if '"log_history"' in body:
        return "hf-trainer"
    try:
        first = json.loads(body.split("\n", 1)[0])
    except (ValueError, RecursionError):
        return "yaml"
    if isinstance(first, dict) and (_STEP_KEYS & first.keys() or "params" not in first):
        return "jsonl"
    return "yaml"


def split_inputs(sources: Sequence[Source], *,
                 input_format: str = "auto") -> tuple[list[Source], list[Source]]:
    """(run tables, training logs) among ``sources``, each with its format decided."""
    tables: list[Source] = []
    logs: list[Source] = []
    for source in sources:
        kind = sniff(source) if input_format == "auto" else source.kind
        if kind != source.kind:
            source = replace(source, kind=kind)
        (tables if kind in TABLE_FORMATS else logs).append(source)
    return tables, logs


# --------------------------------------------------------------------------- runs


def group_logs(sources: Sequence[Source],
               paths: Sequence[str]) -> tuple[list[LogFile], tuple[str, ...]]:
    """The training logs to read among ``sources`` (module docstring: one per TensorBoard
    run directory, one state per Hugging Face run), each with its default run id, and
    notes on what was not read; ``paths`` are the arguments the sources were found from
    (for relative run ids)."""
    tops = [p for p in paths if p != "-" and os.path.isdir(p)]
    out: list[LogFile] = []
    events: dict[str, list[str]] = {}
    states: dict[str, dict[int, Source]] = {}  # output dir -> checkpoint number (-1: top)
    for source in sources:
        if source.name == "<stdin>":
            if source.kind == "tensorboard":
                raise InputError("<stdin>: TensorBoard event files cannot be read from "
                                 "standard input; name the files or their directory")
            out.append(LogFile(source.name, source.kind, "stdin", source.text))
        elif source.kind == "tensorboard":
            events.setdefault(os.path.dirname(source.name), []).append(source.name)
        elif source.kind == "hf-trainer":
            folder = os.path.dirname(source.name)
            match = _CHECKPOINT.fullmatch(os.path.basename(folder))
            owner = os.path.dirname(folder) if match else folder
            states.setdefault(owner, {})[int(match.group(1)) if match else -1] = source
        else:
            out.append(LogFile(source.name, source.kind, _default_id(source.name), source.text))
    notes = []
    for folder, files in events.items():
        home = next((o for o in states if _inside(folder, o)), None)
        if home is not None:  # the Trainer's own TensorBoard callback: the same run again
            notes.append(f"{folder}: TensorBoard events of the Hugging Face run in {home}; "
                         "read its trainer_state.json only (one run is fitted once)")
            continue
        out.append(LogFile(folder or ".", "tensorboard", _run_id(folder, tops),
                           files=tuple(sorted(files))))
    for owner, found in states.items():
        state = found.get(-1) or found[max(found)]
        out.append(LogFile(state.name, "hf-trainer", _run_id(owner, tops), state.text))
    return sorted(out, key=lambda f: f.path), tuple(notes)


def _inside(folder: str, owner: str) -> bool:
    prefix = owner if owner.endswith(os.sep) or not owner else owner + os.sep
    return folder == owner or folder.startswith(prefix)


def _default_id(path: str) -> str:
    p = Path(path)
    stem = p.name.split(".")[0]
    if stem.lower() in _GENERIC_STEMS or not stem:
        return p.resolve().parent.name or stem or path
    return stem


def _run_id(folder: str, tops: Sequence[str]) -> str:
    """A run directory named relative to the directory searched, else by its name."""
    for top in tops:
        prefix = top if top.endswith(os.sep) else top + os.sep
        if folder == top or folder.startswith(prefix):
            rel = os.path.relpath(folder, top)
            return Path(top).resolve().name if rel == "." else Path(rel).as_posix()
    return Path(folder or ".").resolve().name
