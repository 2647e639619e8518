"""dp.from_sklearn: a fitted MLPClassifier (binary, multiclass, multilabel) or MLPRegressor
becomes the network it is (its predictions to 1e-12), explain shows a step of it, and
what is not a fitted MLP is refused. (deltaprop's own scikit-learn estimators are
tests/test_estimators.py's.)"""

import csv
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor

import deltaprop as dp
from deltaprop import cli

TOL = 1e-12


def fitted(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)     # a few iterations are all these need
        return est.fit(X, y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    return X, rng


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_binary_classifier(data, activation):
    X, _ = data
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    est = fitted(MLPClassifier(hidden_layer_sizes=(6, 5), activation=activation, max_iter=50, random_state=0), X, y)
    net = dp.from_sklearn(est)
    hidden = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}[activation]
    assert [l.activation.name for l in net.layers] == [hidden, hidden, "sigmoid"]
    assert net.loss_fn.name == "binary_cross_entropy" and net.sizes == [4, 6, 5, 1]
    np.testing.assert_allclose(net.predict_proba(X)[:, 0], est.predict_proba(X)[:, 1], rtol=TOL, atol=TOL)
    assert np.array_equal(est.classes_[net.predict_classes(X)], est.predict(X))


def test_multiclass_classifier_and_explain_shows_a_step_of_it(data):
    X, rng = data
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3) + (X[:, 2] > 1)
    est = fitted(MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=60, random_state=1), X, y)
    net = dp.from_sklearn(est)
    assert net.loss_fn.name == "cross_entropy" and net.layers[-1].activation.name == "softmax"
    np.testing.assert_allclose(net.predict_proba(X), est.predict_proba(X), rtol=TOL, atol=TOL)
    assert np.array_equal(est.classes_[net.predict_classes(X)], est.predict(X))
    # the network is a deltaprop network like any other: one step of it, with every number
    x, target = X[:3], np.searchsorted(est.classes_, y[:3])
    trace = dp.explain(net, x, target)
    for layer, (dW, db) in zip(trace.steps[0].layers, net.gradients(x, target)):
        assert np.array_equal(layer.dW, dW) and np.array_equal(layer.db, db)
    assert "delta" in trace.render().lower()


def test_multilabel_classifier(data):
    X, _ = data
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] * X[:, 1] > 0]).astype(int)
    est = fitted(MLPClassifier(hidden_layer_sizes=(7,), max_iter=40, random_state=2), X, Y)
    net = dp.from_sklearn(est)
    assert net.loss_fn.name == "binary_cross_entropy" and net.n_out == 3
    np.testing.assert_allclose(net.predict_proba(X), est.predict_proba(X), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor(data, n_targets):
    X, _ = data
    y = X[:, :n_targets] @ np.eye(n_targets) * 2 + 0.5 * X[:, 3:4]
    y = y.ravel() if n_targets == 1 else y
    est = fitted(MLPRegressor(hidden_layer_sizes=(9, 4), activation="relu", max_iter=80, random_state=3), X, y)
    net = dp.from_sklearn(est)
    assert net.loss_fn.name == "quadratic" and net.layers[-1].activation.name == "identity"
    np.testing.assert_allclose(net.predict(X).reshape(np.shape(y)), est.predict(X), rtol=TOL, atol=TOL)


def test_float32_estimator_gives_a_float32_network(data):
    X, _ = data
    X32 = X.astype(np.float32)
    est = fitted(MLPRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=4), X32, X32[:, 0])
    net = dp.from_sklearn(est)
    assert net.dtype == est.coefs_[0].dtype
    np.testing.assert_allclose(net.predict(X32).ravel(), est.predict(X32), rtol=1e-6, atol=1e-6)


def test_the_weights_are_copies(data):
    X, _ = data
    est = fitted(MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=5), X, X[:, 0])
    net = dp.from_sklearn(est)
    assert np.array_equal(net.layers[0].W, est.coefs_[0].T)
    net.layers[0].W[0, 0] += 1.0
    assert net.layers[0].W[0, 0] != est.coefs_[0][0, 0]


def test_class_names_saved_as_the_docs_say_reach_the_cli(data, tmp_path, capsys):
    X, _ = data
    y = np.where(X[:, 0] > 0, "right", "left")
    est = fitted(MLPClassifier(hidden_layer_sizes=(4,), max_iter=80, random_state=6), X, y)
    net = dp.from_sklearn(est)
    model = net.save(tmp_path / "mlp.dpz", metadata={"cli": {"classes": [str(c) for c in est.classes_]}})
    rows = tmp_path / "rows.csv"
    with rows.open("w", newline="") as f:
        csv.writer(f).writerows(X[:5].tolist())
    assert cli.main(["predict", str(model), str(rows), "--header", "no"]) == 0
    printed = [r["prediction"] for r in csv.DictReader(capsys.readouterr().out.splitlines())]
    assert printed == est.predict(X[:5]).tolist()


def test_refusals(data):
    X, _ = data
    with pytest.raises(dp.ValidationError, match="is an MLPClassifier that has not been fitted .* Call estimator.fit"):
        dp.from_sklearn(MLPClassifier())
    with pytest.raises(dp.DeltapropTypeError, match="must be a fitted scikit-learn MLPClassifier or MLPRegressor. "
                                                    "Got LogisticRegression instead"):
        dp.from_sklearn(LogisticRegression().fit(X, X[:, 0] > 0))
    poisson = fitted(MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=5, random_state=0),
                     X, np.exp(X[:, 0]))
    with pytest.raises(dp.ValidationError, match="output activation 'exp' \\(loss 'poisson'\\) has no deltaprop"):
        dp.from_sklearn(poisson)
