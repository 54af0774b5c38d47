"""Where output goes: files written atomically by a documented rule, and standard streams
that may be closed, full or a closed pipe.

``-o PATH`` follows one rule (docs/input-errors.md, "Outputs"):

- a path that does not exist: created atomically (a temporary file beside it, fsynced and
  renamed), with the permissions a new file gets;
- a regular file: replaced atomically, keeping its permissions; one without any write
  permission (``chmod a-w``) is refused rather than replaced;
- a symbolic link: the path it points to is written by these same rules (a dangling link's
  target is created); the link itself stays;
- a FIFO or a character device (``/dev/null``, a pipe, a terminal): written through (opened
  and written, never replaced, created or truncated); a FIFO with no reader is refused
  rather than waited on;
- a directory, a block device or a socket: refused; nothing is written;
- ``-``: standard output;
- one of the command's inputs (the same file by device and inode, so also through a
  symbolic or hard link, or as a file found in an input directory): refused.

Everything is checked before the command's work starts, and the output is written only
once everything else has succeeded: a file is staged, then whatever goes to standard
output is written (``OutputTarget.write(..., then=...)``), and only then is the file
renamed into place, so an error at any point leaves the old file as it was.

The data go to a temporary file in the target's directory (``.NAME.XXXX.tmp.EXT``, hidden,
so run-log discovery skips it). On any failure, including KeyboardInterrupt, the temporary
file is removed and the target is left as it was. Only SIGKILL or a power cut can leave a
stray ``.NAME.*.tmp.*`` file behind; never a truncated target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from scaling_cli.errors import InputError, UsageError
from scaling_cli.units import shown

__all__ = ["OutputTarget", "atomic_path", "output_target", "write_atomic", "write_stream"]


class OutputTarget:
    """A checked ``-o`` destination: standard output, a device written through, or a file
    written atomically."""

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind  # "stdout", "through" or "atomic"

    def write(self, data: str | bytes, *, then: Callable[[], None] | None = None) -> None:
        """Write ``data`` (text is UTF-8 encoded). ``then`` (e.g. printing a table) runs
        after a file's data are staged and before they replace the target, so that if it
        fails the target is left as it was."""
        payload = data.encode("utf-8") if isinstance(data, str) else data
        if self.kind == "stdout":
            write_stream(sys.stdout, payload)
        elif self.kind == "through":
            _write_through(Path(self.path), payload)
        else:
            write_atomic(self.path, payload, before_commit=then)
            return
        if then is not None:
            then()


def _write_through(target: Path, payload: bytes) -> None:
    """Write into a FIFO or character device: never created or truncated, and a FIFO with
    no reader is an error, not a wait."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputError(f"{target}: is a FIFO with nothing reading it; start the reader "
                             "first, or choose another output path") from None
        raise _cannot_write(target, exc) from None
    try:
        os.set_blocking(fd, True)
        with open(fd, "wb", closefd=False) as handle:
            handle.write(payload)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    finally:
        os.close(fd)


def output_target(path: str, *, inputs: Iterable[str] = ()) -> OutputTarget:
    """Check ``path`` against the rule in the module doc before anything is computed."""
    if path == "-":
        return OutputTarget(path, "stdout")
    if not path:
        raise UsageError("is empty; give a file name, or - for standard output",
                         field="output")
    if "\n" in path or "\r" in path:
        raise UsageError(f"{shown(path)} contains a line break; choose another output path",
                         field="output")
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    if info is not None:
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{path}: is a directory; give a file name for the output")
        clash = _same_file(info, inputs)
        if clash is not None:
            raise UsageError(f"{path} is also an input ({clash}); writing it would destroy "
                             "that input: choose another output path", field="output")
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            return OutputTarget(str(target), "through")
        if not stat.S_ISREG(mode):
            raise UsageError(f"{path} is not a regular file (a block device or a socket); "
                             "choose another output path", field="output")
        if not mode & 0o222:
            raise UsageError(f"{path} is read-only; make it writable (chmod u+w) to replace "
                             "it, or choose another output path", field="output")
    if not target.parent.is_dir():
        raise UsageError(f"{path}: directory {target.parent} does not exist; create it or "
                         "choose another output path")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: directory {target.parent} is not writable; choose another "
                         "output path", field="output")
    return OutputTarget(str(target), "atomic")


def _same_file(info: os.stat_result, inputs: Iterable[str]) -> str | None:
    """The input (a named file, or a file found in an input directory or glob) that is the
    file ``info`` describes, if any."""
    from scaling_cli.read.sources import input_files

    for name in input_files(list(inputs)):
        try:
            other = os.stat(name)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
            return name
    return None


def write_stream(stream: object, payload: bytes) -> None:
    """Write to standard output or error, whatever state it is in: closed (``>&-``) or full
    (``> /dev/full``) is an error naming the stream; a reader that went away (``| head``)
    ends the output quietly."""
    name = "standard error" if stream is sys.stderr else "standard output"
    buffer = getattr(stream, "buffer", None)
    if stream is None or buffer is None:
        raise InputError(f"cannot write the result: {name} is closed")
    try:
        stream.flush()  # type: ignore[attr-defined]
        buffer.write(payload)
        buffer.flush()
    except BrokenPipeError:
        _silence(stream)
    except OSError as exc:
        _silence(stream)
        raise InputError(f"cannot write the result to {name} ({exc.strerror or exc})") from None


def _silence(stream: object) -> None:
    """Point the stream's file descriptor at /dev/null so the interpreter's final flush
    cannot fail again (and print a traceback) at exit."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *,
                 before_commit: Callable[[], None] | None = None) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically (see the module doc)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, before_commit=before_commit) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *,
                before_commit: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it over ``path``.

    For writers that want a file name rather than bytes: the temporary name keeps the
    target's extension, so format detection still works. ``before_commit`` runs once the
    data are on disk and before the rename; if it raises, nothing is replaced.
    """
    target = Path(path)
    directory = target.parent
    if not directory.is_dir():
        raise InputError(f"{target}: directory {directory} does not exist; create it or choose "
                         "another output path")
    if target.is_dir():
        raise InputError(f"{target}: is a directory; give a file name for the output")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}",
                                    dir=directory)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    tmp = Path(name)
    try:
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as handle:  # the writer may have closed (or replaced) the file
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(target))
        if before_commit is not None:
            before_commit()
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _cannot_write(target, exc) from None
        raise
    _fsync_directory(directory)


def _cannot_write(target: Path, exc: OSError) -> InputError:
    return InputError(f"{target}: cannot write ({exc.strerror or exc}); check the directory's "
                      "permissions and free space, or choose another output path")


def _mode_for(target: Path) -> int:
    """The replaced file's permissions, else what a plain ``open(path, "w")`` would give."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
