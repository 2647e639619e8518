"""Backprop against finite differences, over random architectures (seeds 000 and 004)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop.activations import ACTIVATIONS, Activation
from deltaprop.examples import mazur

from strategies import networks


@given(case=networks(logits=True))
@settings(max_examples=150, deadline=None)
def test_backprop_matches_finite_differences(case):
    net, X, Y = case
    report = dp.gradcheck(net, X, Y)
    assert report.passed, str(report)
    assert report.max_rel_error < 1e-7
    assert sum(r.checked for r in report.rows) > 0


def test_every_activation_and_loss_is_covered_explicitly():
    rng = np.random.default_rng(0)
    for hidden in [a for a in ACTIVATIONS if a != "softmax"]:
        for loss, output in [("quadratic", "identity"), ("quadratic", "softmax"), ("quadratic", hidden),
                             ("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")]:
            net = dp.Network([3, 4, 3], activation=hidden, output_activation=output, loss=loss, seed=1)
            X = rng.uniform(-1, 1, (4, 3))
            Y = rng.integers(0, 3, 4) if loss == "cross_entropy" else rng.uniform(0, 1, (4, 3))
            report = dp.gradcheck(net, X, Y)
            assert report.passed and report.max_rel_error < 1e-7, (hidden, loss, output, str(report))


class _Perturbed(Activation):
    """An activation whose derivative is off by 0.01%: gradcheck must notice."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def __call__(self, Z):
        return self.inner(Z)

    def prime(self, Z, A):
        return self.inner.prime(Z, A) * 1.0001

    def backward(self, dA, Z, A):
        return dA * self.prime(Z, A)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_check_is_not_vacuous_a_derivative_off_by_0_01_percent_fails(name):
    rng = np.random.default_rng(3)
    net = dp.Network([3, 5, 2], activation=name, output_activation="identity", seed=3)
    X, Y = rng.uniform(-1, 1, (4, 3)), rng.uniform(0, 1, (4, 2))
    assert dp.gradcheck(net, X, Y).passed
    net.layers[0].activation = _Perturbed(net.layers[0].activation)
    report = dp.gradcheck(net, X, Y)
    assert not report.passed
    assert report.max_rel_error > 5e-5
    assert "FAILED" in str(report)


def test_check_is_not_vacuous_for_the_output_error():
    net = mazur().net
    x, y = mazur().x, mazur().y
    net.layers[1].activation = _Perturbed(net.layers[1].activation)
    assert not dp.gradcheck(net, x, y).passed


def test_report_has_a_row_per_parameter_and_leaves_the_network_unchanged():
    ex = mazur()
    before = ex.net.get_weights()
    report = dp.gradcheck(ex.net, ex.x, ex.y)
    assert [r.name for r in report.rows] == ["W^1", "b^1", "W^2", "b^2"]
    assert all(r.checked == r.total for r in report.rows)
    for a, b in zip(before, ex.net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "W^2" in str(report) and "PASSED" in str(report)
    assert report.max_abs_error < 1e-12


def test_big_networks_are_sampled():
    net = dp.Network([50, 40, 3], seed=0)
    rng = np.random.default_rng(0)
    report = dp.gradcheck(net, rng.uniform(0, 1, (2, 50)), rng.uniform(0, 1, (2, 3)), max_checks=25)
    assert report.rows[0].checked == 25 and report.rows[0].total == 2000
    assert report.passed


def test_float32_is_refused_with_a_way_out():
    net = dp.Network([2, 2], seed=0, dtype="float32")
    with pytest.raises(dp.ValidationError, match=r"float64 network.*net\.astype\('float64'\)"):
        dp.gradcheck(net, [[0.1, 0.2]], [[0.0, 1.0]])
    copy = net.astype("float64")
    assert copy.dtype == np.float64 and dp.gradcheck(copy, [[0.1, 0.2]], [[0.0, 1.0]]).passed


def test_relu_kinks_are_detected_and_skipped():
    # z of the hidden unit is exactly 0 for the only example: every perturbation of its
    # incoming weights crosses the kink, so those entries cannot be checked.
    net = dp.Network([dp.Dense(1, 1, "relu", W=[[1.0]], b=-0.5), dp.Dense(1, 1, "identity", W=[[2.0]], b=0.0)])
    report = dp.gradcheck(net, [[0.5]], [[1.0]])
    assert report.rows[0].kinks >= 1
    assert "kink" in str(report)


@given(case=networks(logits=True), data=st.data())
@settings(max_examples=60, deadline=None)
def test_weighted_costs_pass_the_check(case, data):
    """Finite differences of sum_x w_x C_x / sum_x w_x against BP1's w_x/m: the same gradient."""
    net, X, Y = case
    w = np.array(data.draw(st.lists(st.floats(0, 4), min_size=len(X), max_size=len(X)).filter(
        lambda v: sum(v) > 0.1)))
    report = dp.gradcheck(net, X, Y, sample_weight=w)
    assert report.passed, str(report)
    assert report.loss == pytest.approx(net.loss(X, Y, sample_weight=w), rel=1e-12)


def test_weighted_check_is_not_vacuous():
    # The unweighted gradient is not the weighted cost's: differencing the weighted cost
    # and comparing with it fails (the check compares what backward left, so feed it that).
    net = dp.Network([3, 4, 2], activation="tanh", loss="cross_entropy", seed=1)
    X, y = np.random.default_rng(0).normal(size=(4, 3)), [0, 1, 1, 0]
    w = np.array([1.0, 3.0, 0.0, 0.5])
    assert dp.gradcheck(net, X, y, sample_weight=w).passed
    original = net.backward
    net.backward = lambda Y, m=None, w=None: original(Y, m)        # a backward that drops the weights
    assert not dp.gradcheck(net, X, y, sample_weight=w).passed
