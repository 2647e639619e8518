"""Cost functions, each with its value and its gradient with respect to a^L.

The seeds average the cost over the n examples of a batch, C = 1/n sum_x C_x, so
every ``grad`` here carries the 1/n: the gradients the network returns are those of
the mean, and plain gradient descent w -> w - eta dC/dw is exactly the seeds'
w -> w - (eta/m) sum_x dC_x/dw.

Arrays are ``(n_outputs, batch)``, one example per column; ``Y`` is already one-hot
(or a column of targets) here: :meth:`Loss.targets` turns the user's rows or integer
labels into that form at the network's boundary.

Each loss also states its terms one number at a time (``scalar_term``, ``scalar_cost``,
``scalar_grad``), with the same operations in the same order as its NumPy form: the
compiled engine (:mod:`deltaprop._kernels`) learns the losses from those.

Which output activation a loss may follow is the loss's to say (:meth:`Loss.check_output`,
called when a network is built): the quadratic cost fits any output; the two
cross-entropies need probabilities from the output layer (sigmoid for
``binary_cross_entropy``, softmax for ``cross_entropy``) or, with ``from_logits=True``,
an identity output whose z^L they turn into probabilities themselves (PyTorch's
``BCEWithLogitsLoss`` and ``CrossEntropyLoss``, Keras' ``from_logits=True``). Any other
pairing would take the log of something that is not a probability, and is refused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from . import activations
from .errors import DeltapropTypeError, ShapeError, ValidationError, unknown_name

#: Every pairing of output activation and loss that is exact, for messages.
PAIRINGS = ("quadratic with any output activation; binary_cross_entropy and cross_entropy with sigmoid or "
            "softmax outputs (exact fused pairs: sigmoid with binary_cross_entropy, softmax with cross_entropy); "
            "either cross-entropy with from_logits=True after an identity output")


class Loss:
    """Base class: ``__call__`` is C, ``grad`` is grad_a C, ``delta`` the fused delta^L."""

    name: str = ""
    #: Name of the output activation with which delta^L = (a - y)/n exactly, if any.
    fused_with: str | None = None
    #: True when the network's outputs are logits z^L that this loss turns into probabilities.
    from_logits: bool = False
    #: The output activation that yields this loss's probabilities ("" for none: the quadratic).
    probability_output: str = ""

    # The compiled engine's forms, for one output a and target y (numbers in the network's
    # dtype; tiny is its smallest normal number, one is 1, half is 0.5 in it):
    #   scalar_term(a, y, tiny, one) -> what C_x sums over the outputs,
    #   scalar_cost(s, half)         -> C_x from that sum s,
    #   scalar_grad(a, y, tiny, one) -> dC_x/da (the engine divides by the batch's m).
    # None: the compiled engine does not compute this loss.
    scalar_term: ClassVar[Callable[..., float] | None] = None
    scalar_cost: ClassVar[Callable[..., float] | None] = None
    scalar_grad: ClassVar[Callable[..., float] | None] = None

    def __call__(self, A: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> float:
        """C = 1/n sum_x C_x for a batch of n columns; with example weights ``w`` (shape
        ``(n,)``), the weighted mean C = sum_x w_x C_x / sum_x w_x."""
        if w is None:
            return float(self.per_example(A, Y).mean())
        total = w.sum()
        return float((self.per_example(A, Y) * w).sum() / total) if total > 0 else 0.0

    def per_example(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """C_x for each column x: shape ``(batch,)``."""
        raise NotImplementedError

    def grad(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
             w: np.ndarray | None = None) -> np.ndarray:
        """grad_a C, including the batch mean's 1/m (see :func:`batch_mean`: m is the
        batch's size, by default A's columns, or with example weights ``w`` its total
        weight; a process that holds part of a batch passes the whole's). Shape of ``A``."""
        raise NotImplementedError

    def delta(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
              w: np.ndarray | None = None) -> np.ndarray:
        """delta^L = (a - y)/m (times w_x), valid only when the output activation is ``fused_with``."""
        return batch_mean(A - Y, m, w)

    def check_targets(self, Y: np.ndarray) -> None:
        """Raise if targets (columns, network dtype) are outside this loss's domain."""

    def check_output(self, activation: str, n_out: int) -> None:
        """Raise unless this loss is exact after an output layer of ``n_out`` ``activation`` units."""

    def probabilities(self, A: np.ndarray) -> np.ndarray:
        """The class probabilities the outputs ``A`` (columns) stand for: A itself, or
        sigma(z) / softmax(z) of logits."""
        return A

    def config(self) -> dict[str, Any]:
        """What :func:`get` needs to rebuild this loss (used by save/load)."""
        return {"name": self.name, **({"from_logits": True} if self.from_logits else {})}

    def targets(self, Y: npt.ArrayLike, n_out: int, dtype: npt.DTypeLike, *, name: str = "Y") -> np.ndarray:
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
        return f"{type(self).__name__}({'from_logits=True' if self.from_logits else ''})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.from_logits == self.from_logits

    def __hash__(self) -> int:
        return hash((type(self), self.from_logits))


class Quadratic(Loss):
    """C_x = 1/2 ||a - y||^2 (summed over outputs);  grad_a C = (a - y)/n.

    The worked example's E_total = sum 1/2 (target - out)^2 is this loss with n = 1.
    """

    name = "quadratic"

    def per_example(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return 0.5 * ((A - Y) ** 2).sum(axis=0)

    def grad(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
             w: np.ndarray | None = None) -> np.ndarray:
        return batch_mean(A - Y, m, w)

    @staticmethod
    def scalar_term(a: float, y: float, tiny: float, one: float) -> float:
        d = a - y
        return d * d

    @staticmethod
    def scalar_cost(s: float, half: float) -> float:
        return half * s

    @staticmethod
    def scalar_grad(a: float, y: float, tiny: float, one: float) -> float:
        return a - y


def batch_mean(G: np.ndarray, m: float | None = None, w: np.ndarray | None = None) -> np.ndarray:
    """Each example's gradient (the columns of ``G``) as a share of the batch's cost
    C = 1/m sum_x w_x C_x: G/m, or (G w_x)/m with example weights ``w`` ``(b,)``.

    m is the batch's size (G's columns) or, with weights, its total weight sum_x w_x,
    unless given (a process holding part of a batch passes the whole batch's). A batch
    whose weights are all 0 has no cost and a zero gradient (m is then taken as 1).
    """
    if w is None:
        return G / (G.shape[1] if m is None else m)
    if m is None:
        m = w.sum()
    return G * w / (m if m > 0 else 1)


def _log_clipped(A: np.ndarray) -> np.ndarray:
    """log(a) with a floored at the dtype's smallest normal number: never log(0)."""
    return np.log(np.maximum(A, np.finfo(A.dtype).tiny))


class _CrossEntropyBase(Loss):
    """What the two cross-entropies share: probabilities after ``fused_with``, or logits."""

    def __init__(self, from_logits: bool = False) -> None:
        if not isinstance(from_logits, (bool, np.bool_)):
            raise DeltapropTypeError(f"The 'from_logits' argument must be True or False. Got {from_logits!r} instead.")
        self.from_logits = bool(from_logits)
        # delta^L = (p - y)/n exactly after this output: the probabilities, or the logits' identity
        self.fused_with = "identity" if self.from_logits else self.probability_output

    def check_output(self, activation: str, n_out: int) -> None:
        # sigmoid and softmax outputs lie in (0, 1): the log is defined and the unfused
        # BP1 (grad_a C through sigma') is exact too; any other output is not a probability
        if activation == self.fused_with or (not self.from_logits and activation in ("sigmoid", "softmax")):
            return
        if self.from_logits:
            raise ValidationError(
                f"loss={self!r} takes the logits z^L of an identity output and forms the probabilities itself; "
                f"the output layer here is {activation!r}. Use output_activation='identity' (or "
                f"loss={self.name!r} with output_activation={self.probability_output!r}). Pairings that work: "
                f"{PAIRINGS}.")
        logits = (f" For an output layer without activation (logits), use loss=dp.losses.{type(self).__name__}"
                  f"(from_logits=True) with output_activation='identity', as PyTorch's "
                  f"{'BCEWithLogitsLoss' if self.name == 'binary_cross_entropy' else 'CrossEntropyLoss'} "
                  "and Keras' from_logits=True do.")
        raise ValidationError(
            f"loss={self.name!r} needs probabilities from the output layer, output_activation="
            f"{self.probability_output!r} (or {'softmax' if self.probability_output == 'sigmoid' else 'sigmoid'}); "
            f"the output layer here is {activation!r}, whose outputs are not "
            f"probabilities, so the cost and its gradient would be wrong.{logits} Pairings that work: {PAIRINGS}.")


class BinaryCrossEntropy(_CrossEntropyBase):
    """C_x = -sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)];  targets in [0, 1].

    grad_a C = (a - y) / (a (1 - a)) / n. With a sigmoid output, sigma'(z) = a (1 - a)
    cancels that denominator exactly, so delta^L = (a - y)/n: the fused form the
    network uses, which also never divides by a saturated a (1 - a) = 0.

    With ``from_logits=True`` the outputs are the logits z (an identity output layer)
    and a = sigma(z) is formed here: C_x = sum_j [log(1 + e^{z_j}) - y_j z_j], written
    without overflow, and delta^L = (sigma(z) - y)/n, the same fused form.
    """

    name = "binary_cross_entropy"
    probability_output = "sigmoid"

    def per_example(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if self.from_logits:    # softplus(z) - y z = -[y log sigma(z) + (1 - y) log(1 - sigma(z))]
            return (np.logaddexp(0.0, A).astype(A.dtype, copy=False) - Y * A).sum(axis=0)
        return -(Y * _log_clipped(A) + (1.0 - Y) * _log_clipped(1.0 - A)).sum(axis=0)

    def grad(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
             w: np.ndarray | None = None) -> np.ndarray:
        if self.from_logits:
            return self.delta(A, Y, m, w)
        tiny = np.finfo(A.dtype).tiny
        return batch_mean((A - Y) / np.maximum(A * (1.0 - A), tiny), m, w)

    def delta(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
              w: np.ndarray | None = None) -> np.ndarray:
        return batch_mean(self.probabilities(A) - Y, m, w)

    def probabilities(self, A: np.ndarray) -> np.ndarray:
        return activations.Sigmoid()(A) if self.from_logits else A

    # log and the division floored at tiny, as _log_clipped and grad floor them
    @staticmethod
    def scalar_term(a: float, y: float, tiny: float, one: float) -> float:
        return y * math.log(tiny if a < tiny else a) + (one - y) * math.log(tiny if one - a < tiny else one - a)

    @staticmethod
    def scalar_cost(s: float, half: float) -> float:
        return -s

    @staticmethod
    def scalar_grad(a: float, y: float, tiny: float, one: float) -> float:
        return (a - y) / (tiny if a * (one - a) < tiny else a * (one - a))

    def check_targets(self, Y: np.ndarray) -> None:
        if Y.size and (Y.min() < 0 or Y.max() > 1):
            raise ValidationError(
                f"binary_cross_entropy needs targets in [0, 1]. Got values from {Y.min()} to {Y.max()} instead."
            )


class CrossEntropy(_CrossEntropyBase):
    """C_x = -sum_j y_j log a_j, for a probability vector y (one-hot, or soft labels).

    grad_a C = -(y / a)/n. With a softmax output the Jacobian product gives
    J^T grad_a C = a (.) (-y/a + sum_k y_k) = a - y (as sum_k y_k = 1), so delta^L =
    (a - y)/n exactly: the fused form the network uses.

    With ``from_logits=True`` the outputs are the logits z (an identity output layer):
    C_x = -sum_j y_j log softmax(z)_j with log softmax(z) = z - max z - log sum e^{z - max z}
    (no overflow, no log of 0), and delta^L = (softmax(z) - y)/n.
    """

    name = "cross_entropy"
    probability_output = "softmax"

    def per_example(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if self.from_logits:
            shifted = A - A.max(axis=0, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
            return -(Y * log_p).sum(axis=0)
        return -(Y * _log_clipped(A)).sum(axis=0)

    def grad(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
             w: np.ndarray | None = None) -> np.ndarray:
        if self.from_logits:
            return self.delta(A, Y, m, w)
        tiny = np.finfo(A.dtype).tiny
        return batch_mean(-Y / np.maximum(A, tiny), m, w)

    def delta(self, A: np.ndarray, Y: np.ndarray, m: float | None = None,
              w: np.ndarray | None = None) -> np.ndarray:
        return batch_mean(self.probabilities(A) - Y, m, w)

    def probabilities(self, A: np.ndarray) -> np.ndarray:
        return activations.Softmax()(A) if self.from_logits else A

    @staticmethod
    def scalar_term(a: float, y: float, tiny: float, one: float) -> float:
        return y * math.log(tiny if a < tiny else a)

    @staticmethod
    def scalar_cost(s: float, half: float) -> float:
        return -s

    @staticmethod
    def scalar_grad(a: float, y: float, tiny: float, one: float) -> float:
        return -y / (tiny if a < tiny else a)

    def check_output(self, activation: str, n_out: int) -> None:
        super().check_output(activation, n_out)
        if n_out < 2:
            raise ValidationError(
                f"loss='cross_entropy' needs at least 2 outputs (one per class); this network has {n_out}. "
                "For two classes with one output use loss='binary_cross_entropy' and a sigmoid output.")

    def check_targets(self, Y: np.ndarray) -> None:
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


def one_hot(labels: npt.ArrayLike, n_classes: int, *, dtype: npt.DTypeLike = np.float64,
            name: str = "labels") -> np.ndarray:
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


def get(loss: str | Loss | dict[str, Any]) -> Loss:
    """A :class:`Loss` from its name, a config dict (as :meth:`Loss.config` gives), or an
    instance (returned as is).

    >>> get("cross_entropy"), get({"name": "cross_entropy", "from_logits": True})
    (CrossEntropy(), CrossEntropy(from_logits=True))
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        config = dict(loss)
        name = config.pop("name", None)
        if not isinstance(name, str) or name not in LOSSES:
            raise unknown_name("loss", name, LOSSES)
        return LOSSES[name](**config)
    if not isinstance(loss, str):
        raise DeltapropTypeError(
            f"The 'loss' argument must be a name such as 'quadratic' or a Loss. Got {type(loss).__name__} {loss!r} instead."
        )
    if loss not in LOSSES:
        raise unknown_name("loss", loss, LOSSES)
    return LOSSES[loss]()
