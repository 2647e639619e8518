"""Dtype and randomness, decided once and passed down.

deltaprop computes in one floating dtype per network (float64 by default, as the
seeds' arithmetic and NumPy's; float32 one keyword away) and never silently casts
inside. Randomness comes only from explicit seeds through ``numpy.random.Generator``.
"""

from __future__ import annotations

import numbers
import os
from typing import TypeAlias

import numpy as np

from .errors import DeltapropTypeError, ValidationError, format_bytes

#: The dtypes a network may compute in.
FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

#: What a ``seed`` argument may be (see :func:`as_rng`).
Seed: TypeAlias = "int | np.integer | np.random.Generator | np.random.SeedSequence | None"


def as_dtype(dtype: object) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype, or raise a clear error.

    >>> as_dtype("float32")
    dtype('float32')
    """
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise ValidationError(
            f"The 'dtype' argument must be 'float64' or 'float32'. Got {dtype!r} instead."
        )
    return dt


def as_rng(seed: object) -> np.random.Generator:
    """A ``Generator`` from an int seed, a ``SeedSequence``, a ``Generator`` or None.

    ``None`` draws fresh entropy from the OS (as NumPy does); pass an int for
    results that repeat bit for bit.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if int(seed) < 0:
            raise ValidationError(f"The 'seed' argument must be a non-negative integer. Got {seed!r} instead.")
        return np.random.default_rng(int(seed))
    raise DeltapropTypeError(
        f"The 'seed' argument must be an int, a numpy.random.Generator or None. "
        f"Got {type(seed).__name__} {seed!r} instead."
    )


def all_finite(a: np.ndarray) -> bool:
    """No NaN or infinity in ``a``, without a temporary of its size (a byte per entry
    for ``np.isfinite``): min and max propagate NaN, and an infinity is one of them.

    >>> all_finite(np.array([1.0, 2.0])), all_finite(np.array([1.0, np.nan])), all_finite(np.array([-np.inf]))
    (True, False, False)
    """
    if a.size == 0 or a.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def machine_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Refuse, before anything is allocated, what would not fit in this machine's memory.

    ``what`` says what needs ``nbytes`` (``"The network [3, 200000, 200000, 2] (40.0e9
    parameters of float64)"``); the error says how much that is against the machine's.
    """
    total = machine_memory()
    if total is not None and nbytes > total:
        raise ValidationError(f"{what} would need {format_bytes(nbytes)} of memory, more than this machine's "
                              f"{format_bytes(total)}. Use fewer or smaller layers.")


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1, or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DeltapropTypeError(
            f"The '{name}' argument must be a positive integer. Got {type(value).__name__} {value!r} instead."
        )
    if int(value) < 1:
        raise ValidationError(f"The '{name}' argument must be a positive integer (>= 1). Got {value!r} instead.")
    return int(value)


def check_real(name: str, value: object, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float inside the stated interval, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DeltapropTypeError(
            f"The '{name}' argument must be a real number. Got {type(value).__name__} {value!r} instead."
        )
    v = float(value)
    lo = "(" if low_open or low is None else "["
    hi = ")" if high_open or high is None else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    ok = np.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ValidationError(f"The '{name}' argument must be a finite number in {interval}. Got {value!r} instead.")
    return v
