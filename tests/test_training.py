"""The training loop: the seeds' mini-batch SGD, reproducibility, History, divergence."""

import numpy as np
import pytest

import deltaprop as dp


def _data(n=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def test_one_epoch_equals_the_seeds_algorithm_written_out():
    # Shuffle from the seed, take mini-batches of m (short last one included) and apply
    # w -> w - (eta/m) sum_x dC_x/dw with the mean gradient of each batch.
    X, y = _data()
    net = dp.Network([4, 5, 3], activation="sigmoid", seed=1)
    ref = net.copy()
    net.fit(X, y, epochs=1, batch_size=5, optimizer=dp.SGD(lr=0.7), seed=42, verbose=0)
    order = np.random.default_rng(42).permutation(len(X))
    batches = [order[i:i + 5] for i in range(0, len(X), 5)]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]          # the short last batch is used
    for idx in batches:
        grads = ref.gradients(X[idx], y[idx])
        for layer, (dW, db) in zip(ref.layers, grads):
            layer.W -= 0.7 * dW
            layer.b -= 0.7 * db
    for a, b in zip(net.layers, ref.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", [lambda: dp.SGD(lr=0.5, momentum=0.9), lambda: dp.Adam(lr=0.01)])
def test_same_seed_gives_bit_identical_weights(dtype, optimizer):
    X, y = _data(50)

    def train():
        net = dp.Network([4, 6, 3], activation="relu", loss="cross_entropy", dtype=dtype, seed=3)
        net.fit(X, y, epochs=3, batch_size=8, optimizer=optimizer(), seed=11, verbose=0)
        return net.get_weights()

    for a, b in zip(train(), train()):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)


def test_network_seed_drives_shuffling_when_fit_has_none():
    X, y = _data(40)
    a = dp.Network([4, 3], seed=5)
    b = dp.Network([4, 3], seed=5)
    a.fit(X, y, epochs=2, batch_size=4, verbose=0)
    b.fit(X, y, epochs=2, batch_size=4, verbose=0)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
    c = dp.Network([4, 3], seed=5)
    c.fit(X, y, epochs=2, batch_size=4, seed=99, verbose=0)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)


def test_history_and_verbose(capsys):
    X, y = _data(60)
    net = dp.Network([4, 8, 3], activation="tanh", loss="cross_entropy", seed=0)
    history = net.fit(X, y, epochs=4, batch_size=10, optimizer=dp.SGD(lr=0.5), validation_data=(X[:20], y[:20]),
                      verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4") and "val_accuracy" in lines[-1]
    assert history.epoch == [1, 2, 3, 4]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] == pytest.approx(net.evaluate(X[:20], y[:20])["loss"])
    net.fit(X, y, epochs=2, batch_size=10, verbose=0)
    assert capsys.readouterr().out == ""


def test_training_loss_is_over_the_outputs_seen_during_the_epoch():
    # With full-batch training the one batch's output is the network before the update.
    X, y = _data(30)
    net = dp.Network([4, 3], loss="cross_entropy", seed=2)
    before = net.evaluate(X, y)
    history = net.fit(X, y, epochs=1, batch_size=30, shuffle=False, verbose=0)
    assert history["loss"][0] == pytest.approx(before["loss"], rel=1e-12)
    assert history["accuracy"][0] == pytest.approx(before["accuracy"])


def test_divergence_raises_and_restores_the_last_finite_weights():
    X, y = _data(40)
    net = dp.Network([4, 3], activation="identity", output_activation="identity", seed=0)
    net.fit(X, y, epochs=1, batch_size=40, optimizer=dp.SGD(lr=0.01), verbose=0)
    with pytest.raises(dp.NonFiniteError, match=r"diverged in epoch \d+.*restored.*smaller learning rate"):
        net.fit(X * 1e150, y, epochs=5, batch_size=4, optimizer=dp.SGD(lr=1e10), verbose=0)
    assert all(np.all(np.isfinite(w)) for w in net.get_weights())


def test_batch_larger_than_data_is_clipped_with_a_warning():
    X, y = _data(6)
    net = dp.Network([4, 3], seed=0)
    with pytest.warns(UserWarning, match="batch_size=10 is larger than the 6 training samples; using 6"):
        net.fit(X, y, epochs=1, batch_size=10, verbose=0)


def test_validation_data_is_checked():
    X, y = _data(6)
    net = dp.Network([4, 3], seed=0)
    with pytest.raises(dp.ShapeError, match=r"validation_data\[0\]"):
        net.fit(X, y, validation_data=(X[:, :2], y), verbose=0)
    with pytest.raises(dp.DeltapropTypeError, match="pair"):
        net.fit(X, y, validation_data=X, verbose=0)


def test_a_short_mnist_run_learns():
    (X, y), (X_test, y_test) = dp.datasets.mnist()
    net = dp.Network([784, 30, 10], activation="sigmoid", loss="quadratic", init="lecun_normal", seed=0)
    history = net.fit(X[:5000], y[:5000], epochs=2, batch_size=10, optimizer=dp.SGD(lr=3.0),
                      validation_data=(X_test[:2000], y_test[:2000]), verbose=0)
    assert history["val_accuracy"][-1] > 0.85          # chance is 0.10
    assert history["loss"][1] < history["loss"][0]
