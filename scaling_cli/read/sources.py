"""Where run logs come from: paths -> bounded, decoded text :class:`Source` objects.

Paths may be files, directories (searched recursively for run tables ``*.yaml``, ``*.yml``,
``*.csv`` and the training logs :mod:`scaling_cli.read.logs` reads: ``*.jsonl``,
``*.ndjson``, ``trainer_state.json``, TensorBoard ``*tfevents*``; hidden entries skipped),
globs, or ``-`` for standard input. What is read is bounded (``LIMITS``: bytes per input
and in all; runs are counted by :mod:`scaling_cli.read.runs`), and
text must be UTF-8 without NUL or control characters; every refusal names the file (and the
line) and says how to fix it. docs/input-errors.md lists the limits.
"""

from __future__ import annotations

import errno
import glob
import itertools
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scaling_cli.errors import InputError
from scaling_cli.units import format_bytes, shown

__all__ = [
    "CONTROL_CHARACTERS",
    "LIMITS",
    "Source",
    "decode_input",
    "input_files",
    "is_event_file",
    "read_bounded_text",
    "read_sources",
]

LIMITS = {
    "max_file_bytes": 256 * 1024 * 1024,  # per input (file or stdin); YAML also has its own
    "max_total_bytes": 1024 * 1024 * 1024,  # all inputs together
    "max_runs": 1_000_000,  # records read, before --where
}


@dataclass(frozen=True)
class Source:
    """A named chunk of run-log text; ``kind`` is its format, by ``--input-format`` or by
    name: "yaml", "csv", or a training-log format (``INPUT_FORMATS``), which
    :mod:`scaling_cli.read.logs` may refine by content. TensorBoard event files are binary:
    their ``text`` is empty and their reader opens ``name``."""

    name: str
    text: str
    kind: str


# --------------------------------------------------------------------------- discovery

_RUN_SUFFIXES = (".yaml", ".yml", ".csv", ".jsonl", ".ndjson")
_LOG_NAMES = ("trainer_state.json",)
INPUT_FORMATS = ("yaml", "csv", "jsonl", "hf-trainer", "wandb-history", "wandb-summary",
                 "tensorboard")


def is_event_file(name: str) -> bool:
    """A TensorBoard event file (``events.out.tfevents.*``), by its name."""
    return "tfevents" in os.path.basename(name)


def _is_input(name: str) -> bool:
    return (os.path.splitext(name)[1].lower() in _RUN_SUFFIXES or name in _LOG_NAMES
            or is_event_file(name))


def _walk(top: str) -> list[str]:
    """Run logs under ``top``, hidden entries skipped, in path order (as ``sorted(Path)``).

    os.walk with string sorting: 100,000 files cost ~0.3 s, not the ~8 s of sorting
    ``Path.rglob`` results (Path comparisons are slow).
    """
    found: list[tuple[str, ...]] = []
    for root, dirs, files in os.walk(top, onerror=_unreadable_directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(root, top)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        found.extend((*parts, f) for f in files if not f.startswith(".") and _is_input(f))
    found.sort()
    return [os.path.join(top, *parts) for parts in found]


def _unreadable_directory(exc: OSError) -> None:
    """os.walk's error handler: a directory that cannot be listed is an error, never skipped
    (its runs would silently be missing from the fit)."""
    where = exc.filename if exc.filename is not None else "a directory"
    raise InputError(f"{where}: directory cannot be read ({exc.strerror or exc}); its run "
                     "logs would be left out: fix its permissions, or pass only the paths "
                     "you mean")


def _check_glob_directories(pattern: str) -> None:
    """A pattern that descends into directories (``runs/*/x.yaml``, ``runs/**/*.csv``) must
    not skip one it cannot read, as glob does silently: walk them first, as for a directory."""
    head = os.path.dirname(pattern)
    if not glob.has_magic(head):
        return  # only `head` itself is listed: unreadable, it matches nothing (an error)
    parts = Path(head).parts
    fixed = list(itertools.takewhile(lambda p: not glob.has_magic(p), parts))
    top = os.path.join(*fixed) if fixed else "."
    depth = None if "**" in head else len(parts) - len(fixed)  # levels the pattern lists
    if not os.path.isdir(top):
        return
    for root, dirs, _ in os.walk(top, onerror=_unreadable_directory):
        level = 0 if root == top else os.path.relpath(root, top).count(os.sep) + 1
        dirs[:] = [] if depth is not None and level >= depth else [
            d for d in dirs if not d.startswith(".")]


def _expand(arg: str) -> list[tuple[str, bool]]:
    """(path, found by searching) for each file ``arg`` names; a searched entry that is not
    a regular file (a socket named x.yaml, a broken link) is skipped later, a named one read."""
    path = Path(arg)
    try:
        os.stat(arg)
    except OSError as exc:  # e.g. a name too long; a missing path is looked at below
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise InputError(f"{arg}: cannot be read ({exc.strerror or exc}); check the path "
                             "and its permissions") from None
    if path.is_dir():
        found = _walk(arg)
        if not found:
            raise InputError(f"{arg}: directory has no run logs (*.yaml, *.yml, *.csv) or "
                             "training logs (*.jsonl, trainer_state.json, event files)")
        return [(p, True) for p in found]
    if path.exists():
        return [(arg, False)]
    if any(ch in arg for ch in "*?["):
        _check_glob_directories(arg)
        matches = sorted(Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file())
        if not matches:
            raise InputError(f"{arg}: pattern matches no files")
        return [(str(m), True) for m in matches]
    raise InputError(f"{arg}: no such file or directory")


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def decode_input(name: str, data: bytes) -> str:
    """Run-log bytes -> text: UTF-8 (a BOM is dropped), within ``LIMITS["max_file_bytes"]``.

    Refuses, naming the file and line: binary data (a NUL byte), UTF-16/32, bytes that are
    not UTF-8 and control characters other than tab, CR and LF. Pass at most
    ``max_file_bytes + 1`` bytes (e.g. from standard input) so the size check can fire.
    """
    limit = LIMITS["max_file_bytes"]
    if len(data) > limit:
        raise InputError(f"{name}: is over the {format_bytes(limit)} limit per run log; split "
                         "it into several files")
    if data[:2] in {b"\xff\xfe", b"\xfe\xff"}:
        raise InputError(f"{name}: is UTF-16 or UTF-32 text; re-save the file as UTF-8")
    if b"\x00" in data:
        raise InputError(f"{name}: is a binary file, not a YAML or CSV run log")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; "
            "re-save the file as UTF-8"
        ) from None
    if len(data.translate(None, _CONTROL_BYTES)) == len(data):
        return text  # (the control characters are ASCII: one byte each in UTF-8)
    bad = CONTROL_CHARACTERS.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise InputError(f"{name}: line {line}: control character U+{ord(bad.group()):04X} in "
                         "the text; remove it (or is this not a run log?)")
    return text


def _stdin_text(text: str) -> str:
    """Standard input as Python decoded it, held to the same rules as a file's bytes."""
    if len(text) > LIMITS["max_file_bytes"]:
        raise InputError(f"<stdin>: is over the {format_bytes(LIMITS['max_file_bytes'])} limit "
                         "per run log; split it into several files")
    # Undecodable bytes arrive as lone surrogates (errors="surrogateescape"): recover them.
    return decode_input("<stdin>", text.encode("utf-8", "surrogateescape"))


def _check_size(name: str, size: int) -> None:
    limit = LIMITS["max_file_bytes"]
    if size > limit:
        raise InputError(f"{name}: is {format_bytes(size)}, over the {format_bytes(limit)} "
                         "limit per run log; split it into several files")


def _read(name: str, size: int) -> bytes:
    limit = LIMITS["max_file_bytes"]
    try:
        _check_size(name, size)
        with open(name, "rb") as handle:  # bounded even for pipes and devices
            return handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the path "
                         "and its permissions") from None


def input_files(paths: Sequence[str]) -> list[str]:
    """The files :func:`read_sources` would read for ``paths``, found without reading them
    (for refusing to write over an input). ``-`` and paths that do not resolve are left
    out: reading them reports the problem."""
    found: list[str] = []
    for arg in paths:
        if arg == "-":
            continue
        try:
            found.extend(name for name, _ in _expand(arg))
        except InputError:
            continue
    return found


_CHUNK = 1024 * 1024


def read_bounded_text(path: str, limit: int, *, what: str) -> str:
    """The UTF-8 text of the file ``what`` (a fit file, a plan file) at ``path``, refused
    past ``limit`` bytes: a regular file by its size before anything is read, a pipe or
    device when reading passes the limit, and binary data (a NUL byte, e.g. /dev/zero or
    /dev/urandom) at the first chunk that holds one."""
    try:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a {what}")
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise InputError(f"{path}: is {format_bytes(info.st_size)}, over the "
                                 f"{format_bytes(limit)} limit for a {what}; is this the "
                                 "right file?")
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = handle.read(min(_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                if b"\x00" in chunk:
                    raise InputError(f"{path}: is a binary file, not a {what}")
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc}); check the "
                         "path and its permissions") from None
    if len(data) > limit:
        raise InputError(f"{path}: is over the {format_bytes(limit)} limit for a {what}; is "
                         "this the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; "
                         f"is this a {what}?") from None


def _kind(name: str, text: str, input_format: str) -> str:
    if input_format != "auto":
        return input_format
    low = name.lower()
    if low.endswith(".csv"):
        return "csv"
    if low.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if os.path.basename(name) in _LOG_NAMES:
        return "hf-trainer"
    if name == "<stdin>":
        first = text[:4096].lstrip().split("\n", 1)[0]
        if "," in first and ":" not in first:
            return "csv"
    return "yaml"


def read_sources(
    paths: Sequence[str], *, stdin_text: str | None = None, input_format: str = "auto"
) -> list[Source]:
    """Resolve ``paths`` (files, directories, globs, ``-``) into decoded text sources."""
    if input_format != "auto" and input_format not in INPUT_FORMATS:
        raise InputError(f"input format {shown(input_format)} is not one of auto, "
                         f"{', '.join(INPUT_FORMATS)}")
    if not paths:
        raise InputError("no run logs given; pass files, directories or - for stdin")
    sources: list[Source] = []
    seen: set[str] = set()
    total = 0
    for arg in paths:
        if arg == "-":
            if stdin_text is None:
                raise InputError("-: no standard input was given")
            if "<stdin>" not in seen:
                seen.add("<stdin>")
                text = _stdin_text(stdin_text)
                total += len(text)
                sources.append(Source("<stdin>", text, _kind("<stdin>", text, input_format)))
            continue
        for name, searched in _expand(arg):
            try:
                info = os.stat(name)
            except OSError as exc:
                if searched and os.path.islink(name):
                    continue  # a broken link in a directory: not a run log
                # Anything else (no permission, vanished while reading) is an error: a run
                # log found and then left out would silently change the fit.
                raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the "
                                 "path and its permissions") from None
            if searched and not stat.S_ISREG(info.st_mode):
                continue
            key = f"{info.st_dev}:{info.st_ino}"
            if key in seen:  # the same file reached twice (e.g. `runs/ runs/a.yaml`)
                continue
            seen.add(key)
            binary = is_event_file(name) or input_format == "tensorboard"  # read by its reader
            if binary:
                _check_size(name, info.st_size)
            data = b"" if binary else _read(name, info.st_size)
            total += info.st_size if binary else len(data)
            if total > LIMITS["max_total_bytes"]:
                raise InputError(
                    f"{name}: the run logs together are over the "
                    f"{format_bytes(LIMITS['max_total_bytes'])} limit; pass fewer files"
                )
            if binary:
                sources.append(Source(name, "", "tensorboard"))
                continue
            text = decode_input(name, data)
            sources.append(Source(name, text, _kind(name, text, input_format)))
    return sources


