"""Losses: value averaged over the batch, grad_a C with the 1/n, the fused deltas, targets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop.losses import LOSSES, get, one_hot


def test_registry_has_the_design_names():
    assert set(LOSSES) == {"quadratic", "binary_cross_entropy", "cross_entropy"}


def test_quadratic_is_half_the_squared_norm_averaged():
    A = np.array([[0.2, 0.5], [0.7, 0.1]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = np.mean([0.5 * (0.2**2 + 0.3**2), 0.5 * (0.5**2 + 0.1**2)])
    assert get("quadratic")(A, Y) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(get("quadratic").grad(A, Y), (A - Y) / 2)


@pytest.mark.parametrize("name", sorted(LOSSES))
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), k=st.integers(2, 5))
@settings(max_examples=30, deadline=None)
def test_grad_is_the_derivative_of_the_mean(name, seed, m, k):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.05, 0.95, (k, m))
    if name == "cross_entropy":
        Y = one_hot(rng.integers(0, k, m), k).T
    else:
        Y = rng.uniform(0, 1, (k, m))
    loss = get(name)
    h = 1e-6
    numeric = np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        Ap, Am = A.copy(), A.copy()
        Ap[idx] += h
        Am[idx] -= h
        numeric[idx] = (loss(Ap, Y) - loss(Am, Y)) / (2 * h)
    np.testing.assert_allclose(loss.grad(A, Y), numeric, rtol=1e-5, atol=1e-10)


def test_losses_never_take_log_of_zero():
    A = np.array([[0.0, 1.0], [1.0, 0.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    for name in ("binary_cross_entropy", "cross_entropy"):
        value = get(name)(A, Y)
        assert np.isfinite(value) and value > 100
        assert np.all(np.isfinite(get(name).grad(A, Y)))


def test_fused_pairs():
    assert get("binary_cross_entropy").fused_with == "sigmoid"
    assert get("cross_entropy").fused_with == "softmax"
    assert get("quadratic").fused_with is None


def test_targets_accept_labels_and_one_hot():
    ce = get("cross_entropy")
    np.testing.assert_array_equal(ce.targets([2, 0], 3, np.dtype(np.float32)), [[0, 0, 1], [1, 0, 0]])
    assert ce.targets([2, 0], 3, np.dtype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(ce.targets([[0, 1, 0]], 3, np.dtype(np.float64)), [[0, 1, 0]])
    np.testing.assert_array_equal(get("binary_cross_entropy").targets([1, 0], 1, np.dtype(np.float64)), [[1], [0]])


@pytest.mark.parametrize("Y, match", [
    ([3, 0], r"labels in 0\.\.2 .* Got labels from 0 to 3"),
    ([-1, 0], r"labels in 0\.\.2"),
    ([0.5, 1.0], r"integer class labels"),
    ([[0.5, 0.2, 0.2]], r"sum to 1.*Row 0 sums to 0\.9"),
    ([[1, 0]], r"needs 3 column\(s\)"),
    (np.zeros((2, 3, 1)), r"shape \(n_samples, 3\)"),
    (["a", "b"], r"must hold numbers"),
])
def test_bad_cross_entropy_targets_are_rejected_clearly(Y, match):
    with pytest.raises((dp.ValidationError, dp.DeltapropTypeError), match=match):
        get("cross_entropy").targets(Y, 3, np.dtype(np.float64))


def test_bce_targets_must_be_in_unit_interval():
    with pytest.raises(dp.ValidationError, match=r"targets in \[0, 1\]. Got values from 0\.0 to 2\.0"):
        get("binary_cross_entropy").targets([[0.0], [2.0]], 1, np.dtype(np.float64))


def test_unknown_loss():
    with pytest.raises(dp.UnknownNameError, match="Did you mean 'cross_entropy'"):
        get("crossentropy")
