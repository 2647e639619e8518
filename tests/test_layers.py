"""Dense: shapes, the caches of BP1-BP4, explicit weights, fixed biases, clear errors."""

import numpy as np
import pytest

import deltaprop as dp


def test_forward_is_z_equals_w_a_plus_b():
    layer = dp.Dense(3, 2, "identity", W=[[1, 2, 3], [4, 5, 6]], b=[0.5, -0.5])
    A_prev = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])   # two examples as columns
    out = layer.forward(A_prev)
    np.testing.assert_array_equal(out, [[4.5, 5.5], [9.5, 10.5]])
    assert layer.Z is not None and layer.A_prev is A_prev


def test_backward_fills_bp3_bp4_and_returns_w_transpose_delta():
    rng = np.random.default_rng(0)
    layer = dp.Dense(3, 2, "tanh", seed=0)
    A_prev = rng.normal(size=(3, 4))
    layer.forward(A_prev)
    dA = rng.normal(size=(2, 4))
    below = layer.backward(dA)
    D = dA * (1 - np.tanh(layer.Z) ** 2)
    np.testing.assert_allclose(layer.D, D)
    np.testing.assert_allclose(layer.db, D.sum(axis=1))              # BP3
    np.testing.assert_allclose(layer.dW, D @ A_prev.T)               # BP4
    np.testing.assert_allclose(below, layer.W.T @ D)                 # first factor of BP2
    assert layer.dW.shape == layer.W.shape and layer.db.shape == layer.b.shape
    assert layer.backward(dA, input_grad=False) is None


def test_explicit_weights_are_copied_not_aliased():
    W = np.ones((2, 2))
    layer = dp.Dense(2, 2, W=W, b=0.0)
    layer.W[0, 0] = 5
    assert W[0, 0] == 1


def test_fixed_bias_is_left_out_of_the_parameters():
    layer = dp.Dense(2, 2, fixed_bias=True, seed=0)
    assert len(layer.params()) == 1 and layer.params()[0][0] is layer.W


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_in=0, n_out=2), r"'n_in' argument must be a positive integer \(>= 1\). Got 0"),
    (dict(n_in=2, n_out=2.5), r"'n_out' argument must be a positive integer. Got float 2.5"),
    (dict(n_in=2, n_out=3, W=np.ones((2, 3))), r"'W' argument of Dense\(2, 3\) must have shape \(3, 2\). Got shape \(2, 3\)"),
    (dict(n_in=2, n_out=3, b=np.ones(2)), r"'b' argument of Dense\(2, 3\) must have shape \(3,\)"),
    (dict(n_in=1, n_out=1, W=[[np.nan]]), r"'W' argument contains NaN"),
    (dict(n_in=1, n_out=1, activation="sigmod"), r"Did you mean 'sigmoid'"),
    (dict(n_in=1, n_out=1, dtype="float16"), r"'dtype' argument must be 'float64' or 'float32'. Got 'float16'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((dp.ValidationError, dp.DeltapropTypeError), match=match):
        dp.Dense(**kwargs)


def test_float32_layer_stays_float32():
    layer = dp.Dense(3, 2, "sigmoid", seed=0, dtype="float32")
    A = layer.forward(np.ones((3, 4), dtype=np.float32))
    layer.backward(np.ones((2, 4), dtype=np.float32))
    for arr in (layer.W, layer.b, layer.Z, A, layer.D, layer.dW, layer.db):
        assert arr.dtype == np.float32
