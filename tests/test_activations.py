"""Activations: sigma and sigma' side by side, finite everywhere, dtype kept."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import deltaprop as dp
from deltaprop.activations import ACTIVATIONS, get

NAMES = sorted(ACTIVATIONS)


def test_registry_has_the_design_names():
    assert set(NAMES) == {"sigmoid", "relu", "tanh", "identity", "leaky_relu", "softmax"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs_are_finite_without_warnings(name, dtype):
    act = get(name)
    Z = np.array([[-1000.0, 1000.0], [1000.0, 1000.0], [0.0, -1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = act(Z)
        P = act.prime(Z, A)
        D = act.backward(np.ones_like(Z), Z, A)
    for arr in (A, P, D):
        assert arr.dtype == dtype
        assert np.all(np.isfinite(arr))


def test_sigmoid_and_softmax_limits():
    s = get("sigmoid")
    np.testing.assert_array_equal(s(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    sm = get("softmax")
    np.testing.assert_array_equal(sm(np.array([[1000.0], [1000.0]])), [[0.5], [0.5]])


def test_sigmoid_keeps_relative_precision_for_negative_z():
    z = np.array([-30.0, -700.0])
    np.testing.assert_allclose(get("sigmoid")(z), np.exp(z) / (1 + np.exp(z)), rtol=1e-14)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "softmax"])
@given(z=arrays(np.float64, (3, 2), elements=st.floats(-20, 20)))
@settings(max_examples=50, deadline=None)
def test_prime_is_the_derivative(name, z):
    act = get(name)
    if name in ("relu", "leaky_relu"):
        z = np.where(np.abs(z) < 1e-3, 1.0, z)   # away from the kink
    h = 1e-6
    numeric = (act(z + h) - act(z - h)) / (2 * h)
    np.testing.assert_allclose(act.prime(z, act(z)), numeric, rtol=1e-6, atol=1e-9)


@given(z=arrays(np.float64, (4, 3), elements=st.floats(-10, 10)),
       g=arrays(np.float64, (4, 3), elements=st.floats(-1, 1)))
@settings(max_examples=50, deadline=None)
def test_softmax_backward_is_the_jacobian_transpose_product(z, g):
    sm = get("softmax")
    A = sm(z)
    D = sm.backward(g, z, A)
    for col in range(z.shape[1]):
        a = A[:, col]
        J = np.diag(a) - np.outer(a, a)       # J_jk = a_j (delta_jk - a_k)
        np.testing.assert_allclose(D[:, col], J.T @ g[:, col], rtol=1e-12, atol=1e-15)


def test_relu_derivative_at_zero_is_zero_and_mask_dtype_is_kept():
    z = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    p = get("relu").prime(z, get("relu")(z))
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, [0, 0, 1])


def test_leaky_relu_slope_and_config_round_trip():
    act = dp.activations.LeakyReLU(alpha=0.2)
    np.testing.assert_allclose(act(np.array([-1.0, 3.0])), [-0.2, 3.0])
    assert get(act.config()) == act


def test_unknown_activation_suggests_the_closest_name():
    with pytest.raises(dp.UnknownNameError, match=r"Unknown activation 'sigmod'.*Did you mean 'sigmoid'"):
        get("sigmod")
    with pytest.raises(dp.DeltapropTypeError, match="'activation' argument"):
        get(3)
