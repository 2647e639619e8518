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


def test_batch_mean_weighs_each_column_and_divides_by_the_total():
    G = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = np.array([0.5, 0.0, 2.0])
    np.testing.assert_array_equal(dp.losses.batch_mean(G), G / 3)
    np.testing.assert_array_equal(dp.losses.batch_mean(G, 10), G / 10)
    np.testing.assert_array_equal(dp.losses.batch_mean(G, w=w), G * w / 2.5)
    np.testing.assert_array_equal(dp.losses.batch_mean(G, 5.0, w), G * w / 5.0)     # a part of a bigger batch
    np.testing.assert_array_equal(dp.losses.batch_mean(G, w=np.zeros(3)), np.zeros_like(G))   # no weight: no NaN
    # ones are exactly the unweighted mean
    np.testing.assert_array_equal(dp.losses.batch_mean(G, w=np.ones(3)), G / 3)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_the_weighted_cost_is_the_weighted_mean_of_the_examples_costs(name):
    rng = np.random.default_rng(0)
    A = rng.uniform(0.05, 0.95, (3, 4))
    A = A / A.sum(axis=0) if name == "cross_entropy" else A
    Y = np.eye(3)[:, [0, 1, 2, 0]]
    w = np.array([1.0, 0.0, 2.5, 0.5])
    loss = get(name)
    assert loss(A, Y, w) == pytest.approx((loss.per_example(A, Y) * w).sum() / w.sum(), rel=1e-15)
    assert loss(A, Y, np.ones(4)) == loss(A, Y)
    np.testing.assert_allclose(loss.grad(A, Y, w=w), loss.grad(A, Y) * 4 * w / w.sum(), rtol=1e-14)
