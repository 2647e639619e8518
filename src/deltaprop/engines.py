"""Floor 4: engines, the code that runs the epochs of :func:`deltaprop.training.fit`.

* ``"numpy"`` - the reference. Each mini-batch goes through ``Network.forward`` and
  ``Network.backward`` (that is, through ``Dense.forward``/``Dense.backward``, one line
  per equation) and the optimizer's ``step``. This is the code to read.
* ``"numba"`` - the same algorithm compiled (:mod:`deltaprop._kernels`), for speed;
  installed with ``pip install "deltaprop[fast]"``. The matrix products still go to
  the BLAS; the rest of each step, and the loops over batches and epochs, run
  without Python. It is tested against the reference on random networks of every
  activation, loss and optimizer (``tests/test_engines.py``): one step agrees to
  within 1e-12 (float64) relative; it is not bit-identical, as its sums run in
  another order and its exp/tanh/log come from another math library.

``engine=None`` (or ``"auto"``) picks ``"numba"`` when it is installed and supports the
network (built-in activations and losses, SGD or Adam), else ``"numpy"``.

An engine's :meth:`train` runs whole epochs: given the permutation of each epoch it
returns, per epoch, the loss and the number of examples classified right over the
outputs the network produced while it trained on them. If the loss or a weight
becomes NaN or infinite, it puts the weights (and optimizer state) back to the start
of that epoch and raises :class:`Diverged`.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from . import activations, losses
from .errors import DeltapropError, ValidationError
from .optimizers import SGD, Adam

ENGINES = ("numpy", "numba")


class Diverged(DeltapropError):
    """Raised by :meth:`Engine.train` when epoch ``epoch`` (0-based in the call) went non-finite."""

    def __init__(self, epoch: int, loss: float):
        super().__init__(epoch, loss)
        self.epoch = epoch
        self.loss = loss


class Engine:
    name = ""

    def __init__(self, net, optimizer):
        self.net = net
        self.optimizer = optimizer

    def train(self, X, Y, orders, batch_size: int) -> list[tuple[float, int]]:
        """Run one epoch per row of ``orders``; return ``(sum_x C_x, n_correct)`` per epoch."""
        raise NotImplementedError


class NumpyEngine(Engine):
    """The reference: Network.forward, Network.backward and optimizer.step per mini-batch."""

    name = "numpy"

    def train(self, X, Y, orders, batch_size):
        net, opt = self.net, self.optimizer
        results = []
        outputs = np.empty_like(Y)            # a^L of each example, in the order it was trained on
        for order in orders:
            saved = net.get_weights()
            saved_state = _copy_state(opt)
            # A diverging run overflows; NumPy's warnings would only repeat what the
            # check below reports as one clear error, with the weights restored.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    A = net.forward(X[idx].T)          # columns: one example each
                    net.backward(Y[idx].T)             # BP1-BP4 into each layer's caches
                    opt.step(net.params())             # w -> w - eta dC/dw (for plain SGD)
                    outputs[start:start + len(idx)] = A.T
                cost = float(net.loss_fn.per_example(outputs.T, Y[order].T).sum())
            correct = int(np.sum(net.classes(outputs) == net.classes(Y[order])))
            if not np.isfinite(cost) or not all(np.all(np.isfinite(p)) for p, _ in net.params()):
                net.set_weights(saved)
                _restore_state(opt, saved_state)
                raise Diverged(len(results), cost)
            results.append((cost, correct))
        return results


def _copy_state(opt):
    return opt.iterations, {i: {k: v.copy() for k, v in s.items()} for i, s in opt.state.items()}


def _restore_state(opt, saved):
    opt.iterations, opt.state = saved[0], saved[1]


class NumbaEngine(Engine):
    """The compiled engine: flat parameters, fused loops, BLAS for the products."""

    name = "numba"
    _ACT = {"sigmoid": 0, "relu": 1, "tanh": 2, "identity": 3, "leaky_relu": 4, "softmax": 5}
    _LOSS = {"quadratic": 0, "binary_cross_entropy": 1, "cross_entropy": 2}

    @classmethod
    def supports(cls, net, optimizer) -> str | None:
        """None if this engine can train ``net`` with ``optimizer``, else the reason it cannot."""
        for i, layer in enumerate(net.layers):
            act = layer.activation
            if type(act) is not activations.ACTIVATIONS.get(act.name):
                return f"layer {i} has a custom activation {act!r}"
        if type(net.loss_fn) is not losses.LOSSES.get(net.loss_fn.name):
            return f"the loss {net.loss_fn!r} is custom"
        if type(optimizer) not in (SGD, Adam):
            return f"the optimizer {optimizer!r} is not dp.SGD or dp.Adam"
        return None

    def train(self, X, Y, orders, batch_size):
        from . import _kernels
        net, opt = self.net, self.optimizer
        layers = net.layers
        sizes = np.array(net.sizes, dtype=np.int64)
        P = np.concatenate([np.concatenate([layer.W.ravel(), layer.b]) for layer in layers])
        G = np.zeros_like(P)
        S1, S2 = np.zeros_like(P), np.zeros_like(P)
        slots = self._param_slots()
        for i, (start, stop) in enumerate(slots):
            state = opt.state.get(i, {})
            if "v" in state and isinstance(opt, SGD):
                S1[start:stop] = state["v"].ravel()
            if "m" in state:
                S1[start:stop] = state["m"].ravel()
                S2[start:stop] = state["v"].ravel()
        hyper = self._hyper(opt)
        out_loss = np.zeros(len(orders))
        out_correct = np.zeros(len(orders), dtype=np.int64)
        t, diverged = _kernels.train_epochs(
            np.ascontiguousarray(X), np.ascontiguousarray(Y), np.ascontiguousarray(orders, dtype=np.int64),
            batch_size, P, G, S1, S2, sizes,
            np.array([self._ACT[layer.activation.name] for layer in layers], dtype=np.int64),
            np.array([getattr(layer.activation, "alpha", 0.0) for layer in layers], dtype=np.float64),
            np.array([not layer.fixed_bias for layer in layers]),
            self._LOSS[net.loss_fn.name], net.fused, 0 if isinstance(opt, SGD) else 1, hyper,
            opt.iterations, np.empty_like(P), out_loss, out_correct)
        # copy back: weights, optimizer state, step count (as of the last good epoch's end)
        o = 0
        for layer in layers:
            layer.W[...] = P[o:o + layer.W.size].reshape(layer.W.shape)
            o += layer.W.size
            layer.b[...] = P[o:o + layer.b.size]
            o += layer.b.size
        opt.iterations = int(t)
        params = net.params()
        for i, (start, stop) in enumerate(slots):
            shape = params[i][0].shape
            if isinstance(opt, SGD) and opt.momentum:
                opt.state.setdefault(i, {})["v"] = S1[start:stop].reshape(shape).copy()
            elif isinstance(opt, Adam):
                opt.state.setdefault(i, {}).update(m=S1[start:stop].reshape(shape).copy(),
                                                   v=S2[start:stop].reshape(shape).copy())
        if diverged >= 0:
            raise Diverged(int(diverged), float(out_loss[diverged]))
        return [(float(c), int(k)) for c, k in zip(out_loss, out_correct)]

    def _param_slots(self):
        """(start, stop) in the flat vector of each entry of ``net.params()``, in order."""
        slots, o = [], 0
        for layer in self.net.layers:
            slots.append((o, o + layer.W.size))
            o += layer.W.size
            if not layer.fixed_bias:
                slots.append((o, o + layer.b.size))
            o += layer.b.size
        return slots

    @staticmethod
    def _hyper(opt):
        if isinstance(opt, SGD):
            values = [opt.lr, opt.momentum, float(opt.nesterov), opt.weight_decay, 0.0, 0.0, 0.0, 0.0, 0.0]
        else:
            values = [opt.lr, 0.0, 0.0, 0.0, opt.beta1, opt.beta2, opt.eps, 1 - opt.beta1, 1 - opt.beta2]
        return np.array(values, dtype=np.float64)


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def select(engine, net, optimizer) -> Engine:
    """The engine to train ``net`` with (see the module docstring for ``None``/``"auto"``)."""
    if engine is None or engine == "auto":
        if numba_available() and NumbaEngine.supports(net, optimizer) is None:
            return NumbaEngine(net, optimizer)
        return NumpyEngine(net, optimizer)
    if engine == "numpy":
        return NumpyEngine(net, optimizer)
    if engine == "numba":
        if not numba_available():
            raise ValidationError('engine="numba" needs numba: pip install "deltaprop[fast]". '
                                  'engine="numpy" (the reference) works without it.')
        reason = NumbaEngine.supports(net, optimizer)
        if reason:
            raise ValidationError(f'engine="numba" cannot train this network: {reason}. Use engine="numpy".')
        return NumbaEngine(net, optimizer)
    raise ValidationError(f"The 'engine' argument must be one of {ENGINES + ('auto', None)}. Got {engine!r} instead.")
