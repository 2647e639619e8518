"""Network: construction, the public API in rows, batch means, dtypes, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@given(case=networks(logits=True))
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


# -- every pairing of output activation and loss: exact, or refused when built ------------

OUTPUTS = ["sigmoid", "relu", "tanh", "identity", "softmax", "leaky_relu"]
LOSS_VARIANTS = ["quadratic", "binary_cross_entropy", "cross_entropy",
                 {"name": "binary_cross_entropy", "from_logits": True}, {"name": "cross_entropy", "from_logits": True}]
ACCEPTED = ({("quadratic", out) for out in OUTPUTS}
            | {(loss, out) for loss in ("binary_cross_entropy", "cross_entropy") for out in ("sigmoid", "softmax")}
            | {("binary_cross_entropy/logits", "identity"), ("cross_entropy/logits", "identity")})


def _loss_key(loss):
    return loss if isinstance(loss, str) else loss["name"] + "/logits"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSS_VARIANTS, ids=_loss_key)
@pytest.mark.parametrize("output", OUTPUTS)
def test_every_output_and_loss_is_exact_or_refused_when_built(output, loss, dtype):
    key = (_loss_key(loss), output)
    build = lambda: dp.Network([2, 6, 3], activation="tanh", output_activation=output, loss=loss,  # noqa: E731
                               dtype=dtype, seed=1)
    if key not in ACCEPTED:
        with pytest.raises(dp.ValidationError, match=r"Pairings that work: quadratic with any output activation"):
            build()
        return
    net = build()
    X, y = dp.data.blobs(120, centers=3, noise=0.6, seed=2, dtype=dtype)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    Y = dp.one_hot(y, 3, dtype=dtype)
    report = dp.gradcheck(net.astype("float64"), X[:5].astype(np.float64), Y[:5].astype(np.float64))
    assert report.passed and report.max_rel_error < 1e-6, str(report)
    before = net.loss(X, Y)
    net.fit(X, Y, epochs=40, batch_size=16, optimizer=dp.Adam(lr=0.02), seed=0, verbose=0)
    assert net.loss(X, Y) < 0.7 * before
    assert net.evaluate(X, Y)["accuracy"] > 0.55          # chance: 1/3


def test_the_refusal_says_what_fits_and_names_from_logits():
    with pytest.raises(dp.ValidationError, match=r"loss='binary_cross_entropy' needs probabilities .* 'tanh'.*"
                                                 r"BinaryCrossEntropy\(from_logits=True\) with output_activation="
                                                 r"'identity', as PyTorch's BCEWithLogitsLoss"):
        dp.Network([4, 5, 3], activation="tanh", output_activation="tanh", loss="binary_cross_entropy")
    with pytest.raises(dp.ValidationError, match=r"CrossEntropy\(from_logits=True\).*CrossEntropyLoss"):
        dp.Network([4, 5, 3], output_activation="identity", loss="cross_entropy")
    with pytest.raises(dp.ValidationError, match=r"takes the logits z\^L of an identity output.* 'relu'"):
        dp.Network([4, 3], output_activation="relu", loss=dp.losses.CrossEntropy(from_logits=True))
    with pytest.raises(dp.ValidationError, match=r"softmax over a single unit is always 1"):
        dp.Network([4, 1], output_activation="softmax")
    with pytest.raises(dp.ValidationError, match=r"cross_entropy' needs at least 2 outputs"):
        dp.Network([4, 1], output_activation="sigmoid", loss="cross_entropy")


def test_from_logits_defaults_to_an_identity_output_and_gives_probabilities():
    logits = dp.Network([3, 4, 3], loss=dp.losses.CrossEntropy(from_logits=True), seed=0)
    probs = dp.Network([3, 4, 3], loss="cross_entropy", seed=0)     # same seed: the same weights
    assert logits.layers[-1].activation.name == "identity" and logits.fused
    X = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(logits.predict_proba(X), probs.predict(X), rtol=1e-13)
    np.testing.assert_array_equal(logits.predict_classes(X), probs.predict_classes(X))
    assert logits.loss(X, y) == pytest.approx(probs.loss(X, y), rel=1e-13)
    for (dW, db), (dW2, db2) in zip(logits.gradients(X, y), probs.gradients(X, y)):
        np.testing.assert_allclose(dW, dW2, rtol=1e-12, atol=1e-15)
    binary = dp.Network([3, 1], loss=dp.losses.BinaryCrossEntropy(from_logits=True), seed=0)
    sig = dp.Network([3, 1], loss="binary_cross_entropy", seed=0)
    np.testing.assert_allclose(binary.predict_proba(X), sig.predict(X), rtol=1e-13)
    np.testing.assert_array_equal(binary.predict_classes(X), sig.predict_classes(X))
    # huge logits: no overflow, no log(0)
    assert np.isfinite(dp.losses.BinaryCrossEntropy(from_logits=True)(np.array([[800.0, -800.0]]),
                                                                       np.array([[0.0, 1.0]])))


def test_predict_classes_and_proba():
    net = dp.Network([2, 3], loss="cross_entropy", seed=0)
    X = np.array([[0.5, -1.0], [2.0, 1.0]])
    P = net.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(net.predict_classes(X), P.argmax(axis=1))
    assert net.predict_classes(X).dtype.kind == "i"
    with pytest.raises(dp.ValidationError, match=r"predict_proba needs outputs that are probabilities; .* "
                                                 r"sigmoid outputs were trained on the quadratic cost"):
        dp.Network([2, 3], seed=0).predict_proba(X)
    with pytest.raises(dp.ValidationError, match=r"predict_classes is for classifiers; .*regression"):
        dp.Network([2, 1], output_activation="identity", seed=0).predict_classes(X)


@pytest.mark.parametrize("sizes, need", [([3, 2**62, 2], r"[\d.]+ PB"), ([784, 3_000_000_000, 10], r"19\.1 TB"),
                                         ([784, 200_000, 200_000, 10], r"321\.3 GB")])
def test_a_network_that_cannot_fit_in_memory_is_refused_before_anything_is_allocated(sizes, need):
    with pytest.raises(dp.ValidationError, match=rf"The network \[.*\] \([\d,]+ parameters of float64\) would need "
                                                 rf"{need} of memory, more than this machine's [\d.]+ GB"):
        dp.Network(sizes)
    with pytest.raises(dp.ValidationError, match=r"Dense\(3, 4611686018427387904\) .* would need .* of memory"):
        dp.Dense(3, 2**62)


def test_a_fit_whose_batch_caches_cannot_fit_is_refused_before_training(monkeypatch):
    from deltaprop import _array
    net = dp.Network([4, 1000, 2], loss="cross_entropy", seed=0)
    before = net.get_weights()
    monkeypatch.setattr(_array, "machine_memory", lambda: 50_000_000)     # a 50 MB machine
    X, y = np.zeros((10_000, 4)), np.zeros(10_000, int)
    with pytest.raises(dp.ValidationError, match=r"Training \[4, 1000, 2\] .* with Adam on batches of 10000 would "
                                                 r"need 32\d\.\d MB of memory, more than this machine's 50\.0 MB"):
        net.fit(X, y, batch_size=10_000, optimizer="adam", verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
    net.fit(X[:10], y[:10], batch_size=10, optimizer="adam", verbose=0)     # small batches fit


@given(case=networks(), data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_weight_of_k_is_the_example_k_times(case, data):
    net, X, Y = case
    k = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(X), max_size=len(X)).filter(any)))
    rows = np.repeat(np.arange(len(X)), k)
    Y = np.asarray(Y)
    weighted = net.gradients(X, Y, sample_weight=k)
    repeated = net.gradients(X[rows], Y[rows])
    for (dW, db), (dW_r, db_r) in zip(weighted, repeated):
        np.testing.assert_allclose(dW, dW_r, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, db_r, rtol=1e-12, atol=1e-15)
    assert net.loss(X, Y, sample_weight=k) == pytest.approx(net.loss(X[rows], Y[rows]), rel=1e-13)
    assert net.evaluate(X, Y, sample_weight=k)["loss"] == pytest.approx(net.loss(X[rows], Y[rows]), rel=1e-13)


def test_a_single_weight_applies_to_every_example():
    net = dp.Network([2, 3, 1], seed=0)
    X, y = np.random.default_rng(0).normal(size=(5, 2)), np.linspace(0, 1, 5)
    for a, b in zip(net.gradients(X, y, sample_weight=2.0), net.gradients(X, y)):
        np.testing.assert_array_equal(a[0], b[0])          # 2 w / (2 n) = w / n: the same mean


# -- pandas DataFrames: columns by name ------------------------------------------------------

def test_a_dataframe_fit_keeps_its_column_names_and_later_calls_take_columns_by_name(tmp_path):
    import pandas as pd
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"height": rng.normal(size=50), "weight": rng.normal(size=50),
                          "age": rng.integers(20, 60, 50)})
    y = (frame["height"] > 0).astype(int)
    net = dp.Network([3, 4, 2], loss="cross_entropy", seed=0)
    assert net.feature_names is None
    net.fit(frame, y, epochs=2, batch_size=10, verbose=0)
    assert net.feature_names == ["height", "weight", "age"]
    shuffled = frame[["age", "height", "weight"]]
    np.testing.assert_array_equal(net.predict(shuffled), net.predict(frame.to_numpy()))
    assert net.evaluate(shuffled, y) == net.evaluate(frame, y)
    net.save(tmp_path / "n.dpz")
    back = dp.load(tmp_path / "n.dpz")
    assert back.feature_names == ["height", "weight", "age"]
    np.testing.assert_array_equal(back.predict(shuffled), net.predict(frame))
    with pytest.raises(dp.ShapeError, match=r"it lacks \['age'\]; it has others, \['years'\]"):
        net.predict(frame.rename(columns={"age": "years"}))
    with pytest.raises(dp.DeltapropTypeError, match=r"Column 'colour' of the DataFrame 'X' is not numeric"):
        dp.Network([2, 1]).predict(pd.DataFrame({"x": [1.0, 2.0], "colour": ["red", "blue"]}))
    # a second fit on the other column order trains on the same features
    net.fit(shuffled, y, epochs=1, verbose=0)
    assert net.feature_names == ["height", "weight", "age"]
    assert net.copy().feature_names == net.feature_names


def test_a_refused_fit_keeps_no_names_and_arrays_stay_positional():
    import pandas as pd
    net = dp.Network([2, 1], seed=0)
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.5]})
    with pytest.raises(dp.ValidationError):
        net.fit(frame, [0.0, 1.0, 2.0], epochs=1, verbose=0, batch_size=0)
    assert net.feature_names is None
    with pytest.raises(dp.ValidationError, match="contains NaN"):
        net.predict(pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1.0, 2.0]}))
    with pytest.raises(dp.ShapeError, match="'feature_names' has 1 names"):
        net.feature_names = ["only"]
    with pytest.raises(dp.ValidationError, match="appears twice"):
        net.feature_names = ["a", "a"]
