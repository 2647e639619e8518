"""The library's exceptions and the helpers that word their messages.

Every error a user can cause derives from ``ValueError`` or ``TypeError`` (so code
that already catches those keeps working) and from :class:`DeltapropError` (so code
can catch ours alone). Messages say what was expected, what was given, and a hint.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable
from types import FrameType


class DeltapropError(Exception):
    """Base class of every exception deltaprop raises on purpose."""

    #: The message worded for the command line (its options, not arguments), where it differs.
    cli: str | None = None


class ValidationError(DeltapropError, ValueError):
    """An argument has the right type but a value deltaprop cannot use."""


class ShapeError(ValidationError):
    """Arrays whose shapes do not fit the network or each other."""


class DeltapropTypeError(DeltapropError, TypeError):
    """An argument of the wrong type (a string where a number belongs, ...)."""


class UnknownNameError(ValidationError, KeyError):
    """A name (activation, loss, initializer, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DataError(DeltapropError, ValueError):
    """A data file that is missing, corrupt, or not what it claims to be."""


class InputError(DataError):
    """A file that was read, but whose content is not usable input: a CSV field that is
    not a number, rows of unequal length, text that is not valid UTF-8. (Bad input,
    where a plain DataError is a file that is missing, damaged or not what it claims.)"""


class MissingFileError(DataError, FileNotFoundError):
    """A file or folder that does not exist. Also a ``FileNotFoundError`` (so ``except
    OSError`` works as with ``open``, ``np.load`` or ``torch.load``), with ``errno``,
    ``strerror`` and ``filename`` set as ``open`` sets them."""

    def __init__(self, message: str, filename: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.errno, self.strerror = errno.ENOENT, os.strerror(errno.ENOENT)
        self.filename = None if filename is None else os.fspath(filename)

    def __str__(self) -> str:  # OSError's own would print "[Errno 2] ...: 'path'" instead of the message
        return str(self.args[0]) if self.args else ""


class NonFiniteError(DeltapropError, FloatingPointError, ValueError):
    """Training produced NaN or infinity; the weights were left at their last finite values.

    ``cli`` holds the same message worded for the command line (its hint names options)."""

    def __init__(self, message: str, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli or message


class DeltapropWarning(UserWarning):
    """Base class of deltaprop's warnings. ``cli`` holds the same message worded for the
    command line, whose users pass options (``--lr``), not arguments (``lr=``)."""

    def __init__(self, message: str, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli or message


def warn(warning: Warning) -> None:
    """``warnings.warn`` pointing at the caller's line: the first frame outside deltaprop."""
    import sys
    import warnings
    package = os.path.dirname(__file__)
    frame: FrameType | None
    level, frame = 2, sys._getframe(1)        # stacklevel 2: warn's caller
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == package:
        level, frame = level + 1, frame.f_back
    warnings.warn(warning, stacklevel=level)


class BatchSizeWarning(DeltapropWarning):
    """A batch larger than the training data was clipped to it."""


class DivergenceWarning(DeltapropWarning):
    """Training ended with a cost far above where it began (finite, so no error was raised)."""


class ResumeWarning(DeltapropWarning):
    """A resumed fit differs from the run that wrote the checkpoint in a way it allows (the learning rate)."""


class InputRangeWarning(DeltapropWarning):
    """Inputs far outside the range networks train well on (raw 0-255 pixels, unscaled features)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A short hint naming the closest registered name, or the full list."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    listed = ", ".join(repr(c) for c in choices)
    if close:
        return f"Did you mean {close[0]!r}? Known names: {listed}."
    return f"Known names: {listed}."


def unknown_name(kind: str, name: object, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown registry name (activation, loss, ...)."""
    return UnknownNameError(f"Unknown {kind} {name!r}. {did_you_mean(str(name), choices)}")


def format_bytes(n: float) -> str:
    """``n`` bytes for a message: ``'320.0 GB'``, ``'18.8 TB'``.

    >>> format_bytes(3.2e11)
    '320.0 GB'
    """
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
