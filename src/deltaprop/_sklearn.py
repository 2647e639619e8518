"""A fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor`` as a deltaprop network.

scikit-learn's MLP is the same model written on rows: its ``coefs_[l]`` is
``(n_in, n_out)`` (it computes ``A W + b``), a Dense layer's ``W`` is ``(n_out, n_in)``
(``W a + b`` on columns), so each is transposed; ``intercepts_[l]`` is the bias as it
is. The activations and losses:

=========================  ==========================  ============================
scikit-learn               deltaprop                   note
=========================  ==========================  ============================
``activation`` identity,   identity, sigmoid, tanh,    every hidden layer
logistic, tanh, relu       relu
``out_activation_``        softmax, sigmoid, identity  the output layer
softmax, logistic,
identity
log-loss (classifier)      cross_entropy after         mean over the examples of
                           softmax, binary_cross_      the sum over the outputs,
                           entropy after sigmoid       as scikit-learn's
squared_error (regressor)  quadratic                   scikit-learn's is also
                                                       averaged over the outputs:
                                                       deltaprop's is n_out times it
=========================  ==========================  ============================

scikit-learn adds ``alpha / (2 n) ||W||^2`` (its L2 penalty) to the cost it trains on;
the network's loss is the data term alone, so a further ``fit`` starts from the same
weights but not on quite the same cost. ``MLPRegressor(loss="poisson")`` (an ``exp``
output) has no deltaprop loss and is refused.

The network's outputs are the estimator's: ``net.predict_proba(X)`` is
``est.predict_proba(X)`` (for a binary classifier, its column 1: one sigmoid output),
``net.predict(X)`` a regressor's ``est.predict(X)``, and ``est.classes_[net.predict_classes(X)]``
its ``est.predict(X)``. A Network holds no class names; the file does:
``net.save(path, metadata={"cli": {"classes": [str(c) for c in est.classes_]}})`` keeps
them where ``deltaprop predict`` reads them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DeltapropTypeError, ValidationError
from .layers import Dense
from .network import Network

_HINT = 'Converting a scikit-learn estimator needs scikit-learn, an optional extra: pip install "deltaprop[sklearn]"'
_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"identity": "identity", "logistic": "sigmoid", "softmax": "softmax"}


def from_sklearn(estimator: Any) -> Network:
    """The network of a fitted ``sklearn.neural_network.MLPClassifier`` or ``MLPRegressor``.

    The weights are copied (transposed to ``(n_out, n_in)``) in the estimator's dtype
    (float64, or float32 for one fitted on float32 data); the loss is the one it was
    trained with (see the module's docstring). Raises for any other estimator and for
    one that is not fitted.
    """
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        raise ImportError(_HINT, name="sklearn") from None
    if not isinstance(estimator, (MLPClassifier, MLPRegressor)):
        raise DeltapropTypeError(f"The 'estimator' argument must be a fitted scikit-learn MLPClassifier or "
                                 f"MLPRegressor. Got {type(estimator).__name__} instead.")
    kind = type(estimator).__name__
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ValidationError(f"The 'estimator' argument is an {kind} that has not been fitted (it has no coefs_ "
                              "yet). Call estimator.fit(X, y) first.") from None
    if estimator.activation not in _HIDDEN:
        raise ValidationError(f"The {kind}'s activation {estimator.activation!r} has no deltaprop activation; "
                              f"known: {', '.join(_HIDDEN)}.")
    if estimator.out_activation_ not in _OUTPUT:
        raise ValidationError(f"The {kind}'s output activation {estimator.out_activation_!r} (loss "
                              f"{getattr(estimator, 'loss', '?')!r}) has no deltaprop counterpart; deltaprop reads "
                              f"{', '.join(_OUTPUT)} outputs.")
    output = _OUTPUT[estimator.out_activation_]
    if isinstance(estimator, MLPClassifier):
        loss = "cross_entropy" if output == "softmax" else "binary_cross_entropy"
    elif getattr(estimator, "loss", "squared_error") == "squared_error":
        loss = "quadratic"
    else:  # pragma: no cover - the only other loss, poisson, has an exp output (refused above)
        raise ValidationError(f"The MLPRegressor's loss {estimator.loss!r} has no deltaprop counterpart.")
    dtype = np.asarray(estimator.coefs_[0]).dtype
    if dtype not in (np.float32, np.float64):
        raise ValidationError(f"The {kind}'s weights are {dtype}; deltaprop networks are float32 or float64.")
    n = len(estimator.coefs_)
    return Network([Dense(W.shape[0], W.shape[1], output if l == n - 1 else _HIDDEN[estimator.activation],
                          W=np.asarray(W).T, b=b, dtype=dtype)
                    for l, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_))], loss=loss)
