"""PyTorch, both ways: Network.to_torch computes what the network computes and PyTorch's
autograd, on the equivalent loss, gives Network.gradients; from_torch round trips bit
for bit; what from_torch cannot read is refused by position and class."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import deltaprop as dp
from deltaprop import _torch, activations

from strategies import networks

# |d| <= tol (1 + |x|): float64 agrees to the last bits of the products, float32 to its rounding
TOL = {"float64": 1e-12, "float32": 1e-6}


def torch_cost(net, out, Y):
    """deltaprop's cost in PyTorch: the mean over the examples of the sum over the outputs
    (MSELoss and BCELoss average over the outputs too, hence the factor n_out)."""
    name, logits, k = net.loss_fn.name, net.loss_fn.from_logits, net.n_out
    if name == "quadratic":
        return 0.5 * k * nn.MSELoss()(out, Y)
    if name == "binary_cross_entropy":
        return k * (nn.BCEWithLogitsLoss() if logits else nn.BCELoss())(out, Y)
    if Y.ndim == 1:                                             # integer labels
        return nn.CrossEntropyLoss()(out, Y) if logits else nn.NLLLoss()(torch.log(out), Y)
    return nn.CrossEntropyLoss()(out, Y) if logits else -(Y * torch.log(out)).sum(dim=1).mean()


def same_network(a, b):
    assert a.dtype == b.dtype and a.loss_fn == b.loss_fn and len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert la.activation == lb.activation and la.fixed_bias == lb.fixed_bias and la.dropout == lb.dropout
        assert la.W.dtype == lb.W.dtype and np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)


def test_every_registered_activation_has_a_module():
    assert set(_torch._modules(nn)) == set(activations.ACTIVATIONS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=40, deadline=None)
@given(case=st.data())
def test_outputs_and_gradients_agree_and_the_round_trip_is_exact(dtype, case):
    net, X, Y = case.draw(networks(dtype=dtype, logits=True))
    tol = TOL[dtype]
    module = net.to_torch()
    out = module(torch.from_numpy(X.astype(dtype)))
    A = net.predict(X)
    np.testing.assert_allclose(out.detach().numpy(), A, rtol=tol, atol=tol)
    if not net.loss_fn.from_logits and net.loss_fn.name != "quadratic":
        # PyTorch clamps log(a) at -100 and BCE's a(1 - a) at 1e-12 where deltaprop forms the
        # exact fused delta^L = (a - y)/n: they part only where an output saturates to 0 or 1
        assume(((A > 1e-6) & (A < 1 - 1e-6)).all())
    target = torch.from_numpy(np.asarray(Y) if np.ndim(Y) == 1 else np.asarray(Y, dtype=dtype))
    cost = torch_cost(net, out, target)
    np.testing.assert_allclose(cost.item(), net.loss(X, Y), rtol=tol, atol=tol)
    cost.backward()
    linears = [m for m in module if isinstance(m, nn.Linear)]
    for (dW, db), linear in zip(net.gradients(X, Y), linears):
        assert linear.weight.grad.dtype == (torch.float64 if dtype == "float64" else torch.float32)
        np.testing.assert_allclose(linear.weight.grad.numpy(), dW, rtol=tol, atol=tol)
        np.testing.assert_allclose(linear.bias.grad.numpy(), db, rtol=tol, atol=tol)
    same_network(dp.from_torch(module, loss=net.loss_fn), net)


def test_the_modules_and_their_dtype():
    net = dp.Network([dp.Dense(3, 4, activations.LeakyReLU(0.2), seed=0, dtype="float32"),
                      dp.Dense(4, 5, "relu", dropout=0.25, seed=1, dtype="float32"),
                      dp.Dense(5, 2, "softmax", fixed_bias=True, seed=2, dtype="float32")], loss="cross_entropy")
    module = net.to_torch()
    assert [type(m) for m in module] == [nn.Linear, nn.LeakyReLU, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear,
                                         nn.Softmax]
    assert module[1].negative_slope == 0.2 and module[4].p == 0.25 and module[6].dim == -1
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert not module[5].bias.requires_grad and module[0].bias.requires_grad
    module[0].weight.data[0, 0] = 99.0                           # a copy: the network is untouched
    assert net.layers[0].W[0, 0] != 99.0
    back = dp.from_torch(module, loss="cross_entropy")
    assert back.layers[1].dropout == 0.25 and back.layers[2].fixed_bias and back.layers[0].W[0, 0] == 99.0


def test_fixed_biases_get_no_gradient_on_either_side():
    net = dp.Network([dp.Dense(2, 3, "tanh", fixed_bias=True, seed=0), dp.Dense(3, 1, "identity", seed=1)])
    module = net.to_torch()
    X, Y = np.random.default_rng(0).normal(size=(6, 2)), np.random.default_rng(1).normal(size=(6, 1))
    torch_cost(net, module(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
    assert module[0].bias.grad is None and len(net.params()) == 3
    np.testing.assert_allclose(module[0].weight.grad.numpy(), net.gradients(X, Y)[0][0], rtol=1e-12, atol=1e-12)


def test_to_torch_draws_nothing_from_torchs_global_generator():
    state = torch.get_rng_state()
    dp.Network([4, 8, 3], seed=0).to_torch()
    assert torch.equal(state, torch.get_rng_state())


def test_from_torch_reads_a_module_built_in_pytorch():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 5), nn.ReLU(inplace=True), nn.Linear(5, 4, bias=False), nn.Linear(4, 2),
                           nn.Softmax(dim=1)).double()
    net = dp.from_torch(module, loss="cross_entropy")
    assert [l.activation.name for l in net.layers] == ["relu", "identity", "softmax"]
    assert net.layers[1].fixed_bias and not net.layers[1].b.any() and net.dtype == np.float64
    X = np.random.default_rng(2).normal(size=(7, 3))
    np.testing.assert_allclose(net.predict(X), module(torch.from_numpy(X)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert dp.from_torch(nn.Sequential(nn.Linear(2, 2))).loss_fn.name == "quadratic"


@pytest.mark.parametrize("module,error,match", [
    (lambda: nn.Linear(2, 3), dp.DeltapropTypeError, "must be a torch.nn.Sequential .* Got Linear instead"),
    (lambda: nn.Sequential(), dp.ValidationError, "empty nn.Sequential"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1), nn.GELU()), dp.ValidationError,
     r"module 3 \(GELU\) is not a module deltaprop converts: from_torch reads Linear, Sigmoid, ReLU"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), dp.ValidationError, r"module 1 \(BatchNorm1d\)"),
    (lambda: nn.Sequential(nn.ReLU(), nn.Linear(2, 3)), dp.ValidationError, r"module 0 \(ReLU\) comes before any Linear"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh()), dp.ValidationError,
     r"module 2 \(Tanh\) follows another activation"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.2), nn.ReLU(), nn.Linear(3, 1)), dp.ValidationError,
     r"module 2 \(ReLU\) follows Dropout"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), dp.ValidationError, r"module 1 \(Softmax\) normalises over dim=0"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), dp.ValidationError,
     r"module 1 \(Linear\) takes 4 inputs, but the Linear before it \(module 0\) gives 3"),
    (lambda: nn.Sequential(nn.Linear(2, 3).half()), dp.ValidationError, r"module 0 \(Linear\) is torch.float16"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1).double()), dp.ValidationError,
     r"module 1 \(Linear\) is torch.float64 but the Linear modules before it are torch.float32"),
])
def test_from_torch_refuses_what_it_cannot_read(module, error, match):
    with pytest.raises(error, match=match):
        dp.from_torch(module())


def test_the_loss_must_fit_the_output_as_for_any_network():
    with pytest.raises(dp.ValidationError, match="needs probabilities from the output layer"):
        dp.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), loss="cross_entropy")
