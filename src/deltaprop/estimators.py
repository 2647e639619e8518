"""Scikit-learn estimators around a :class:`~deltaprop.Network`, for pipelines,
grid searches and cross-validation.

:class:`DeltapropClassifier` and :class:`DeltapropRegressor` follow scikit-learn's
estimator contract: the constructor only stores hyperparameters, ``fit(X, y)`` learns
and returns ``self``, learned attributes end in ``_``, and ``clone``, ``Pipeline``,
``GridSearchCV`` and ``cross_val_score`` work as with any scikit-learn estimator
(``sklearn.utils.estimator_checks.check_estimator`` passes; with ``early_stopping=True``
some of its checks give too few samples to hold a stratified validation set out of,
as for scikit-learn's own MLPClassifier). They need scikit-learn,
an optional extra (``pip install "deltaprop[sklearn]"``): the contract (``clone``,
``get_params``/``set_params``, tags, input validation, ``NotFittedError``) is
scikit-learn's own, and an estimator is of use only where scikit-learn is anyway.
``import deltaprop`` never imports scikit-learn; ``import deltaprop.estimators`` does.

A fit is three steps, nothing more:

1. X and y are checked by scikit-learn's own validation (so the messages are those a
   scikit-learn user knows, raised as deltaprop's :class:`~deltaprop.ValidationError`
   or :class:`~deltaprop.DeltapropTypeError`), and the targets are encoded;
2. a ``Network([n_features, *hidden, n_outputs], ...)`` is built from the data's
   shape, its weights drawn from ``random_state``;
3. ``network.fit`` trains it, so every check, engine and callback of the library
   applies; the result is ``network_``, its ``history_`` and ``n_iter_``.

How targets become outputs (``loss="auto"``, the default):

=====================  =========  ==============================  =================
targets                outputs    output activation, loss          ``predict_proba``
=====================  =========  ==============================  =================
binary (2 labels)      1          sigmoid, binary_cross_entropy   [1 - a, a]
multiclass (k labels)  k          softmax, cross_entropy          a
multilabel (0/1 rows)  k labels   sigmoid, binary_cross_entropy   a (each label alone)
regression             n_targets  identity, quadratic             (none)
=====================  =========  ==============================  =================

Any label type works (strings, ints, bools); ``classes_`` holds them sorted, as
``numpy.unique`` sorts them. ``loss="cross_entropy"`` gives binary targets two softmax
outputs; ``"binary_cross_entropy"`` or ``"quadratic"`` give multiclass targets one
sigmoid output per class (one-vs-rest), whose ``predict_proba`` rows are normalised to
sum to 1, as scikit-learn's one-vs-rest classifiers do.

Persistence: :meth:`save` writes the network with :func:`deltaprop.io.save` (no pickle)
and puts ``classes_``, the hyperparameters and the rest of the fitted state in its
metadata; :meth:`load` (or :func:`load`) reads it back, predicting bit for bit as
before, and ``deltaprop.load(path)`` reads the same file as a plain Network. Pickling
the estimator (what ``joblib`` does) is scikit-learn's business; it works because the
estimator holds only NumPy arrays and plain values, and the layers' caches of the last
batch (a copy of some of the data) are left out. deltaprop itself never writes or
reads a pickle.

>>> import deltaprop as dp
>>> from deltaprop.estimators import DeltapropClassifier
>>> X, y = dp.data.blobs(120, centers=3, noise=0.5, seed=0)
>>> labels = np.array(["red", "green", "blue"])[y]
>>> clf = DeltapropClassifier(hidden=(16,), lr=0.01, epochs=40, patience=None, random_state=0)
>>> clf = clf.fit(X, labels)
>>> clf.classes_.tolist(), clf.network_
(['blue', 'green', 'red'], Network([Dense(2, 16, activation='relu'), Dense(16, 3, activation='softmax')], loss='cross_entropy'))
>>> float(clf.score(X, labels)) > 0.9
True
"""

from __future__ import annotations

import copy
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import _archive, activations, initializers, io
from . import optimizers as _optimizers
from ._array import Seed, as_dtype, as_rng, check_positive_int, check_real
from .callbacks import Callback, EarlyStopping, History
from .data import train_test_split
from .errors import DataError, DeltapropTypeError, ValidationError, unknown_name
from .network import Network

if TYPE_CHECKING:
    from typing_extensions import Self

_SKLEARN_HINT = ('deltaprop.estimators needs scikit-learn, an optional extra: '
                 'pip install "deltaprop[sklearn]"')
try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError:
    raise ImportError(_SKLEARN_HINT, name="sklearn") from None

try:
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # scikit-learn < 1.6: the same function was a method of BaseEstimator
    def _sklearn_validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)

__all__ = ["DeltapropClassifier", "DeltapropRegressor", "load"]

#: Rows per chunk when predicting (bounded memory, as Network.predict).
_CHUNK = 4096
#: What scikit-learn's validate_data sets from the data of a fit.
_DATA_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """scikit-learn's validate_data (n_features_in_, feature_names_in_, its messages),
    raising deltaprop's errors, which are ValueError/TypeError as scikit-learn's are."""
    try:
        return _sklearn_validate_data(estimator, *args, **kwargs)
    except ValueError as e:
        raise ValidationError(str(e)) from e
    except TypeError as e:
        raise DeltapropTypeError(f"X and y must hold numbers (y of a classifier: class labels): {e}") from e


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DeltapropTypeError(f"The '{name}' argument must be True or False. Got {value!r} instead.")
    return bool(value)


def _hidden_sizes(hidden: object) -> list[int]:
    """``hidden`` as a list of layer sizes: an int, or a tuple/list of ints (may be empty)."""
    sizes = [hidden] if isinstance(hidden, numbers.Integral) else hidden
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (tuple, list, np.ndarray)) or any(
            isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
        raise ValidationError(
            "The 'hidden' argument must be a tuple of positive ints, one per hidden layer, such as (100,) "
            f"or (64, 32); () for none. Got {hidden!r} instead.")
    return [int(n) for n in sizes]


def _generator(random_state: object) -> np.random.Generator:
    """The Generator a fit draws from: an int (same bits every fit), None (fresh entropy),
    a Generator (used on, as scikit-learn uses a RandomState), or a legacy RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    try:
        return as_rng(random_state)
    except (DeltapropTypeError, ValidationError) as e:
        raise type(e)(str(e).replace("'seed' argument", "'random_state' argument")) from None


class _NetworkEstimator(BaseEstimator):
    """What the classifier and the regressor share: the hyperparameters, the fit, the
    forward pass, persistence. Subclasses say how targets become outputs."""

    #: The names the 'loss' argument accepts; set by each subclass.
    _losses: tuple[str, ...] = ()
    # Set by fit (scikit-learn's fitted attributes), declared here for the type checker.
    network_: Network
    n_iter_: int
    loss_curve_: list[float]
    history_: History
    optimizer_: _optimizers.Optimizer | None
    callbacks_: list[Callback]

    def __init__(self, hidden: int | Sequence[int] = (100,), *,
                 activation: str | activations.Activation | dict[str, Any] = "relu", loss: str = "auto",
                 optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, batch_size: int | str = "auto", epochs: int = 200, shuffle: bool = True,
                 tol: float = 1e-4, patience: int | None = 10, early_stopping: bool = False,
                 validation_fraction: float = 0.1, dropout: float = 0.0, init: str = "auto",
                 dtype: npt.DTypeLike = "float64", engine: str | None = None,
                 callbacks: Sequence[Callback] | None = None, warm_start: bool = False,
                 random_state: Seed | np.random.RandomState = None, verbose: int = 0) -> None:
        # scikit-learn's rule: store every hyperparameter unchanged; check them in fit.
        self.hidden = hidden
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.tol = tol
        self.patience = patience
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dropout = dropout
        self.init = init
        self.dtype = dtype
        self.engine = engine
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # -- hyperparameters, checked when they are used ------------------------------------

    def _check_params(self, *, partial: bool) -> None:
        """Raise, naming the parameter, before anything is built or changed."""
        _hidden_sizes(self.hidden)
        initializers.resolve(self.init, activations.get(self.activation).name)
        if self.loss == "cross_entropy" and not isinstance(self, ClassifierMixin):
            raise ValidationError(f"loss='cross_entropy' (softmax over classes) is a classifier's loss; "
                                  f"{type(self).__name__} takes {', '.join(map(repr, self._losses))}. "
                                  "For class labels use DeltapropClassifier.")
        if self.loss not in self._losses:
            raise unknown_name(f"loss for {type(self).__name__}", self.loss, self._losses)
        self._make_optimizer()
        if self.batch_size != "auto":
            check_positive_int("batch_size", self.batch_size)
        check_positive_int("epochs", self.epochs)
        check_real("tol", self.tol, low=0)
        if self.patience is not None and (isinstance(self.patience, bool)
                                          or not isinstance(self.patience, numbers.Integral) or self.patience < 0):
            raise ValidationError("The 'patience' argument must be an int >= 0 (epochs without improvement before "
                                  f"training stops), or None to train every epoch. Got {self.patience!r} instead.")
        if _check_bool("early_stopping", self.early_stopping) and self.patience is None and not partial:
            raise ValidationError("early_stopping=True stops after 'patience' epochs without improvement of the "
                                  "validation loss, but patience=None. Set patience (e.g. 10) or early_stopping=False.")
        check_real("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True, high_open=True)
        check_real("dropout", self.dropout, low=0, high=1, high_open=True)
        as_dtype(self.dtype)
        _check_bool("warm_start", self.warm_start)
        if self.callbacks is not None and (not isinstance(self.callbacks, (list, tuple)) or
                                           not all(isinstance(cb, Callback) for cb in self.callbacks)):
            raise DeltapropTypeError("The 'callbacks' argument must be a list of deltaprop callbacks, e.g. "
                                     f"[dp.callbacks.CSVLogger('log.csv')]. Got {self.callbacks!r} instead.")

    def _make_optimizer(self) -> _optimizers.Optimizer:
        name = self.optimizer.lower() if isinstance(self.optimizer, str) else self.optimizer
        if name == "adam":
            return _optimizers.Adam(lr=self.lr, weight_decay=self.weight_decay)
        if name == "sgd":
            return _optimizers.SGD(lr=self.lr, momentum=self.momentum,
                                   nesterov=_check_bool("nesterov", self.nesterov), weight_decay=self.weight_decay)
        raise unknown_name("optimizer", self.optimizer, ("adam", "sgd"))

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        """Build a network for ``X`` (n_samples, n_features) and ``y``, and train it.

        Trains for up to ``epochs`` epochs, stopping early once the training loss (or,
        with ``early_stopping=True``, the loss on a held-out ``validation_fraction``)
        has not improved by more than ``tol`` for ``patience`` epochs. With
        ``warm_start=True`` a fitted estimator keeps its network and optimizer state
        and trains on from them. ``sample_weight`` ``(n_samples,)``: each mini-batch's
        cost is the weighted mean sum_x w_x C_x / sum_x w_x (scikit-learn's MLP
        convention; a weight of 2 counts a sample twice). Returns ``self``.
        """
        return self._fit(X, y, partial=False, sample_weight=sample_weight)

    def _fit(self, X: npt.ArrayLike, y: npt.ArrayLike, *, partial: bool, classes: npt.ArrayLike | None = None,
             sample_weight: npt.ArrayLike | None = None) -> Self:
        seen = {k: self.__dict__[k] for k in _DATA_ATTRIBUTES if k in self.__dict__}
        try:
            plan = self._plan(X, y, partial=partial, classes=classes, sample_weight=sample_weight)
            return self._train(plan, partial=partial)
        except BaseException:
            # validate_data has already set n_features_in_ (and feature_names_in_) for
            # this data: put the previous ones back, so that a fit that fails leaves the
            # estimator as it was (but for a network trained on in place, see _train)
            for k in _DATA_ATTRIBUTES:
                self.__dict__.pop(k, None)
            self.__dict__.update(seen)
            raise

    def _plan(self, X: Any, y: Any, *, partial: bool, classes: npt.ArrayLike | None,
              sample_weight: npt.ArrayLike | None = None) -> dict[str, Any]:
        """Every check, and everything the training needs; changes nothing but what
        validate_data sets (which :meth:`_fit` puts back on an error)."""
        self._check_params(partial=partial)
        keep = hasattr(self, "network_") and (partial or self.warm_start)
        X, y = _validate_data(self, X, y, reset=not keep, dtype=as_dtype(self.dtype), multi_output=True,
                              y_numeric=not isinstance(self, ClassifierMixin))
        Y, n_out, loss, out_act, learned = self._encode_targets(y, keep=keep, partial=partial, classes=classes)
        w = self._sample_weight(sample_weight, X, y, partial)
        if keep:
            self._check_same_network(n_out, loss, out_act)
            net = self.network_
        else:
            net = Network([X.shape[1], *_hidden_sizes(self.hidden), n_out], activation=self.activation,
                          output_activation=out_act, loss=loss, init=self.init, dropout=self.dropout,
                          dtype=self.dtype, seed=_generator(self.random_state))
            if hasattr(self, "feature_names_in_"):     # a DataFrame's columns: the network names its inputs
                net.feature_names = [str(f) for f in self.feature_names_in_]
        optimizer = self._make_optimizer()
        if keep and type(self.optimizer_) is type(optimizer):
            # train on from the moments and step count reached; the hyperparameters are today's
            optimizer.set_state(*self.optimizer_.get_state())
        callbacks = copy.deepcopy(list(self.callbacks or []))
        validation = None
        if not partial and self.early_stopping:
            assert self.patience is not None     # _check_params refuses early_stopping without it
            X, Y, w, validation = self._hold_out(X, Y, w, net.rng)
            # MLPClassifier stops once more than n_iter_no_change epochs in a row did not
            # improve; EarlyStopping (Keras' semantics) once patience did: hence the + 1
            callbacks.append(EarlyStopping("val_loss", patience=self.patience + 1, min_delta=self.tol,
                                           restore_best_weights=True))
        elif not partial and self.patience is not None:
            callbacks.append(EarlyStopping("loss", patience=self.patience + 1, min_delta=self.tol))
        return {"keep": keep, "net": net, "learned": learned, "optimizer": optimizer, "callbacks": callbacks,
                "X": X, "Y": Y, "sample_weight": w, "validation": validation,
                "batch_size": min(200, len(X)) if self.batch_size == "auto" else self.batch_size}

    def _train(self, plan: dict[str, Any], *, partial: bool) -> Self:
        net, optimizer, callbacks = plan["net"], plan["optimizer"], plan["callbacks"]
        if plan["keep"]:
            # network_ trains in place: should the fit fail (NonFiniteError), its weights
            # are the last finite ones, and optimizer_ must be the state that reached them
            self.optimizer_, self.callbacks_ = optimizer, callbacks
        epochs = 1 if partial else self.epochs
        history = net.fit(plan["X"], plan["Y"], epochs=epochs, batch_size=plan["batch_size"], optimizer=optimizer,
                          validation_data=plan["validation"], callbacks=callbacks, verbose=self.verbose,
                          shuffle=self.shuffle, engine=self.engine, sample_weight=plan["sample_weight"])
        # A new network becomes the estimator's only once it is trained: a fit that
        # raises (bad engine, NonFiniteError, ...) leaves the previous one in place.
        if not plan["keep"]:
            self.network_, self.n_iter_, self.loss_curve_ = net, 0, []
        for name, value in plan["learned"].items():
            setattr(self, name, value)
        self.optimizer_, self.callbacks_, self.history_ = optimizer, callbacks, history
        self.n_iter_ += len(history)
        self.loss_curve_ = self.loss_curve_ + history.history.get("loss", [])
        if not partial and self.patience is not None and len(history) == epochs and not history.stop_reason:
            warnings.warn(f"{type(self).__name__}: all {epochs} epochs ran and the "
                          f"{'validation ' if self.early_stopping else ''}loss still improved by more than "
                          f"tol={self.tol} within the last {self.patience + 1}; the optimization has not converged. "
                          "Raise 'epochs', or set patience=None to train a fixed number of epochs.",
                          ConvergenceWarning, stacklevel=4)
        return self

    def _sample_weight(self, sample_weight: npt.ArrayLike | None, X: np.ndarray, y: np.ndarray,
                       partial: bool) -> np.ndarray | None:
        """The weights of the fit: ``sample_weight`` (checked as scikit-learn checks it)
        times, for a classifier, ``class_weight``'s weight of each sample's class; None
        when every sample weighs 1."""
        if sample_weight is None:
            return None
        try:
            return _check_sample_weight(sample_weight, X, dtype=np.float64)   # negatives: Network's message
        except (ValueError, TypeError) as e:
            raise ValidationError(f"The 'sample_weight' argument of {type(self).__name__}.fit: {e}") from None

    def _hold_out(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[np.ndarray, ...]]:
        """Split off ``validation_fraction`` of the rows for early stopping (stratified by
        class for a single-label classifier, as scikit-learn's MLP does); the held-out
        rows keep their weights, so the validation loss is weighted as the training's."""
        stratify = Y if (isinstance(self, ClassifierMixin) and Y.ndim == 1) else None
        rows = np.arange(len(X))
        try:
            train, val = train_test_split(rows, Y, test_size=self.validation_fraction, seed=rng,
                                          stratify=stratify)[:2]
        except ValidationError as e:
            raise ValidationError(f"early_stopping=True holds out validation_fraction={self.validation_fraction} "
                                  f"of the {len(X)} samples{', stratified by class' if stratify is not None else ''}"
                                  f", and cannot: {e}") from None
        if w is None:
            return X[train], Y[train], None, (X[val], Y[val])
        if not w[train].any():
            raise ValidationError("early_stopping=True leaves training samples whose sample_weight is 0 for every "
                                  "one.")
        return X[train], Y[train], w[train], (X[val], Y[val], w[val])

    def _check_same_network(self, n_out: int, loss: str, out_act: str) -> None:
        """warm_start / partial_fit train the network there is: the parameters must still describe it."""
        net = self.network_
        want = {"layer sizes": [net.n_in, *_hidden_sizes(self.hidden), n_out],
                "hidden activation": activations.get(self.activation).name if len(net.layers) > 1 else None,
                "output activation": out_act, "loss": loss, "dtype": as_dtype(self.dtype).name,
                "dropout": float(self.dropout) if len(net.layers) > 1 else None}
        have = {"layer sizes": net.sizes,
                "hidden activation": net.layers[0].activation.name if len(net.layers) > 1 else None,
                "output activation": net.layers[-1].activation.name, "loss": net.loss_fn.name,
                "dtype": net.dtype.name, "dropout": net.layers[0].dropout if len(net.layers) > 1 else None}
        changed = [f"{k}: network {have[k]!r}, parameters now {want[k]!r}" for k in want if want[k] != have[k]]
        if changed:
            how = "partial_fit" if not self.warm_start else "warm_start=True"
            raise ValidationError(f"{how} trains the fitted network_ on, but the parameters (or the targets) no "
                                  "longer describe it:\n  - " + "\n  - ".join(changed) +
                                  "\nCall fit with warm_start=False to build a new network.")

    # -- the forward pass -----------------------------------------------------------------

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return _validate_data(self, X, reset=False, dtype=self.network_.dtype)

    def _forward(self, X: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Output activations a^L and weighted inputs z^L of each row: two ``(n, n_out)``.

        z^L is the output layer's cache ``Z`` after each chunk's forward pass."""
        X = self._check_X(X)
        net = self.network_
        A = np.empty((len(X), net.n_out), dtype=net.dtype)
        Z = np.empty_like(A)
        for s in range(0, len(X), _CHUNK):
            A[s:s + _CHUNK] = net.forward(X[s:s + _CHUNK].T).T
            Z_out = net.layers[-1].Z
            assert Z_out is not None             # the chunk's forward pass just cached it
            Z[s:s + _CHUNK] = Z_out.T
        return A, Z

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, compress: bool = False) -> Path:
        """Write the fitted estimator to ``path`` with :func:`deltaprop.io.save` (no pickle;
        atomic). The file is a deltaprop model file: ``deltaprop.load(path)`` reads its
        network, and :meth:`load` the whole estimator. Hyperparameters that JSON cannot
        hold (``callbacks``, a Generator as ``random_state``) are listed in the file as
        not saved and come back at their defaults. The optimizer's state is not saved:
        ``partial_fit`` or ``warm_start`` after loading start a new optimizer."""
        check_is_fitted(self)
        params, not_saved = {}, []
        for name, value in self.get_params(deep=False).items():
            if name == "dtype":
                value = as_dtype(value).name          # np.float32 and "float32" alike
            value = list(value) if isinstance(value, tuple) else value
            value = value.item() if isinstance(value, np.generic) else value
            try:
                _archive.check_json(value, name)
            except (DeltapropTypeError, ValidationError):
                not_saved.append(name)
            else:
                params[name] = value
        fitted = {"n_features_in_": int(self.n_features_in_), "n_iter_": int(self.n_iter_),
                  "loss_curve_": [float(v) for v in self.loss_curve_],
                  "history_": {**self.history_.get_state()[0], "engine": self.history_.engine,
                               "stop_reason": self.history_.stop_reason}}
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        fitted.update(self._fitted_metadata())
        meta = {"class": type(self).__name__, "params": params, "params_not_saved": not_saved, "fitted": fitted}
        try:
            return io.save(self.network_, path, metadata={"estimator": meta}, compress=compress)
        except (DeltapropTypeError, ValidationError) as e:
            raise type(e)(f"{type(self).__name__}.save cannot write this estimator: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """The estimator saved at ``path`` by :meth:`save`, fitted, predicting as it did.

        Raises :class:`~deltaprop.DataError` if the file is not a deltaprop file, holds
        no estimator, holds another kind of estimator, or contradicts itself."""
        header = io.read_header(path)
        meta = header.get("metadata", {}).get("estimator")
        where = f"'{path}'"
        if not isinstance(meta, dict) or not isinstance(meta.get("class"), str):
            raise DataError(f"{where} holds a deltaprop network but no scikit-learn estimator (it was not written "
                            "by DeltapropClassifier.save or DeltapropRegressor.save). Read it with "
                            "deltaprop.load(path).")
        if meta["class"] != cls.__name__:
            raise DataError(f"{where} holds a {meta['class']}, not a {cls.__name__}; load it with "
                            f"{meta['class']}.load(path), or deltaprop.estimators.load(path).")
        params, fitted = meta.get("params"), meta.get("fitted")
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise DataError(f"{where}: its estimator metadata needs 'params' and 'fitted' objects.")
        known = sorted(cls().get_params(deep=False))
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise DataError(f"{where}: the saved parameters {unknown} are not parameters of {cls.__name__} "
                            f"(written by another deltaprop?). Known: {known}.")
        if isinstance(params.get("hidden"), list):
            params["hidden"] = tuple(params["hidden"])
        est = cls(**params)
        net = io.load(path)
        try:
            est._restore(net, fitted)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: its fitted state does not fit its network: {e}") from None
        return est

    def _restore(self, net: Network, fitted: dict[str, Any]) -> None:
        n_features = fitted["n_features_in_"]
        if type(n_features) is not int or n_features != net.n_in:
            raise ValueError(f"n_features_in_ is {n_features!r} but the network has {net.n_in} inputs")
        names = fitted.get("feature_names_in_")
        if names is not None:
            if not isinstance(names, list) or len(names) != n_features or not all(isinstance(f, str) for f in names):
                raise ValueError(f"feature_names_in_ must be a list of {n_features} str")
            self.feature_names_in_ = np.array(names, dtype=object)
        self._restore_targets(net, fitted)
        self.n_features_in_ = n_features
        self.n_iter_ = int(fitted["n_iter_"])
        self.loss_curve_ = [float(v) for v in fitted["loss_curve_"]]
        history = History()
        history.set_state(fitted["history_"], {})
        history.engine = str(fitted["history_"].get("engine", ""))
        history.stop_reason = str(fitted["history_"].get("stop_reason", ""))
        self.history_ = history
        self.network_ = net
        self.optimizer_ = None

    # -- pickling (scikit-learn's business; see the module docstring) ---------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())   # a copy: object's own is self.__dict__ itself
        net = state.get("network_")
        if isinstance(net, Network):
            # weights only: the layers' caches (A_prev is the last batch of X) stay behind
            bare = net.copy()
            bare.rng = net.rng
            state["network_"] = bare
        return state


class DeltapropClassifier(ClassifierMixin, _NetworkEstimator):
    """A fully-connected network trained by backpropagation, as a scikit-learn classifier.

    Parameters (``hidden`` by position or keyword, the rest by keyword; stored as given and
    checked at ``fit``; see :class:`deltaprop.Network` and :func:`deltaprop.training.fit`
    for what each does inside):
        hidden: sizes of the hidden layers, e.g. ``(100,)`` (default), ``(64, 32)``; ``()`` for none.
        activation: of the hidden layers: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"``, ``"leaky_relu"``, ...
        loss: ``"auto"`` (default; see the module docstring's table), ``"cross_entropy"``
            (softmax outputs), ``"binary_cross_entropy"`` or ``"quadratic"`` (sigmoid outputs).
        optimizer: ``"adam"`` (default) or ``"sgd"``.
        lr: learning rate eta (default 1e-3). momentum, nesterov: of ``"sgd"`` (default 0.9, False).
        weight_decay: L2 penalty lambda on the weight matrices (default 0).
        batch_size: m, examples per update; ``"auto"`` (default) = min(200, n_samples).
        epochs: most passes over the data (default 200).
        shuffle: reshuffle each epoch (default True).
        tol, patience: stop when the loss has not improved by more than ``tol`` (1e-4) for
            ``patience`` (10) epochs running; ``patience=None`` trains every epoch.
            ``fit`` warns (ConvergenceWarning) when all epochs ran without that happening.
        early_stopping: monitor the loss on a held-out ``validation_fraction`` (0.1,
            stratified) instead of the training loss, and end with the best epoch's weights.
        dropout: dropout probability of the hidden layers' outputs during training (default 0).
        init: initial-weight scheme (default ``"auto"``: He for ReLU, Glorot otherwise).
        dtype: ``"float64"`` (default) or ``"float32"``, for the weights and the arithmetic.
        engine: ``"numpy"``, ``"numba"`` or None (default: numba when installed and able).
        callbacks: a list of deltaprop callbacks (deep-copied at each fit, the copies
            kept in ``callbacks_``, so the parameter itself never changes).
        warm_start: ``fit`` trains the fitted network on (weights and optimizer state).
        random_state: int (the same bits every fit), None, or a numpy Generator; it draws
            the initial weights, the shuffles, the dropout masks and the validation split.
        verbose: 0 (default) silent, 1 a progress bar, 2 one line per epoch.
        class_weight: None (default), ``"balanced"`` (each class weighs n_samples /
            (n_classes * its count)) or a dict {label: weight}: multiplies each sample's
            weight (``fit``'s ``sample_weight``, else 1) by its class's, so a rare class
            counts as much as a common one in the cost.

    Attributes (after ``fit``):
        classes_: the labels, sorted; ``predict`` returns them.
        network_: the trained :class:`~deltaprop.Network`.
        history_: the last fit's :class:`~deltaprop.callbacks.History`; ``loss_curve_``
            the training loss of every epoch since the network was built, ``n_iter_`` their number.
        optimizer_: the optimizer with its state. ``callbacks_``: the callbacks the last fit used.
        target_type_: ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.
        n_features_in_, feature_names_in_ (for a DataFrame X): as in scikit-learn.
    """

    _losses = ("auto", "cross_entropy", "binary_cross_entropy", "quadratic")

    def __init__(self, hidden: int | Sequence[int] = (100,), *,
                 activation: str | activations.Activation | dict[str, Any] = "relu", loss: str = "auto",
                 optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, batch_size: int | str = "auto", epochs: int = 200, shuffle: bool = True,
                 tol: float = 1e-4, patience: int | None = 10, early_stopping: bool = False,
                 validation_fraction: float = 0.1, dropout: float = 0.0, init: str = "auto",
                 dtype: npt.DTypeLike = "float64", engine: str | None = None,
                 callbacks: Sequence[Callback] | None = None, warm_start: bool = False,
                 random_state: Seed | np.random.RandomState = None, verbose: int = 0,
                 class_weight: str | Mapping[Any, float] | None = None) -> None:
        super().__init__(hidden, activation=activation, loss=loss, optimizer=optimizer, lr=lr, momentum=momentum,
                         nesterov=nesterov, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                         shuffle=shuffle, tol=tol, patience=patience, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, dropout=dropout, init=init, dtype=dtype,
                         engine=engine, callbacks=callbacks, warm_start=warm_start, random_state=random_state,
                         verbose=verbose)
        self.class_weight = class_weight

    def _sample_weight(self, sample_weight: npt.ArrayLike | None, X: np.ndarray, y: np.ndarray,
                       partial: bool) -> np.ndarray | None:
        w = super()._sample_weight(sample_weight, X, y, partial)
        cw = self.class_weight
        if cw is None:
            return w
        if not (cw == "balanced" or isinstance(cw, dict)):
            raise ValidationError("The 'class_weight' argument must be None, 'balanced' or a dict {label: weight}. "
                                  f"Got {cw!r} instead.")
        if np.asarray(y).ndim != 1:
            raise ValidationError("class_weight applies to one label per sample; y is a multilabel matrix. Weigh "
                                  "its samples with sample_weight instead.")
        if partial and cw == "balanced":
            raise ValidationError("class_weight='balanced' is not available in partial_fit: one batch's class "
                                  "counts are not the data's. Pass a dict of weights computed on all the data, "
                                  "e.g. sklearn.utils.class_weight.compute_class_weight('balanced', ...).")
        if isinstance(cw, dict):
            unknown = [k for k in cw if k not in set(np.unique(y).tolist()) | set(getattr(self, "classes_", []))]
            if unknown:
                raise ValidationError(f"class_weight names {unknown!r:.80}, which are not labels of y "
                                      f"({np.unique(y).tolist()!r:.80}).")
        by_class = compute_sample_weight(cw, y)        # 'balanced': n_samples / (n_classes * count)
        return by_class if w is None else by_class * w

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        """As for the regressor (below), and ``class_weight`` (``"balanced"``: each class
        weighs n_samples / (n_classes * its count), as scikit-learn computes it; or a dict
        {label: weight}) multiplies each sample's weight by its class's. Returns ``self``."""
        return self._fit(X, y, partial=False, sample_weight=sample_weight)

    def partial_fit(self, X: npt.ArrayLike, y: npt.ArrayLike, classes: npt.ArrayLike | None = None,
                    sample_weight: npt.ArrayLike | None = None) -> Self:
        """One epoch over ``X``, ``y``, training on from the network there is (built on the
        first call). ``classes`` (every label that will ever occur) is required on the
        first call, as in scikit-learn, unless ``y`` is a multilabel indicator matrix.
        Early stopping does not apply; the optimizer's state carries over. Returns ``self``."""
        return self._fit(X, y, partial=True, classes=classes, sample_weight=sample_weight)

    def _encode_targets(self, y: np.ndarray, *, keep: bool, partial: bool, classes: npt.ArrayLike | None
                        ) -> tuple[np.ndarray, int, str, str, dict[str, Any]]:
        """Labels as the network's targets: ``(Y, n_out, loss, output activation, attributes
        to set once the fit is under way)``."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of "
                          "y to (n_samples,), for example using ravel().", DataConversionWarning, stacklevel=5)
            y = y.ravel()
        try:
            check_classification_targets(y)
        except ValueError as e:
            raise ValidationError(f"{e} (the 'y' argument of {type(self).__name__}; for continuous targets use "
                                  "DeltapropRegressor)") from None
        target_type = type_of_target(y)
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValidationError(f"{type(self).__name__} takes class labels (n_samples,) or a multilabel 0/1 "
                                  f"matrix (n_samples, n_labels); y is {target_type!r} (shape {y.shape}).")
        multilabel = target_type == "multilabel-indicator"
        if multilabel:
            labels = np.arange(y.shape[1])
            if classes is not None and not np.array_equal(np.asarray(classes), labels):
                raise ValidationError(f"For multilabel y (n_samples, {y.shape[1]}) 'classes' must be None or "
                                      f"range({y.shape[1]}). Got {classes!r} instead.")
        elif keep:
            labels = self.classes_
        elif partial:
            if classes is None:
                raise ValidationError("classes must be passed on the first call to partial_fit: every label that "
                                      "will ever occur, e.g. classes=np.unique(y_all).")
            labels = np.unique(np.asarray(classes))
        else:
            labels = np.unique(y)
        if keep:
            if partial and classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValidationError(f"classes={np.asarray(classes).tolist()!r} is not the same as on the first "
                                      f"call to partial_fit, which gave classes_ {self.classes_.tolist()!r}.")
            if multilabel != (self.target_type_ == "multilabel-indicator") or len(labels) != len(self.classes_):
                raise ValidationError(f"y is {target_type!r} with {len(labels)} label(s), but the fitted network "
                                      f"was built for {self.target_type_!r} targets with classes_ "
                                      f"{self.classes_.tolist()!r}.")
        if not multilabel:
            unseen = np.setdiff1d(np.unique(y), labels)
            if unseen.size:
                raise ValidationError(f"y has labels {unseen.tolist()!r} that are not among the classes "
                                      f"{labels.tolist()!r} the network was built for.")
            if len(labels) < 2:
                raise ValidationError(f"{type(self).__name__} needs at least 2 classes to learn to tell them "
                                      f"apart; y has only one class: {labels.tolist()!r}.")
            target_type = "binary" if len(labels) == 2 else "multiclass"
        n_out, loss, out_act = self._output_layer(target_type, len(labels))
        # Integer labels 0..k-1 (the network one-hots them for k outputs, or takes the
        # 0/1 column of a single output); a multilabel matrix as it is.
        Y = y.astype(np.float64) if multilabel else np.searchsorted(labels, y)
        learned = {} if keep else {"classes_": labels, "target_type_": target_type}
        return Y, n_out, loss, out_act, learned

    def _output_layer(self, target_type: str, n_classes: int) -> tuple[int, str, str]:
        """``(outputs, loss, output activation)`` for these targets and ``self.loss``."""
        loss = self.loss
        if target_type == "multilabel-indicator":
            if loss == "cross_entropy":
                raise ValidationError("loss='cross_entropy' (softmax: one label per sample) cannot learn multilabel "
                                      "targets; use loss='auto' or 'binary_cross_entropy' (one sigmoid per label).")
            return n_classes, "binary_cross_entropy" if loss == "auto" else loss, "sigmoid"
        if loss == "auto":
            loss = "binary_cross_entropy" if n_classes == 2 else "cross_entropy"
        if loss == "cross_entropy":
            return n_classes, loss, "softmax"
        return (1 if n_classes == 2 else n_classes), loss, "sigmoid"

    # -- predictions ----------------------------------------------------------------------

    @property
    def _normalised(self) -> bool:
        """One sigmoid per class of a single-label problem (one-vs-rest): rows get normalised."""
        return self.target_type_ == "multiclass" and self.network_.layers[-1].activation.name == "sigmoid"

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The predicted class of each row (a label of ``classes_``); for multilabel
        targets, a 0/1 matrix (n_samples, n_labels), each label on where a > 1/2."""
        A, _ = self._forward(X)
        if self.target_type_ == "multilabel-indicator":
            return (A > 0.5).astype(int)
        return self.classes_[self.network_.classes(A)]

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)`` in the order of ``classes_``.

        Softmax outputs as they are; a single sigmoid output a as [1 - a, a]; one
        sigmoid per class normalised to sum to 1; multilabel: each label's sigmoid."""
        A, Z = self._forward(X)
        if A.shape[1] == 1:
            return np.hstack([1 - A, A])
        if self._normalised:
            return np.exp(_log_softmax(_log_sigmoid(Z)))
        return A

    def predict_log_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """log of :meth:`predict_proba`, computed from z^L so that it stays finite where a
        probability rounds to 0: log softmax(z) = z - logsumexp(z), log sigmoid(z) = -log(1 + e^-z)."""
        A, Z = self._forward(X)
        out = self.network_.layers[-1].activation.name
        if out == "softmax":
            return _log_softmax(Z)
        if Z.shape[1] == 1:
            return np.hstack([_log_sigmoid(-Z), _log_sigmoid(Z)])
        return _log_softmax(_log_sigmoid(Z)) if self._normalised else _log_sigmoid(Z)

    def decision_function(self, X: npt.ArrayLike) -> np.ndarray:
        """The output layer's weighted inputs z^L (logits): ``(n_samples,)`` for binary targets
        (positive favours ``classes_[1]``), else ``(n_samples, n_outputs)``."""
        _, Z = self._forward(X)
        if Z.shape[1] == 1:
            return Z[:, 0]
        if self.target_type_ == "binary":     # two softmax outputs: only the difference matters
            return Z[:, 1] - Z[:, 0]
        return Z

    # -- persistence --------------------------------------------------------------------

    def _fitted_metadata(self) -> dict[str, Any]:
        return {"classes_": self.classes_.tolist(), "classes_dtype": self.classes_.dtype.str,
                "target_type_": self.target_type_}

    def _restore_targets(self, net: Network, fitted: dict[str, Any]) -> None:
        dtype = np.dtype(fitted["classes_dtype"])
        if dtype.kind not in "OUbiuf":
            raise ValueError(f"classes_dtype {dtype.str!r} is not a label dtype")
        classes = np.array(fitted["classes_"], dtype=dtype)
        if classes.ndim != 1 or not np.array_equal(np.unique(classes), classes):
            raise ValueError("classes_ must be a list of distinct labels in sorted order")
        target_type = fitted["target_type_"]
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"target_type_ {target_type!r} is not binary, multiclass or multilabel-indicator")
        n_out = len(classes) if target_type != "binary" or net.n_out == 2 else 1
        if net.n_out != n_out or (target_type == "binary") != (len(classes) == 2):
            raise ValueError(f"{len(classes)} {target_type} classes need {n_out} outputs; the network has {net.n_out}")
        self.classes_, self.target_type_ = classes, target_type

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # one sigmoid per label; softmax outputs (cross_entropy) give one label per sample
        tags.classifier_tags.multi_label = self.loss != "cross_entropy"
        return tags

    def _more_tags(self) -> dict[str, bool]:  # scikit-learn < 1.6
        return {"multilabel": self.loss != "cross_entropy"}


class DeltapropRegressor(RegressorMixin, _NetworkEstimator):
    """A fully-connected network trained by backpropagation, as a scikit-learn regressor.

    The parameters and attributes are those of :class:`DeltapropClassifier` (no
    ``classes_``; ``n_outputs_`` instead), except ``loss``: ``"auto"`` or ``"quadratic"``
    (default: identity outputs, C = 1/2 ||a - y||^2, least squares) or
    ``"binary_cross_entropy"`` (sigmoid outputs, for targets in [0, 1]). ``y`` may be
    ``(n_samples,)`` or ``(n_samples, n_targets)``; predictions have one column per
    target, or none for a single target, as scikit-learn's MLPRegressor returns them.

    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> reg = DeltapropRegressor(hidden=(16,), activation="tanh", lr=0.02, epochs=300, patience=None,
    ...                          random_state=0).fit(X, X.ravel() ** 2)
    >>> reg.predict([[0.0], [0.5]]).shape, float(reg.score(X, X.ravel() ** 2)) > 0.95
    ((2,), True)
    """

    _losses = ("auto", "quadratic", "binary_cross_entropy")

    def partial_fit(self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        """One epoch over ``X``, ``y``, training on from the network there is (built on the
        first call); early stopping does not apply, the optimizer's state carries over.
        Returns ``self``."""
        return self._fit(X, y, partial=True, sample_weight=sample_weight)

    def _encode_targets(self, y: np.ndarray, *, keep: bool, partial: bool, classes: npt.ArrayLike | None
                        ) -> tuple[np.ndarray, int, str, str, dict[str, Any]]:
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if keep and n_out != self.n_outputs_:
            raise ValidationError(f"y has {n_out} target column(s), but the fitted network has "
                                  f"{self.n_outputs_} output(s).")
        learned = {"n_outputs_": n_out}
        if self.loss == "binary_cross_entropy":
            return y, n_out, "binary_cross_entropy", "sigmoid", learned
        return y, n_out, "quadratic", "identity", learned

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The network's outputs a^L: ``(n_samples,)`` for one target, else ``(n_samples, n_targets)``."""
        A, _ = self._forward(X)
        return A[:, 0] if A.shape[1] == 1 else A

    def _fitted_metadata(self) -> dict[str, Any]:
        return {"n_outputs_": self.n_outputs_}

    def _restore_targets(self, net: Network, fitted: dict[str, Any]) -> None:
        if fitted["n_outputs_"] != net.n_out:
            raise ValueError(f"n_outputs_ is {fitted['n_outputs_']!r} but the network has {net.n_out} outputs")
        self.n_outputs_ = net.n_out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, bool]:  # scikit-learn < 1.6
        return {"multioutput": True}


def load(path: str | os.PathLike) -> DeltapropClassifier | DeltapropRegressor:
    """The estimator saved at ``path``, a :class:`DeltapropClassifier` or a
    :class:`DeltapropRegressor`, whichever the file holds."""
    meta = io.read_header(path).get("metadata", {}).get("estimator")
    kind = meta.get("class") if isinstance(meta, dict) else None
    classes = {c.__name__: c for c in (DeltapropClassifier, DeltapropRegressor)}
    if isinstance(kind, str) and kind not in classes:
        raise DataError(f"'{path}' holds an estimator of class {kind!r:.60}, which deltaprop.estimators does not "
                        f"know (it has {', '.join(classes)}).")
    return classes.get(kind, DeltapropClassifier).load(path)   # (no estimator: load says so)


def _log_sigmoid(Z: np.ndarray) -> np.ndarray:
    """log sigma(z) = -log(1 + e^-z), finite for every finite z."""
    return -np.logaddexp(0, -Z)


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax(z) row by row = z - logsumexp(z), with the row's max taken out first."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
