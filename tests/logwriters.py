"""The formats' own writers, for test fixtures of training logs: JSON Lines as a metrics
logger writes them, ``trainer_state.json`` as transformers' ``TrainerState.save_to_json``
does, CSV as W&B exports it, and TensorBoard event files with the tensorboard package's
own ``EventFileWriter`` (skipping the test when the extra is not installed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

__all__ = ["write_csv", "write_events", "write_jsonl", "write_state"]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return str(path)


def write_state(folder: Path, history: list[dict[str, Any]], *, global_step: int,
                max_steps: int, config: dict[str, Any] | None = None) -> str:
    """A trainer_state.json as transformers' TrainerState.save_to_json writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"best_metric": None, "best_model_checkpoint": None, "epoch": 1.0,
             "eval_steps": 500, "global_step": global_step, "is_hyper_param_search": False,
             "is_local_process_zero": True, "is_world_process_zero": True,
             "log_history": history, "logging_steps": 10, "max_steps": max_steps,
             "num_input_tokens_seen": 0, "num_train_epochs": 1, "save_steps": 500,
             "total_flos": 1.0e15, "train_batch_size": 8, "trial_name": None,
             "trial_params": None}
    path = folder / "trainer_state.json"
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return str(path)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_events(folder: Path, points: list[tuple[int, dict[str, float]]], *, name: str,
                 tensor: bool = False) -> Path:
    """Scalars as PyTorch's SummaryWriter writes them (simple_value), or as TF2 does
    (a float tensor with the scalars plugin), with the tensorboard package's own writer."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util.tensor_util import make_tensor_proto

    before = set(folder.iterdir()) if folder.exists() else set()
    writer = EventFileWriter(str(folder))
    for step, scalars in points:
        if tensor:
            meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
            values = [Summary.Value(tag=t, metadata=meta, tensor=make_tensor_proto(v))
                      for t, v in scalars.items()]
        else:
            values = [Summary.Value(tag=t, simple_value=v) for t, v in scalars.items()]
        writer.add_event(Event(wall_time=1.7e9 + step, step=step, summary=Summary(value=values)))
    writer.close()
    (written,) = set(folder.iterdir()) - before
    target = folder / name
    written.rename(target)
    return target

