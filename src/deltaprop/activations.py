"""Activation functions, each with its derivative right beside it.

An activation sigma maps the weighted input z of a layer to its output a = sigma(z).
Backpropagation needs sigma'(z) in BP1 and BP2::

    BP1   delta^L = grad_a C  (.)  sigma'(z^L)
    BP2   delta^l = ((W^{l+1})^T delta^{l+1})  (.)  sigma'(z^l)

Both are "the gradient with respect to a, times sigma'(z) element by element", which
is :meth:`Activation.backward`. Softmax is the one activation whose output j depends
on every z_k, so its Jacobian is not diagonal: it overrides ``backward`` with the full
Jacobian-vector product instead of the Hadamard product.

Arrays are ``(n_units, batch)``: one example per column, as the seeds write them.
Every function is finite for every finite input (no overflow, no warning) and keeps
the input's dtype.

Each element-wise activation also states sigma and its backward product one number at a
time (:meth:`Activation.scalar`, :meth:`Activation.scalar_delta`), with the same
operations in the same order: the compiled engine (:mod:`deltaprop._kernels`) learns
the activations from these two and from the registry, so an activation is declared here
and nowhere else. They are plain Python on floats (``math`` only, no helpers), which
numba compiles when it is installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .errors import DeltapropTypeError, unknown_name


class Activation:
    """Base class: ``__call__`` is sigma, ``prime`` is sigma', ``backward`` is BP1/BP2's product."""

    name: str = ""

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        """a = sigma(z), element by element. Shape of ``Z`` is kept."""
        raise NotImplementedError

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        """sigma'(z). ``A = self(Z)`` is passed too: sigmoid and tanh are cheaper from it."""
        raise NotImplementedError

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        """delta = dC/dz from dC/da: the Hadamard product dA (.) sigma'(z) of BP1 and BP2."""
        return dA * self.prime(Z, A)

    @property
    def parameter(self) -> float:
        """The activation's parameter the compiled engine passes as ``p`` (leaky_relu's alpha)."""
        return 0.0

    # The compiled engine's forms: z, a, g (= dC/da) and p are numbers in the network's
    # dtype, ``one`` is 1 in it. None: not element-wise (softmax).
    scalar: ClassVar[Callable[..., float] | None] = None          # scalar(z, p, one) -> sigma(z)
    scalar_delta: ClassVar[Callable[..., float] | None] = None    # scalar_delta(g, z, a, p, one) -> g sigma'(z), as backward forms it

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def config(self) -> dict[str, Any]:
        """What :func:`get` needs to rebuild this activation (used by save/load)."""
        return {"name": self.name, **vars(self)}


class Sigmoid(Activation):
    """sigma(z) = 1 / (1 + e^{-z});  sigma'(z) = sigma(z) (1 - sigma(z))."""

    name = "sigmoid"

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        # exp(-|z|) is in (0, 1], so nothing overflows for any finite z, and both
        # branches keep full relative precision (1/(1+e^-z) for z >= 0, e^z/(1+e^z) below).
        e = np.exp(-np.abs(Z))
        return np.where(Z >= 0, 1.0, e) / (1.0 + e)

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return A * (1.0 - A)

    @staticmethod
    def scalar(z: float, p: float, one: float) -> float:
        e = math.exp(-abs(z))
        return (one if z >= 0 else e) / (one + e)

    @staticmethod
    def scalar_delta(g: float, z: float, a: float, p: float, one: float) -> float:
        return g * (a * (one - a))


class Tanh(Activation):
    """tanh(z);  tanh'(z) = 1 - tanh(z)^2."""

    name = "tanh"

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        return np.tanh(Z)

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return 1.0 - A * A

    @staticmethod
    def scalar(z: float, p: float, one: float) -> float:
        return math.tanh(z)

    @staticmethod
    def scalar_delta(g: float, z: float, a: float, p: float, one: float) -> float:
        return g * (one - a * a)


class ReLU(Activation):
    """max(z, 0);  derivative 1 for z > 0 and 0 otherwise (0 chosen at the kink z = 0)."""

    name = "relu"

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        return np.maximum(Z, 0.0)

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return (Z > 0).astype(Z.dtype)  # the mask in Z's own dtype: no silent upcast

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        # Same product as the base class, without materialising the 0/1 mask.
        return np.where(Z > 0, dA, 0.0).astype(dA.dtype, copy=False)

    @staticmethod
    def scalar(z: float, p: float, one: float) -> float:
        return z if (z > 0 or z != z) else one - one     # max(z, 0), NaN kept as np.maximum keeps it

    @staticmethod
    def scalar_delta(g: float, z: float, a: float, p: float, one: float) -> float:
        return g if z > 0 else one - one


class LeakyReLU(Activation):
    """z for z > 0, alpha z otherwise;  derivative 1 or alpha."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha):
            raise DeltapropTypeError(f"The 'alpha' argument of leaky_relu must be a finite number. Got {alpha!r} instead.")
        self.alpha = float(alpha)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        return np.where(Z > 0, Z, self.alpha * Z)

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return np.where(Z > 0, 1.0, self.alpha).astype(Z.dtype)

    @property
    def parameter(self) -> float:
        return self.alpha

    @staticmethod
    def scalar(z: float, p: float, one: float) -> float:
        return z if z > 0 else p * z

    @staticmethod
    def scalar_delta(g: float, z: float, a: float, p: float, one: float) -> float:
        return g if z > 0 else g * p

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Identity(Activation):
    """z itself;  derivative 1 (a linear output, for regression)."""

    name = "identity"

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        return Z

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return np.ones_like(Z)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return dA  # dA (.) 1

    @staticmethod
    def scalar(z: float, p: float, one: float) -> float:
        return z

    @staticmethod
    def scalar_delta(g: float, z: float, a: float, p: float, one: float) -> float:
        return g


class Softmax(Activation):
    """softmax(z)_j = e^{z_j} / sum_k e^{z_k}, over the units of each column.

    Its Jacobian is J_jk = a_j (delta_jk - a_k), not diagonal, so ``backward`` forms
    J^T dA = a (.) (dA - sum_k dA_k a_k) rather than a Hadamard product. ``prime``
    returns only the diagonal a_j (1 - a_j), for display.
    """

    name = "softmax"
    # not element-wise: the compiled engine has its own column form (it sums in NumPy's order)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        # Subtracting each column's max leaves softmax unchanged and keeps exp <= 1.
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)

    def prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return A * (1.0 - A)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return A * (dA - (dA * A).sum(axis=0, keepdims=True))


#: Registered activations by name.
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, ReLU, Tanh, Identity, LeakyReLU, Softmax)
}


def get(activation: str | Activation | dict[str, Any]) -> Activation:
    """An :class:`Activation` from its name, a config dict, or an instance (returned as is).

    >>> get("sigmoid")
    Sigmoid()
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, dict):
        config = dict(activation)
        name = config.pop("name", None)
        if name not in ACTIVATIONS:
            raise unknown_name("activation", name, ACTIVATIONS)
        return ACTIVATIONS[name](**config)
    if not isinstance(activation, str):
        raise DeltapropTypeError(
            f"The 'activation' argument must be a name such as 'sigmoid' or an Activation. "
            f"Got {type(activation).__name__} {activation!r} instead."
        )
    if activation not in ACTIVATIONS:
        raise unknown_name("activation", activation, ACTIVATIONS)
    return ACTIVATIONS[activation]()
