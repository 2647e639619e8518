"""Optimizers: the seeds' update exactly, and invariants of momentum and Adam."""

import numpy as np
import pytest

import deltaprop as dp


def test_plain_sgd_is_the_seeds_rule_bit_for_bit():
    w = np.array([0.4, 0.45])
    g = np.array([0.082167041, 0.0826676])
    expected = w - 0.5 * g
    dp.SGD(lr=0.5).step([(w, g)])
    np.testing.assert_array_equal(w, expected)


def test_momentum_accumulates_velocity():
    w, g = np.array([1.0]), np.array([1.0])
    opt = dp.SGD(lr=0.1, momentum=0.9)
    opt.step([(w, g)])          # v = 1
    opt.step([(w, g)])          # v = 1.9
    np.testing.assert_allclose(w, 1.0 - 0.1 * (1 + 1.9))


def test_nesterov_looks_ahead():
    w, g = np.array([1.0]), np.array([1.0])
    opt = dp.SGD(lr=0.1, momentum=0.9, nesterov=True)
    opt.step([(w, g)])          # v = 1; step g + mu v = 1.9
    np.testing.assert_allclose(w, 1.0 - 0.1 * 1.9)


def test_weight_decay_applies_to_matrices_not_biases():
    W, b = np.ones((2, 2)), np.ones(2)
    dp.SGD(lr=0.1, weight_decay=0.5).step([(W, np.zeros((2, 2))), (b, np.zeros(2))])
    np.testing.assert_allclose(W, 1 - 0.1 * 0.5)
    np.testing.assert_array_equal(b, 1.0)


def test_adam_weight_decay_is_l2_on_matrices_only():
    # Adam with weight_decay lambda steps exactly as plain Adam on the gradient g + lambda W.
    W, b = np.full((2, 2), 2.0), np.full(2, 2.0)
    g_W, g_b = np.full((2, 2), 0.3), np.full(2, 0.3)
    decayed, plain = dp.Adam(lr=0.1, weight_decay=0.5), dp.Adam(lr=0.1)
    W2, b2 = W.copy(), b.copy()
    for _ in range(3):
        decayed.step([(W, g_W), (b, g_b)])
        plain.step([(W2, g_W + 0.5 * W2), (b2, g_b)])
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(b, b2)
    assert "weight_decay=0.5" in repr(decayed) and decayed.config()["weight_decay"] == 0.5


@pytest.mark.parametrize("make", [lambda: dp.SGD(lr=0.1, momentum=0.9), lambda: dp.Adam(lr=0.01)])
def test_state_round_trip_continues_bit_for_bit(make):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)) for _ in range(6)]
    a, wa = make(), np.ones((3, 2))
    for g in grads[:3]:
        a.step([(wa, g)])
    meta, arrays = a.get_state()
    b, wb = make(), wa.copy()
    b.set_state(meta, {k: v.copy() for k, v in arrays.items()})
    assert b.iterations == 3
    for g in grads[3:]:
        a.step([(wa, g)])
        b.step([(wb, g)])
    np.testing.assert_array_equal(wa, wb)
    with pytest.raises(dp.ValidationError, match="saved optimizer state is for"):
        (dp.Adam() if isinstance(a, dp.SGD) else dp.SGD()).set_state(meta, arrays)


def test_from_config_rebuilds_an_optimizer():
    opt = dp.optimizers.from_config(dp.SGD(lr=0.3, momentum=0.5, nesterov=True).config())
    assert repr(opt) == repr(dp.SGD(lr=0.3, momentum=0.5, nesterov=True))
    with pytest.raises(dp.UnknownNameError, match="Unknown optimizer 'rmsprop'"):
        dp.optimizers.from_config({"name": "RMSprop"})


def test_adam_first_step_has_size_lr_whatever_the_gradient_scale():
    for scale in (1e-2, 1.0, 1e6):      # |g| >> eps: the first step is lr * sign(g)
        w = np.zeros(3)
        dp.Adam(lr=0.01).step([(w, np.array([1.0, -2.0, 3.0]) * scale)])
        np.testing.assert_allclose(np.abs(w), 0.01, rtol=1e-5)
        np.testing.assert_array_equal(np.sign(w), [-1, 1, -1])


@pytest.mark.parametrize("opt", [dp.SGD(lr=0.1), dp.SGD(lr=0.05, momentum=0.9), dp.SGD(lr=0.05, momentum=0.9, nesterov=True),
                                 dp.Adam(lr=0.05)])
def test_quadratic_bowl_converges(opt):
    target = np.array([3.0, -1.0, 0.5])
    w = np.zeros(3)
    for _ in range(2000):
        opt.step([(w, 2 * (w - target))])      # gradient of ||w - target||^2
    np.testing.assert_allclose(w, target, atol=1e-3)


@pytest.mark.parametrize("make, match", [
    (lambda: dp.SGD(lr=0), r"'lr' argument must be a finite number in \(0, inf\). Got 0"),
    (lambda: dp.SGD(lr=float("nan")), r"'lr' argument must be a finite number"),
    (lambda: dp.SGD(lr="fast"), r"'lr' argument must be a real number. Got str 'fast'"),
    (lambda: dp.SGD(lr=0.1, momentum=1.0), r"'momentum' argument must be a finite number in \[0, 1\)"),
    (lambda: dp.SGD(lr=0.1, nesterov=True), r"nesterov=True needs a momentum > 0"),
    (lambda: dp.Adam(beta1=1.2), r"'beta1' argument"),
    (lambda: dp.Adam(eps=0), r"'eps' argument"),
])
def test_bad_hyperparameters(make, match):
    with pytest.raises((dp.ValidationError, dp.DeltapropTypeError), match=match):
        make()


def test_plain_sgd_has_one_default_learning_rate_everywhere():
    from deltaprop import optimizers
    assert dp.SGD().lr == optimizers.get(None).lr == optimizers.get("sgd").lr == 0.1
    X, y = np.random.default_rng(0).normal(size=(8, 2)), np.arange(8) % 2
    runs = []
    for optimizer in (None, "sgd", dp.SGD()):
        net = dp.Network([2, 3, 2], loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=2, batch_size=4, optimizer=optimizer, seed=0, verbose=0)
        runs.append(net.get_weights())
    for weights in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], weights))
