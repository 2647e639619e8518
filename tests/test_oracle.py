"""deltaprop's backpropagation against an independent oracle (tests/oracle.py).

The oracle differentiates the network's cost graph scalar by scalar, from the
definitions, with no BP1-BP4 and no fused output deltas; deltaprop's
``gradients`` and ``loss`` must agree with it to ~1e-10 relative on float64
networks of every shape, activation and (valid) loss. The oracle is itself checked
against closed-form derivatives and central differences, so it cannot be silently
wrong.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import deltaprop as dp

try:  # tests/ as a package
    from . import oracle
except ImportError:  # tests/ on sys.path (pytest's default rootdir-less import)
    import oracle

RTOL, ATOL = 1e-9, 1e-12
HIDDEN = ["sigmoid", "relu", "tanh", "identity", "leaky_relu"]
ALL_ACTIVATIONS = HIDDEN + ["softmax"]


# -- helpers ---------------------------------------------------------------------------

def oracle_of(net, X, Y, sample_weight=None):
    """The oracle's (C, [(dW, db), ...]) for deltaprop network ``net``."""
    return oracle.mlp_loss_and_grads(
        [layer.W for layer in net.layers], [layer.b for layer in net.layers],
        [layer.activation.name for layer in net.layers], net.loss_fn.name, X, Y, sample_weight)


def assert_matches_oracle(net, X, Y, sample_weight=None):
    """deltaprop's loss and gradients equal the oracle's; returns the largest relative gap."""
    assert net.dtype == np.float64
    C_ref, grads_ref = oracle_of(net, X, Y, sample_weight)
    grads = net.gradients(X, Y, sample_weight=sample_weight)
    C = net.loss(X, Y, sample_weight=sample_weight)
    assert_allclose(C, C_ref, rtol=RTOL, atol=ATOL, err_msg="loss")
    assert len(grads) == len(grads_ref) == len(net.layers)
    worst = abs(C - C_ref) / max(abs(C_ref), 1e-300)
    for l, ((dW, db), (dW_ref, db_ref)) in enumerate(zip(grads, grads_ref)):
        assert dW.shape == dW_ref.shape == net.layers[l].W.shape
        assert db.shape == db_ref.shape == net.layers[l].b.shape
        assert_allclose(dW, dW_ref, rtol=RTOL, atol=ATOL, err_msg=f"dC/dW of layer {l}")
        assert_allclose(db, db_ref, rtol=RTOL, atol=ATOL, err_msg=f"dC/db of layer {l}")
        for got, ref in ((dW, dW_ref), (db, db_ref)):
            nz = ref != 0
            if nz.any():
                worst = max(worst, float(np.max(np.abs(got[nz] - ref[nz]) / np.abs(ref[nz]))))
    return worst


def draw_data(seed, n, n_in, n_out, loss):
    """Inputs uniform in [-2, 2] and targets suited to ``loss``, from ``seed``."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, size=(n, n_in))
    if loss == "cross_entropy":
        Y = np.eye(n_out)[rng.integers(n_out, size=n)]
    elif loss == "binary_cross_entropy":
        Y = rng.uniform(0.0, 1.0, size=(n, n_out))
    else:
        Y = rng.uniform(-1.0, 1.0, size=(n, n_out))
    return X, Y


# -- the property: every network, every valid (output activation, loss) pair ------------

@st.composite
def configs(draw):
    depth = draw(st.integers(1, 4))
    hidden = draw(st.sampled_from(HIDDEN))
    loss, output = draw(st.sampled_from(
        [("quadratic", act) for act in ALL_ACTIVATIONS]
        + [("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")]))
    min_out = 2 if loss == "cross_entropy" or output == "softmax" else 1   # softmax over one unit is refused
    sizes = [draw(st.integers(1, 6)) for _ in range(depth)] + [draw(st.integers(min_out, 6))]
    return dict(sizes=sizes, hidden=hidden, output=output, loss=loss,
                batch=draw(st.integers(1, 5)), seed=draw(st.integers(0, 2**32 - 1)),
                explicit=draw(st.booleans()))


def build(cfg):
    """The network of ``cfg``: sizes form (deltaprop's own init) or explicit Dense weights."""
    sizes, depth = cfg["sizes"], len(cfg["sizes"]) - 1
    acts = [cfg["hidden"]] * (depth - 1) + [cfg["output"]]
    if not cfg["explicit"]:
        return dp.Network(sizes, activation=cfg["hidden"], output_activation=cfg["output"],
                          loss=cfg["loss"], seed=cfg["seed"])
    rng = np.random.default_rng([cfg["seed"], 1])
    layers = [dp.Dense(n_in, n_out, act, W=rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_out, n_in)),
                       b=rng.normal(0.0, 0.5, n_out))
              for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts)]
    return dp.Network(layers, loss=cfg["loss"])


@settings(max_examples=60, deadline=None)
@given(configs())
def test_gradients_and_loss_match_oracle(cfg):
    net = build(cfg)
    assert [layer.activation.name for layer in net.layers] == \
        [cfg["hidden"]] * (len(net.layers) - 1) + [cfg["output"]]
    X, Y = draw_data(cfg["seed"], cfg["batch"], cfg["sizes"][0], cfg["sizes"][-1], cfg["loss"])
    assert_matches_oracle(net, X, Y)


@settings(max_examples=40, deadline=None)
@given(configs(), st.data())
def test_weighted_costs_match_the_oracle(cfg, data):
    """C = sum_x w_x C_x / sum_x w_x, its gradients through BP1's w_x/m: every network."""
    net = build(cfg)
    X, Y = draw_data(cfg["seed"], cfg["batch"], cfg["sizes"][0], cfg["sizes"][-1], cfg["loss"])
    w = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.25, 1.0, 2.0, 3.5]), min_size=cfg["batch"],
                                    max_size=cfg["batch"]).filter(any)))
    assert_matches_oracle(net, X, Y, sample_weight=w)


@pytest.mark.parametrize("loss,output", [("quadratic", act) for act in ALL_ACTIVATIONS]
                         + [("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_combination_matches_oracle(hidden, loss, output):
    """Each (hidden, output, loss) at least once, whatever hypothesis happens to draw."""
    cfg = dict(sizes=[3, 4, 5, 3], hidden=hidden, output=output, loss=loss, batch=4,
               seed=zlib.crc32(f"{hidden}/{loss}/{output}".encode()), explicit=True)
    X, Y = draw_data(cfg["seed"], cfg["batch"], 3, 3, loss)
    assert_matches_oracle(build(cfg), X, Y)


@pytest.mark.parametrize("loss,output", [("binary_cross_entropy", "softmax"), ("cross_entropy", "sigmoid")])
@pytest.mark.parametrize("seed", range(3))
def test_unfused_cross_entropies_match_oracle(loss, output, seed):
    """Cross-entropies with the *other* (0, 1)-valued output: deltaprop's unfused BP1 path
    (grad_a C through sigma'), which the fused pairs above never reach."""
    cfg = dict(sizes=[3, 4, 3], hidden="tanh", output=output, loss=loss, batch=5, seed=seed, explicit=True)
    net = build(cfg)
    assert not net.fused
    X, Y = draw_data(seed, 5, 3, 3, loss)
    assert_matches_oracle(net, X, Y)


# -- the worked 2-2-2 example -------------------------------------------------------------

def mazur_net():
    return dp.Network([
        dp.Dense(2, 2, "sigmoid", W=[[.15, .20], [.25, .30]], b=[.35, .35]),
        dp.Dense(2, 2, "sigmoid", W=[[.40, .45], [.50, .55]], b=[.60, .60]),
    ], loss="quadratic")


def test_worked_2_2_2_example():
    net = mazur_net()
    X, Y = np.array([[.05, .10]]), np.array([[.01, .99]])
    assert_matches_oracle(net, X, Y)
    # The published values of the worked example (9 decimals): E_total and
    # dE/dw1..dw8, where w1..w4 are W1 row by row and w5..w8 are W2 row by row
    # (dE/dw8 from the published update w8+ = 0.561370121 = 0.55 - 0.5 dE/dw8).
    C, grads = oracle_of(net, X, Y)
    assert_allclose(C, 0.298371109, atol=1e-9)
    assert_allclose(grads[0][0], [[0.000438568, 0.000877135], [0.000497713, 0.000995425]], atol=1e-9)
    assert_allclose(grads[1][0], [[0.082167041, 0.082667628], [-0.022602540, -0.022740242]], atol=1e-9)
    # and the same from deltaprop
    assert_allclose(net.loss(X, Y), 0.298371109, atol=1e-9)
    dW1, _ = net.gradients(X, Y)[0]
    assert_allclose(dW1, grads[0][0], rtol=RTOL, atol=ATOL)


# -- kinks: the conventions at exactly z = 0 -------------------------------------------------

@pytest.mark.parametrize("hidden", ["relu", "leaky_relu"])
def test_kink_convention_at_zero(hidden):
    """z = 0 exactly in the hidden layer: ReLU' (0) = 0 and leaky ReLU' (0) = 0.01 in both."""
    net = dp.Network([
        dp.Dense(2, 3, hidden, W=[[0.0, 0.0], [1.0, -1.0], [0.5, 0.25]], b=[0.0, 0.0, -0.5]),
        dp.Dense(3, 2, "identity", W=[[0.3, -0.7, 0.2], [0.9, 0.1, -0.4]], b=[0.1, -0.2]),
    ], loss="quadratic")
    X, Y = np.array([[1.0, 1.0], [0.0, 2.0]]), np.array([[0.5, -0.5], [1.0, 0.0]])
    assert np.any(net.layers[0].W @ X.T + net.layers[0].b[:, None] == 0.0)
    assert_matches_oracle(net, X, Y)
    _, grads = oracle_of(net, X, Y)
    if hidden == "relu":
        assert np.all(grads[0][0][0] == 0.0) and grads[0][1][0] == 0.0  # neuron 0: z = 0 always


# -- the oracle itself --------------------------------------------------------------------

def test_oracle_primitives_against_closed_form():
    """f(x, y) = x y + exp(x)/y - log(x) + tanh(y)^3 + sqrt(x) - y + relu(x - y)."""
    for x0, y0 in [(0.7, 1.3), (1.9, -0.4), (0.25, 2.5)]:
        x, y = oracle.Value(x0), oracle.Value(y0)
        f = x * y + x.exp() / y - x.log() + y.tanh() ** 3 + x ** 0.5 - y + (x - y).relu()
        f.backward()
        step = 1.0 if x0 > y0 else 0.0
        value = (x0 * y0 + math.exp(x0) / y0 - math.log(x0) + math.tanh(y0) ** 3 + math.sqrt(x0) - y0
                 + max(x0 - y0, 0.0))
        dfdx = y0 + math.exp(x0) / y0 - 1.0 / x0 + 0.5 / math.sqrt(x0) + step
        dfdy = (x0 - math.exp(x0) / y0 ** 2 + 3.0 * math.tanh(y0) ** 2 * (1.0 - math.tanh(y0) ** 2)
                - 1.0 - step)
        assert math.isclose(f.data, value, rel_tol=1e-14)
        assert math.isclose(x.grad, dfdx, rel_tol=1e-13)
        assert math.isclose(y.grad, dfdy, rel_tol=1e-13)


def test_oracle_shared_subexpressions_and_neg():
    """A node used many times collects every path: d/dx of (x*x*x - (-x)) = 3x^2 + 1."""
    x = oracle.Value(1.5)
    g = x * x
    f = g * x - (-x) + g / g
    f.backward()
    assert math.isclose(f.data, 1.5 ** 3 + 1.5 + 1.0, rel_tol=1e-15)
    assert math.isclose(x.grad, 3 * 1.5 ** 2 + 1.0, rel_tol=1e-14)
    assert oracle.Value(0.0).relu().data == 0.0
    z = oracle.Value(0.0)
    z.relu().backward()
    assert z.grad == 0.0  # relu'(0) = 0, deltaprop's convention


def test_oracle_single_neurons_closed_form():
    """One neuron, known closed forms: sigmoid + quadratic, sigmoid + BCE, softmax + CE."""
    w, b0, x, y = 0.8, -0.3, 1.7, 0.2
    a = 1.0 / (1.0 + math.exp(-(w * x + b0)))
    C, [(dW, db)] = oracle.mlp_loss_and_grads([[[w]]], [[b0]], ["sigmoid"], "quadratic", [[x]], [[y]])
    assert math.isclose(C, 0.5 * (a - y) ** 2, rel_tol=1e-14)
    assert math.isclose(dW[0, 0], (a - y) * a * (1 - a) * x, rel_tol=1e-13)   # dC/dw = (a-y) a(1-a) x
    assert math.isclose(db[0], (a - y) * a * (1 - a), rel_tol=1e-13)
    C, [(dW, db)] = oracle.mlp_loss_and_grads([[[w]]], [[b0]], ["sigmoid"], "binary_cross_entropy",
                                              [[x]], [[y]])
    assert math.isclose(C, -(y * math.log(a) + (1 - y) * math.log(1 - a)), rel_tol=1e-14)
    assert math.isclose(dW[0, 0], (a - y) * x, rel_tol=1e-12)                 # sigma' cancels
    assert math.isclose(db[0], a - y, rel_tol=1e-12)
    # softmax + cross-entropy over 3 units, identity-like weights: dC/dz = a - y.
    z = [0.4, -1.1, 2.0]
    e = [math.exp(v) for v in z]
    soft = [v / sum(e) for v in e]
    yv = [0.0, 1.0, 0.0]
    C, [(dW, db)] = oracle.mlp_loss_and_grads([np.zeros((3, 1))], [z], ["softmax"], "cross_entropy",
                                              [[1.0]], [yv])
    assert math.isclose(C, -math.log(soft[1]), rel_tol=1e-14)
    assert_allclose(db, np.subtract(soft, yv), rtol=1e-12)
    assert_allclose(dW[:, 0], np.subtract(soft, yv), rtol=1e-12)


@pytest.mark.parametrize("loss,output", [("quadratic", act) for act in ALL_ACTIVATIONS]
                         + [("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")])
def test_oracle_against_central_differences(loss, output):
    """The oracle's gradients equal central differences of its own forward cost."""
    rng = np.random.default_rng(7)
    sizes, hidden = [3, 4, 3], {"quadratic": "tanh", "binary_cross_entropy": "leaky_relu"}.get(loss, "sigmoid")
    Ws = [rng.normal(0, 0.7, (m, k)) for k, m in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.5, m) for m in sizes[1:]]
    acts = [hidden, output]
    X, Y = draw_data(3, 4, 3, 3, loss)
    _, grads = oracle.mlp_loss_and_grads(Ws, bs, acts, loss, X, Y)
    h = 1e-6
    for l in range(len(Ws)):
        for P, G in ((Ws[l], grads[l][0]), (bs[l], grads[l][1])):
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                up = oracle.mlp_loss(Ws, bs, acts, loss, X, Y)
                P[idx] = old - h
                down = oracle.mlp_loss(Ws, bs, acts, loss, X, Y)
                P[idx] = old
                assert math.isclose(G[idx], (up - down) / (2 * h), rel_tol=1e-6, abs_tol=1e-9), (l, idx)


def test_oracle_does_not_use_deltaprop():
    import ast
    import pathlib
    tree = ast.parse(pathlib.Path(oracle.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "deltaprop" for name in imported)
