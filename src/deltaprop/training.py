"""The training loop, as the seeds' algorithm states it.

For each epoch: an order of the training examples (shuffled from an explicit seed),
cut into mini-batches of m examples (a short last batch is used, not dropped); for
each mini-batch: feed forward, backpropagate, and let the optimizer step. With plain
SGD that step is the seeds' rule w -> w - (eta/m) sum_x delta^{x,l} (a^{x,l-1})^T.

:class:`Trainer` is that loop, driven from outside one block of mini-batches at a
time (``train_batches``, ``train_epochs``) or to the end (``run``, which is what
:func:`fit` does): the same bits however it is driven. The mini-batches themselves run
in an engine (:mod:`deltaprop.engines`), which reports each batch's cost and stops at
the first non-finite one; everything optional is a callback (:mod:`deltaprop.callbacks`)
acting on the one :class:`TrainingState` the loop keeps. Checkpoints are
:mod:`deltaprop.checkpoints`' business, interrupts :class:`_Interrupts`'.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import checkpoints, distributed, engines
from . import optimizers as _optimizers
from .optimizers import Optimizer
from ._array import Seed, as_rng, check_memory, check_positive_int, check_real
from ._protocols import CommunicatorLike, NetworkLike
from .callbacks import Callback, History, RunWatch, format_logs  # noqa: F401  (format_logs: public here too)
from .data import open_npy
from .errors import BatchSizeWarning, DeltapropTypeError, NonFiniteError, ShapeError, ValidationError, warn
from .progress import EpochLogger, ProgressBar

#: Seconds one engine call should take at most when no callback needs each batch: how
#: long an interrupt (Ctrl-C, SIGTERM) may wait to be answered. Each call copies the
#: weights and the optimizer's state in and out of the compiled engine's vectors: at
#: W4's 4.2 million weights that is 25 ms, so a call should hold several of its steps.
BLOCK_SECONDS = 1.0
#: Most example orders (8 bytes each) drawn ahead for a block that spans epochs.
ORDERS_AHEAD = 1 << 17


class TrainingState:
    """What the loop and its callbacks share (see :mod:`deltaprop.callbacks` for the fields)."""

    def __init__(self, net: NetworkLike, optimizer: Optimizer, callbacks: list[Callback], rng: np.random.Generator,
                 *, epochs: int | None, batch_size: int, n_samples: int, has_validation: bool,
                 fit_info: dict[str, Any]) -> None:
        self.net, self.optimizer, self.callbacks, self.rng = net, optimizer, callbacks, rng
        self.epochs, self.batch_size, self.n_samples = epochs, batch_size, n_samples
        self.n_batches = -(-n_samples // batch_size)
        self.sample_weight: np.ndarray | None = None     # (n,) example weights, or None: all 1
        self.total_weight = float(n_samples)              # an epoch's loss is its cost sum over this
        self.has_validation = has_validation
        self.fit_info = fit_info            # what a checkpoint records of this call, to refuse another
        self.epoch = 0                      # the epoch running, or the last one finished
        self.epoch_done = True              # False while an epoch's batches are running
        self.batch = 0                      # batches finished in the running epoch
        self.batch_loss: float | None = None   # mean cost over the last block of batches
        self.order: np.ndarray | None = None   # the running epoch's example order
        self.epoch_cost = 0.0               # sums over the running epoch's batches so far
        self.epoch_correct = 0
        self.logs: dict[str, float] = {}
        self.extra_logs: dict[str, float] = {}      # metrics callbacks add during an epoch (e.g. "lr")
        self.stop_training = False
        self.stop_reason = ""
        self.nonfinite: dict[str, Any] | None = None
        self.interrupted = 0                # the signal number, once SIGINT/SIGTERM arrived
        self.checkpointing = any(_writes_checkpoints(cb) for cb in callbacks)   # interrupts write one
        self.optimizer_given = True         # the caller passed the optimizer (else: a checkpoint's)
        self.resumed = False
        self.engine = ""
        self.rank, self.ranks = 0, 1        # data-parallel training: this process's rank, of how many
        # the metrics each epoch's logs will hold (what a callback may monitor)
        base = ["loss"] + (["accuracy"] if net.is_classifier else [])
        self.metric_names = base + ([f"val_{m}" for m in base] if has_validation else []) + \
            [m for cb in callbacks for m in cb.provides]

    @property
    def history(self) -> History:
        history = self.callbacks[0]
        assert isinstance(history, History)      # the loop puts its History first
        return history

    @property
    def progress(self) -> tuple[int, int]:
        """(epochs finished, batches finished in the next one)."""
        return (self.epoch, 0) if self.epoch_done else (self.epoch - 1, self.batch)

    @property
    def finished(self) -> bool:
        return self.stop_training or (self.epochs is not None and self.epoch_done and self.epoch >= self.epochs)

    @property
    def writes_files(self) -> bool:
        """Whether this process writes files and prints: in data-parallel training, rank 0 alone."""
        return self.rank == 0

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write everything needed to continue this fit bit-identically to ``path`` (atomically;
        in data-parallel training rank 0 writes it, the others write nothing)."""
        return checkpoints.write(path, self) if self.writes_files else Path(path)

    def remove_stale_temporaries(self, directory: str | os.PathLike[str]) -> None:
        from . import _files
        _files.remove_stale_temporaries(directory)


class Trainer:
    """One network trained on one data set, one block of mini-batches at a time.

    ``Trainer(net, X, Y, epochs=..., batch_size=..., optimizer=..., ...)`` takes the
    arguments of :func:`fit` (``epochs=None``: no last epoch). Then

    * ``train_batches(k)`` trains the next k mini-batches (across epochs, with each
      epoch's end: validation, callbacks) and returns their :class:`~deltaprop.engines.Steps`;
    * ``train_epochs(k)`` trains to the end of the k-th epoch from here;
    * ``run()`` trains to the last epoch (or until a callback stops it) and returns the
      :class:`~deltaprop.callbacks.History`; ``fit`` is ``Trainer(...).run()``.

    However it is driven, the same seed gives the same bits. ``state`` is the
    :class:`TrainingState` callbacks see; ``close()`` (or ``run``'s end) calls their
    ``on_train_end``.
    """

    def __init__(self, net: NetworkLike, X: npt.ArrayLike, Y: npt.ArrayLike, *, epochs: int | None = None,
                 batch_size: int = 32, optimizer: str | Optimizer | None = None,
                 validation_data: Sequence[npt.ArrayLike] | None = None, validation_split: float = 0.0,
                 callbacks: Sequence[Callback] | None = None, seed: Seed = None, verbose: int = 0,
                 shuffle: bool = True, engine: str | None = None, resume: str | os.PathLike[str] | None = None,
                 comm: CommunicatorLike | None = None, sample_weight: npt.ArrayLike | None = None) -> None:
        comm = distributed.check(comm)
        X, Y = open_npy(X, "X"), open_npy(Y, "Y")          # a path to a .npy file: memory-mapped
        args: dict[str, Any] = dict(epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                                    validation_data=validation_data, validation_split=validation_split,
                                    callbacks=callbacks, seed=seed, verbose=verbose, shuffle=shuffle, engine=engine,
                                    resume=resume, sample_weight=sample_weight)
        self.comm = comm
        if comm is None:
            self._arguments(net, X, Y, **args)
            self._start()
            return
        # Data-parallel: a rank whose arguments fail must not leave the others waiting.
        try:
            self._arguments(net, X, Y, **args)
        except Exception as error:
            distributed.settle(comm, error)
            raise
        distributed.settle(comm, None)
        self._start()

    def _arguments(self, net: NetworkLike, X: Any, Y: Any, *, epochs: int | None, batch_size: int,
                   optimizer: str | Optimizer | None, validation_data: Sequence[npt.ArrayLike] | None,
                   validation_split: float, callbacks: Sequence[Callback] | None, seed: Seed, verbose: int,
                   shuffle: bool, engine: str | None, resume: str | os.PathLike[str] | None,
                   sample_weight: npt.ArrayLike | None) -> None:
        """Every argument checked, the state built (this process's own work: no collective)."""
        comm = self.comm
        names = net.frame_names(X)            # a DataFrame's columns: the network keeps them (below)
        self.lo = 0
        if comm is not None:                  # this rank's shard of the rows, before any is read
            self.n_given = _length(X, "X")
            X, Y, sample_weight, validation_data, self.lo, self._n_train = _shard(
                X, Y, sample_weight, validation_data, validation_split, comm)
            validation_split = 0.0
        X, Y = net.check_XY(X, Y)
        n = len(X) if comm is None else self._n_train     # (data-parallel: every rank's rows together)
        w = net.check_weights(sample_weight, n)
        epochs = None if epochs is None else check_positive_int("epochs", epochs)
        batch_size = check_positive_int("batch_size", batch_size)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise DeltapropTypeError(f"The 'shuffle' argument must be True or False. Got {shuffle!r} instead.")
        if verbose not in (0, 1, 2) or isinstance(verbose, float):
            raise ValidationError(f"The 'verbose' argument must be 0, 1 or 2. Got {verbose!r} instead.")
        X, Y, w, val = _validation(net, X, Y, w, validation_data, validation_split)
        n = len(X) if comm is None else n
        user_callbacks = _check_callbacks(callbacks)
        optimizer_given = optimizer is not None
        opt = _optimizers.get(optimizer) if (optimizer is not None or resume is None) else None
        checkpoint = checkpoints.read(resume) if resume is not None else None
        if opt is None:
            assert checkpoint is not None        # no optimizer given: resume names the checkpoint's
            opt = _optimizers.from_config(checkpoint.training["optimizer"]["config"])
        engine_cls = engines.select(engine, net, opt)
        _check_training_memory(net, opt, min(batch_size, n))
        if comm is not None and min(batch_size, n) < comm.size:
            raise ValidationError(f"batch_size={batch_size} over {n} training rows gives batches of "
                                  f"{min(batch_size, n)} examples for {comm.size} ranks: each batch is shared out "
                                  f"among the ranks, so it needs at least {comm.size}.")
        if batch_size > n:   # warned only once every argument has been accepted
            if comm is None or comm.rank == 0:
                warn(BatchSizeWarning(f"batch_size={batch_size} is larger than the {n} training samples; using "
                                      f"{n}.", cli=f"--batch-size {batch_size} is larger than the {n} training "
                                                   f"samples; using {n}."))
            batch_size = n
        rank = 0 if comm is None else comm.rank
        printers = [] if verbose == 0 or rank else [ProgressBar() if verbose == 1 else EpochLogger()]
        # Callbacks that write checkpoints (they answer interrupts) run after the others, so
        # a checkpoint holds what every other callback did in that epoch (a CSV row, a best
        # value); the printers run last, so a printed epoch is one already on disk.
        writers = [cb for cb in user_callbacks if _writes_checkpoints(cb)]
        cbs = [History(), *(cb for cb in user_callbacks if not _writes_checkpoints(cb)), *writers, *printers]
        fit_info = {"n_samples": n, "batch_size": batch_size, "shuffle": bool(shuffle),
                    "validation": val is not None, "data": ""}
        self.state = state = TrainingState(net, opt, cbs, net.rng if seed is None else as_rng(seed), epochs=epochs,
                                           batch_size=batch_size, n_samples=n, has_validation=val is not None,
                                           fit_info=fit_info)
        state.optimizer_given = optimizer_given
        state.rank, state.ranks = rank, 1 if comm is None else comm.size
        if w is not None:
            state.sample_weight, state.total_weight = w, float(w.sum(dtype=np.float64))
        for cb in cbs:
            cb.validate(state)
        self.X, self.Y, self.w, self.val, self.names = X, Y, w, val, names
        self._checkpoint, self._engine_cls, self._fingerprint = checkpoint, engine_cls, bool(writers or checkpoint)

    def _start(self) -> None:
        """The data's fingerprint, the ranks' agreement, the checkpoint resumed, the engine."""
        st, comm, net = self.state, self.comm, self.state.net
        X, Y, w, checkpoint = self.X, self.Y, self.w, self._checkpoint
        if self._fingerprint:
            saved = "" if checkpoint is None else str(checkpoint.training["fit"].get("data", ""))
            if comm is None and saved and not saved.startswith("rows:"):   # written before fingerprints by rows
                st.fit_info["data"] = checkpoints.legacy_fingerprint(X, Y, *(() if w is None else (w,)))
            else:
                add = None if comm is None else (lambda part: int(distributed.gather(comm, [part])[:, 0].sum()))
                st.fit_info["data"] = checkpoints.fingerprint(X, Y, w, start=self.lo, n=st.n_samples, add=add)
        if comm is not None:
            distributed.agree(comm, self._facts())
            try:
                if checkpoint is not None:
                    checkpoints.apply(st, checkpoint)
            except Exception as error:
                distributed.settle(comm, error)
                raise
            distributed.settle(comm, None)
            distributed.agree(comm, {"the weights": _digest(net.get_weights()),
                                     "the seed (the shuffling generator's state)": repr(st.rng.bit_generator.state),
                                     "the optimizer's state": _digest([v for s in st.optimizer.state.values()
                                                                       for v in s.values()])})
            if hasattr(comm, "meet"):
                comm.meet()            # who is where, to name a rank lost later
        elif checkpoint is not None:
            checkpoints.apply(st, checkpoint)      # checked in full before anything is written
        self.engine = self._engine_cls(net, st.optimizer, X, Y, st.batch_size, comm=comm, w=w,
                                       shard=None if comm is None else (self.lo, st.n_samples))
        if self.names is not None and net.feature_names is None:    # every argument has been accepted
            net.feature_names = self.names
        st.engine = st.history.engine = self.engine.name
        self.watch = RunWatch(X, Y) if st.writes_files else None     # warnings: inputs out of range, divergence
        cbs = st.callbacks
        # callbacks that need nothing between epochs: then one engine call may span many
        self.quiet = cbs == [st.history] and self.val is None and not net.has_dropout
        self.per_batch = any(cb.wants_batches for cb in cbs)
        self._began = self._ended = False
        self._block = self.engine.block_for_callbacks() if self.per_batch else max(1, -(-st.n_batches // 50))

    def _facts(self) -> dict[str, object]:
        """What every rank of a data-parallel fit must share."""
        st, net = self.state, self.state.net
        return {"the network": (net.sizes, net.dtype.name, net.loss_fn.name,
                                [(layer.activation.name, layer.activation.parameter, layer.fixed_bias,
                                  layer.dropout) for layer in net.layers]),
                "the data's length": self.n_given, "the training rows": st.n_samples,
                "the batch size": st.batch_size, "epochs": -1 if st.epochs is None else st.epochs,
                "the optimizer": (type(st.optimizer).__name__, sorted(st.optimizer.config().items())),
                "shuffle": st.fit_info["shuffle"], "validation": st.fit_info["validation"],
                "sample_weight": st.sample_weight is not None, "the data": st.fit_info["data"],
                "the engine": self._engine_cls.name, "the checkpoint resumed": self._checkpoint is not None,
                "callbacks": [type(cb).__name__ for cb in st.callbacks if not isinstance(cb, EpochLogger)]}

    @property
    def history(self) -> History:
        return self.state.history

    # -- driving it ---------------------------------------------------------------------

    def run(self) -> History:
        """Train to the last epoch (or until a callback stops training): what fit does."""
        try:
            with _Interrupts(self.state):
                self._advance(None)
        finally:
            self.close()
        return self.history

    def train_batches(self, count: int) -> engines.Steps:
        """The next ``count`` mini-batches (fewer if training ends first), with every epoch
        end among them. Returns what the engine reported for them."""
        count = check_positive_int("count", count)
        return self._advance(count)

    def train_epochs(self, count: int = 1) -> engines.Steps:
        """To the end of the ``count``-th epoch from here (the running one counts as the first)."""
        st = self.state
        count = check_positive_int("count", count)
        left = (0 if st.epoch_done else st.n_batches - st.batch) + (count - (0 if st.epoch_done else 1)) * st.n_batches
        return self._advance(left)

    def close(self) -> None:
        """End training: the callbacks' ``on_train_end`` (once), then the run's warnings."""
        if self._began and not self._ended:
            self._ended = True
            for cb in self.state.callbacks:
                cb.on_train_end(self.state)
            self.history.stop_reason = self.state.stop_reason
            if self.watch is not None:
                self.watch.end(self.state.net, self.state.optimizer)

    # -- the loop -----------------------------------------------------------------------

    def _begin(self) -> None:
        if self._began:
            return
        self._began = True
        st = self.state
        if self.watch is not None:
            self.watch.begin(st.net)
        for cb in st.callbacks:
            cb.on_train_begin(st)
        if not st.epoch_done:                  # resumed in the middle of an epoch: it begins again here
            self._begin_epoch(st.order, resumed=True)

    def _advance(self, budget: int | None) -> engines.Steps:
        """Train up to ``budget`` more batches (None: to the end): each epoch gets its order
        and its callbacks, each block of batches goes to the engine, which reports their
        costs; a block spans epochs when nothing has to happen between them."""
        st, eng = self.state, self.engine
        self._begin()
        costs, correct = [], []
        while not st.finished and (budget is None or budget > 0):
            if st.epoch_done:
                self._begin_epoch()
            count = self._block_size(budget)
            span = -(-(st.batch + count) // st.n_batches)          # the epochs this block touches
            assert st.order is not None                            # the running epoch has its order
            orders = np.concatenate([st.order[None, :], self._next_orders(span - 1)])
            began = time.perf_counter()
            steps = eng.run(orders, st.batch, count, st.rng)
            took = time.perf_counter() - began
            costs.append(steps.costs)
            correct.append(steps.correct)
            self._account(steps, orders, took)
            if budget is not None:
                budget -= steps.done
            if not self.per_batch and self.comm is None:     # as many batches as BLOCK_SECONDS allow
                self._block = max(1, int(steps.done * BLOCK_SECONDS / max(took, 1e-9)))
            if steps.failure is not None:
                self._nonfinite(steps.failure, orders)
                break
            if self.comm is not None:       # ranks keep the same blocks; a signal to one stops them all here
                st.interrupted = int(distributed.gather(self.comm, [st.interrupted])[:, 0].max())
            if st.interrupted:
                _interrupt(st)
        return engines.Steps(np.concatenate(costs) if costs else np.zeros(0),
                             np.concatenate(correct) if correct else np.zeros(0, np.int64))

    def _block_size(self, budget: int | None) -> int:
        """Batches for the next engine call: to the end of this epoch at most, unless no
        callback needs the epochs' ends (then on into the next ones)."""
        st = self.state
        count = min(self._block, st.n_batches - st.batch)
        if self.quiet and self._block > count:
            more = (self._block - count) // st.n_batches
            more = min(more, max(1, ORDERS_AHEAD // st.n_samples) - 1)
            if st.epochs is not None:
                more = min(more, st.epochs - st.epoch)
            count += more * st.n_batches
        return count if budget is None else min(count, budget)

    def _next_orders(self, count: int) -> np.ndarray:
        """The example orders of the next ``count`` epochs, drawn from the state's generator."""
        st = self.state
        if st.fit_info["shuffle"] and st.n_samples > 1:
            orders = np.empty((count, st.n_samples), dtype=np.int64)
            for e in range(count):
                orders[e] = st.rng.permutation(st.n_samples)
            return orders
        # in order; a permutation of one example is the identity: nothing is drawn
        return np.broadcast_to(np.arange(st.n_samples), (count, st.n_samples))

    def _begin_epoch(self, order: np.ndarray | None = None, *, resumed: bool = False) -> None:
        """A new epoch, with ``order`` (drawn now if not given); or, ``resumed``, the rest of
        the running one."""
        st = self.state
        if not resumed:
            st.epoch += 1
            st.epoch_done = False
            st.order = self._next_orders(1)[0] if order is None else order
            st.batch, st.epoch_cost, st.epoch_correct = 0, 0.0, 0
        st.extra_logs = {}
        self._epoch_began = time.perf_counter()
        for cb in st.callbacks:
            cb.on_epoch_begin(st)

    def _account(self, steps: engines.Steps, orders: np.ndarray, took: float) -> None:
        """The batches a block trained, into the epochs' sums (batch by batch, so a total
        does not depend on how an epoch was cut into blocks), and the epochs it ended."""
        st, nb = self.state, self.state.n_batches
        costs, correct = steps.costs, steps.correct
        share = took / max(len(costs), 1)               # seconds per batch of this block
        row, j = 0, 0                                   # row: the epoch of `orders` accounted last
        self._row = 0
        while j < len(costs):
            whole = (len(costs) - j) // nb if st.epoch_done else 0
            if whole > 1:                               # quiet: many whole epochs at once
                self._whole_epochs(costs[j:j + whole * nb], correct[j:j + whole * nb], share * nb)
                j, row = j + whole * nb, row + whole
                self._row = row
                continue
            if st.epoch_done:                           # quiet: the block runs on into the next epoch
                row += 1
                self._begin_epoch(orders[row])
            self._row = row
            k = min(len(costs) - j, nb - st.batch)
            st.epoch_cost = _fold(st.epoch_cost, costs[j:j + k])
            st.epoch_correct += int(correct[j:j + k].sum())
            lo, hi = st.batch * st.batch_size, min((st.batch + k) * st.batch_size, st.n_samples)
            assert st.order is not None                 # the running epoch has its order
            weight = hi - lo if st.sample_weight is None else float(st.sample_weight[st.order[lo:hi]].sum())
            st.batch += k
            st.batch_loss = float(costs[j:j + k].sum()) / weight if weight else 0.0
            j += k
            for cb in st.callbacks:
                cb.on_batch_end(st)
            if st.batch == nb:
                self._end_epoch(share * nb if self.quiet else time.perf_counter() - self._epoch_began)
                if st.finished:
                    return

    def _whole_epochs(self, costs: np.ndarray, correct: np.ndarray, seconds: float) -> None:
        """Whole epochs of a quiet block (W3: thousands of tiny ones) into History at once,
        with no Python per epoch: each one's sum from left to right, as a running sum adds."""
        st, nb = self.state, self.state.n_batches
        epochs = len(costs) // nb
        sums = np.cumsum(costs.reshape(epochs, nb), axis=1)[:, -1]
        columns = {"loss": sums / st.total_weight}
        if st.net.is_classifier:
            columns["accuracy"] = correct.reshape(epochs, nb).sum(axis=1) / st.n_samples
        columns["seconds"] = np.full(epochs, seconds)
        st.history.extend(range(st.epoch + 1, st.epoch + epochs + 1), columns)
        st.epoch += epochs
        st.logs = {key: float(values[-1]) for key, values in columns.items()}

    def _end_epoch(self, seconds: float) -> None:
        st = self.state
        n = st.n_samples
        logs = {"loss": st.epoch_cost / st.total_weight}
        if st.net.is_classifier:
            logs["accuracy"] = st.epoch_correct / n
        if self.val is not None:
            logs.update({f"val_{k}": v for k, v in self._validation_metrics().items()})
        logs.update(st.extra_logs)
        logs["seconds"] = seconds if self.quiet else time.perf_counter() - self._epoch_began
        st.logs, st.epoch_done, st.batch = logs, True, 0
        for cb in st.callbacks:
            cb.on_epoch_end(st)

    def _validation_metrics(self) -> dict[str, float]:
        """The validation loss (and accuracy): of every rank's share together, data-parallel."""
        assert self.val is not None
        X_val, Y_val, w_val = self.val
        net = self.state.net
        metrics = net.metrics(net.forward_rows(X_val), Y_val, w_val)
        if self.comm is None:
            return metrics
        # the ranks' means, weighted by their shares' weights (examples, for accuracy)
        weight = float(len(X_val) if w_val is None else w_val.sum(dtype=np.float64))
        sums = np.array([weight, len(X_val)] + [(metrics[k] * weight if weight else 0.0) if k == "loss" else
                                                 metrics[k] * len(X_val) for k in metrics], dtype=np.float64)
        self.comm.allreduce(sums)
        return {k: float(sums[2 + j] / (sums[0] if k == "loss" else sums[1])) for j, k in enumerate(metrics)}

    def _nonfinite(self, failure: engines.Failure, orders: np.ndarray) -> None:
        """A batch's cost (or its update) was not finite; the engine left the weights of the
        batch before it. Say where (the batch after those accounted for), to the callbacks
        (TerminateOnNaN stops training) or as a NonFiniteError."""
        st = self.state
        if st.epoch_done:                       # it was the first batch of the block's next epoch
            self._begin_epoch(orders[self._row + 1])
        st.nonfinite = {"epoch": st.epoch, "batch": st.batch + 1, "loss": failure.cost, "update": failure.update}
        for cb in st.callbacks:
            cb.on_nonfinite(st)
        if not st.stop_training:
            what = "its update made a weight infinite or NaN" if failure.update else f"the cost became {failure.cost}"
            finding = (f"Training diverged in epoch {st.epoch}, batch {st.batch + 1} of {st.n_batches}: {what}. "
                       "The weights were restored to the last finite ones (from before that batch).")
            raise NonFiniteError(
                f"{finding} Try a smaller learning rate, or pass callbacks=[dp.callbacks.TerminateOnNaN()] to stop "
                "without an error.", cli=f"{finding} Try a smaller --lr (it was {st.optimizer.lr:g}).")


def fit(net: NetworkLike, X: npt.ArrayLike, Y: npt.ArrayLike, *, epochs: int = 1, batch_size: int = 32,
        optimizer: str | Optimizer | None = None, validation_data: Sequence[npt.ArrayLike] | None = None,
        validation_split: float = 0.0, callbacks: Sequence[Callback] | None = None, seed: Seed = None,
        verbose: int = 1, shuffle: bool = True, engine: str | None = None,
        resume: str | os.PathLike[str] | None = None, sample_weight: npt.ArrayLike | None = None,
        comm: CommunicatorLike | None = None) -> History:
    """Train ``net`` by mini-batch gradient descent; return its :class:`~deltaprop.callbacks.History`.

    Args:
        X: inputs, ``(n_samples, n_features)``.
        Y: targets: rows ``(n_samples, n_outputs)`` or, for a classifier, integer labels ``(n_samples,)``.
        epochs: passes over the data (with ``resume``: the total, counting those already done).
        batch_size: m, examples per update; larger than the data it is clipped with a warning.
        optimizer: an optimizer object, or ``"sgd"``/``"adam"`` for defaults; default ``SGD(lr=0.1)``
            (with ``resume``: the checkpoint's optimizer).
        validation_data: ``(X_val, Y_val)`` (or ``(X_val, Y_val, sample_weight_val)``),
            evaluated after each epoch.
        validation_split: instead, the fraction of ``X``/``Y`` (their last rows, before any
            shuffling, as Keras takes them) held out for validation.
        callbacks: a list of :class:`~deltaprop.callbacks.Callback` objects.
        seed: int or Generator for the shuffling (and dropout); default: the network's own generator.
        verbose: 0 prints nothing; 1 a progress bar on a terminal, else one line per
            epoch; 2 one line per epoch.
        shuffle: reshuffle every epoch (the seeds' stochastic gradient descent).
        engine: ``"numpy"`` (the reference), ``"numba"`` (compiled, ``deltaprop[fast]``),
            or None/``"auto"``: numba when installed and able. See :mod:`deltaprop.engines`.
        resume: a checkpoint file, or a folder of them (the most advanced is used),
            written by :class:`~deltaprop.callbacks.ModelCheckpoint`: training continues
            from it, bit-identically to a run that was never interrupted (a new learning
            rate applies from there, with a warning).
        sample_weight: ``(n_samples,)`` weights >= 0 (scikit-learn's convention): each
            mini-batch's cost is its weighted mean sum_x w_x C_x / sum_x w_x, so BP1 carries
            w_x/m; a weight of 2 counts an example twice. The history's loss is the
            epoch's weighted mean; its accuracy counts examples.
        comm: a communicator (:mod:`deltaprop.distributed`: ``from_mpi()``, ``from_torch()``,
            ``detect()``) to train data-parallel, this call being one of its ranks: every
            rank passes the same arguments (all of ``X``, best a memory-mapped ``.npy``
            file or its path: each rank reads only its shard of the rows), each trains
            its part of every mini-batch, and the ranks add their gradients before each
            step; the weights are those of one process with the same batch and seed
            (to rounding). Only rank 0 prints and writes files.

    ``X`` and ``Y`` may also be paths to ``.npy`` files (``np.save``), memory-mapped.

    Raises:
        NonFiniteError: a batch's cost (or a weight) became NaN or infinite; the weights
            are the last finite ones, from before that batch.
        KeyboardInterrupt: Ctrl-C; training stopped after a finished batch, whose weights
            the network keeps (with a ModelCheckpoint, after writing one more checkpoint).

    A call that raises before training starts (bad arguments, an incompatible
    checkpoint) changes no weight. :class:`Trainer` is the same loop, driven step by step.
    """
    return Trainer(net, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation_data=validation_data, validation_split=validation_split, callbacks=callbacks,
                   seed=seed, verbose=verbose, shuffle=shuffle, engine=engine, resume=resume,
                   sample_weight=sample_weight, comm=comm).run()


def _fold(total: float, costs: np.ndarray) -> float:
    """total + costs[0] + costs[1] + ..., one after the other (as a running sum adds them)."""
    if not len(costs):
        return total
    return float(np.cumsum(np.concatenate(([total], costs)))[-1])


# ---------------------------------------------------------------------------------------
# The arguments

def _length(A: Any, name: str) -> int:
    """The number of rows of ``A`` (array, memory map, DataFrame, list)."""
    try:
        return int(A.shape[0]) if hasattr(A, "shape") and len(A.shape) else len(A)
    except TypeError:
        raise DeltapropTypeError(f"The '{name}' argument must be an array of rows. Got {type(A).__name__} "
                                 "instead.") from None


def _rows(A: Any, lo: int, hi: int) -> Any:
    """Rows lo .. hi - 1 of ``A``, read (from a memory map) only now."""
    return A.iloc[lo:hi] if hasattr(A, "iloc") else A[lo:hi]


def _shard(X: Any, Y: Any, sample_weight: Any, validation_data: Any, validation_split: float,
           comm: CommunicatorLike) -> tuple[Any, Any, Any, Any, int, int]:
    """Data-parallel: this rank's shard of the training rows (and of the validation rows),
    cut before anything is read. Returns (X, Y, sample_weight of every training row,
    validation_data, the index of the shard's first row, the training rows of all ranks)."""
    n_all = _length(X, "X")
    if _length(Y, "Y") != n_all:
        raise ShapeError(f"X has {n_all} samples but Y has {_length(Y, 'Y')}; they must match.")
    split = check_real("validation_split", validation_split, low=0, high=1, high_open=True)
    n_val = int(n_all * split)
    if split and (n_val < 1 or n_val >= n_all):
        raise ValidationError(f"validation_split={validation_split} of {n_all} samples leaves "
                              f"{n_val} for validation and {n_all - n_val} for training; both need at least 1.")
    n_train = n_all - n_val
    sw = None if sample_weight is None else np.asarray(sample_weight)
    if sw is not None and sw.ndim and sw.shape != (n_all,):
        raise ShapeError(f"The 'sample_weight' argument must have shape ({n_all},): one weight per example. "
                         f"Got shape {sw.shape} instead.")
    size = comm.size
    if n_train < size:
        raise ValidationError(f"{n_train} training rows cannot be shared out among {size} ranks: each needs one.")
    lo, hi = distributed.shard(n_train, comm.rank, size)
    if n_val:
        if n_val < size:
            raise ValidationError(f"validation_split={validation_split} leaves {n_val} validation rows for "
                                  f"{size} ranks: each evaluates its share, and needs one.")
        vlo, vhi = (n_train + r for r in distributed.shard(n_val, comm.rank, size))
        validation_data = (_rows(X, vlo, vhi), _rows(Y, vlo, vhi)) + \
            (() if sw is None or not sw.ndim else (sw[vlo:vhi],))
        sw = sw if sw is None or not sw.ndim else sw[:n_train]
    elif isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        n_v = _length(validation_data[0], "validation_data[0]")
        if n_v < size:
            raise ValidationError(f"validation_data has {n_v} rows for {size} ranks: each evaluates its share, "
                                  "and needs one.")
        vlo, vhi = distributed.shard(n_v, comm.rank, size)
        validation_data = tuple(_rows(open_npy(v, f"validation_data[{i}]"), vlo, vhi)
                                for i, v in enumerate(validation_data))
    return _rows(X, lo, hi), _rows(Y, lo, hi), sw, validation_data, lo, n_train


def _digest(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).data.cast("B"))
    return h.hexdigest()


def _validation(net: NetworkLike, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None,
                validation_data: Sequence[npt.ArrayLike] | None, validation_split: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                           tuple[np.ndarray, np.ndarray, np.ndarray | None] | None]:
    """``(X, Y, w, (X_val, Y_val, w_val) or None)``, checked (w and w_val may be None)."""
    val = None
    if validation_data is not None:
        if validation_split:
            raise ValidationError("Pass either 'validation_data' or 'validation_split', not both.")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise DeltapropTypeError("The 'validation_data' argument must be a pair (X_val, Y_val) or a triple "
                                     f"(X_val, Y_val, sample_weight_val). Got {type(validation_data).__name__} "
                                     f"instead.")
        X_val, Y_val = net.check_XY(*validation_data[:2], names=("validation_data[0]", "validation_data[1]"))
        w_val = None if len(validation_data) == 2 else \
            net.check_weights(validation_data[2], len(X_val), name="validation_data[2]")
        val = (X_val, Y_val, w_val)
    split = check_real("validation_split", validation_split, low=0, high=1, high_open=True)
    if split:
        n_val = int(len(X) * split)
        if n_val < 1 or n_val >= len(X):
            raise ValidationError(f"validation_split={validation_split} of {len(X)} samples leaves "
                                  f"{n_val} for validation and {len(X) - n_val} for training; both need at least 1.")
        val = (X[-n_val:], Y[-n_val:], None if w is None else w[-n_val:])
        X, Y, w = X[:-n_val], Y[:-n_val], None if w is None else w[:-n_val]
        if w is not None and not w.any():
            raise ValidationError(f"validation_split={validation_split} leaves training rows whose sample_weight "
                                  "is 0 for every one.")
    return X, Y, w, val


def _check_training_memory(net: NetworkLike, opt: Optimizer, batch_size: int) -> None:
    """Refuse a fit whose buffers could never fit in memory, before any is allocated:
    gradients and the optimizer's state beside the weights, and each layer's caches
    (Z, A, D and dC/da) for a batch."""
    per_param = 1 + {"SGD": 1 if getattr(opt, "momentum", 0) else 0, "Adam": 2}.get(type(opt).__name__, 2)
    units = sum(net.sizes[1:])
    need = net.dtype.itemsize * (per_param * net.n_params + 4 * batch_size * units)
    check_memory(need, f"Training {net.sizes} ({net.n_params:,} parameters of {net.dtype.name}) with "
                       f"{type(opt).__name__} on batches of {batch_size}")


def _writes_checkpoints(cb: Callback) -> bool:
    return type(cb).on_interrupt is not Callback.on_interrupt


def _check_callbacks(callbacks: object) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise DeltapropTypeError("The 'callbacks' argument must be a list of callbacks, e.g. "
                                 f"[dp.callbacks.EarlyStopping()]. Got {type(callbacks).__name__} instead.")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise DeltapropTypeError(f"callbacks[{i}] must be a deltaprop Callback (subclass "
                                     f"dp.callbacks.Callback). Got {type(cb).__name__} {cb!r} instead.")
        if isinstance(cb, History):
            raise ValidationError(f"callbacks[{i}] is a History: fit records one itself and returns it.")
    return list(callbacks)


# ---------------------------------------------------------------------------------------
# Interrupts

class _Interrupts:
    """While training runs: SIGINT/SIGTERM set a flag the loop checks after each block of
    batches, so training stops with the weights of a finished batch (and a checkpoint,
    with ModelCheckpoint); a second SIGINT interrupts at once. Only in the main thread
    (Python's rule for signals)."""

    def __init__(self, state: TrainingState) -> None:
        self.state = state
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handler)
        return self

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.state.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.state.interrupted = signum

    def __exit__(self, *exc: object) -> Literal[False]:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _interrupt(state: TrainingState) -> None:
    """Flush a checkpoint (if one is written), then stop with the conventional outcome of the signal."""
    for cb in state.callbacks:
        cb.on_interrupt(state)
    signum = state.interrupted
    done, batch = state.progress
    where = f"after epoch {done}" if not batch else f"in epoch {done + 1} after batch {batch}"
    kept = "a checkpoint was written" if state.checkpointing else \
        "the network keeps the weights of that batch (a ModelCheckpoint would have written a checkpoint to resume from)"
    if signum == signal.SIGINT:
        raise KeyboardInterrupt(f"training interrupted {where}; {kept}")
    print(f"deltaprop: training stopped by signal {signum} {where}; {kept}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


#: Kept for those who read checkpoints through the training module.
find_checkpoint = checkpoints.find
