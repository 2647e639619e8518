"""Network: construction, the public API in rows, batch means, dtypes, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import networks

import deltaprop as dp


def test_sizes_form_defaults():
    net = dp.Network([784, 30, 10], activation="sigmoid", loss="quadratic", seed=0)
    assert net.sizes == [784, 30, 10] and net.n_params == 784 * 30 + 30 + 30 * 10 + 10
    assert [layer.W.shape for layer in net.layers] == [(30, 784), (10, 30)]
    assert [layer.b.shape for layer in net.layers] == [(30,), (10,)]
    assert net.dtype == np.float64
    ce = dp.Network([4, 3, 2], activation="relu", loss="cross_entropy", seed=0)
    assert [l.activation.name for l in ce.layers] == ["relu", "softmax"] and ce.fused
    bce = dp.Network([4, 1], loss="binary_cross_entropy", seed=0)
    assert bce.layers[-1].activation.name == "sigmoid" and bce.fused


def test_layers_form_and_assignment():
    net = dp.Network([dp.Dense(2, 2, activation="sigmoid"), dp.Dense(2, 2, activation="softmax")],
                     loss="cross_entropy", dtype="float64")
    net.layers[0].W[...] = 0.5
    assert np.all(net.layers[0].W == 0.5)
    assert "Dense(2, 2, activation='softmax')" in repr(net)
    assert "parameters: 12" in net.summary()


@given(case=networks())
@settings(max_examples=60, deadline=None)
def test_batch_gradient_is_the_mean_of_per_example_gradients(case):
    net, X, Y = case
    whole = net.gradients(X, Y)
    Y_rows = net.loss_fn.targets(Y, net.n_out, net.dtype)
    per_example = [net.gradients(X[i:i + 1], Y_rows[i:i + 1]) for i in range(len(X))]
    for layer, (dW, db) in enumerate(whole):
        np.testing.assert_allclose(dW, np.mean([g[layer][0] for g in per_example], axis=0), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, np.mean([g[layer][1] for g in per_example], axis=0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(net.loss(X, Y), np.mean([net.loss(X[i:i + 1], Y_rows[i:i + 1]) for i in range(len(X))]),
                               rtol=1e-12)


@given(case=networks(dtype="float32"))
@settings(max_examples=40, deadline=None)
def test_float32_networks_stay_float32_end_to_end(case):
    net, X, Y = case
    grads = net.gradients(X, Y)
    for layer, (dW, db) in zip(net.layers, grads):
        for arr in (layer.W, layer.b, layer.A_prev, layer.Z, layer.A, layer.D, dW, db):
            assert arr.dtype == np.float32
    assert net.predict(X).dtype == np.float32
    opt = dp.Adam(lr=1e-3)
    net.fit(X, Y, epochs=2, batch_size=min(2, len(X)), optimizer=opt, verbose=0)
    assert all(p.dtype == np.float32 for p, _ in net.params())
    assert all(s.dtype == np.float32 for state in opt.state.values() for s in state.values())
    momentum = dp.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    net.fit(X, Y, epochs=1, batch_size=min(3, len(X)), optimizer=momentum, verbose=0)
    assert all(p.dtype == np.float32 for p, _ in net.params())


def test_predict_evaluate_and_loss():
    rng = np.random.default_rng(0)
    net = dp.Network([3, 5, 4], activation="tanh", loss="cross_entropy", seed=0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 4, 20)
    P = net.predict(X)
    assert P.shape == (20, 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    result = net.evaluate(X, y)
    assert result["loss"] == pytest.approx(net.loss(X, y))
    assert result["accuracy"] == pytest.approx(np.mean(P.argmax(axis=1) == y))
    np.testing.assert_allclose(net.predict(X, batch_size=3), P, rtol=1e-15)


def test_regression_has_no_accuracy():
    net = dp.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    assert set(net.evaluate([[0.1, 0.2]], [0.3])) == {"loss"}


def test_copy_and_astype_are_independent():
    net = dp.Network([3, 2], seed=0)
    copy = net.copy()
    copy.layers[0].W += 1
    assert not np.array_equal(copy.layers[0].W, net.layers[0].W)
    f32 = net.astype("float32")
    assert f32.dtype == np.float32 and f32.layers[0].W.dtype == np.float32


@pytest.mark.parametrize("call, match", [
    (lambda n: n.predict(np.ones((2, 4))), r"Dense layer 0 expects 3 input features; X has shape \(2, 4\)"),
    (lambda n: n.predict(np.ones((2, 1, 3))), r"Did you mean X\.reshape\(len\(X\), -1\)"),
    (lambda n: n.predict(np.ones(3)), r"Did you mean X\.reshape\(1, -1\)"),
    (lambda n: n.predict(np.empty((0, 3))), r"'X' argument is empty"),
    (lambda n: n.predict([[1, np.nan, 2]]), r"NaN or infinity \(first at row 0, column 1\)"),
    (lambda n: n.predict([["a", "b", "c"]]), r"must hold real numbers"),
    (lambda n: n.loss(np.ones((2, 3)), np.zeros((3, 2))), r"X has 2 samples but Y has 3"),
    (lambda n: n.loss(np.ones((2, 3)), np.zeros((2, 5))), r"2 output\(s\), so 'Y' needs 2 column\(s\)"),
    (lambda n: n.fit(np.ones((2, 3)), np.zeros((2, 2)), epochs=0), r"'epochs' argument must be a positive integer"),
    (lambda n: n.fit(np.ones((2, 3)), np.zeros((2, 2)), batch_size=1.5), r"'batch_size' argument must be a positive integer"),
    (lambda n: n.fit(np.ones((2, 3)), np.zeros((2, 2)), optimizer="sgdd"), r"Unknown optimizer 'sgdd'. Did you mean 'sgd'"),
])
def test_bad_input_is_named_clearly(call, match):
    net = dp.Network([3, 2], seed=0)
    before = net.get_weights()
    with pytest.raises((dp.ValidationError, dp.DeltapropTypeError), match=match):
        call(net)
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)     # a failed call changes no weight


def test_construction_errors():
    with pytest.raises(dp.ShapeError, match="Layer 0 has 3 outputs but layer 1 expects 4 inputs"):
        dp.Network([dp.Dense(2, 3), dp.Dense(4, 1)])
    with pytest.raises(dp.ValidationError, match="Every layer size must be >= 1. Got 0 at position 1"):
        dp.Network([3, 0, 2])
    with pytest.raises(dp.ValidationError, match="at least an input and an output"):
        dp.Network([3])
    with pytest.raises(dp.DeltapropTypeError, match="all integers .* or all Dense"):
        dp.Network([3, dp.Dense(3, 2)])
    with pytest.raises(dp.ValidationError, match="mix dtypes"):
        dp.Network([dp.Dense(2, 2, dtype="float32"), dp.Dense(2, 2)])
    with pytest.raises(dp.UnknownNameError, match="Did you mean 'quadratic'"):
        dp.Network([2, 2], loss="quadratc")


def test_optional_submodules_load_on_first_use_only():
    import subprocess
    import sys
    code = ("import sys, deltaprop as dp; assert 'matplotlib' not in sys.modules and 'sklearn' not in sys.modules; "
            "dp.plotting; assert 'deltaprop.plotting' in sys.modules; dp.estimators.DeltapropClassifier; "
            "assert 'sklearn' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        dp.nothing
