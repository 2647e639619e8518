"""Files on disk. The one atomic writer every file deltaprop writes goes
through, and the one way it opens a file to read.

Writing (:func:`atomic_open`): the content goes to a temporary beside the target,
``.<name>.tmp-<pid>-<8 hex digits>``, which is flushed and fsync'ed, renamed over the
target with ``os.replace``, and then the directory is fsync'ed. A crash at any moment
leaves the old file or the new one at the path, complete, plus at worst a temporary
that :func:`is_temporary` recognises. The next write to the same path removes the
temporaries earlier writes to that path left behind (their writer no longer runs), and
:func:`remove_stale_temporaries` cleans a whole folder.

Reading (:func:`open_for_reading`): only a regular file is opened. A missing path is a
:class:`~deltaprop.errors.MissingFileError` (also a ``FileNotFoundError``); a directory,
a FIFO or a device is refused before anything is read from it (a FIFO would block
forever, ``/dev/zero`` never ends).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import DataError, DeltapropTypeError, MissingFileError, ValidationError

_TEMPORARY = re.compile(r"\.(.+)\.tmp-([0-9]+)-[0-9a-f]{8}")


def as_path(path: object, name: str) -> Path:
    """``path`` as a Path, or a clear error naming the argument ``name``."""
    if not isinstance(path, (str, os.PathLike)):
        raise DeltapropTypeError(f"The '{name}' argument must be a str or os.PathLike. "
                                 f"Got {type(path).__name__} {path!r:.80} instead.")
    path = os.fspath(path)
    if isinstance(path, bytes):
        raise DeltapropTypeError(f"The '{name}' argument must be a str path, not bytes. Got {path!r:.80}.")
    if path == "":
        raise ValidationError(f"The '{name}' argument is an empty path.")
    return Path(path)


# -- reading ----------------------------------------------------------------------------

def open_for_reading(path: str | os.PathLike, *, what: str = "", text: bool = False,
                     encoding: str = "utf-8") -> IO[Any]:
    """Open the regular file at ``path`` for reading (binary, or text with ``newline=""``).

    Raises :class:`MissingFileError` if there is nothing at ``path`` and
    :class:`DataError` if it is a directory, a FIFO, a socket or a device, or cannot be
    opened; ``what`` says what the file is in messages (``"CSV file"``, ...).
    """
    path = as_path(path, "path")
    where = f"{what} '{path}'" if what else f"'{path}'"
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise block before the
        # check below could refuse it (it changes nothing for a regular file)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise MissingFileError(f"Cannot read {where}: No such file or directory.", path) from None
    except IsADirectoryError:
        raise DataError(f"Cannot read {where}: it is a directory, not a file.") from None
    except OSError as e:
        raise DataError(f"Cannot read {where}: {e.strerror or e}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"Cannot read {where}: it is a directory, not a file.")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "an unusual file type")
            raise DataError(f"Cannot read {where}: it is {kind}, not a regular file.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "r", encoding=encoding, newline="") if text else os.fdopen(fd, "rb")
        # as open() names it, not by its descriptor (ignore: typeshed types a text file's buffer as a
        # plain binary stream; os.fdopen's is a BufferedReader over a FileIO, whose name can be set)
        (f.buffer if text else f).raw.name = os.fspath(path)  # type: ignore[union-attr]
        return f
    except BaseException:
        os.close(fd)
        raise


# -- writing ----------------------------------------------------------------------------

def is_temporary(path_or_name: str | os.PathLike) -> bool:
    """True for the name of a temporary that :func:`atomic_open` creates (finished or not).

    >>> is_temporary(".model.dpz.tmp-4242-0a1b2c3d"), is_temporary("model.dpz")
    (True, False)
    """
    return _TEMPORARY.fullmatch(Path(os.fspath(path_or_name)).name) is not None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write the file at ``path`` as a whole: ``with atomic_open(path) as f: f.write(...)``.

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text, ``newline=""``). The file appears at
    ``path``, complete and on disk, only when the block ends without an exception;
    otherwise the temporary is removed and the file that was at ``path`` is untouched.
    A file replaced keeps its permission bits (a private 0600 stays private).
    """
    if mode not in ("wb", "w"):
        raise ValidationError(f"atomic_open writes with mode 'wb' or 'w'. Got {mode!r} instead.")
    path = as_path(path, "path")
    if path.is_dir():
        raise DataError(f"Cannot write '{path}': it is a directory; give a file name inside it.")
    if not path.parent.is_dir():
        raise DataError(f"Cannot write '{path}': the directory '{path.parent}' does not exist.")
    if is_temporary(path):
        raise ValidationError(f"Cannot write '{path}': names like it are reserved for the temporaries of "
                              "interrupted saves. Choose another file name.")
    remove_dead_temporaries_of(path)
    tmp, fd = _create_temporary(path)
    try:
        with (open(fd, "wb") if mode == "wb" else open(fd, "w", encoding="utf-8", newline="")) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())        # the data is on disk before the name points at it
        os.replace(tmp, path)           # atomic: readers see the old file or the new one
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)       # and the rename itself survives a power cut


def _create_temporary(path: Path) -> tuple[Path, int]:
    # The random suffix only makes the name unique (O_EXCL makes creation safe); it
    # does not touch any result, so it need not come from a seeded Generator.
    stem = path.name[:200]
    for _ in range(100):
        tmp = path.with_name(f".{stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise DataError(f"Cannot write '{path}': {e.strerror or e}.") from None
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        return tmp, fd
    raise DataError(f"Cannot create a temporary file beside '{path}' (100 names taken).")  # pragma: no cover


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:              # Windows cannot open a directory; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:              # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def remove_dead_temporaries_of(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that earlier writes to ``path`` left when their process was
    killed (the writer, the pid in the name, no longer runs). Returns them, sorted."""
    path = Path(path)
    stem = path.name[:200]
    removed = []
    with contextlib.suppress(OSError), os.scandir(path.parent if str(path.parent) else ".") as entries:
        for entry in entries:
            match = _TEMPORARY.fullmatch(entry.name)
            if match is None or match.group(1) != stem or _writer_alive(entry.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return sorted(removed)


def remove_stale_temporaries(directory: str | os.PathLike, *, older_than_s: float = 3600.0) -> list[Path]:
    """Delete the temporaries in ``directory`` last modified at least ``older_than_s`` ago.

    A temporary is what an interrupted write leaves (a process killed between creating
    it and renaming it). Only regular files whose names :func:`is_temporary` recognises
    are touched. The default hour spares a write still in progress; ``older_than_s=0``
    removes every temporary. A temporary whose writer (the process id in its name) no
    longer runs on this machine is removed whatever its age: that write can never
    finish. (A directory shared by several machines breaks that rule: there, another
    machine's write in progress looks dead; keep such folders per machine.)
    Returns the removed paths, sorted.
    """
    folder = as_path(directory, "directory")
    if isinstance(older_than_s, bool) or not isinstance(older_than_s, numbers.Real) \
            or not math.isfinite(older_than_s) or older_than_s < 0:
        raise ValidationError(f"The 'older_than_s' argument must be a finite number of seconds >= 0. "
                              f"Got {older_than_s!r} instead.")
    if not folder.is_dir():
        raise DataError(f"Cannot clean '{folder}': it is not a directory" +
                        (" (no such directory)." if not folder.exists() else "."))
    cutoff = time.time() - float(older_than_s)
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_temporary(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):  # another cleaner got there first
                if entry.stat(follow_symlinks=False).st_mtime <= cutoff or not _writer_alive(entry.name):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return sorted(removed)


def _writer_alive(name: str) -> bool:
    """Whether the process that created the temporary ``name`` still runs (on this machine)."""
    pid = int(name.rsplit(".tmp-", 1)[1].split("-")[0])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)           # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
        return False
    except (PermissionError, OSError):
        return True               # it exists (another user's), or we cannot tell: spare it
    return True
