"""A feed-forward network of Dense layers, the cost it is trained on, and
the one forward and one backward pass that everything else uses.

The public methods take and return rows (``X`` is ``(n_samples, n_features)``, as
NumPy, scikit-learn and Keras users expect); inside, a batch is held as the seeds hold
it, one example per column, and the boundary is a transpose (a view, no copy).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from . import activations, losses
from ._array import Seed, all_finite, as_dtype, as_rng, check_memory, check_positive_int
from .errors import DeltapropTypeError, ShapeError, ValidationError
from .layers import Dense

if TYPE_CHECKING:       # what fit and to_torch hand over and back, from the floors above (as they are imported)
    import torch

    from ._protocols import CommunicatorLike
    from .training import Callback, History, Optimizer


class Network:
    """A stack of :class:`Dense` layers and a loss.

    Args:
        layers: either the sizes ``[n_0, n_1, ..., n_L]`` (n_0 inputs, n_L outputs),
            or a list of :class:`Dense` layers whose sizes chain.
        activation: hidden-layer activation for the sizes form.
        output_activation: output activation for the sizes form; by default softmax
            for ``cross_entropy``, sigmoid for ``binary_cross_entropy``, identity for
            either with ``from_logits=True``, and ``activation`` otherwise.
        loss: ``"quadratic"`` (default), ``"binary_cross_entropy"`` or ``"cross_entropy"``,
            or a Loss such as ``dp.losses.CrossEntropy(from_logits=True)``. The loss must
            fit the output activation (see :meth:`deltaprop.losses.Loss.check_output`):
            a pairing that would not be exact is refused here.
        init: weight-drawing scheme for the sizes form (see :mod:`deltaprop.initializers`).
        dropout: for the sizes form, the dropout probability of every hidden layer's
            outputs during training (see :class:`Dense`); the output layer has none.
        dtype: ``"float64"`` (default for sizes) or ``"float32"``; for the layers form
            the layers' own dtype unless given (then the layers are converted).
        seed: int or Generator for the initial weights and, unless ``fit`` is given a
            seed of its own, for shuffling.

    ``feature_names`` (None until set) names the inputs: the first ``fit`` on a pandas
    DataFrame keeps its column names there (and ``save`` in the file), and later calls
    given a DataFrame take its columns by those names, in that order.

    >>> net = Network([2, 3, 1], activation="tanh", output_activation="sigmoid",
    ...               loss="binary_cross_entropy", seed=0)
    >>> net
    Network([Dense(2, 3, activation='tanh'), Dense(3, 1, activation='sigmoid')], loss='binary_cross_entropy')
    >>> net.predict(np.zeros((4, 2))).shape
    (4, 1)
    """

    def __init__(self, layers: Sequence[int] | Sequence[Dense], *,
                 activation: str | activations.Activation | dict[str, Any] = "sigmoid",
                 output_activation: str | activations.Activation | dict[str, Any] | None = None,
                 loss: str | losses.Loss | dict[str, Any] = "quadratic",
                 init: str = "auto", dropout: float = 0.0, dtype: npt.DTypeLike | None = None,
                 seed: Seed = None) -> None:
        self.loss_fn = losses.get(loss)
        self.rng = as_rng(seed)
        if not isinstance(layers, Sequence) or isinstance(layers, str) or len(layers) == 0:
            raise DeltapropTypeError(
                "The 'layers' argument must be a list of layer sizes such as [784, 30, 10] or a list of Dense "
                f"layers. Got {layers!r} instead."
            )
        # (cast: mypy cannot narrow a sequence by all(isinstance(...)) of its items)
        if all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in layers):
            self.layers = self._from_sizes(cast("list[int]", list(layers)), activation, output_activation, init,
                                           dropout, as_dtype("float64" if dtype is None else dtype))
        elif all(isinstance(layer, Dense) for layer in layers):
            self.layers = self._from_layers(cast("list[Dense]", list(layers)), dtype)
        else:
            raise DeltapropTypeError(
                "The 'layers' argument must be all integers (sizes) or all Dense layers. "
                f"Got {[type(x).__name__ for x in layers]} instead."
            )
        self.dtype = self.layers[0].dtype
        if self.layers[-1].dropout:
            raise ValidationError(
                f"The output layer cannot have dropout (it has dropout={self.layers[-1].dropout}): the cost "
                "compares its outputs with the targets. Put dropout on hidden layers."
            )
        self.loss_fn.check_output(self.layers[-1].activation.name, self.n_out)
        self._feature_names: tuple[str, ...] | None = None

    @property
    def feature_names(self) -> list[str] | None:
        """The inputs' names (a DataFrame's columns), or None: inputs are taken by position."""
        return None if self._feature_names is None else list(self._feature_names)

    @feature_names.setter
    def feature_names(self, names: Sequence[str] | None) -> None:
        if names is None:
            self._feature_names = None
            return
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise DeltapropTypeError(f"The 'feature_names' must be a list of {self.n_in} strings. Got {names!r:.80}.")
        names = tuple(names)
        if len(names) != self.n_in:
            raise ShapeError(f"The network takes {self.n_in} inputs; 'feature_names' has {len(names)} names.")
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ValidationError(f"The 'feature_names' must be distinct; {twice!r} appears twice.")
        self._feature_names = names

    def _from_sizes(self, sizes: list[int], activation: str | activations.Activation | dict[str, Any],
                    output_activation: str | activations.Activation | dict[str, Any] | None, init: str,
                    dropout: float, dtype: np.dtype) -> list[Dense]:
        if len(sizes) < 2:
            raise ValidationError(f"The 'layers' sizes need at least an input and an output size. Got {sizes} instead.")
        for i, n in enumerate(sizes):
            if n < 1:
                raise ValidationError(f"Every layer size must be >= 1. Got {n} at position {i} of {sizes}.")
        if output_activation is None:      # the output the loss pairs with exactly, if it has one
            output_activation = self.loss_fn.fused_with or activation
        n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        check_memory(n * dtype.itemsize, f"The network {sizes} ({n:,} parameters of {dtype.name})")
        acts = [activation] * (len(sizes) - 2) + [output_activation]
        drops = [dropout] * (len(sizes) - 2) + [0.0]
        return [Dense(n_in, n_out, act, init=init, dropout=p, seed=self.rng, dtype=dtype)
                for n_in, n_out, act, p in zip(sizes[:-1], sizes[1:], acts, drops)]

    def _from_layers(self, layers: list[Dense], dtype: npt.DTypeLike | None) -> list[Dense]:
        for i, (below, above) in enumerate(zip(layers[:-1], layers[1:])):
            if below.n_out != above.n_in:
                raise ShapeError(
                    f"Layer {i} has {below.n_out} outputs but layer {i + 1} expects {above.n_in} inputs: "
                    "consecutive layers must chain (n_out of one = n_in of the next)."
                )
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValidationError("The same Dense object appears twice in 'layers'; build a separate layer for each.")
        if dtype is not None:
            dt = as_dtype(dtype)
            return [layer if layer.dtype == dt else layer.astype(dt) for layer in layers]
        dtypes = {layer.dtype for layer in layers}
        if len(dtypes) > 1:
            raise ValidationError(
                f"The layers mix dtypes {sorted(d.name for d in dtypes)}; pass dtype='float32' or "
                "dtype='float64' to convert them all."
            )
        return layers

    # -- shape facts ----------------------------------------------------------------

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    @property
    def fused(self) -> bool:
        """True when the output activation and the loss pair exactly (delta^L = (a - y)/n)."""
        return self.loss_fn.fused_with == self.layers[-1].activation.name

    @property
    def is_classifier(self) -> bool:
        """Accuracy is meaningful: several outputs (argmax) or one sigmoid/BCE output (a > 1/2)."""
        out = self.layers[-1].activation.name
        return self.n_out >= 2 or out == "sigmoid" or self.loss_fn.name == "binary_cross_entropy"

    # -- the two passes, on columns -------------------------------------------------

    def forward(self, A: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Feed-forward: a^l = sigma(W^l a^{l-1} + b^l) for l = 1..L. ``(n_in, m) -> (n_out, m)``.

        ``rng`` marks a training pass, from which layers with dropout draw their masks.
        """
        for layer in self.layers:
            A = layer.forward(A, rng)
        return A

    @property
    def has_dropout(self) -> bool:
        return any(layer.dropout for layer in self.layers)

    def backward(self, Y: np.ndarray, m: float | None = None, w: np.ndarray | None = None) -> None:
        """Backpropagate after :meth:`forward`: BP1 at the output, then BP2 down the layers.

        ``Y`` is ``(n_out, b)``; the cost is the mean over a batch of ``m`` examples (by
        default these b; a process that holds part of a batch passes the whole's m), or
        with example weights ``w`` ``(b,)`` (in the network's dtype) the weighted mean
        C = 1/m sum_x w_x C_x, m = sum_x w_x: BP1 carries each example's w_x/m.
        Leaves delta, dW and db in every layer's cache.
        """
        first, out = self.layers[0], self.layers[-1]
        assert out.A is not None, "backward needs a forward pass first"
        if self.fused:
            # sigmoid + binary cross-entropy, softmax + cross-entropy: sigma'(z^L) cancels
            # grad_a C exactly, leaving delta^L = (a - y)/m. Forming it directly is
            # exact and never divides by a saturated a(1 - a) or a = 0.
            dA = out.backward(D=self.loss_fn.delta(out.A, Y, m, w), input_grad=out is not first)
        else:
            dA = out.backward(self.loss_fn.grad(out.A, Y, m, w), input_grad=out is not first)   # BP1
        for layer in reversed(self.layers[:-1]):
            dA = layer.backward(dA, input_grad=layer is not first)                       # BP2

    # -- the boundary: rows in, rows out --------------------------------------------

    def check_X(self, X: npt.ArrayLike, *, name: str = "X") -> np.ndarray:
        """``X`` as a 2-D array of finite numbers in the network's dtype with ``n_in`` columns.

        A pandas DataFrame gives its columns, by name in the order of ``feature_names``
        when the network has them (else in its own order); each must be numeric."""
        if _is_frame(X):
            X = self._frame_columns(X, name)
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as e:  # ragged nested lists
            raise DeltapropTypeError(f"The '{name}' argument must be a 2-D array of numbers with rows of equal "
                                     f"length; NumPy could not make one of it ({e})") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
                or np.iscomplexobj(arr):
            raise DeltapropTypeError(f"The '{name}' argument must hold real numbers. Got an array of dtype {arr.dtype} instead.")
        if arr.ndim == 1 and self.n_in > 1 and arr.shape[0] == self.n_in:
            raise ShapeError(
                f"The '{name}' argument must be 2-D (n_samples, {self.n_in}). Got shape {arr.shape}. "
                f"Did you mean {name}.reshape(1, -1) for a single example?"
            )
        if arr.ndim == 1 and self.n_in == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            hint = f" Did you mean {name}.reshape(len({name}), -1)?" if arr.ndim > 2 and \
                int(np.prod(arr.shape[1:])) == self.n_in else ""
            raise ShapeError(f"The network expects {name} of shape (n_samples, {self.n_in}). "
                             f"Got shape {arr.shape} instead.{hint}")
        if arr.shape[1] != self.n_in:
            raise ShapeError(f"Dense layer 0 expects {self.n_in} input features; {name} has shape {arr.shape}.")
        if arr.shape[0] == 0:
            raise ValidationError(f"The '{name}' argument is empty (0 samples).")
        arr = arr.astype(self.dtype, copy=False)
        if not all_finite(arr):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ValidationError(f"The '{name}' argument contains NaN or infinity (first at row {bad[0]}, column {bad[1]}).")
        return arr

    def _frame_columns(self, frame: Any, name: str) -> np.ndarray:
        columns = [str(c) for c in frame.columns]
        if self._feature_names is not None:
            missing = [c for c in self._feature_names if c not in columns]
            extra = [c for c in columns if c not in self._feature_names]
            if missing or extra:
                raise ShapeError(f"The DataFrame '{name}' must have the columns the network was trained on, "
                                 f"{list(self._feature_names)!r:.200}" +
                                 (f"; it lacks {missing!r:.120}" if missing else "") +
                                 (f"; it has others, {extra!r:.120}" if extra else "") + ".")
            if len(set(columns)) != len(columns):
                raise ValidationError(f"The DataFrame '{name}' has two columns of one name.")
            frame = frame.set_axis(columns, axis=1)[list(self._feature_names)]
        from pandas.api.types import is_bool_dtype, is_numeric_dtype   # pandas is there: X is its DataFrame
        for column, dtype in zip(frame.columns, frame.dtypes):
            if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype)) or str(dtype).startswith("complex"):
                raise DeltapropTypeError(f"Column {str(column)!r:.60} of the DataFrame '{name}' is not numeric "
                                         f"(dtype {dtype}); encode it as numbers first (e.g. pandas.get_dummies).")
        # nullable columns (Int64, boolean) give NaN for a missing value, which check_X then names
        return frame.to_numpy(dtype=self.dtype, na_value=np.nan)

    @staticmethod
    def frame_names(X: Any) -> list[str] | None:
        """The column names of a pandas DataFrame ``X``, or None for anything else."""
        return [str(c) for c in X.columns] if _is_frame(X) else None

    def check_XY(self, X: npt.ArrayLike, Y: npt.ArrayLike, *,
                 names: tuple[str, str] = ("X", "Y")) -> tuple[np.ndarray, np.ndarray]:
        """Validate inputs and targets together; targets come back as rows ``(n, n_out)``."""
        X = self.check_X(X, name=names[0])
        Y = self.loss_fn.targets(Y, self.n_out, self.dtype, name=names[1])
        if len(Y) != len(X):
            raise ShapeError(f"{names[0]} has {len(X)} samples but {names[1]} has {len(Y)}; they must match.")
        return X, Y

    def check_weights(self, sample_weight: npt.ArrayLike | None, n: int, *,
                      name: str = "sample_weight") -> np.ndarray | None:
        """``sample_weight`` as ``(n,)`` finite non-negative numbers in the network's dtype,
        not all zero (None stays None: every example weighs 1)."""
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.dtype == object or not (np.issubdtype(w.dtype, np.number) or w.dtype == bool) or np.iscomplexobj(w):
            raise DeltapropTypeError(f"The '{name}' argument must hold real numbers, one per example. Got an array "
                                     f"of dtype {w.dtype} instead.")
        if w.ndim == 0:
            w = np.full(n, w)
        if w.shape != (n,):
            raise ShapeError(f"The '{name}' argument must have shape ({n},): one weight per example. "
                             f"Got shape {w.shape} instead.")
        w = w.astype(self.dtype)
        if not all_finite(w):
            raise ValidationError(f"The '{name}' argument contains NaN or infinity (first at "
                                  f"{int(np.argwhere(~np.isfinite(w))[0, 0])}).")
        if (w < 0).any():
            i = int(np.argmax(w < 0))
            raise ValidationError(f"The '{name}' argument must be >= 0 for every example. Got {w[i]:g} at {i}.")
        if not w.any():
            raise ValidationError(f"The '{name}' argument is 0 for every example: there is nothing to learn from.")
        return w

    # -- public API -----------------------------------------------------------------

    def predict(self, X: npt.ArrayLike, *, batch_size: int = 1024) -> np.ndarray:
        """Output activations a^L for each row of ``X``: ``(n, n_in) -> (n, n_out)``."""
        return self.forward_rows(self.check_X(X), batch_size=check_positive_int("batch_size", batch_size))

    def forward_rows(self, X: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """:meth:`forward` over already-checked rows, in chunks (bounded memory): ``(n, n_in) -> (n, n_out)``.

        Each layer caches Z and A of the chunk, so memory grows with ``batch_size`` times
        the units: the chunks bound the memory at a small cost in time.
        """
        out = np.empty((len(X), self.n_out), dtype=self.dtype)
        for s in range(0, len(X), batch_size):
            out[s:s + batch_size] = self.forward(X[s:s + batch_size].T).T
        return out

    def params(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Every trainable ``(parameter, gradient)`` pair, layer by layer (fixed biases left out)."""
        return [pair for layer in self.layers for pair in layer.params()]

    def loss(self, X: npt.ArrayLike, Y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """The cost C = 1/n sum_x C_x on this batch (with ``sample_weight``, the weighted mean)."""
        X, Y = self.check_XY(X, Y)
        return self.loss_fn(self.forward(X.T), Y.T, self.check_weights(sample_weight, len(X)))

    def gradients(self, X: npt.ArrayLike, Y: npt.ArrayLike,
                  sample_weight: npt.ArrayLike | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """dC/dW and dC/db of every layer on this batch, by one forward and one backward pass.

        ``sample_weight`` ``(n,)``: the cost is the weighted mean sum_x w_x C_x / sum_x w_x
        (scikit-learn's convention; a weight of 2 counts an example twice). Returns a list
        with one ``(dW, db)`` per layer, shaped like ``(W, b)`` (copies).
        """
        X, Y = self.check_XY(X, Y)
        w = self.check_weights(sample_weight, len(X))
        self.forward(X.T)
        self.backward(Y.T, w=w)
        grads = []
        for layer in self.layers:
            assert layer.dW is not None and layer.db is not None     # backward just filled them
            grads.append((layer.dW.copy(), layer.db.copy()))
        return grads

    def evaluate(self, X: npt.ArrayLike, Y: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None,
                 batch_size: int = 1024) -> dict[str, float]:
        """``{"loss": C, "accuracy": fraction correct}`` (accuracy for classifiers only).
        With ``sample_weight`` the loss is the weighted mean (the cost training minimises);
        the accuracy still counts examples, as in training's history."""
        X, Y = self.check_XY(X, Y)
        w = self.check_weights(sample_weight, len(X))
        return self.metrics(self.forward_rows(X, batch_size=check_positive_int("batch_size", batch_size)), Y, w)

    def metrics(self, A: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
        """Loss (weighted by ``w`` ``(n,)`` if given) and, for classifiers, the fraction of
        outputs ``A`` whose class is the target's (``A`` and ``Y`` are rows)."""
        result = {"loss": self.loss_fn(A.T, Y.T, w)}
        if self.is_classifier:
            result["accuracy"] = float(np.mean(self.classes(A) == self.target_classes(Y)))
        return result

    def classes(self, A: np.ndarray) -> np.ndarray:
        """Class index of each row of outputs ``A``: argmax over outputs, or for a single
        output a > 1/2 (z > 0 for logits, the same decision)."""
        if A.shape[1] == 1:
            return (A[:, 0] > (0.0 if self.loss_fn.from_logits else 0.5)).astype(np.intp)
        return A.argmax(axis=1)

    @staticmethod
    def target_classes(Y: np.ndarray) -> np.ndarray:
        """Class index of each row of targets ``Y``: argmax, or y > 1/2 for a single column."""
        return (Y[:, 0] > 0.5).astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)

    def predict_classes(self, X: npt.ArrayLike, *, batch_size: int = 1024) -> np.ndarray:
        """The class index of each row of ``X`` (a classifier's labels): ``(n, n_in) -> (n,)`` int."""
        self._check_classifier("predict_classes")
        return self.classes(self.predict(X, batch_size=batch_size))

    def predict_proba(self, X: npt.ArrayLike, *, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities for each row of ``X``: ``(n, n_in) -> (n, n_out)``.

        For softmax + cross-entropy and sigmoid + binary cross-entropy the outputs are the
        probabilities; for a ``from_logits`` loss they are softmax(z) or sigma(z) of the
        outputs. A network trained on another cost (the quadratic) has outputs that are
        not probabilities, and is refused.
        """
        self._check_classifier("predict_proba")
        if self.loss_fn.fused_with is None:
            raise ValidationError(
                f"predict_proba needs outputs that are probabilities; this network's "
                f"{self.layers[-1].activation.name} outputs were trained on the {self.loss_fn.name} cost, so they are "
                "not. Use predict() for the output activations or predict_classes() for the labels (or train with "
                "loss='cross_entropy', or 'binary_cross_entropy' for one output).")
        return self.loss_fn.probabilities(self.predict(X, batch_size=batch_size).T).T

    def _check_classifier(self, what: str) -> None:
        if not self.is_classifier:
            raise ValidationError(f"{what} is for classifiers; this network has {self.n_out} "
                                  f"{self.layers[-1].activation.name} output with the {self.loss_fn.name} cost "
                                  "(a regression). Use predict().")

    def fit(self, X: npt.ArrayLike, Y: npt.ArrayLike, epochs: int = 1, batch_size: int = 32,
            optimizer: str | Optimizer | None = None, *,
            validation_data: Sequence[npt.ArrayLike] | None = None, validation_split: float = 0.0,
            callbacks: Sequence[Callback] | None = None, seed: Seed = None, verbose: int = 1,
            shuffle: bool = True, engine: str | None = None, resume: str | os.PathLike[str] | None = None,
            sample_weight: npt.ArrayLike | None = None, comm: CommunicatorLike | None = None) -> History:
        """Train by mini-batch gradient descent; see :func:`deltaprop.training.fit`
        (``comm``: data-parallel training, :mod:`deltaprop.distributed`)."""
        from .training import fit  # the loop lives on a higher floor; it drives this network
        return fit(self, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation_data=validation_data, validation_split=validation_split, callbacks=callbacks,
                   seed=seed, verbose=verbose, shuffle=shuffle, engine=engine, resume=resume,
                   sample_weight=sample_weight, comm=comm)

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Write this network to ``path`` (no pickle; atomic); see :func:`deltaprop.io.save`."""
        from .io import save  # the file format lives on a higher floor; it reads this network
        return save(self, path, **kwargs)

    def to_torch(self) -> torch.nn.Sequential:
        """This network as a ``torch.nn.Sequential`` of ``Linear`` and activation modules
        (same weights and dtype; rows ``(N, n_in) -> (N, n_out)``); see :func:`deltaprop._torch.to_torch`."""
        from ._torch import to_torch  # the conversion lives on a higher floor (PyTorch is an optional extra)
        return to_torch(self)

    # -- copies ---------------------------------------------------------------------

    def astype(self, dtype: npt.DTypeLike) -> "Network":
        """A copy of this network (weights, activations, loss, feature names) in ``dtype``."""
        copy = Network([layer.astype(dtype) for layer in self.layers], loss=self.loss_fn)
        copy._feature_names = self._feature_names
        return copy

    def copy(self) -> "Network":
        return self.astype(self.dtype)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of ``[W_1, b_1, W_2, b_2, ...]``."""
        return [p.copy() for layer in self.layers for p in (layer.W, layer.b)]

    def set_weights(self, weights: Iterable[npt.ArrayLike]) -> None:
        """Write ``[W_1, b_1, ...]`` (as from :meth:`get_weights`) into the layers, in place."""
        weights = list(weights)
        if len(weights) != 2 * len(self.layers):
            raise ValidationError(f"set_weights needs {2 * len(self.layers)} arrays. Got {len(weights)} instead.")
        for i, layer in enumerate(self.layers):
            for name, new in zip(("W", "b"), weights[2 * i: 2 * i + 2]):
                current = getattr(layer, name)
                new = np.asarray(new)
                if new.shape != current.shape:
                    raise ShapeError(f"Layer {i} {name} has shape {current.shape}; got an array of shape {new.shape}.")
                current[...] = new

    def __repr__(self) -> str:
        dt = "" if self.dtype == np.float64 else f", dtype='{self.dtype.name}'"
        loss = repr(self.loss_fn.name) if not self.loss_fn.from_logits else f"dp.losses.{self.loss_fn!r}"
        return f"Network([{', '.join(map(repr, self.layers))}], loss={loss}{dt})"

    def _repr_html_(self) -> str:
        """In a notebook: the network drawn (its layers, sizes, activations, loss) and its summary."""
        from ._notebook import network_html
        return network_html(self)

    def summary(self) -> str:
        """A table of layers, shapes and parameter counts."""
        rows = [f"{'layer':<7}{'shape of W':<14}{'activation':<13}{'params':>8}"]
        for i, layer in enumerate(self.layers):
            rows.append(f"{i:<7}{str(layer.W.shape):<14}{layer.activation.name:<13}{layer.n_params:>8}")
        loss = self.loss_fn.name + (" (from logits)" if self.loss_fn.from_logits else "")
        rows.append(f"loss: {loss}   dtype: {self.dtype.name}   parameters: {self.n_params}")
        return "\n".join(rows)


def _is_frame(X: object) -> bool:
    """A pandas DataFrame, recognised without importing pandas (an optional dependency)."""
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns") and hasattr(X, "dtypes")
