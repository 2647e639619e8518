"""Floor 1: cost functions, each with its value and its gradient with respect to a^L.

The seeds average the cost over the n examples of a batch, C = 1/n sum_x C_x, so
every ``grad`` here carries the 1/n: the gradients the network returns are those of
the mean, and plain gradient descent w -> w - eta dC/dw is exactly the seeds'
w -> w - (eta/m) sum_x dC_x/dw.

Arrays are ``(n_outputs, batch)``, one example per column; ``Y`` is already one-hot
(or a column of targets) here: :meth:`Loss.targets` turns the user's rows or integer
labels into that form at the network's boundary.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import DeltapropTypeError, ShapeError, ValidationError, unknown_name


class Loss:
    """Base class: ``__call__`` is C, ``grad`` is grad_a C, ``delta`` the fused delta^L."""

    name: str = ""
    #: Name of the output activation with which delta^L = (a - y)/n exactly, if any.
    fused_with: str | None = None

    def __call__(self, A: np.ndarray, Y: np.ndarray) -> float:
        """C = 1/n sum_x C_x for a batch of n columns."""
        return float(self.per_example(A, Y).mean())

    def per_example(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """C_x for each column x: shape ``(batch,)``."""
        raise NotImplementedError

    def grad(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """grad_a C, including the 1/n of the batch mean. Shape of ``A``."""
        raise NotImplementedError

    def delta(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """delta^L = (a - y)/n, valid only when the output activation is ``fused_with``."""
        return (A - Y) / A.shape[1]

    def check_targets(self, Y: np.ndarray) -> None:
        """Raise if targets (columns, network dtype) are outside this loss's domain."""

    def targets(self, Y: object, n_out: int, dtype: np.dtype, *, name: str = "Y") -> np.ndarray:
        """The user's targets as ``(n, n_out)`` rows in ``dtype``.

        Accepts rows ``(n, n_out)``; a vector ``(n,)`` when ``n_out == 1``; and, for
        classifiers (``n_out >= 2``), a vector of integer class labels 0..n_out-1,
        which becomes one-hot rows.
        """
        Y = np.asarray(Y)
        if Y.dtype == object or not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
            raise DeltapropTypeError(f"The '{name}' argument must hold numbers. Got an array of dtype {Y.dtype} instead.")
        if Y.ndim == 1 and n_out >= 2:
            Y = one_hot(Y, n_out, dtype=dtype, name=name)
        elif Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2:
            raise ShapeError(
                f"The '{name}' argument must have shape (n_samples, {n_out}) or, for a classifier, "
                f"(n_samples,) of integer labels. Got shape {Y.shape} instead."
            )
        if Y.shape[1] != n_out:
            hint = (" Integer labels go in a 1-D array of shape (n_samples,)." if Y.shape[1] == 1 and n_out > 1 else "")
            raise ShapeError(
                f"The network has {n_out} output(s), so '{name}' needs {n_out} column(s). "
                f"Got shape {Y.shape} instead.{hint}"
            )
        Y = Y.astype(dtype, copy=False)
        if not np.all(np.isfinite(Y)):
            bad = np.argwhere(~np.isfinite(Y))[0]
            raise ValidationError(f"The '{name}' argument contains NaN or infinity (first at row {bad[0]}, "
                                  f"column {bad[1]}).")
        self.check_targets(Y)
        return Y

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class Quadratic(Loss):
    """C_x = 1/2 ||a - y||^2 (summed over outputs);  grad_a C = (a - y)/n.

    The worked example's E_total = sum 1/2 (target - out)^2 is this loss with n = 1.
    """

    name = "quadratic"

    def per_example(self, A, Y):
        return 0.5 * ((A - Y) ** 2).sum(axis=0)

    def grad(self, A, Y):
        return (A - Y) / A.shape[1]


def _log_clipped(A: np.ndarray) -> np.ndarray:
    """log(a) with a floored at the dtype's smallest normal number: never log(0)."""
    return np.log(np.maximum(A, np.finfo(A.dtype).tiny))


class BinaryCrossEntropy(Loss):
    """C_x = -sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)];  targets in [0, 1].

    grad_a C = (a - y) / (a (1 - a)) / n. With a sigmoid output, sigma'(z) = a (1 - a)
    cancels that denominator exactly, so delta^L = (a - y)/n: the fused form the
    network uses then, which also never divides by a saturated a (1 - a) = 0.
    """

    name = "binary_cross_entropy"
    fused_with = "sigmoid"

    def per_example(self, A, Y):
        return -(Y * _log_clipped(A) + (1.0 - Y) * _log_clipped(1.0 - A)).sum(axis=0)

    def grad(self, A, Y):
        tiny = np.finfo(A.dtype).tiny
        return (A - Y) / np.maximum(A * (1.0 - A), tiny) / A.shape[1]

    def check_targets(self, Y):
        if Y.size and (Y.min() < 0 or Y.max() > 1):
            raise ValidationError(
                f"binary_cross_entropy needs targets in [0, 1]. Got values from {Y.min()} to {Y.max()} instead."
            )


class CrossEntropy(Loss):
    """C_x = -sum_j y_j log a_j, for a probability vector y (one-hot, or soft labels).

    grad_a C = -(y / a)/n. With a softmax output the Jacobian product gives
    J^T grad_a C = a (.) (-y/a + sum_k y_k) = a - y (as sum_k y_k = 1), so delta^L =
    (a - y)/n exactly: the fused form the network uses then.
    """

    name = "cross_entropy"
    fused_with = "softmax"

    def per_example(self, A, Y):
        return -(Y * _log_clipped(A)).sum(axis=0)

    def grad(self, A, Y):
        tiny = np.finfo(A.dtype).tiny
        return -Y / np.maximum(A, tiny) / A.shape[1]

    def check_targets(self, Y):
        if Y.size == 0:
            return
        if Y.min() < 0:
            raise ValidationError(f"cross_entropy needs non-negative targets. Got a minimum of {Y.min()} instead.")
        sums = Y.sum(axis=1)
        tol = 1e-3 if Y.dtype == np.float32 else 1e-6
        bad = np.flatnonzero(np.abs(sums - 1) > tol)
        if bad.size:
            raise ValidationError(
                f"cross_entropy needs each target row to sum to 1 (one-hot or a probability vector). "
                f"Row {bad[0]} sums to {sums[bad[0]]:.6g} instead; integer class labels go in a 1-D array."
            )


def one_hot(labels: object, n_classes: int, *, dtype: object = np.float64, name: str = "labels") -> np.ndarray:
    """Integer labels ``(n,)`` as one-hot rows ``(n, n_classes)``.

    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ShapeError(f"The '{name}' argument must be a 1-D array of class labels. Got shape {y.shape} instead.")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValidationError(
                f"The '{name}' argument must hold integer class labels 0..{n_classes - 1}; it holds non-integer "
                f"values such as {y[~(np.isfinite(y) & (y == np.round(y)))][0]!r}. One-hot targets go in a 2-D array."
            )
    elif y.dtype.kind not in "iub":
        raise DeltapropTypeError(f"The '{name}' argument must hold integer class labels. Got dtype {y.dtype} instead.")
    if not isinstance(n_classes, numbers.Integral) or n_classes < 1:
        raise ValidationError(f"The 'n_classes' argument must be a positive integer. Got {n_classes!r} instead.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValidationError(
            f"The '{name}' argument must hold class labels in 0..{n_classes - 1} (the network has {n_classes} outputs). "
            f"Got labels from {y.min()} to {y.max()} instead."
        )
    out = np.zeros((y.size, n_classes), dtype=np.dtype(dtype))
    out[np.arange(y.size), y.astype(np.intp)] = 1
    return out


#: Registered losses by name.
LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (Quadratic, BinaryCrossEntropy, CrossEntropy)}


def get(loss: str | Loss) -> Loss:
    """A :class:`Loss` from its name or an instance (returned as is)."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise DeltapropTypeError(
            f"The 'loss' argument must be a name such as 'quadratic' or a Loss. Got {type(loss).__name__} {loss!r} instead."
        )
    if loss not in LOSSES:
        raise unknown_name("loss", loss, LOSSES)
    return LOSSES[loss]()
