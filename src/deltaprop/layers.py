"""The fully-connected layer, in the seeds' equations and names.

One Dense layer l holds ``W`` (n_out, n_in) and ``b`` (n_out,). ``W[j, k]`` is the
seeds' w^l_jk: the weight from neuron k of layer l-1 to neuron j of layer l. A batch
is held one example per column. After a pass the layer keeps, under the book's names:

=========  ==================  =====================================================
cache      shape               meaning
=========  ==================  =====================================================
``A_prev``  (n_in, batch)      a^{l-1}, the input to this layer
``Z``       (n_out, batch)     z^l = W^l a^{l-1} + b^l
``A``       (n_out, batch)     a^l = sigma(z^l)
``D``       (n_out, batch)     delta^l = dC/dz^l for the batch cost C = 1/m sum_x C_x, so
                               column x is delta^{x,l}/m (the seeds' per-example error over m)
``dW``      (n_out, n_in)      dC/dW^l = delta^l (a^{l-1})^T, summed over the batch (BP4)
``db``      (n_out,)           dC/db^l = delta^l, summed over the batch (BP3)
``M``       (n_out, batch)     the dropout mask of a training pass (or None): each entry
                               0 (dropped) or 1/(1 - p) (kept), so the layer passes on
                               a^l (.) M and the expected output equals a^l ("inverted"
                               dropout: nothing changes at predict time)
``dA``      (n_out, batch)     dC/da^l as ``backward`` received it (None for a fused output,
                               whose delta^L is formed directly)
``S``       (n_out, batch)     sigma'(z^l) of the last backward pass, kept only while
                               ``record`` is True (explain's copy of a network sets it)
=========  ==================  =====================================================

``explain`` and ``gradcheck`` read these caches; nothing computes them twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import activations, initializers
from ._array import Seed, all_finite, as_dtype, as_rng, check_memory, check_positive_int, check_real
from .errors import DeltapropTypeError, ShapeError, ValidationError, format_bytes


class Dense:
    """A fully-connected layer: z = W a_prev + b, a = sigma(z).

    Args:
        n_in: number of inputs (neurons of the layer below).
        n_out: number of neurons of this layer.
        activation: a name (``"sigmoid"``, ``"relu"``, ...) or an Activation.
        W: explicit initial weights, shape ``(n_out, n_in)``; copied.
        b: explicit initial biases, shape ``(n_out,)`` (a scalar is broadcast); copied.
        init: scheme that draws what was not given (see :mod:`deltaprop.initializers`).
        fixed_bias: hold ``b`` fixed during training (its gradient is still computed).
        dropout: probability p in [0, 1) of dropping each of this layer's outputs during
            training (inverted dropout: kept outputs are scaled by 1/(1 - p)); never at
            predict time.
        seed: int or Generator the scheme draws from.
        dtype: ``"float64"`` (default) or ``"float32"``.
        copy: copy ``W`` and ``b`` (default: the caller's arrays are never written); False
            takes them as they are when they already have the layer's dtype and shape
            and are C-ordered and writeable (what :func:`deltaprop.load` does with the
            arrays it read).

    Shape:
        forward: ``(n_in, batch) -> (n_out, batch)``; backward: ``(n_out, batch) -> (n_in, batch)``.

    >>> layer = Dense(2, 2, "sigmoid", W=[[.15, .20], [.25, .30]], b=.35)
    >>> layer.forward(np.array([[.05], [.10]])).round(9).ravel().tolist()
    [0.593269992, 0.596884378]
    """

    def __init__(self, n_in: int, n_out: int, activation: str | activations.Activation | dict[str, Any] = "sigmoid",
                 *, W: npt.ArrayLike | None = None, b: npt.ArrayLike | None = None,
                 init: str = "auto", fixed_bias: bool = False, dropout: float = 0.0, seed: Seed = None,
                 dtype: npt.DTypeLike = "float64", copy: bool = True) -> None:
        self.n_in = check_positive_int("n_in", n_in)
        self.n_out = check_positive_int("n_out", n_out)
        self.activation = activations.get(activation)
        if self.activation.name == "softmax" and self.n_out == 1:
            raise ValidationError("softmax over a single unit is always 1 (its gradient is 0): Dense(..., 1, "
                                  "activation='softmax') cannot learn. Use 'sigmoid' for a single output.")
        self.dtype = as_dtype(dtype)
        self.fixed_bias = bool(fixed_bias)
        self.dropout = check_real("dropout", dropout, low=0, high=1, high_open=True)
        self.init = initializers.resolve(init, self.activation.name)
        size = (self.n_in * self.n_out + self.n_out) * self.dtype.itemsize
        check_memory(size, f"Dense({self.n_in}, {self.n_out}) ({self.n_in * self.n_out + self.n_out:,} parameters "
                           f"of {self.dtype.name})")
        if W is None or b is None:
            try:
                W0, b0 = initializers.draw(self.init, as_rng(seed), self.n_in, self.n_out, self.dtype)
            except MemoryError:
                raise ValidationError(f"Dense({self.n_in}, {self.n_out}) needs {format_bytes(size)} for its weights, "
                                      "more than this machine could allocate now. Use fewer or smaller layers.") from None
        self.W = W0 if W is None else self._param("W", W, (self.n_out, self.n_in), copy)
        self.b = b0 if b is None else self._param("b", b, (self.n_out,), copy)
        # the caches of the last pass (the module docstring's table): None until one ran
        self.A_prev: np.ndarray | None = None
        self.Z: np.ndarray | None = None
        self.A: np.ndarray | None = None
        self.D: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self.M: np.ndarray | None = None
        self.dA: np.ndarray | None = None
        self.S: np.ndarray | None = None
        self.record = False        # keep sigma'(z) of each backward pass (for explain)

    def _param(self, name: str, value: npt.ArrayLike, shape: tuple[int, ...], copy: bool = True) -> np.ndarray:
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
            raise DeltapropTypeError(f"The '{name}' argument must hold real numbers. Got dtype {arr.dtype} instead.")
        if arr.ndim == 0 and name == "b":
            arr = np.full(shape, arr)
        if arr.shape != shape:
            raise ShapeError(f"The '{name}' argument of Dense({self.n_in}, {self.n_out}) must have shape {shape}. "
                             f"Got shape {arr.shape} instead.")
        if not all_finite(arr):
            raise ValidationError(f"The '{name}' argument contains NaN or infinity.")
        if not copy and arr.dtype == self.dtype and arr.flags.c_contiguous and arr.flags.writeable:
            return arr
        return np.array(arr, dtype=self.dtype)  # a copy: the caller's array is never written

    # -- the equations --------------------------------------------------------------

    def forward(self, A_prev: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """z^l = W^l a^{l-1} + b^l and a^l = sigma(z^l), for a batch of columns.

        ``rng`` marks a training pass: a layer with dropout then draws its mask M from
        it and passes on a^l (.) M (``A`` keeps a^l itself, which sigma' needs).
        """
        self.A_prev = A_prev
        self.Z = Z = self.W @ A_prev + self.b[:, None]
        self.A = A = self.activation(Z)
        self.M = None
        if rng is not None and self.dropout:
            keep = 1.0 - self.dropout
            self.M = M = (rng.random(A.shape) < keep) * A.dtype.type(1.0 / keep)
            return A * M
        return A

    def backward(self, dA: np.ndarray | None = None, *, D: np.ndarray | None = None,
                 input_grad: bool = True) -> np.ndarray | None:
        """From dC/da^l (or delta^l itself, for the fused output) to dW, db and dC/da^{l-1}.

        ``dA`` is grad_a C at the output layer (BP1) or (W^{l+1})^T delta^{l+1} from the
        layer above (BP2); either way delta^l = dA (.) sigma'(z^l). Returns
        (W^l)^T delta^l, the first factor of BP2 for the layer below, unless
        ``input_grad`` is False (the first layer's inputs need no gradient).
        """
        self.dA = dA
        A_prev, Z, A = self.A_prev, self.Z, self.A
        assert A_prev is not None and Z is not None and A is not None, "backward needs a forward pass first"
        if self.record:
            self.S = self.activation.prime(Z, A)
        if D is None:
            assert dA is not None, "backward needs dA or D"
            if self.M is not None:                             # dropout: dC/da = dC/d(a M) (.) M
                dA = dA * self.M
            D = self.activation.backward(dA, Z, A)             # BP1 / BP2: delta = dA (.) sigma'(z)
        self.D = D
        self.db = D.sum(axis=1)                                # BP3: dC/db = delta
        self.dW = D @ A_prev.T                                 # BP4: dC/dW = delta a_prev^T
        return self.W.T @ D if input_grad else None            # (W^l)^T delta^l, for BP2 below

    # -- conveniences ---------------------------------------------------------------

    @property
    def n_params(self) -> int:
        return self.W.size + self.b.size

    def params(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """``[(W, dW), (b, db)]``: the trainable parameters with their last gradients
        (None before a backward pass)."""
        pairs = [(self.W, self.dW)]
        if not self.fixed_bias:
            pairs.append((self.b, self.db))
        return pairs

    def astype(self, dtype: npt.DTypeLike) -> "Dense":
        """A copy of this layer (weights only, no caches) in ``dtype``."""
        return Dense(self.n_in, self.n_out, self.activation, W=self.W, b=self.b,
                     fixed_bias=self.fixed_bias, dropout=self.dropout, dtype=dtype)

    def copy(self) -> "Dense":
        return self.astype(self.dtype)

    def __repr__(self) -> str:
        extra = (", fixed_bias=True" if self.fixed_bias else "") + (f", dropout={self.dropout}" if self.dropout else "")
        dt = "" if self.dtype == np.float64 else f", dtype='{self.dtype.name}'"
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r}{extra}{dt})"
