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
  each example as it was trained on it (``run``: one :class:`Block`; ``run_epochs``:
  :class:`Epochs`, arrays with one entry per epoch, so that 10,000 tiny epochs make
  no 10,000 Python objects for the garbage collector to walk), and stop at the first
  batch whose cost is not finite, reporting where (that batch's update is not applied).
* When a call returns, the network's W and b and the optimizer's state and
  ``iterations`` are those after the last batch run: callbacks may read them.
* :meth:`snapshot` / :meth:`restore` save and put back the weights and optimizer state
  (the loop uses them to rewind to the last finite weights). ``rng`` is the Generator
  dropout masks are drawn from; an engine that does not support dropout never touches it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

from . import activations, losses
from ._array import all_finite
from .errors import DeltapropTypeError, ValidationError, unknown_name
from .optimizers import SGD, Adam

ENGINES = ("numpy", "numba")


@dataclass
class Block:
    """What one :meth:`Engine.run` call did: sums over the batches it ran."""

    cost: float        # sum of C_x over the examples trained
    correct: int       # of which classified right (classifiers; else 0)
    bad: int = -1      # index (in the epoch) of the first batch whose cost was not finite, else -1
    bad_cost: float = 0.0
    #: (batches trained,) float64: each batch's sum of C_x, in order (``cost`` is their
    #: sum from left to right, so a loop that adds them one by one gets the same total
    #: however an epoch was cut into calls)
    costs: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(eq=False)
class Epochs:
    """What one :meth:`Engine.run_epochs` call did, one entry per completed epoch."""

    cost: np.ndarray            # (done,) float64: sum of C_x over each completed epoch
    correct: np.ndarray         # (done,) int64: examples classified right in it
    failed: Block | None = None  # the epoch that met a non-finite cost: its sums up to its bad batch

    @property
    def done(self) -> int:
        """The number of epochs completed."""
        return len(self.cost)


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

    def run_epochs(self, orders: np.ndarray, rng: np.random.Generator) -> Epochs:
        """Whole epochs, one per row of ``orders``, stopping in the first bad one."""
        cost, correct = [], []
        for order in orders:
            block = self.run(order, 0, self.n_batches, rng)
            if block.bad >= 0:
                return Epochs(np.array(cost, float), np.array(correct, np.int64), block)
            cost.append(block.cost)
            correct.append(block.correct)
        return Epochs(np.array(cost, float), np.array(correct, np.int64))

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
        return all(all_finite(p) for layer in self.net.layers for p in (layer.W, layer.b))


class NumpyEngine(Engine):
    """The reference: Network.forward, Network.backward and optimizer.step per mini-batch."""

    name = "numpy"

    def run(self, order, start, stop, rng):
        net, opt, X, Y, m = self.net, self.optimizer, self.X, self.Y, self.batch_size
        train_rng = rng if net.has_dropout else None
        cost, correct, costs = 0.0, 0, []
        # A diverging run overflows; NumPy's warnings would only repeat what the check
        # of each batch's cost reports as one clear error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for k in range(start, stop):
                idx = order[k * m:(k + 1) * m]
                Yb = Y[idx].T
                A = net.forward(X[idx].T, train_rng)       # columns: one example each
                c = float(net.loss_fn.per_example(A, Yb).sum())
                if not np.isfinite(c):
                    return Block(cost, correct, k, c, np.array(costs))
                net.backward(Yb)                           # BP1-BP4 into each layer's caches
                opt.step(net.params())                     # w -> w - eta dC/dw (for plain SGD)
                cost += c
                costs.append(c)
                if net.is_classifier:
                    correct += int(np.sum(net.classes(A.T) == net.target_classes(Yb.T)))
        return Block(cost, correct, costs=np.array(costs))


class NumbaEngine(Engine):
    """The compiled engine (:mod:`deltaprop._kernels`): the reference's steps in the
    reference's order, with the loops over batches and epochs compiled.

    Each call copies the network's W and b and the optimizer's state into flat vectors,
    runs the kernel, and copies them back, so between calls everything lives where the
    reference keeps it (callbacks, checkpoints and the other engine can take over at
    any batch) and a call depends on nothing but that state: ranges of batches compose
    bit for bit. The layers' caches (``Z``, ``A``, ``D``, ...) are not filled in.
    """

    name = "numba"

    @classmethod
    def supports(cls, net, optimizer) -> str | None:
        """None if this engine can train ``net`` with ``optimizer``, else the reason it cannot."""
        if not numba_available():
            return 'numba is not installed (pip install "deltaprop[fast]")'
        for i, layer in enumerate(net.layers):
            act = layer.activation
            if type(act) is not activations.ACTIVATIONS.get(act.name):
                return f"layer {i} has a custom activation {act!r}"
        if type(net.loss_fn) is not losses.LOSSES.get(net.loss_fn.name):
            return f"the loss {net.loss_fn!r} is custom"
        if net.loss_fn.from_logits:
            return "its loss takes logits (from_logits=True), which only the NumPy engine computes"
        if type(optimizer) not in (SGD, Adam):
            return f"the optimizer {type(optimizer).__name__} is not dp.SGD or dp.Adam themselves"
        if net.has_dropout:
            return "it has dropout (its masks are drawn by the NumPy engine only)"
        from . import _kernels
        if _kernels.gemm_functions() is None:
            return "the BLAS NumPy uses (its cblas_dgemm) could not be located"
        return None

    def __init__(self, net, optimizer, X, Y, batch_size: int):
        from . import _kernels
        dt = net.dtype
        super().__init__(net, optimizer, np.ascontiguousarray(X, dtype=dt), np.ascontiguousarray(Y, dtype=dt),
                         batch_size)
        self._k = _kernels
        layers = net.layers
        self._sizes = np.array(net.sizes, dtype=np.int64)
        self._acts = np.array([_kernels.ACTIVATION_CODES[layer.activation.name] for layer in layers], dtype=np.int64)
        # leaky_relu's alpha as the reference uses it: a Python float cast to the dtype
        self._alphas = np.array([getattr(layer.activation, "alpha", 0.0) for layer in layers], dtype=dt)
        self._train_b = np.array([not layer.fixed_bias for layer in layers], dtype=np.bool_)
        self._loss = _kernels.LOSS_CODES[net.loss_fn.name]
        self._sgd = isinstance(optimizer, SGD)
        blas = _kernels.gemm_functions()
        self._blas = np.array([blas[dt.name], blas["gemv_" + dt.name]], dtype=np.int64)
        self._ilp64 = blas["ilp64"]
        size = net.n_params
        self._P, self._G = np.empty(size, dt), np.zeros(size, dt)
        self._S1, self._S2 = np.zeros(size, dt), np.zeros(size, dt)
        # (lo, hi, shape) in the flat vectors of each entry of net.params(), in order
        self._slots, o = [], 0
        for layer in layers:
            self._slots.append((o, o + layer.W.size, layer.W.shape))
            o += layer.W.size
            if not layer.fixed_bias:
                self._slots.append((o, o + layer.b.size, layer.b.shape))
            o += layer.b.size

    # -- between the network and the flat vectors ------------------------------------

    def _load(self) -> int:
        """Weights, optimizer state and hyperparameters as they are now (a callback may
        have changed the learning rate, or the loop restored a snapshot)."""
        P, S1, S2, opt = self._P, self._S1, self._S2, self.optimizer
        o = 0
        for layer in self.net.layers:
            P[o:o + layer.W.size] = layer.W.ravel()
            o += layer.W.size
            P[o:o + layer.b.size] = layer.b
            o += layer.b.size
        S1[:] = 0
        S2[:] = 0
        for i, (lo, hi, _) in enumerate(self._slots):
            state = opt.state.get(i, {})
            if self._sgd and "v" in state:
                S1[lo:hi] = state["v"].ravel()
            elif not self._sgd and "m" in state:
                S1[lo:hi] = state["m"].ravel()
                S2[lo:hi] = state["v"].ravel()
        if self._sgd:
            h = [opt.lr, opt.momentum, float(opt.nesterov), opt.weight_decay, 0.0, 0.0, 0.0, 0.0, 0.0]
        else:
            h = [opt.lr, 0.0, 0.0, opt.weight_decay, opt.beta1, opt.beta2, opt.eps, 1 - opt.beta1, 1 - opt.beta2]
        self._hyper64 = np.array(h + [1.0, float(np.finfo(self.net.dtype).tiny), float(opt.iterations)])
        self._hyper = self._hyper64.astype(self.net.dtype)   # as NumPy casts Python floats against arrays
        return opt.iterations

    def _store(self, t0: int, t: int) -> None:
        P, opt = self._P, self.optimizer
        o = 0
        for layer in self.net.layers:
            layer.W[...] = P[o:o + layer.W.size].reshape(layer.W.shape)
            o += layer.W.size
            layer.b[...] = P[o:o + layer.b.size]
            o += layer.b.size
        if t == t0:
            return
        opt.iterations = t
        for i, (lo, hi, shape) in enumerate(self._slots):
            state = opt.state.setdefault(i, {})          # as Optimizer.step leaves it
            if self._sgd and opt.momentum:
                _put(state, "v", self._S1[lo:hi].reshape(shape))
            elif not self._sgd:
                _put(state, "m", self._S1[lo:hi].reshape(shape))
                _put(state, "v", self._S2[lo:hi].reshape(shape))

    def _args(self):
        net = self.net
        return (self._P, self._G, self._S1, self._S2, self._sizes, self._acts, self._alphas, self._train_b,
                self._loss, net.fused, net.is_classifier, 0 if self._sgd else 1, self._hyper, self._hyper64)

    # -- the contract -----------------------------------------------------------------

    def run(self, order, start, stop, rng):
        epochs, costs = self._train(np.asarray(order)[None, :], int(start), int(stop))
        if epochs.failed:
            epochs.failed.costs = costs[0, :epochs.failed.bad - start]
            return epochs.failed
        return Block(float(epochs.cost[0]), int(epochs.correct[0]), costs=costs[0])

    def run_epochs(self, orders, rng):
        return self._train(orders, 0, self.n_batches)[0]

    def _train(self, orders, start, stop):
        t0 = self._load()
        orders = np.ascontiguousarray(orders, dtype=np.int64)
        cost = np.zeros(len(orders))
        correct = np.zeros(len(orders), dtype=np.int64)
        costs = np.zeros((len(orders), stop - start))
        done, bad, bad_cost, t = self._k.train(self.X, self.Y, orders, start, stop, self.batch_size, *self._args(),
                                               t0, self._blas, self._ilp64, cost, correct, costs)
        self._store(t0, t)
        failed = Block(float(cost[done]), int(correct[done]), int(bad), float(bad_cost)) if done < len(orders) else None
        return Epochs(cost[:done], correct[:done], failed), costs


def _put(state: dict, key: str, value: np.ndarray) -> None:
    """state[key] = value, into the array already there when it fits (the reference updates in place)."""
    old = state.get(key)
    if isinstance(old, np.ndarray) and old.shape == value.shape and old.dtype == value.dtype:
        old[...] = value
    else:
        state[key] = value.copy()


def numba_available() -> bool:
    """Whether the optional ``numba`` package (``pip install "deltaprop[fast]"``) can be imported."""
    return importlib.util.find_spec("numba") is not None


def select(engine, net, optimizer) -> type[Engine]:
    """The engine class to train ``net`` with (see the module docstring for ``None``/``"auto"``).

    >>> import deltaprop as dp
    >>> select("numpy", dp.Network([2, 1]), dp.SGD()).name
    'numpy'
    """
    if engine is not None and not isinstance(engine, str):
        raise DeltapropTypeError(f"The 'engine' argument must be 'numpy', 'numba', 'auto' or None. "
                                 f"Got {type(engine).__name__} {engine!r} instead.")
    if engine is None or engine == "auto":
        return NumbaEngine if NumbaEngine.supports(net, optimizer) is None else NumpyEngine
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
    raise unknown_name("engine", engine, ENGINES + ("auto",))
