"""TensorBoard event files -> curves, through the ``tensorboard`` package (an optional
extra: ``pip install 'scaling-cli[tensorboard]'``; without it, :class:`DependencyError`).

A run is one directory of ``events.out.tfevents.*`` files (several when a run was
restarted), read in file-name order (the names start with the creation time). Records are
read by the package's own ``RawEventFileLoader`` (TFRecord framing with CRC-32C checks)
and decoded as ``Event`` protos; scalars are taken both as ``simple_value`` (PyTorch's
``SummaryWriter``, tensorboardX, Lightning, the Hugging Face callback) and as a one-element
``tensor`` (TF2 ``tf.summary.scalar``). The loader stops quietly at a damaged or cut-short
record (TensorBoard tails live files); here the bytes it read are counted against the
file's size, and a file not read to its end is refused (or its run skipped), never
silently truncated.

Fields are tags: ``loss`` (aliases ``loss``, ``train/loss``, ``train_loss``, ...),
``tokens`` and ``lr`` like the other logs (``--column loss=TAG`` to choose); the step of
each point is the event's step. Tokens at a step are the tokens tag's value at that same
step (else ``--tokens-per-step``).

Measured (tensorboard 2.21 without TensorFlow, so its pure-Python CRC-32C; 2-core machine):
a run of 100,000 steps with two scalar tags (6 MB of events) reads in about 2.5 s.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence
from typing import Any

from scaling_cli.errors import DependencyError, InputError
from scaling_cli.read.logs.curves import Curve
from scaling_cli.read.logs.series import LogOptions, Problems, Series, resolve_fields
from scaling_cli.units import QuantityError, parse_number, shown

__all__ = ["MISSING_TENSORBOARD", "read_tensorboard", "tensorboard_available"]

MISSING_TENSORBOARD = ("reading TensorBoard event files needs the tensorboard package, an "
                       "optional extra: pip install 'scaling-cli[tensorboard]' (in a source "
                       "checkout: pip install -e '.[tensorboard]')")


def _modules() -> tuple[Any, Any, Any]:
    try:
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.util.tensor_util import make_ndarray
    except ImportError:
        raise DependencyError(MISSING_TENSORBOARD) from None
    return RawEventFileLoader, Event, make_ndarray


def tensorboard_available() -> bool:
    try:
        _modules()
    except DependencyError:
        return False
    return True


class _Tag:
    """One scalar tag's values in read order, compactly (16 bytes a point)."""

    def __init__(self) -> None:
        self.step = array("d")
        self.value = array("d")
        self.file = array("i")  # index into the run's files


def read_tensorboard(
    source: str, files: Sequence[str], options: LogOptions, problems: Problems,
    *, run_id: str,
) -> list[Curve]:
    """The curve of the run whose event ``files`` (sorted) live in ``source``."""
    loader_class, event_class, make_ndarray = _modules()
    tags: dict[str, _Tag] = {}
    try:
        for number, path in enumerate(files):
            _read_file(path, number, loader_class, event_class, make_ndarray, tags, run_id)
    except InputError as exc:
        problems.run_failed(source, run_id, str(exc))
        return []
    fields = resolve_fields(source, list(tags), options, wanted=("tokens", "loss", "lr"),
                            required=("loss", "tokens"), noun="tag")
    loss = tags[fields["loss"]]
    bases = [os.path.basename(f) for f in files]
    labels = [f"step {s:.0f} in {bases[f]}" for s, f in zip(loss.step, loss.file, strict=True)]
    run = Series(run_id, source, "step", labels)
    try:
        _fill(run, tags, fields)
        return [run.curve(options, {"format": "tensorboard", "loss_key": fields["loss"]})]
    except InputError as exc:
        problems.run_failed(source, run_id, str(exc))
        return []


def _read_file(path: str, number: int, loader_class: Any, event_class: Any,
               make_ndarray: Any, tags: dict[str, _Tag], run_id: str) -> None:
    size = os.path.getsize(path)
    consumed = 0
    count = 0
    for raw in loader_class(path).Load():
        consumed += len(raw) + 16  # length (8) + its CRC (4) + data + data CRC (4)
        count += 1
        try:
            event = event_class.FromString(raw)
        except Exception:  # protobuf's DecodeError; the CRC matched, so the writer erred
            raise InputError(f"{path} (id {shown(run_id)}): event {count} is not a TensorBoard "
                             "event; is this an event file?") from None
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            scalar = _scalar(value, make_ndarray)
            if scalar is None:
                continue
            tag = tags.setdefault(value.tag, _Tag())
            tag.step.append(float(event.step))
            tag.value.append(scalar)
            tag.file.append(number)
    if consumed != size:
        raise InputError(f"{path} (id {shown(run_id)}): damaged or cut short after {count:,} "
                         f"events (byte {consumed:,} of {size:,}); was it copied while the run "
                         "was writing it? Copy it again, or skip the run with --skip-invalid")


def _scalar(value: Any, make_ndarray: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        try:
            array_value = make_ndarray(value.tensor)
        except Exception:  # an unsupported dtype: not a scalar we can use
            return None
        if array_value.size == 1 and array_value.dtype.kind in "fiu":
            return float(array_value.reshape(()))
    return None


def _fill(run: Series, tags: dict[str, _Tag], fields: dict[str, str]) -> None:
    loss = tags[fields["loss"]]
    tokens_at = _by_step(tags[fields["tokens"]]) if "tokens" in fields else None
    lr_at = _by_step(tags[fields["lr"]]) if "lr" in fields else None
    for where, (step, value) in enumerate(zip(loss.step, loss.value, strict=True)):
        field = "loss"
        try:
            loss_value = parse_number(value)
            tokens = None
            if tokens_at is not None:
                field = "tokens"
                if step not in tokens_at:
                    raise QuantityError(f"is not logged at step {step:.0f}; log tag "
                                        f"{shown(fields['tokens'])} with every loss")
                tokens = parse_number(tokens_at[step], allow_zero=True)
            lr = None
            if lr_at is not None and step in lr_at:
                field = "lr"
                lr = parse_number(lr_at[step], allow_zero=True)
        except QuantityError as exc:
            raise InputError(run.message(where, f"field {field!r}: {exc.problem}")) from None
        run.add(where, step, loss_value, tokens, lr)


def _by_step(tag: _Tag) -> dict[float, float]:
    """Value at each step; a step logged twice (a restart) keeps the later value."""
    return dict(zip(tag.step, tag.value, strict=True))
