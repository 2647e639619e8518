"""Floor 4: engines, the code that runs the mini-batches of :func:`deltaprop.training.fit`.

* ``"numpy"`` - the reference. Each mini-batch goes through ``Network.forward`` and
  ``Network.backward`` (that is, through ``Dense.forward``/``Dense.backward``, one line
  per equation) and the optimizer's ``step``. This is the code to read.
* ``"numba"`` - the same algorithm compiled (:mod:`deltaprop._kernels`), for speed;
  installed with ``pip install "deltaprop[fast]"``. The matrix products still go to
  the BLAS; the rest of each step, and the loops over batches and epochs, run
  without Python. It is tested against the reference on random networks of every
  activation, loss and optimizer (``tests/test_engines.py``).

``engine=None`` (or ``"auto"``) picks ``"numba"`` when it is installed and supports the
network and optimizer, else ``"numpy"``.

The contract every engine keeps (the training loop relies on it):

* An engine is made for one ``fit`` call: ``Engine(net, optimizer, X, Y, batch_size)``
  with checked rows ``X`` (n, n_in) and ``Y`` (n, n_out) in the network's dtype.
* :meth:`Engine.run` trains batches ``start .. stop - 1`` of an epoch whose example
  order is ``order`` (batch k is ``order[k * batch_size:(k + 1) * batch_size]``; the
  last one may be short); :meth:`Engine.run_epochs` trains whole epochs, one per row of
  ``orders``, with no Python in between. Both return the sum of the per-example costs
  C_x and the number of examples classified right, over the outputs the network gave
  each example as it was trained on it, and stop at the first batch whose cost is not
  finite, reporting where (that batch's update is not applied).
* When a call returns, the network's W and b and the optimizer's state and
  ``iterations`` are those after the last batch run: callbacks may read them.
* :meth:`snapshot` / :meth:`restore` save and put back the weights and optimizer state
  (the loop uses them to rewind to the last finite weights). ``rng`` is the Generator
  dropout masks are drawn from; an engine that does not support dropout never touches it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from . import activations, losses
from .errors import ValidationError
from .optimizers import SGD, Adam

ENGINES = ("numpy", "numba")


@dataclass
class Block:
    """What one :meth:`Engine.run` call did: sums over the batches it ran."""

    cost: float        # sum of C_x over the examples trained
    correct: int       # of which classified right (classifiers; else 0)
    bad: int = -1      # index (in the epoch) of the first batch whose cost was not finite, else -1
    bad_cost: float = 0.0


class Engine:
    """Base class; see the module docstring for the contract."""

    name = ""

    def __init__(self, net, optimizer, X, Y, batch_size: int):
        self.net, self.optimizer = net, optimizer
        self.X, self.Y, self.batch_size = X, Y, batch_size
        self.n_batches = -(-len(X) // batch_size)

    @classmethod
    def supports(cls, net, optimizer) -> str | None:
        """None if this engine can train ``net`` with ``optimizer``, else the reason it cannot."""
        return None

    def run(self, order: np.ndarray, start: int, stop: int, rng: np.random.Generator) -> Block:
        raise NotImplementedError

    def run_epochs(self, orders: np.ndarray, rng: np.random.Generator) -> tuple[list[Block], int]:
        """Whole epochs, one per row of ``orders``; returns their blocks and the number of
        epochs completed (fewer than ``len(orders)`` only if the last block is bad)."""
        blocks = []
        for order in orders:
            blocks.append(self.run(order, 0, self.n_batches, rng))
            if blocks[-1].bad >= 0:
                return blocks, len(blocks) - 1
        return blocks, len(blocks)

    def snapshot(self):
        opt = self.optimizer
        return (self.net.get_weights(), opt.iterations,
                {i: {k: v.copy() for k, v in s.items()} for i, s in opt.state.items()})

    def restore(self, snap) -> None:
        weights, iterations, state = snap
        self.net.set_weights(weights)
        self.optimizer.iterations = iterations
        self.optimizer.state = {i: {k: v.copy() for k, v in s.items()} for i, s in state.items()}

    def params_finite(self) -> bool:
        return all(np.all(np.isfinite(p)) for layer in self.net.layers for p in (layer.W, layer.b))


class NumpyEngine(Engine):
    """The reference: Network.forward, Network.backward and optimizer.step per mini-batch."""

    name = "numpy"

    def run(self, order, start, stop, rng):
        net, opt, X, Y, m = self.net, self.optimizer, self.X, self.Y, self.batch_size
        train_rng = rng if net.has_dropout else None
        cost, correct = 0.0, 0
        # A diverging run overflows; NumPy's warnings would only repeat what the check
        # of each batch's cost reports as one clear error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for k in range(start, stop):
                idx = order[k * m:(k + 1) * m]
                Yb = Y[idx].T
                A = net.forward(X[idx].T, train_rng)       # columns: one example each
                c = float(net.loss_fn.per_example(A, Yb).sum())
                if not np.isfinite(c):
                    return Block(cost, correct, k, c)
                net.backward(Yb)                           # BP1-BP4 into each layer's caches
                opt.step(net.params())                     # w -> w - eta dC/dw (for plain SGD)
                cost += c
                if net.is_classifier:
                    correct += int(np.sum(net.classes(A.T) == net.classes(Yb.T)))
        return Block(cost, correct)


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
        if net.has_dropout:
            return "it has dropout"
        if getattr(optimizer, "weight_decay", 0) and isinstance(optimizer, Adam):
            return "Adam's weight_decay is not compiled"
        return None

    # TEMPORARY adapter to the contract above, until the kernel runs batch ranges and
    # stops at the first bad batch: whole epochs only; a partial range goes through
    # the reference, and a bad epoch is rewound to its start (reported as batch 0).
    def run(self, order, start, stop, rng):
        if (start, stop) != (0, self.n_batches):
            return NumpyEngine.run(self, order, start, stop, rng)
        blocks, _ = self.run_epochs(order[None, :], rng)
        return blocks[0]

    def run_epochs(self, orders, rng):
        try:
            results = self.train(self.X, self.Y, orders, self.batch_size)
        except _Diverged as d:
            return [Block(0.0, 0) for _ in range(d.epoch)] + [Block(0.0, 0, 0, d.loss)], d.epoch
        return [Block(c, k) for c, k in results], len(results)

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
            raise _Diverged(int(diverged), float(out_loss[diverged]))
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


class _Diverged(Exception):
    def __init__(self, epoch, loss):
        super().__init__(epoch, loss)
        self.epoch, self.loss = epoch, loss


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def select(engine, net, optimizer) -> type[Engine]:
    """The engine class to train ``net`` with (see the module docstring for ``None``/``"auto"``)."""
    if engine is None or engine == "auto":
        if numba_available() and NumbaEngine.supports(net, optimizer) is None:
            return NumbaEngine
        return NumpyEngine
    if engine == "numpy":
        return NumpyEngine
    if engine == "numba":
        if not numba_available():
            raise ValidationError('engine="numba" needs numba: pip install "deltaprop[fast]". '
                                  'engine="numpy" (the reference) works without it.')
        reason = NumbaEngine.supports(net, optimizer)
        if reason:
            raise ValidationError(f'engine="numba" cannot train this network: {reason}. Use engine="numpy".')
        return NumbaEngine
    raise ValidationError(f"The 'engine' argument must be one of {ENGINES + ('auto', None)}. Got {engine!r} instead.")
