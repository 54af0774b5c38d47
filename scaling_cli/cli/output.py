"""Write files atomically: a reader (or an interrupted run) never sees a truncated file.

The data go to a temporary file in the target's directory (``.NAME.XXXX.tmp.EXT``, hidden,
so run-log discovery skips it), which is flushed and fsynced, given the permissions a
new file would get (or the replaced file's), and renamed over the target: a rename within
one directory is atomic on POSIX and Windows. On any failure, including KeyboardInterrupt
(Ctrl-C), the temporary file is removed and the target is left as it was. Only SIGKILL or a
power cut can leave a stray ``.NAME.*.tmp.*`` file behind; never a truncated target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scaling_cli.errors import InputError

__all__ = ["atomic_path", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically (see the module doc)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it over ``path``.

    For writers that want a file name rather than bytes (``figure.savefig(tmp)``): the
    temporary name keeps the target's extension, so format detection still works.
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
