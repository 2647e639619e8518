"""Small data sets to teach with, and the two chores before training.

Synthetic two-dimensional classification sets, each ``f(n_samples, *, noise, seed)
-> (X, y)`` with ``X`` of shape ``(n_samples, 2)`` (float64 unless ``dtype`` says
float32) and ``y`` of shape ``(n_samples,)`` (int64 class labels 0..k-1):

- :func:`xor` (2 classes): the XOR truth table, corners (0, 0) and (1, 1) of the unit
  square are class 0, (0, 1) and (1, 0) class 1;
- :func:`moons` (2): two interleaved half circles of radius 1, centred at (0, 0) and (1, 0.5);
- :func:`circles` (2): a circle of radius 1 around one of radius ``factor``;
- :func:`spirals` (k): k arms winding ``turns`` times out from the centre to radius 1;
- :func:`blobs` (k): Gaussian clouds around k centres.

In every set ``noise`` is the standard deviation of Gaussian noise added to each
coordinate, and the same ``seed`` gives the same bits. The classes are as equal in
size as ``n_samples`` allows (the first classes get the extra points) and, unless
``shuffle=False``, the rows come in random order.

Before training: :func:`train_test_split` (scikit-learn's semantics, stratified on
request) and :class:`Standardizer` (z = (x - mean) / scale per feature). One-hot
targets are :func:`deltaprop.one_hot` (a loss's concern, so it lives in ``losses``).

>>> X, y = xor(8, noise=0.0, shuffle=False)
>>> X[:4].tolist(), y.tolist()
([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0, 0, 1, 1, 0])
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._array import Seed, as_dtype, as_rng, check_positive_int, check_real
from .errors import DataError, DeltapropTypeError, MissingFileError, ShapeError, ValidationError

__all__ = ["xor", "moons", "circles", "spirals", "blobs", "train_test_split", "Standardizer"]


# ---------------------------------------------------------------------------------------
# Synthetic 2-D sets.


def _class_sizes(n_samples: int, n_classes: int, what: str) -> list[int]:
    """``n_samples`` split into ``n_classes`` parts as equal as can be, the first ones larger."""
    n = check_positive_int("n_samples", n_samples)
    if n < n_classes:
        raise ValidationError(
            f"The 'n_samples' argument must be at least {n_classes} for {what}, so that every "
            f"class gets a point. Got {n_samples!r} instead."
        )
    return [n // n_classes + (k < n % n_classes) for k in range(n_classes)]


def _finish(X: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator, dtype: npt.DTypeLike,
            shuffle: bool) -> tuple[np.ndarray, np.ndarray]:
    """Add N(0, noise^2) to the noiseless points ``X``, shuffle the rows, cast: ``(X, y)``."""
    if not isinstance(shuffle, bool):
        raise DeltapropTypeError(f"The 'shuffle' argument must be True or False. Got {shuffle!r} instead.")
    dt = as_dtype(dtype)
    # The noise is drawn for every point, in the unshuffled order, before the shuffle:
    # the same seed then gives the same cloud whether or not the rows are shuffled.
    X = X + rng.normal(0.0, noise, size=X.shape)
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    return np.ascontiguousarray(X, dtype=dt), y


def _stack(points: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The points of each class one block after another, and their labels 0..k-1."""
    return (np.concatenate(points),
            np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(points)]))


def xor(n_samples: int = 200, *, noise: float = 0.2, seed: Seed = None, shuffle: bool = True,
        dtype: npt.DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: the four corners of the unit square, labelled x1 XOR x2.

    Corners (0, 0) and (1, 1) are class 0, (0, 1) and (1, 0) class 1: no straight
    line separates the classes, one hidden layer of two neurons can. Each point is
    a corner plus N(0, noise^2) in each coordinate; the corners take turns, in the
    order (0,0), (0,1), (1,0), (1,1), so each holds n_samples/4 points (+1).

    Args:
        n_samples: number of points, at least 4.
        noise: standard deviation of the Gaussian noise (0 gives the truth table itself).
        seed: int, ``numpy.random.Generator`` or None (fresh entropy).
        shuffle: return the rows in random order (else corner by corner, in turn).
        dtype: ``"float64"`` or ``"float32"`` for ``X``.

    Returns:
        ``X`` ``(n_samples, 2)`` and ``y`` ``(n_samples,)`` int64 in {0, 1}.

    >>> X, y = xor(4, noise=0.0, shuffle=False)
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    noise = check_real("noise", noise, low=0.0)
    n = check_positive_int("n_samples", n_samples)
    _class_sizes(n, 4, "xor (four corners)")
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = corners[np.arange(n) % 4]  # corners in turn: any prefix of the rows is balanced
    y = (X[:, 0] != X[:, 1]).astype(np.int64)
    return _finish(X, y, noise, as_rng(seed), dtype, shuffle)


def moons(n_samples: int = 200, *, noise: float = 0.1, seed: Seed = None, shuffle: bool = True,
          dtype: npt.DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half moons.

    Class 0 is the upper half of the unit circle, (cos t, sin t) for t in [0, pi];
    class 1 the lower half of the unit circle centred at (1, 0.5), (1 - cos t,
    0.5 - sin t). The points are evenly spaced in t (floor(n/2) of class 1, the rest
    class 0) before N(0, noise^2) is added to each coordinate. (The geometry of
    scikit-learn's ``make_moons``.)

    Args:
        n_samples: number of points, at least 2.
        noise: standard deviation of the Gaussian noise.
        seed, shuffle, dtype: as in :func:`xor`.

    >>> X, y = moons(6, noise=0.0, shuffle=False)
    >>> np.round(X, 3).tolist(), y.tolist()
    ([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.5], [1.0, -0.5], [2.0, 0.5]], [0, 0, 0, 1, 1, 1])
    """
    noise = check_real("noise", noise, low=0.0)
    n_upper, n_lower = _class_sizes(n_samples, 2, "moons (two classes)")
    t0 = np.linspace(0.0, np.pi, n_upper)
    t1 = np.linspace(0.0, np.pi, n_lower)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    return _finish(*_stack([upper, lower]), noise, as_rng(seed), dtype, shuffle)


def circles(n_samples: int = 200, *, noise: float = 0.05, factor: float = 0.5, seed: Seed = None,
            shuffle: bool = True, dtype: npt.DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
    """A circle inside a circle, both centred at the origin.

    Class 0 lies on the circle of radius 1, class 1 (floor(n/2) points) on the circle
    of radius ``factor``, each at evenly spaced angles 2 pi i / m (i = 0..m-1), plus
    N(0, noise^2) in each coordinate. (The geometry of scikit-learn's ``make_circles``.)

    Args:
        n_samples: number of points, at least 2.
        noise: standard deviation of the Gaussian noise.
        factor: radius of the inner circle, in [0, 1).
        seed, shuffle, dtype: as in :func:`xor`.

    >>> X, y = circles(4, noise=0.0, factor=0.5, shuffle=False)
    >>> np.round(np.hypot(X[:, 0], X[:, 1]), 12).tolist(), y.tolist()
    ([1.0, 1.0, 0.5, 0.5], [0, 0, 1, 1])
    """
    noise = check_real("noise", noise, low=0.0)
    factor = check_real("factor", factor, low=0.0, high=1.0, high_open=True)
    n_outer, n_inner = _class_sizes(n_samples, 2, "circles (two classes)")

    def ring(m: int, radius: float) -> np.ndarray:
        t = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
        return radius * np.column_stack([np.cos(t), np.sin(t)])

    return _finish(*_stack([ring(n_outer, 1.0), ring(n_inner, factor)]), noise, as_rng(seed), dtype, shuffle)


def spirals(n_samples: int = 300, *, n_classes: int = 2, turns: float = 1.0, noise: float = 0.05,
            seed: Seed = None, shuffle: bool = True,
            dtype: npt.DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms around the origin.

    Arm k has m points (m = n_samples/n_classes, +1 for the first arms); its i-th
    point (i = 1..m) has radius r = i/m and angle 2 pi (turns r + k/n_classes), so
    every arm winds ``turns`` times from near the centre out to radius 1, and the
    arms are rotated 2 pi/n_classes apart. Then N(0, noise^2) is added to each
    coordinate. With the defaults a network needs a hidden layer or two of a dozen
    neurons; ``turns=2`` is much harder.

    Args:
        n_samples: number of points, at least ``n_classes``.
        n_classes: number of arms (= classes), at least 1.
        turns: how many full turns each arm makes (> 0).
        noise: standard deviation of the Gaussian noise.
        seed, shuffle, dtype: as in :func:`xor`.

    >>> X, y = spirals(4, n_classes=2, turns=0.5, noise=0.0, shuffle=False)
    >>> np.round(X, 12).tolist(), y.tolist()
    ([[0.0, 0.5], [-1.0, 0.0], [-0.0, -0.5], [1.0, -0.0]], [0, 0, 1, 1])
    """
    k_classes = check_positive_int("n_classes", n_classes)
    turns = check_real("turns", turns, low=0.0, low_open=True)
    noise = check_real("noise", noise, low=0.0)
    arms = []
    for k, m in enumerate(_class_sizes(n_samples, k_classes, f"spirals with n_classes={k_classes}")):
        r = np.arange(1, m + 1) / m
        theta = 2 * np.pi * (turns * r + k / k_classes)
        arms.append(r[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]))
    return _finish(*_stack(arms), noise, as_rng(seed), dtype, shuffle)


def blobs(n_samples: int = 300, *, centers: int | npt.ArrayLike = 3, noise: float = 1.0, seed: Seed = None,
          shuffle: bool = True, dtype: npt.DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clouds, one per class: each point is its centre plus N(0, noise^2 I).

    Args:
        n_samples: number of points, at least the number of centres.
        centers: an int k, for k centres evenly spaced on the circle of radius 4
            (centre j at angle 2 pi j / k, the first at (4, 0)); or the centres
            themselves, an array of shape ``(k, 2)``.
        noise: standard deviation of each cloud.
        seed, shuffle, dtype: as in :func:`xor`.

    >>> X, y = blobs(3, centers=[[0, 0], [5, 5], [-5, 5]], noise=0.0, shuffle=False)
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], [0, 1, 2])
    """
    noise = check_real("noise", noise, low=0.0)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = check_positive_int("centers", centers)
        angle = 2 * np.pi * np.arange(k) / k
        C = 4.0 * np.column_stack([np.cos(angle), np.sin(angle)])
    else:
        try:
            C = np.array(centers, dtype=np.float64)
        except (TypeError, ValueError):
            raise DeltapropTypeError(
                f"The 'centers' argument must be an int or an array of shape (k, 2). Got {centers!r} instead."
            ) from None
        if C.ndim != 2 or C.shape[1] != 2 or len(C) == 0:
            raise ShapeError(f"The 'centers' argument must have shape (k, 2) with k >= 1. Got shape {C.shape} instead.")
        if not np.all(np.isfinite(C)):
            raise ValidationError("The 'centers' argument contains NaN or infinity.")
    sizes = _class_sizes(n_samples, len(C), f"blobs with {len(C)} centres")
    points = [np.repeat(c[None, :], m, axis=0) for c, m in zip(C, sizes)]
    return _finish(*_stack(points), noise, as_rng(seed), dtype, shuffle)


# ---------------------------------------------------------------------------------------
# Splitting.


def _as_samples(name: str, arr: npt.ArrayLike) -> np.ndarray:
    """``arr`` as an array with a first (sample) axis."""
    a = np.asarray(arr)
    if a.ndim == 0:
        raise ShapeError(f"The '{name}' argument must be an array with one row per sample. Got a scalar {arr!r} instead.")
    return a


def _test_count(test_size: float, n: int) -> int:
    """The number of test samples ``test_size`` asks for out of ``n`` (scikit-learn's rule)."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise DeltapropTypeError(
            "The 'test_size' argument must be a fraction in (0, 1) or a number of samples. "
            f"Got {type(test_size).__name__} {test_size!r} instead."
        )
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValidationError(
                f"The 'test_size' argument, as a number of samples, must be in 1..{n - 1} so that both parts "
                f"of the {n} samples are non-empty. Got {test_size!r} instead."
            )
        return n_test
    frac = float(test_size)
    if not 0.0 < frac < 1.0:
        raise ValidationError(f"The 'test_size' argument, as a fraction, must be in (0, 1). Got {test_size!r} instead.")
    n_test = math.ceil(frac * n)  # the test part rounds up, the training part down
    if n_test > n - 1:
        raise ValidationError(
            f"test_size={test_size!r} of {n} samples leaves no training samples ({n_test} for the test part); "
            "pass a smaller fraction or a number of samples."
        )
    return n_test


def train_test_split(X: npt.ArrayLike, y: npt.ArrayLike | None = None, *, test_size: float = 0.2,
                     seed: Seed = None, shuffle: bool = True,
                     stratify: bool | npt.ArrayLike | None = None) -> tuple[np.ndarray, ...]:
    """Split ``X`` (and ``y``) into a training and a test part, row by row.

    Semantics of scikit-learn's ``train_test_split``: a fraction ``test_size``
    asks for ceil(test_size * n) test rows, an int for exactly that many; the
    rest is for training; both must be non-empty. With ``shuffle`` (the default)
    the rows are drawn at random from ``seed``; without, the first rows train and
    the last rows test. ``stratify`` keeps each class's share (to within one row)
    in both parts.

    Args:
        X: array of shape ``(n, ...)``; rows are samples.
        y: array of shape ``(n, ...)`` or None.
        test_size: fraction in (0, 1), or a number of rows in 1..n-1.
        seed: int, ``numpy.random.Generator`` or None (fresh entropy).
        shuffle: draw the rows at random (else split in order; then ``stratify``
            must be None).
        stratify: None, ``True`` (stratify by ``y``), or labels of shape ``(n,)``
            (or ``(n, k)`` one-hot rows, each distinct row a class). Every class
            needs at least 2 members, and each part at least one row per class.

    Returns:
        ``X_train, X_test, y_train, y_test`` (new arrays, in that order as in
        scikit-learn); just ``X_train, X_test`` when ``y`` is None.

    Raises:
        ShapeError: ``X`` and ``y`` (or ``stratify``) differ in length.
        ValidationError: a ``test_size`` that leaves a part empty; a class too small
            to stratify; ``stratify`` without ``shuffle``.

    >>> X = np.arange(10).reshape(5, 2); y = np.array([0, 1, 0, 1, 0])
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=2, shuffle=False)
    >>> X_test.tolist(), y_train.tolist()
    ([[6, 7], [8, 9]], [0, 1, 0])
    """
    X = _as_samples("X", X)
    n = len(X)
    y = None if y is None else _as_samples("y", y)
    if y is not None:
        if len(y) != n:
            raise ShapeError(f"X has {n} samples but y has {len(y)}; they must match.")
    if n < 2:
        raise ValidationError(f"train_test_split needs at least 2 samples to make two non-empty parts. X has {n}.")
    if not isinstance(shuffle, bool):
        raise DeltapropTypeError(f"The 'shuffle' argument must be True or False. Got {shuffle!r} instead.")
    n_test = _test_count(test_size, n)
    if stratify is not None and not shuffle:
        raise ValidationError("stratify needs shuffle=True: an ordered split cannot keep the class shares.")

    if not shuffle:
        train, test = np.arange(n - n_test), np.arange(n - n_test, n)
    elif stratify is None:
        perm = as_rng(seed).permutation(n)
        train, test = perm[n_test:], perm[:n_test]
    else:
        train, test = _stratified(_strata(stratify, y, n), n_test, as_rng(seed))
    out = [X[train], X[test]]
    if y is not None:
        out += [y[train], y[test]]
    return tuple(out)


def _strata(stratify: bool | npt.ArrayLike, y: np.ndarray | None, n: int) -> np.ndarray:
    """Class index 0..k-1 of each row, from ``stratify`` (labels, one-hot rows, or True = y)."""
    if stratify is True:
        if y is None:
            raise ValidationError("stratify=True stratifies by y, but y is None; pass the labels as stratify=.")
        labels = y
    elif stratify is False:
        raise DeltapropTypeError("The 'stratify' argument must be None, True or an array of labels. Got False instead.")
    else:
        labels = _as_samples("stratify", stratify)
    if len(labels) != n:
        raise ShapeError(f"X has {n} samples but stratify has {len(labels)} labels; they must match.")
    if labels.ndim == 1:
        _, inverse = np.unique(labels, return_inverse=True)
    else:  # one-hot (or any) rows: each distinct row is a class
        _, inverse = np.unique(labels.reshape(n, -1), axis=0, return_inverse=True)
    return inverse.reshape(-1)


def _stratified(classes: np.ndarray, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices with each class's share of ``n_test`` (largest remainders)."""
    n = len(classes)
    counts = np.bincount(classes)
    k = len(counts)
    if counts.min() < 2:
        raise ValidationError(
            f"stratify: the least populated class has only {counts.min()} member; each class needs at least 2 "
            "to appear in both parts."
        )
    if n_test < k or n - n_test < k:
        raise ValidationError(
            f"stratify: {k} classes need at least {k} rows in each part; test_size gives {n_test} test and "
            f"{n - n_test} training rows."
        )
    exact = n_test * counts / n
    take = np.floor(exact).astype(np.int64)
    # The rows left over go to the classes with the largest remainders; ties are
    # broken at random (from the seed), so no class is favoured by its position.
    left = n_test - int(take.sum())
    order = np.lexsort((rng.random(k), -(exact - take)))
    take[order[:left]] += 1
    train, test = [], []
    for c in range(k):
        members = rng.permutation(np.flatnonzero(classes == c))
        test.append(members[:take[c]])
        train.append(members[take[c]:])
    # Shuffled again, so neither part comes sorted by class.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# ---------------------------------------------------------------------------------------
# Scaling.


class Standardizer:
    """z = (x - mean) / scale, feature by feature (column by column).

    ``fit`` learns, for each of the d columns of ``X`` ``(n, d)``, the mean and the
    standard deviation (ddof = 0), computed in float64 whatever the dtype of ``X``.
    A column that is constant (or whose variance is within rounding of zero) gets
    ``scale = 1``, so it becomes 0 (exactly, for a column of equal values) rather
    than NaN or rounding noise blown up.
    ``transform`` returns the dtype of ``X`` when it is float32 or float64 (float64
    for integers). ``mean`` and ``scale`` are float64 arrays ``(d,)``; ``to_dict``
    and ``from_dict`` carry them through JSON.

    >>> s = Standardizer().fit([[1.0, 5.0], [3.0, 5.0]])
    >>> s.mean.tolist(), s.scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    >>> s.transform([[3.0, 5.0]]).tolist()
    [[1.0, 0.0]]
    >>> Standardizer.from_dict(s.to_dict()).inverse_transform([[1.0, 0.0]]).tolist()
    [[3.0, 5.0]]
    """

    def __init__(self, mean: npt.ArrayLike | None = None, scale: npt.ArrayLike | None = None) -> None:
        if (mean is None) != (scale is None):
            raise ValidationError("Standardizer takes both 'mean' and 'scale' or neither.")
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        if mean is not None and scale is not None:      # (both or neither, as just checked)
            m = self._params("mean", mean)
            s = self._params("scale", scale)
            if m.shape != s.shape:
                raise ShapeError(f"Standardizer: 'mean' has shape {m.shape} but 'scale' has shape {s.shape}.")
            if np.any(s <= 0):
                raise ValidationError(f"Standardizer: every 'scale' must be > 0. Got {float(s[s <= 0][0])!r} at index "
                                      f"{int(np.flatnonzero(s <= 0)[0])}.")
            self._mean, self._scale = m, s

    @staticmethod
    def _params(name: str, value: npt.ArrayLike) -> np.ndarray:
        try:
            a = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DeltapropTypeError(f"Standardizer: '{name}' must be a 1-D array of numbers. Got {value!r}.") from None
        if a.ndim != 1 or a.size == 0:
            raise ShapeError(f"Standardizer: '{name}' must be a non-empty 1-D array. Got shape {a.shape}.")
        if not np.all(np.isfinite(a)):
            raise ValidationError(f"Standardizer: '{name}' contains NaN or infinity.")
        return a

    @property
    def mean(self) -> np.ndarray:
        """The mean of each feature, float64 ``(d,)`` (a copy)."""
        return self._fitted()[0].copy()

    @property
    def scale(self) -> np.ndarray:
        """The standard deviation of each feature (1 for constant ones), float64 ``(d,)`` (a copy)."""
        return self._fitted()[1].copy()

    @property
    def n_features(self) -> int | None:
        """d, or None before ``fit``."""
        return None if self._mean is None else len(self._mean)

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mean is None:
            raise ValidationError("This Standardizer is not fitted yet; call fit(X) first (or build it from_dict).")
        assert self._scale is not None       # set together with the mean
        return self._mean, self._scale

    @staticmethod
    def _check_X(X: npt.ArrayLike, d: int | None, what: str) -> np.ndarray:
        """``X`` as a finite 2-D real array ``(n, d)`` in its own float dtype (float64 for integers)."""
        try:
            A = np.asarray(X)
        except (TypeError, ValueError) as e:
            raise DeltapropTypeError(f"Standardizer.{what}: X must be a 2-D array of numbers: {e}") from None
        if A.dtype == bool or not np.issubdtype(A.dtype, np.number) or np.iscomplexobj(A):
            raise DeltapropTypeError(f"Standardizer.{what}: X must hold real numbers. Got dtype {A.dtype} instead.")
        if A.ndim != 2:
            hint = " Use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample." if A.ndim == 1 else ""
            raise ShapeError(f"Standardizer.{what}: X must have shape (n_samples, n_features). Got shape {A.shape}.{hint}")
        if d is not None and A.shape[1] != d:
            raise ShapeError(f"Standardizer.{what}: it was fitted on {d} features; X has shape {A.shape}.")
        if A.shape[0] == 0:
            raise ValidationError(f"Standardizer.{what}: X is empty (0 samples).")
        if A.dtype not in (np.float32, np.float64):
            A = A.astype(np.float64)
        finite = np.isfinite(A)
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            raise ValidationError(f"Standardizer.{what}: X contains NaN or infinity (first at row {i}, column {j}).")
        return A

    def fit(self, X: npt.ArrayLike) -> "Standardizer":
        """Learn the mean and scale of each column of ``X`` ``(n, d)``; returns self."""
        A = self._check_X(X, None, "fit").astype(np.float64, copy=False)
        n = len(A)
        # Each column divided by the power of two just above its largest |x|: only the
        # exponents change (no rounding, short of underflow 1e-308 below the largest),
        # and the squares below cannot overflow even for values near 1e308.
        _, e = np.frexp(np.abs(A).max(axis=0))
        p = np.ldexp(1.0, e)
        B = A / p
        mean = B.mean(axis=0)
        # A column of equal values has that value as its mean; the computed mean may be
        # an ulp off, which would leave the column at +-1e-17 instead of 0.
        same = np.all(B == B[0], axis=0)
        mean[same] = B[0, same]
        var = ((B - mean) ** 2).mean(axis=0)  # two passes: no cancellation of large means
        # A nearly constant column's computed variance can be rounding error alone. The
        # bound below (scikit-learn's _is_constant_feature, after Chan, Golub & LeVeque's
        # error analysis of the two-pass variance) is what that error can reach.
        eps = np.finfo(np.float64).eps
        constant = same | (var <= n * eps * var + (n * mean * eps) ** 2)
        std = np.sqrt(var) * p
        # A spread below the smallest normal float (2.2e-308) has no precision left to
        # divide by (and may round to 0): such a column counts as constant too.
        constant |= std < np.finfo(np.float64).tiny
        self._mean = mean * p
        self._scale = np.where(constant, 1.0, std)
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """z = (x - mean) / scale for each row of ``X`` ``(n, d)``."""
        m, s = self._fitted()
        A = self._check_X(X, len(m), "transform")
        return (A - m.astype(A.dtype)) / s.astype(A.dtype)

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: npt.ArrayLike) -> np.ndarray:
        """x = z * scale + mean: undoes :meth:`transform` (to rounding)."""
        m, s = self._fitted()
        A = self._check_X(Z, len(m), "inverse_transform")
        return A * s.astype(A.dtype) + m.astype(A.dtype)

    def to_dict(self) -> dict[str, list[float]]:
        """``{"mean": [...], "scale": [...]}`` as lists of Python floats (JSON-ready, exact)."""
        m, s = self._fitted()
        return {"mean": m.tolist(), "scale": s.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Standardizer":
        """The Standardizer that :meth:`to_dict` described."""
        if not isinstance(d, dict) or set(d) != {"mean", "scale"}:
            raise ValidationError(f"Standardizer.from_dict needs a dict with keys 'mean' and 'scale'. Got {d!r}.")
        return cls(d["mean"], d["scale"])

    def __repr__(self) -> str:
        return "Standardizer()" if self._mean is None else f"Standardizer(n_features={len(self._mean)})"


def open_npy(value: Any, name: str) -> Any:
    """``value`` itself, or, when it is a path to a ``.npy`` file (``np.save``), that
    array memory-mapped read-only: rows are read from disk only when used (a rank of
    data-parallel training reads its shard)."""
    if not isinstance(value, (str, os.PathLike)):
        return value
    path = Path(value)
    if path.suffix != ".npy":
        raise ValidationError(f"The '{name}' argument is a path, {str(path)!r}; arrays are read from .npy files "
                              "(np.save). Load other files first (dp.datasets.load_csv for CSV).")
    if not path.is_file():
        raise MissingFileError(f"The '{name}' argument names {str(path)!r}, which does not exist.", path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{str(path)!r} (the '{name}' argument) is not a .npy array NumPy can map: {e}") from None
