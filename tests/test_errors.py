"""Clear errors everywhere: every bad input the issue lists, its message, and no weight changed.

Each case is one call a user might make by mistake. It must raise a deltaprop error
(which is also a ValueError or TypeError), the message must say what was expected and
what was given, and the network's weights must be exactly as before the call.
"""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.errors import did_you_mean

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 4))
y = np.arange(10) % 3


def _net():
    return dp.Network([4, 5, 3], loss="cross_entropy", seed=0)


FIT_CASES = [
    # (what, call on a fresh network, exception, message)
    ("NaN in X", lambda n: n.fit(np.where(X > 1, np.nan, X), y, verbose=0), dp.ValidationError,
     r"'X' argument contains NaN or infinity \(first at row \d+, column \d+\)"),
    ("infinity in Y", lambda n: n.fit(X, np.full((10, 3), np.inf), verbose=0), dp.ValidationError,
     r"'Y' argument contains NaN or infinity \(first at row 0, column 0\)"),
    ("X with 3 dimensions", lambda n: n.fit(X.reshape(10, 2, 2), y, verbose=0), dp.ShapeError,
     r"expects X of shape \(n_samples, 4\). Got shape \(10, 2, 2\) instead. Did you mean X.reshape\(len\(X\), -1\)"),
    ("too few features", lambda n: n.fit(X[:, :3], y, verbose=0), dp.ShapeError,
     r"Dense layer 0 expects 4 input features; X has shape \(10, 3\)"),
    ("wrong number of outputs", lambda n: n.fit(X, np.zeros((10, 2)), verbose=0), dp.ShapeError,
     r"The network has 3 output\(s\), so 'Y' needs 3 column\(s\). Got shape \(10, 2\) instead"),
    ("X/Y lengths differ", lambda n: n.fit(X, y[:9], verbose=0), dp.ShapeError,
     r"X has 10 samples but Y has 9; they must match"),
    ("empty data", lambda n: n.fit(X[:0], y[:0], verbose=0), dp.ValidationError,
     r"'X' argument is empty \(0 samples\)"),
    ("labels out of range", lambda n: n.fit(X, y + 1, verbose=0), dp.ValidationError,
     r"class labels in 0..2 \(the network has 3 outputs\). Got labels from 1 to 3 instead"),
    ("labels not integers", lambda n: n.fit(X, y + 0.5, verbose=0), dp.ValidationError,
     r"must hold integer class labels 0..2; it holds non-integer values such as .*0.5"),
    ("non-numeric X", lambda n: n.fit([["a"] * 4] * 10, y, verbose=0), dp.DeltapropTypeError,
     r"'X' argument must hold real numbers. Got an array of dtype <U1 instead"),
    ("non-numeric Y", lambda n: n.fit(X, ["a"] * 10, verbose=0), dp.DeltapropTypeError,
     r"'Y' argument must hold numbers. Got an array of dtype <U1 instead"),
    ("ragged rows", lambda n: n.fit([[1, 2, 3, 4], [1, 2]], [0, 1], verbose=0), dp.DeltapropTypeError,
     r"'X' argument must be a 2-D array of numbers with rows of equal length"),
    ("complex X", lambda n: n.fit(X.astype(complex), y, verbose=0), dp.DeltapropTypeError,
     r"must hold real numbers. Got an array of dtype complex128"),
    ("batch size 0", lambda n: n.fit(X, y, batch_size=0, verbose=0), dp.ValidationError,
     r"'batch_size' argument must be a positive integer \(>= 1\). Got 0 instead"),
    ("batch size 2.5", lambda n: n.fit(X, y, batch_size=2.5, verbose=0), dp.DeltapropTypeError,
     r"'batch_size' argument must be a positive integer. Got float 2.5 instead"),
    ("epochs 0", lambda n: n.fit(X, y, epochs=0, verbose=0), dp.ValidationError,
     r"'epochs' argument must be a positive integer \(>= 1\). Got 0 instead"),
    ("unknown optimizer", lambda n: n.fit(X, y, optimizer="adamw", verbose=0), dp.UnknownNameError,
     r"Unknown optimizer 'adamw'. Did you mean 'adam'\?"),
    ("optimizer of the wrong type", lambda n: n.fit(X, y, optimizer=0.1, verbose=0), dp.DeltapropTypeError,
     r"'optimizer' argument must be an optimizer such as dp.SGD\(lr=3.0\).*Got float 0.1"),
    ("shuffle not a bool", lambda n: n.fit(X, y, shuffle="no", verbose=0), dp.DeltapropTypeError,
     r"'shuffle' argument must be True or False. Got 'no' instead"),
    ("bad seed", lambda n: n.fit(X, y, seed=-1, verbose=0), dp.ValidationError,
     r"'seed' argument must be a non-negative integer. Got -1"),
    ("unknown engine", lambda n: n.fit(X, y, engine="torch", verbose=0), dp.ValidationError,
     r"'engine' argument must be one of|Unknown engine 'torch'"),
    ("bad validation data", lambda n: n.fit(X, y, validation_data=(X[:, :2], y), verbose=0), dp.ShapeError,
     r"expects 4 input features; validation_data\[0\] has shape \(10, 2\)"),
    ("NaN in validation data", lambda n: n.fit(X, y, validation_data=(X * np.nan, y), verbose=0), dp.ValidationError,
     r"'validation_data\[0\]' argument contains NaN"),
    ("CSV log into a folder", lambda n: n.fit(X, y, batch_size=5, verbose=0, callbacks=[dp.callbacks.CSVLogger(".")]),
     dp.ValidationError, r"CSVLogger needs a file path; '.' is a folder"),
]


@pytest.mark.parametrize("what, call, exc, match", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_a_bad_fit_call_is_a_clear_error_and_changes_no_weight(what, call, exc, match):
    net = _net()
    before = net.get_weights()
    with pytest.raises(exc, match=match) as info:
        call(net)
    assert isinstance(info.value, dp.DeltapropError)
    assert isinstance(info.value, (ValueError, TypeError))
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)


BCE = dp.Network([4, 1], loss="binary_cross_entropy", seed=0)

OTHER_CASES = [
    ("BCE targets outside [0, 1]", lambda: BCE.fit(X, np.full(10, 2.0), verbose=0), dp.ValidationError,
     r"binary_cross_entropy needs targets in \[0, 1\]. Got values from 2.0 to 2.0 instead"),
    ("wrong feature count at predict", lambda: _net().predict(X[:, :3]), dp.ShapeError,
     r"Dense layer 0 expects 4 input features; X has shape \(10, 3\)"),
    ("one example as a 1-D array", lambda: _net().predict(X[0]), dp.ShapeError,
     r"must be 2-D \(n_samples, 4\). Got shape \(4,\). Did you mean X.reshape\(1, -1\)"),
    ("wrong feature count at evaluate", lambda: _net().evaluate(X[:, :2], y), dp.ShapeError, r"expects 4 input"),
    ("learning rate 0", lambda: dp.SGD(lr=0), dp.ValidationError,
     r"'lr' argument must be a finite number in \(0, inf\). Got 0 instead"),
    ("learning rate infinite", lambda: dp.Adam(lr=float("inf")), dp.ValidationError,
     r"'lr' argument must be a finite number in \(0, inf\). Got inf instead"),
    ("learning rate a string", lambda: dp.SGD(lr="0.1"), dp.DeltapropTypeError,
     r"'lr' argument must be a real number. Got str '0.1' instead"),
    ("momentum 1", lambda: dp.SGD(lr=0.1, momentum=1.0), dp.ValidationError,
     r"'momentum' argument must be a finite number in \[0, 1\). Got 1.0 instead"),
    ("momentum negative", lambda: dp.SGD(lr=0.1, momentum=-0.1), dp.ValidationError, r"\[0, 1\). Got -0.1"),
    ("layer size 0", lambda: dp.Network([4, 0, 3]), dp.ValidationError,
     r"Every layer size must be >= 1. Got 0 at position 1 of \[4, 0, 3\]"),
    ("layer size negative in Dense", lambda: dp.Dense(-1, 3), dp.ValidationError,
     r"'n_in' argument must be a positive integer \(>= 1\). Got -1"),
    ("unknown activation", lambda: dp.Network([4, 3], activation="sigmoidd"), dp.UnknownNameError,
     r"Unknown activation 'sigmoidd'. Did you mean 'sigmoid'\?"),
    ("unknown loss", lambda: dp.Network([4, 3], loss="crossentropy"), dp.UnknownNameError,
     r"Unknown loss 'crossentropy'. Did you mean 'cross_entropy'\?"),
    ("unknown initializer", lambda: dp.Network([4, 3], init="xavierr"), dp.UnknownNameError,
     r"Unknown initializer 'xavierr'. Did you mean 'xavier'\?"),
    ("layers that do not chain", lambda: dp.Network([dp.Dense(4, 5), dp.Dense(6, 3)]), dp.ShapeError,
     r"Layer 0 has 5 outputs but layer 1 expects 6 inputs"),
    ("an integer dtype", lambda: dp.Network([4, 3], dtype="int32"), dp.ValidationError,
     r"'dtype' argument must be 'float64' or 'float32'. Got 'int32' instead"),
]


@pytest.mark.parametrize("what, call, exc, match", OTHER_CASES, ids=[c[0] for c in OTHER_CASES])
def test_other_bad_inputs_are_clear_errors(what, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert isinstance(info.value, dp.DeltapropError) and isinstance(info.value, (ValueError, TypeError))


def test_a_batch_larger_than_the_data_is_clipped_with_a_warning_not_an_error():
    with pytest.warns(UserWarning, match="batch_size=32 is larger than the 10 training samples; using 10"):
        _net().fit(X, y, batch_size=32, verbose=0)


def test_did_you_mean():
    assert did_you_mean("relu6", ["relu", "tanh"]) == "Did you mean 'relu'? Known names: 'relu', 'tanh'."
    assert did_you_mean("zzz", ["relu", "tanh"]) == "Known names: 'relu', 'tanh'."
