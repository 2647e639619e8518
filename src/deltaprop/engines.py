"""Engines: the code that trains mini-batches for :mod:`deltaprop.training`.

* ``"numpy"`` - the reference. Each mini-batch goes through ``Network.forward`` and
  ``Network.backward`` (that is, through ``Dense.forward``/``Dense.backward``, one line
  per equation) and the optimizer's ``step``. This is the code to read.
* ``"numba"`` - the same algorithm compiled (:mod:`deltaprop._kernels`), for speed;
  installed with ``pip install "deltaprop[fast]"``. The matrix products still go to
  the BLAS; the rest of each step, and the loop over batches, run without Python.
  It is tested against the reference on random networks of every activation, loss
  and optimizer (``tests/test_engines.py``).

The numba engine compiles its kernels once per kind of network (its activations, loss
and optimizer), into numba's on-disk cache; with the environment variable
``DELTAPROP_KERNELS=general`` it compiles one form for every kind instead (slower to
compile the first time, then nothing more for each new kind: for a session or a test
suite that tries many). The bits are the same either way.

``engine=None`` (or ``"auto"``) picks ``"numba"`` when it is installed and supports the
network and optimizer, else ``"numpy"``.

The contract every engine keeps (the training loop relies on it):

* An engine is made for one training run: ``Engine(net, optimizer, X, Y, batch_size)``
  with checked rows ``X`` (n, n_in) and ``Y`` (n, n_out) in the network's dtype.
* :meth:`Engine.run` trains ``count`` mini-batches from batch ``start`` on, counted
  over the rows of ``orders`` (one example order per epoch: batch k of an epoch is
  ``order[k * batch_size:(k + 1) * batch_size]``, the last one may be short), so one
  call may cross epochs. It returns :class:`Steps`: each batch's sum of C_x and count
  of examples classified right, over the outputs the network gave them as it was
  trained on them.
* Nothing non-finite gets through, in one place for every engine: if a batch's cost
  is NaN or infinite, or an update leaves a weight so, ``run`` stops there, puts back
  the weights and optimizer state from before that batch (by replaying the call from
  its start: engines are deterministic), and says which batch in ``Steps.failure``.
* When a call returns, the network's W and b and the optimizer's state and
  ``iterations`` are those after the last batch trained: callbacks may read them.
* ``rng`` is the Generator dropout masks are drawn from; an engine that does not
  support dropout never touches it.
* With a communicator (``comm``: ``rank``, ``size`` and ``allreduce(array)``, the sum
  over the ranks in place), each process holds a shard of the rows (``shard=(lo, n)``:
  X and Y are rows ``lo ..`` of the n that ``orders`` count; ``w``, if given, covers
  all n) and trains the examples of every batch that are in it; the engine adds the
  parts' gradients (and costs) between BP3/BP4 and the optimizer's step, the one place
  where they meet, and every process then takes the same step.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ._array import all_finite
from ._protocols import CommunicatorLike, NetworkLike
from .optimizers import Optimizer

if TYPE_CHECKING:
    from . import _kernels      # (imported when a NumbaEngine is made: it needs numba)
from .errors import DeltapropTypeError, ValidationError, unknown_name

ENGINES = ("numpy", "numba")

#: What :meth:`Engine.snapshot` keeps: the weights, the optimizer's step count and
#: state, the generator's state (or None).
Snapshot: TypeAlias = "tuple[list[np.ndarray], int, dict[int, dict[str, np.ndarray]], Mapping[str, Any] | None]"


@dataclass(frozen=True)
class Failure:
    """The batch that stopped a run: its update was not applied."""

    batch: int         # its index in the run (0 = the call's first batch)
    cost: float        # its cost (NaN or infinite), or its finite cost if the update broke a weight
    update: bool       # True if the update, not the cost, was not finite


@dataclass(eq=False)
class Steps:
    """What one :meth:`Engine.run` did, one entry per batch trained, in order."""

    costs: np.ndarray                  # (k,) float64: the batch's sum of C_x (of w_x C_x, weighted)
    correct: np.ndarray                # (k,) int64: its examples classified right (classifiers; else 0)
    failure: Failure | None = None     # the batch after these that stopped the run, if one did

    @property
    def done(self) -> int:
        """The number of batches trained."""
        return len(self.costs)


class Engine:
    """Base class; see the module docstring for the contract."""

    name = ""

    def __init__(self, net: NetworkLike, optimizer: Optimizer, X: np.ndarray, Y: np.ndarray, batch_size: int, *,
                 comm: CommunicatorLike | None = None, w: np.ndarray | None = None,
                 shard: tuple[int, int] | None = None) -> None:
        self.net, self.optimizer = net, optimizer
        self.X, self.Y, self.batch_size = X, Y, batch_size
        self.w = w                  # (n,) example weights in the network's dtype, or None: all 1
        # X holds rows lo .. lo + len(X) - 1 of the n the orders count
        self.lo, self.n = (0, len(X)) if shard is None else (int(shard[0]), int(shard[1]))
        self.n_batches = -(-self.n // batch_size)
        self.comm = comm

    @classmethod
    def supports(cls, net: NetworkLike, optimizer: Optimizer) -> str | None:
        """None if this engine can train ``net`` with ``optimizer``, else the reason it cannot."""
        return None

    def block_for_callbacks(self) -> int:
        """Batches per call when a callback watches batches (``on_batch_end`` after each call)."""
        return 1

    def where(self, start: int, j: int) -> tuple[int, int]:
        """(epoch row of ``orders``, batch in it) of batch j of a run from ``start``."""
        return divmod(start + j, self.n_batches)

    # -- the contract -------------------------------------------------------------------

    def run(self, orders: np.ndarray, start: int, count: int, rng: np.random.Generator | None) -> Steps:
        """Train ``count`` batches from batch ``start`` of ``orders[0]`` on (see the module
        docstring); stop at the first whose cost or update is not finite, with the
        weights and optimizer state from before it."""
        snap = self.snapshot(rng)
        steps = self._run(orders, start, count, rng)
        if steps.failure is None and self.params_finite():
            return steps
        # Rewind: the same batches again from the snapshot, up to the failing one.
        good = steps.done
        self.restore(snap, rng)
        replay = self._run(orders, start, good, rng) if good else steps
        if self.params_finite():
            return Steps(replay.costs[:good], replay.correct[:good], steps.failure)
        # An earlier update already broke a weight: one batch at a time, to find it.
        self.restore(snap, rng)
        for j in range(good):
            before = self.snapshot(rng)
            one = self._run(orders, start + j, 1, rng)
            if one.failure is not None:
                return Steps(replay.costs[:j], replay.correct[:j], Failure(j, one.failure.cost, False))
            if not self.params_finite():
                self.restore(before, rng)
                return Steps(replay.costs[:j], replay.correct[:j], Failure(j, float(one.costs[0]), True))
        raise RuntimeError("deltaprop internal error: the replay did not reproduce the non-finite weights "
                           "(the engine is not deterministic); please report this.")

    def _run(self, orders: np.ndarray, start: int, count: int, rng: np.random.Generator | None) -> Steps:
        """The engine's own loop: ``count`` batches, stopping at the first non-finite cost
        (``Steps.failure`` then names it, its update not applied)."""
        raise NotImplementedError

    def snapshot(self, rng: np.random.Generator | None = None) -> Snapshot:
        """Copies of the weights, the optimizer's state and step count, and the generator's state."""
        opt = self.optimizer
        return (self.net.get_weights(), opt.iterations,
                {i: {k: v.copy() for k, v in s.items()} for i, s in opt.state.items()},
                None if rng is None else rng.bit_generator.state)

    def restore(self, snap: Snapshot, rng: np.random.Generator | None = None) -> None:
        weights, iterations, state, rng_state = snap
        self.net.set_weights(weights)
        self.optimizer.iterations = iterations
        self.optimizer.state = {i: {k: v.copy() for k, v in s.items()} for i, s in state.items()}
        if rng is not None and rng_state is not None:
            rng.bit_generator.state = rng_state

    def params_finite(self) -> bool:
        return all(all_finite(p) for layer in self.net.layers for p in (layer.W, layer.b))

    def _part(self, idx: np.ndarray) -> np.ndarray:
        """This process's part of a batch: the examples of it in the rows it holds, as
        indices of X (all of the batch when it holds every row)."""
        if self.lo == 0 and len(self.X) == self.n:
            return idx
        local = idx - self.lo
        return local[(local >= 0) & (local < len(self.X))]

    def _add_up(self, grads: Sequence[np.ndarray | None], cost: float, right: int) -> tuple[float, int]:
        """Between BP3/BP4 and the step: the sum over the ranks of every gradient (in
        place), of the costs and of the examples classified right."""
        if self.comm is None:
            return cost, right
        ready = [g for g in grads if g is not None]
        assert len(ready) == len(grads), "the gradients of a backward pass"
        flat = np.concatenate([g.ravel() for g in ready])
        self.comm.allreduce(flat)
        o = 0
        for g in ready:
            g[...] = flat[o:o + g.size].reshape(g.shape)
            o += g.size
        totals = np.array([cost, right], dtype=np.float64)
        self.comm.allreduce(totals)
        return float(totals[0]), int(totals[1])


class NumpyEngine(Engine):
    """The reference: Network.forward, Network.backward and optimizer.step per mini-batch."""

    name = "numpy"

    def _run(self, orders: np.ndarray, start: int, count: int, rng: np.random.Generator | None) -> Steps:
        net, opt, X, Y, w, m = self.net, self.optimizer, self.X, self.Y, self.w, self.batch_size
        train_rng = rng if net.has_dropout else None
        costs, correct = [], []
        failure = None
        # A diverging run overflows; NumPy's warnings would only repeat what the check
        # of each batch's cost reports as one clear error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for j in range(count):
                e, k = self.where(start, j)
                idx = orders[e][k * m:(k + 1) * m]
                part = self._part(idx)
                Yb = Y[part].T
                A = net.forward(X[part].T, train_rng)      # columns: one example each
                cx = net.loss_fn.per_example(A, Yb)
                c = float((cx if w is None else cx * w[part + self.lo]).sum())
                right = int(np.sum(net.classes(A.T) == net.target_classes(Yb.T))) if net.is_classifier else 0
                if self.comm is None and not np.isfinite(c):
                    failure = Failure(j, c, False)
                    break
                # BP1-BP4 into each layer's caches; m: the whole batch's size or weight
                if w is None:
                    net.backward(Yb, len(idx))
                else:
                    net.backward(Yb, w[idx].sum(), w[part + self.lo])
                c, right = self._add_up([g for _, g in net.params()], c, right)
                if not np.isfinite(c):
                    failure = Failure(j, c, False)
                    break
                opt.step(net.params())                     # w -> w - eta dC/dw (for plain SGD)
                costs.append(c)
                correct.append(right)
        return Steps(np.array(costs, dtype=np.float64), np.array(correct, dtype=np.int64), failure)


class NumbaEngine(Engine):
    """The compiled engine (:mod:`deltaprop._kernels`): the reference's steps in the
    reference's order, with the loop over batches compiled.

    Each call copies the network's W and b and the optimizer's state into flat vectors,
    runs the kernel, and copies them back, so between calls everything lives where the
    reference keeps it (callbacks, checkpoints and the other engine can take over at
    any batch) and a call depends on nothing but that state: ranges of batches compose
    bit for bit. The layers' caches (``Z``, ``A``, ``D``, ...) are not filled in.
    """

    name = "numba"

    @classmethod
    def supports(cls, net: NetworkLike, optimizer: Optimizer) -> str | None:
        if not numba_available():
            return 'numba is not installed (pip install "deltaprop[fast]")'
        if net.has_dropout:
            return "it has dropout (its masks are drawn by the NumPy engine only)"
        from . import _kernels
        reason = _kernels.compiled_supports(net, optimizer)
        if reason:
            return reason
        if _kernels.gemm_functions() is None:
            return "the BLAS NumPy uses (its cblas_dgemm) could not be located"
        return None

    def __init__(self, net: NetworkLike, optimizer: Optimizer, X: np.ndarray, Y: np.ndarray, batch_size: int, *,
                 comm: CommunicatorLike | None = None, w: np.ndarray | None = None,
                 shard: tuple[int, int] | None = None) -> None:
        from . import _kernels as K
        dt = net.dtype
        super().__init__(net, optimizer, np.ascontiguousarray(X, dtype=dt), np.ascontiguousarray(Y, dtype=dt),
                         batch_size, comm=comm, w=None if w is None else np.ascontiguousarray(w, dtype=dt),
                         shard=shard)
        self._k = K
        layers = net.layers
        self._arch = K.Arch(
            sizes=np.array(net.sizes, dtype=np.int64),
            acts=np.array([K.ACTIVATION_CODES[layer.activation.name] for layer in layers], dtype=np.int64),
            # each activation's parameter as the reference uses it: a Python float cast to the dtype
            params=np.array([layer.activation.parameter for layer in layers], dtype=dt),
            train_b=np.array([not layer.fixed_bias for layer in layers], dtype=np.bool_),
            loss=K.LOSS_CODES[net.loss_fn.name], fused=net.fused, classify=net.is_classifier,
            tiny=np.finfo(dt).tiny)
        blas = K.gemm_functions()
        assert blas is not None, "NumbaEngine.supports found the BLAS"
        self._blas = K.Blas(blas[dt.name], blas["gemv_" + dt.name], blas["ilp64"])
        # may a batch, or this process's part of one, hold a single example?
        one = min(batch_size, self.n) == 1 or self.n % batch_size == 1 or comm is not None or shard is not None
        self._spec = kernel_spec(net, optimizer, one)
        if one:     # tiny layers' products in the kernel, where it rounds them as this BLAS (cheaper than gemv)
            sizes = net.sizes
            small = K.small_products(self._blas, dt, [(sizes[l + 1], sizes[l]) for l in range(len(sizes) - 1)])
            self._blas = self._blas._replace(small=small)
        size = net.n_params
        self._flat = K.Flat(np.empty(size, dt), np.zeros(size, dt), np.zeros(size, dt), np.zeros(size, dt))
        # (lo, hi, shape) in the flat vectors of each entry of net.params(), in order
        self._slots, o = [], 0
        for layer in layers:
            self._slots.append((o, o + layer.W.size, layer.W.shape))
            o += layer.W.size
            if not layer.fixed_bias:
                self._slots.append((o, o + layer.b.size, layer.b.shape))
            o += layer.b.size

    def block_for_callbacks(self) -> int:
        # a 50th of an epoch: each call costs a copy of the weights in and out
        return max(1, -(-self.n_batches // 50))

    # -- between the network and the flat vectors ------------------------------------

    def _load(self) -> _kernels.Opt:
        """Weights, optimizer state and hyperparameters as they are now (a callback may
        have changed the learning rate, or the loop restored a snapshot)."""
        P, _, S1, S2 = self._flat
        opt, K = self.optimizer, self._k
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
            for key, S in zip(opt.state_keys, (S1, S2)):
                if key in state:
                    S[lo:hi] = state[key].ravel()
        h = opt.hyper()
        hyper = K.Hyper(*np.array(h, dtype=np.float64).astype(self.net.dtype))  # as NumPy casts Python floats
        return K.Opt(kind=K.OPTIMIZER_CODES[type(opt).__name__], plain=opt.plain_step and self._folds(h[0]), hyper=hyper,
                     hyper64=K.Hyper(*(float(v) for v in h)), t=np.array([float(opt.iterations)]))

    def _folds(self, lr: float) -> bool:
        """Whether the kernel may fold a plain step into BP4's product: in float64, with
        this BLAS rounding it as the reference's two steps for these shapes."""
        if self.net.dtype != np.float64 or self.comm is not None:
            return False                # (the kernel folds in float64 only, never between sum and all-reduce)
        m, n = self.batch_size, len(self.X)
        sizes = self.net.sizes
        shapes = [(sizes[l + 1], sizes[l], mb, l == 0) for mb in sorted({min(m, n), n % m} - {0})
                  for l in range(len(sizes) - 1)]
        return self._k.fold_is_exact(self._blas, shapes, float(lr))

    def _store(self, t0: int, t: int) -> None:
        P, opt = self._flat.P, self.optimizer
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
            for key, S in zip(opt.state_keys, (self._flat.S1, self._flat.S2)):
                _put(state, key, S[lo:hi].reshape(shape))

    def _batches(self, orders: np.ndarray, start: int, count: int) -> _kernels.Batches:
        w = np.empty(0, self.X.dtype) if self.w is None else self.w      # unweighted: an empty vector
        return self._k.Batches(self.X, self.Y, w, self.w is not None, np.ascontiguousarray(orders, dtype=np.int64),
                               int(start), int(count), self.batch_size, self.lo, self.n)

    # -- the engine's loop --------------------------------------------------------------

    def run(self, orders: np.ndarray, start: int, count: int, rng: np.random.Generator | None) -> Steps:
        # The kernel trains copies (the flat vectors): until they are stored, the network
        # and the optimizer still hold the state from before this call, so they are the
        # snapshot, and no copy of them is taken (for W4's 4.2 million weights, Adam's
        # state and the check, that had cost a third of a step). Only a call that stops
        # at a non-finite batch or leaves a weight non-finite goes the general way.
        t0 = self.optimizer.iterations
        steps, t = self._attempt(orders, start, count)
        if steps.failure is None and all_finite(self._flat.P):
            self._store(t0, t)
            return steps
        return super().run(orders, start, count, rng)

    def _run(self, orders: np.ndarray, start: int, count: int, rng: np.random.Generator | None) -> Steps:
        t0 = self.optimizer.iterations
        steps, t = self._attempt(orders, start, count)
        self._store(t0, t)
        return steps

    def _attempt(self, orders: np.ndarray, start: int, count: int) -> tuple[Steps, int]:
        """The kernel's run of these batches on the flat vectors, nothing stored yet.
        Returns its Steps and the optimizer's step count after them."""
        K = self._k
        opt = self._load()
        batches = self._batches(orders, start, count)
        costs, correct = np.zeros(count), np.zeros(count, dtype=np.int64)
        with warnings.catch_warnings():          # numba's note on tuples of functions, when it compiles
            warnings.simplefilter("ignore", K.NumbaExperimentalFeatureWarning)
            done, failure = self._train(batches, count, opt, costs, correct)
        return Steps(costs[:done], correct[:done], failure), int(opt.t[0])

    def _train(self, batches: _kernels.Batches, count: int, opt: _kernels.Opt, costs: np.ndarray,
               correct: np.ndarray) -> tuple[int, Failure | None]:
        K = self._k
        failure = None
        if self.comm is None:
            done, bad_cost = K.call(K.train, self._spec, batches, self._arch, self._flat, opt, self._blas, costs, correct)
            if done < count:
                failure = Failure(int(done), float(bad_cost), False)
        else:
            done = 0
            for j in range(count):            # the ranks meet between BP3/BP4 and the step
                c, right = K.call(K.gradients, self._spec, batches, j, self._arch, self._flat, opt, self._blas)
                c, right = self._add_up([self._flat.G], c, right)
                if not np.isfinite(c):
                    failure = Failure(j, c, False)
                    break
                K.call(K.update, self._spec, self._arch, self._flat, opt)
                costs[j], correct[j] = c, right
                done = j + 1
        return done, failure


def _put(state: dict[str, np.ndarray], key: str, value: np.ndarray) -> None:
    """state[key] = value, into the array already there when it fits (the reference updates in place)."""
    old = state.get(key)
    if isinstance(old, np.ndarray) and old.shape == value.shape and old.dtype == value.dtype:
        old[...] = value
    else:
        state[key] = value.copy()


def kernel_spec(net: NetworkLike, optimizer: Optimizer, one_example: bool = True) -> int:
    """What the numba engine's kernels are compiled for, for this network and optimizer
    (and whether a batch may hold one example): its kind (``_kernels.spec_of``), or every
    kind with ``DELTAPROP_KERNELS=general``."""
    from . import _kernels as K
    kernels = os.environ.get("DELTAPROP_KERNELS", "specialized")
    if kernels not in ("specialized", "general"):
        raise ValidationError(f"The environment variable DELTAPROP_KERNELS must be 'specialized' or 'general'. "
                              f"Got {kernels!r} instead.")
    if kernels == "general":
        return K.ANY
    return K.spec_of([K.ACTIVATION_CODES[layer.activation.name] for layer in net.layers],
                     K.LOSS_CODES[net.loss_fn.name], K.OPTIMIZER_CODES[type(optimizer).__name__], one_example)


def numba_available() -> bool:
    """Whether the optional ``numba`` package (``pip install "deltaprop[fast]"``) can be imported."""
    return importlib.util.find_spec("numba") is not None


def select(engine: str | None, net: NetworkLike, optimizer: Optimizer) -> type[Engine]:
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
