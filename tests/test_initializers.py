"""Initial weights: named schemes, explicit seeds, the stated distributions."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import initializers


@pytest.mark.parametrize("init, w_std, b_std", [
    ("standard_normal", lambda i, o: 1.0, 1.0),
    ("lecun_normal", lambda i, o: np.sqrt(1 / i), 1.0),
    ("glorot_uniform", lambda i, o: np.sqrt(2 / (i + o)), 0.0),
    ("glorot_normal", lambda i, o: np.sqrt(2 / (i + o)), 0.0),
    ("he_normal", lambda i, o: np.sqrt(2 / i), 0.0),
    ("he_uniform", lambda i, o: np.sqrt(2 / i), 0.0),
])
def test_scheme_spreads(init, w_std, b_std):
    n_in, n_out = 400, 300
    layer = dp.Dense(n_in, n_out, "sigmoid", init=init, seed=1)
    assert layer.W.std() == pytest.approx(w_std(n_in, n_out), rel=0.03)
    assert abs(layer.W.mean()) < 0.02 * max(w_std(n_in, n_out), 1e-3) * 10
    assert layer.b.std() == pytest.approx(b_std, abs=0.1)


def test_aliases_and_auto():
    assert initializers.resolve("xavier", "sigmoid") == "glorot_uniform"
    assert initializers.resolve("he", "relu") == "he_normal"
    assert initializers.resolve("book", "sigmoid") == "standard_normal"
    assert initializers.resolve("auto", "relu") == "he_normal"
    assert initializers.resolve("auto", "tanh") == "glorot_uniform"
    with pytest.raises(dp.UnknownNameError, match="Did you mean 'he_normal'"):
        initializers.resolve("he_norml", "relu")


def test_same_seed_same_bits_and_dtypes_agree():
    a = dp.Network([5, 4, 3], seed=7)
    b = dp.Network([5, 4, 3], seed=7)
    c = dp.Network([5, 4, 3], seed=7, dtype="float32")
    for la, lb, lc in zip(a.layers, b.layers, c.layers):
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.W.astype(np.float32), lc.W)
    assert not np.array_equal(a.layers[0].W, dp.Network([5, 4, 3], seed=8).layers[0].W)
