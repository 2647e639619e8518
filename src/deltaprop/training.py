"""Floor 5: the training loop, as the seeds' algorithm states it.

For each epoch: shuffle the training data (from an explicit seed), cut it into
mini-batches of m examples (a short last batch is used, not dropped), and for each
mini-batch feed forward, backpropagate, and let the optimizer step. With plain SGD
that step is the seeds' rule w -> w - (eta/m) sum_x delta^{x,l} (a^{x,l-1})^T.

The batches themselves run in an engine (:mod:`deltaprop.engines`); everything
optional is a callback (:mod:`deltaprop.callbacks`) acting on the one
:class:`TrainingState` this loop keeps. What the loop adds of its own:

* Non-finite costs never go unnoticed: the engine stops at the first batch whose cost
  is NaN or infinite, and the loop rewinds the network to its last finite weights
  (by replaying the epoch from a snapshot: the engines are deterministic), then either
  a callback such as :class:`~deltaprop.callbacks.TerminateOnNaN` stops training or
  :class:`~deltaprop.errors.NonFiniteError` is raised, naming the epoch and batch.
* Checkpoints hold everything needed to continue bit-identically, and
  ``fit(..., resume=path)`` continues from one; with a
  :class:`~deltaprop.callbacks.ModelCheckpoint` in use, SIGINT and SIGTERM write one
  more checkpoint before training stops.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from . import _archive, engines, io
from . import optimizers as _optimizers
from ._array import as_rng, check_memory, check_positive_int, check_real
from .callbacks import Callback, History, LearningRateScheduler, format_logs  # noqa: F401  (History, format_logs: public here too)
from .errors import (BatchSizeWarning, DataError, DeltapropTypeError, DivergenceWarning, InputRangeWarning,
                     MissingFileError, NonFiniteError, ResumeWarning, ValidationError)
from .progress import EpochLogger, ProgressBar

#: Version of the "training" part of a checkpoint (the file format has its own version).
CHECKPOINT_VERSION = 1


class TrainingState:
    """What the loop and its callbacks share (see :mod:`deltaprop.callbacks` for the fields)."""

    def __init__(self, net, optimizer, callbacks, rng, *, epochs, batch_size, n_samples, has_validation,
                 fit_info):
        self.net, self.optimizer, self.callbacks, self.rng = net, optimizer, callbacks, rng
        self.epochs, self.batch_size, self.n_samples = epochs, batch_size, n_samples
        self.n_batches = -(-n_samples // batch_size)
        self.has_validation = has_validation
        self.fit_info = fit_info            # what a checkpoint records of this call, to refuse another
        self.epoch = 0                      # the epoch running, or the last one finished
        self.epoch_done = True              # False while an epoch's batches are running
        self.batch = 0                      # batches finished in the running epoch
        self.batch_loss: float | None = None   # mean cost over the last block of batches
        self.order: np.ndarray | None = None   # the running epoch's example order
        self.epoch_cost = 0.0               # sums over the running epoch's batches so far
        self.epoch_correct = 0
        self.logs: dict = {}
        self.extra_logs: dict = {}          # metrics callbacks add during an epoch (e.g. "lr")
        self.stop_training = False
        self.stop_reason = ""
        self.nonfinite: dict | None = None
        self.interrupted = 0                # the signal number, once SIGINT/SIGTERM arrived
        self.checkpointing = False          # a callback writes checkpoints (it answers interrupts)
        self.optimizer_given = True         # the caller passed the optimizer (else: a checkpoint's)
        self.resumed = False
        self.engine = ""
        # the metrics each epoch's logs will hold (what a callback may monitor)
        base = ["loss"] + (["accuracy"] if net.is_classifier else [])
        self.metric_names = base + ([f"val_{m}" for m in base] if has_validation else []) + \
            [m for cb in callbacks for m in cb.provides]

    @property
    def history(self) -> History:
        return self.callbacks[0]

    @property
    def progress(self) -> tuple[int, int]:
        """(epochs finished, batches finished in the next one)."""
        return (self.epoch, 0) if self.epoch_done else (self.epoch - 1, self.batch)

    # -- checkpoints ------------------------------------------------------------------

    def save_checkpoint(self, path) -> Path:
        """Write everything needed to continue this fit bit-identically to ``path`` (atomically)."""
        done, batch = self.progress
        meta, arrays = self.optimizer.get_state()
        training = {
            "version": CHECKPOINT_VERSION,
            "fit": self.fit_info,
            "progress": {"epochs_done": done, "batch": batch, "step": self.optimizer.iterations,
                         "epoch_cost": self.epoch_cost if batch else 0.0,
                         "epoch_correct": self.epoch_correct if batch else 0},
            "optimizer": meta,
            "rng": _json_rng_state(self.rng),
            "callbacks": [],
        }
        out = {f"opt/{k}": v for k, v in arrays.items()}
        if batch:
            out["order"] = self.order
        for j, cb in enumerate(self.callbacks):
            cb_meta, cb_arrays = cb.get_state()
            training["callbacks"].append({"class": type(cb).__name__, "state": cb_meta})
            out.update({f"cb/{j}/{k}": v for k, v in cb_arrays.items()})
        return io.write_checkpoint(path, self.net, training, out)

    def remove_stale_temporaries(self, directory) -> None:
        _archive.remove_stale_temporaries(directory)


def _json_rng_state(rng: np.random.Generator) -> dict:
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"], "state": state}


def _fingerprint(*arrays: np.ndarray) -> str:
    """A hash of the training data, so a checkpoint refuses to resume on other data."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# fit

def fit(net, X, Y, *, epochs: int = 1, batch_size: int = 32, optimizer=None, validation_data=None,
        validation_split: float = 0.0, callbacks=None, seed=None, verbose: int = 1, shuffle: bool = True,
        engine=None, resume=None) -> History:
    """Train ``net`` by mini-batch gradient descent; return its :class:`~deltaprop.callbacks.History`.

    Args:
        X: inputs, ``(n_samples, n_features)``.
        Y: targets: rows ``(n_samples, n_outputs)`` or, for a classifier, integer labels ``(n_samples,)``.
        epochs: passes over the data (with ``resume``: the total, counting those already done).
        batch_size: m, examples per update; larger than the data it is clipped with a warning.
        optimizer: an optimizer object, or ``"sgd"``/``"adam"`` for defaults; default ``SGD(lr=0.1)``
            (with ``resume``: the checkpoint's optimizer).
        validation_data: ``(X_val, Y_val)`` evaluated after each epoch.
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
            from it, bit-identically to a run that was never interrupted.

    Raises:
        NonFiniteError: a batch's cost (or a weight) became NaN or infinite; the weights
            are the last finite ones, from before that batch.

    A call that raises before training starts (bad arguments, an incompatible
    checkpoint) changes no weight.
    """
    X, Y = net.check_XY(X, Y)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise DeltapropTypeError(f"The 'shuffle' argument must be True or False. Got {shuffle!r} instead.")
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValidationError(f"The 'verbose' argument must be 0, 1 or 2. Got {verbose!r} instead.")
    val = None
    if validation_data is not None:
        if validation_split:
            raise ValidationError("Pass either 'validation_data' or 'validation_split', not both.")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise DeltapropTypeError("The 'validation_data' argument must be a pair (X_val, Y_val). "
                                     f"Got {type(validation_data).__name__} instead.")
        val = net.check_XY(*validation_data, names=("validation_data[0]", "validation_data[1]"))
    split = check_real("validation_split", validation_split, low=0, high=1, high_open=True)
    if split:
        n_val = int(len(X) * split)
        if n_val < 1 or n_val >= len(X):
            raise ValidationError(f"validation_split={validation_split} of {len(X)} samples leaves "
                                  f"{n_val} for validation and {len(X) - n_val} for training; both need at least 1.")
        X, Y, val = X[:-n_val], Y[:-n_val], (X[-n_val:], Y[-n_val:])
    user_callbacks = _check_callbacks(callbacks)
    optimizer_given = optimizer is not None
    opt = _optimizers.get(optimizer) if (optimizer is not None or resume is None) else None
    checkpoint = _read_resume(resume) if resume is not None else None
    if opt is None:
        opt = _optimizers.from_config(checkpoint[1]["optimizer"]["config"])
    engine_cls = engines.select(engine, net, opt)
    rng = net.rng if seed is None else as_rng(seed)
    n = len(X)
    _check_training_memory(net, opt, min(batch_size, n))
    if batch_size > n:   # warned only once every argument has been accepted
        warnings.warn(BatchSizeWarning(f"batch_size={batch_size} is larger than the {n} training samples; using {n}.",
                                       cli=f"--batch-size {batch_size} is larger than the {n} training samples; "
                                           f"using {n}."), stacklevel=3)
        batch_size = n

    history = History()
    printers = [] if verbose == 0 else [ProgressBar() if verbose == 1 else EpochLogger()]
    # Callbacks that write checkpoints (they answer interrupts) run after the others, so
    # a checkpoint holds what every other callback did in that epoch (a CSV row, a best
    # value); the printers run last, so a printed epoch is one already on disk.
    writers = [cb for cb in user_callbacks if _writes_checkpoints(cb)]
    cbs = [history, *(cb for cb in user_callbacks if not _writes_checkpoints(cb)), *writers, *printers]
    checkpointing = bool(writers)
    fit_info = {"n_samples": n, "batch_size": batch_size, "shuffle": bool(shuffle),
                "validation": val is not None, "data": _fingerprint(X, Y) if (checkpointing or checkpoint) else ""}
    state = TrainingState(net, opt, cbs, rng, epochs=epochs, batch_size=batch_size, n_samples=n,
                          has_validation=val is not None, fit_info=fit_info)
    state.optimizer_given = optimizer_given
    for cb in cbs:
        cb.validate(state)
    if checkpoint is not None:
        _apply_checkpoint(state, *checkpoint)     # checked in full before anything is written

    eng = engine_cls(net, opt, X, Y, batch_size)
    state.engine = history.engine = eng.name
    state.checkpointing = checkpointing
    probe = _probe(X, Y)
    _warn_if_out_of_range(probe[0])
    start = (_probe_cost(net, probe), _largest_weight(net))
    previous_handlers = _install_signal_handlers(state)
    try:
        for cb in cbs:
            cb.on_train_begin(state)
        if cbs == [history] and val is None and not net.has_dropout and state.epoch_done:
            _train_epochs_in_bulk(state, eng)
        else:
            _train_epoch_by_epoch(state, eng, val)
    finally:
        if previous_handlers is not None:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
        for cb in cbs:
            cb.on_train_end(state)
    history.stop_reason = state.stop_reason
    _warn_if_diverged(net, opt, probe, *start)
    return history


def _probe(X: np.ndarray, Y: np.ndarray, size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``size`` training examples spread over the data: where the cost is taken
    before and after training, to notice a run that diverged without reaching NaN."""
    step = max(1, len(X) // size)
    return X[::step][:size], Y[::step][:size]


#: Root mean square of a feature beyond which inputs are far from the range networks train well on.
INPUT_RMS_LIMIT = 20.0


def _warn_if_out_of_range(X: np.ndarray) -> None:
    """Raw 0-255 pixels (or any unscaled feature) saturate sigmoids and swamp the others:
    such a network trains to chance with no other sign. Say so, naming the fix."""
    rms = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))
    j = int(np.argmax(rms))
    if rms[j] > INPUT_RMS_LIMIT:
        pixels = " (raw 0-255 pixels? divide them by 255)" if 0 <= X.min() and X.max() <= 255 and X.max() > 1 else ""
        finding = (f"The inputs are far from the range networks train well on: feature {j} has a root mean square "
                   f"of {rms[j]:.4g} over {len(X)} of the training examples{pixels}.")
        warnings.warn(InputRangeWarning(
            f"{finding} Scale each feature to about 1: dp.data.Standardizer().fit(X) and its transform(X).",
            cli=f"{finding} Scale each feature to about 1: pass --standardize."), stacklevel=4)


def _probe_cost(net, probe) -> float:
    # the layers keep the caches of the last training pass (explain and tests read them)
    kept = [(layer.A_prev, layer.Z, layer.A, layer.M) for layer in net.layers]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        cost = net.metrics(net.forward_rows(probe[0]), probe[1])["loss"]
    for layer, cache in zip(net.layers, kept):
        layer.A_prev, layer.Z, layer.A, layer.M = cache
    return cost


#: A training cost that ends above this multiple of where it began means the run failed;
#: so do weights that grew beyond this multiple of the largest initial one (or of 1).
DIVERGED = 1.1
WEIGHTS_RAN_AWAY = 1000.0


def _largest_weight(net) -> float:
    return max(float(np.max(np.abs(layer.W), initial=0.0)) for layer in net.layers)


def _warn_if_diverged(net, opt, probe, start_cost: float, start_weight: float) -> None:
    """The cost ends above where it began, or the weights grew a thousandfold: the run
    failed (|W| ~ 1e29 with ReLU at lr 1e3, or saturated sigmoids at chance) without
    reaching NaN. Say so, naming the learning rate."""
    end_weight = _largest_weight(net)
    if end_weight > WEIGHTS_RAN_AWAY * max(start_weight, 1.0):
        _warn_diverged(f"Training diverged: the largest weight grew from {start_weight:.3g} to {end_weight:.3g}.",
                       opt.lr)
        return
    end_cost = _probe_cost(net, probe)
    if np.isfinite(start_cost) and start_cost > 0 and not end_cost <= DIVERGED * start_cost:
        what = "diverged" if not end_cost <= 1.5 * start_cost else "did not learn"
        times = f"{end_cost / start_cost:.3g} times" if np.isfinite(end_cost) else "above"
        _warn_diverged(f"Training {what}: the cost on {len(probe[0])} of the training examples ended at "
                       f"{end_cost:.4g}, {times} the {start_cost:.4g} it began at.", opt.lr)


def _warn_diverged(finding: str, lr: float) -> None:
    hint = "is probably too large: try one 10 or 100 times smaller."
    warnings.warn(DivergenceWarning(f"{finding} The learning rate (lr={lr:g}) {hint}",
                                    cli=f"{finding} The learning rate (--lr {lr:g}) {hint}"), stacklevel=5)


def _check_training_memory(net, opt, batch_size: int) -> None:
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


def _check_callbacks(callbacks) -> list[Callback]:
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
# The two ways through the epochs

def _orders(state, count: int) -> np.ndarray:
    """The example order of the next ``count`` epochs, drawn from the state's generator."""
    n = state.n_samples
    if state.fit_info["shuffle"] and n > 1:
        return np.stack([state.rng.permutation(n) for _ in range(count)])
    # in order; a permutation of one example is the identity: nothing is drawn
    return np.broadcast_to(np.arange(n), (count, n))


def _train_epochs_in_bulk(state, eng) -> None:
    """Nothing happens between epochs (no validation, no callback but History): let the
    engine run many at once, so a compiled one spends no Python on each (W3)."""
    history = state.history
    # Epochs per call: many for tiny data (no Python between them: W3), few for big data,
    # whose orders (8 bytes per example per epoch) would otherwise weigh on peak memory.
    per_call = max(1, min(state.epochs, (1 << 17) // state.n_samples))
    while state.epoch < state.epochs:
        count = min(per_call, state.epochs - state.epoch)
        orders = _orders(state, count)
        snap = eng.snapshot()
        start = time.perf_counter()
        epochs = eng.run_epochs(orders, state.rng)
        seconds = (time.perf_counter() - start) / count
        done, failure = epochs.done, None
        if epochs.failed is not None:
            # rewind to the weights before the bad batch: the same epochs again (engines
            # are deterministic), then the bad epoch up to that batch
            b, cost = epochs.failed.bad, epochs.failed.bad_cost
            eng.restore(snap)
            epochs = eng.run_epochs(orders[:done], state.rng)
            eng.run(orders[done], 0, b, state.rng)
            failure = (b, cost, False)
            if not eng.params_finite():      # an earlier update already broke a weight
                plan = [(order, 0, eng.n_batches) for order in orders[:done]] + [(orders[done], 0, b)]
                done, *failure = _locate_nonfinite_weights(eng, snap, state.rng, None, plan)
        elif not eng.params_finite():
            done, b, cost, update = _locate_nonfinite_weights(eng, snap, state.rng, None,
                                                              [(order, 0, eng.n_batches) for order in orders])
            failure = (b, cost, update)
        columns = {"loss": (epochs.cost[:done] / state.n_samples).tolist()}
        if state.net.is_classifier:
            columns["accuracy"] = (epochs.correct[:done] / state.n_samples).tolist()
        columns["seconds"] = [seconds] * done
        history.extend(range(state.epoch + 1, state.epoch + done + 1), columns)
        state.epoch += done
        if failure is not None:
            state.epoch += 1
            state.epoch_done = False
            _nonfinite(state, *failure)
            return
        if state.interrupted:
            _interrupt(state)


#: Seconds one engine call should take at most when no callback needs each batch: how
#: long an interrupt (Ctrl-C, SIGTERM) may wait to be answered.
BLOCK_SECONDS = 0.2


def _train_epoch_by_epoch(state, eng, val) -> None:
    cbs = state.callbacks
    per_batch = any(cb.wants_batches for cb in cbs)
    compiled = eng.name != "numpy"
    # Blocks of batches per engine call: 1 (or a 50th of an epoch, compiled) for callbacks
    # that watch batches, else as many as BLOCK_SECONDS allow (measured as it goes)
    block = max(1, -(-state.n_batches // 50)) if compiled or not per_batch else 1
    while state.epoch < state.epochs and not state.stop_training:
        if state.epoch_done:                       # a new epoch (else: resumed in the middle of one)
            state.epoch += 1
            state.epoch_done = False
            state.order = _orders(state, 1)[0]
            state.batch, state.epoch_cost, state.epoch_correct = 0, 0.0, 0
        state.extra_logs = {}
        for cb in cbs:
            cb.on_epoch_begin(state)
        snap, rng_state, first = eng.snapshot(), state.rng.bit_generator.state, state.batch
        start = time.perf_counter()
        failure = None
        while state.batch < state.n_batches:
            stop = min(state.n_batches, state.batch + block)
            began = time.perf_counter()
            blk = eng.run(state.order, state.batch, stop, state.rng)
            if not per_batch:
                took = max(time.perf_counter() - began, 1e-9)
                block = max(1, min(state.n_batches, int((stop - state.batch) * BLOCK_SECONDS / took)))
            if blk.bad >= 0:
                # rewind to the weights before the bad batch: replay the epoch up to it
                eng.restore(snap)
                state.rng.bit_generator.state = rng_state
                eng.run(state.order, first, blk.bad, state.rng)
                failure = (blk.bad, blk.bad_cost, False)
                if not eng.params_finite():  # an earlier update already broke a weight
                    failure = _locate_nonfinite_weights(eng, snap, state.rng, rng_state,
                                                        [(state.order, first, blk.bad)])[1:]
                break
            for c in blk.costs.tolist():       # batch by batch: the same total however the epoch was cut
                state.epoch_cost += c
            state.epoch_correct += blk.correct
            examples = min(stop * state.batch_size, state.n_samples) - state.batch * state.batch_size
            state.batch, state.batch_loss = stop, blk.cost / examples
            for cb in cbs:
                cb.on_batch_end(state)
            if state.interrupted:
                _interrupt(state)
        if failure is None and not eng.params_finite():
            failure = _locate_nonfinite_weights(eng, snap, state.rng, rng_state,
                                                [(state.order, first, state.n_batches)])[1:]
        if failure is not None:
            _nonfinite(state, *failure)
            return
        n = state.n_samples
        logs = {"loss": state.epoch_cost / n}
        if state.net.is_classifier:
            logs["accuracy"] = state.epoch_correct / n
        if val is not None:
            logs.update({f"val_{k}": v for k, v in state.net.metrics(state.net.forward_rows(val[0]), val[1]).items()})
        logs.update(state.extra_logs)
        logs["seconds"] = time.perf_counter() - start
        state.logs, state.epoch_done, state.batch = logs, True, 0
        for cb in cbs:
            cb.on_epoch_end(state)
        if state.interrupted:
            _interrupt(state)


def _locate_nonfinite_weights(eng, snap, rng, rng_state, plan):
    """Every cost was finite but a weight is not: replay ``plan`` (segments ``(order, start,
    stop)`` of batches) one batch at a time from ``snap`` to find the update that made it
    so, and stop just before it. Returns (segment, batch, its cost, True if it was the
    update rather than the cost that went non-finite)."""
    eng.restore(snap)
    if rng_state is not None:
        rng.bit_generator.state = rng_state
    for k, (order, start, stop) in enumerate(plan):
        for b in range(start, stop):
            before, rs = eng.snapshot(), rng.bit_generator.state
            blk = eng.run(order, b, b + 1, rng)
            if blk.bad >= 0:
                return k, b, blk.bad_cost, False
            if not eng.params_finite():
                eng.restore(before)
                rng.bit_generator.state = rs
                return k, b, blk.cost, True
    raise RuntimeError("deltaprop internal error: the replay did not reproduce the non-finite weights "
                       "(the engine is not deterministic); please report this.")


def _nonfinite(state, batch: int, cost: float, update: bool) -> None:
    """A batch's cost (or its update) was not finite; the weights are the last finite ones."""
    state.nonfinite = {"epoch": state.epoch, "batch": batch + 1, "loss": cost, "update": update}
    for cb in state.callbacks:
        cb.on_nonfinite(state)
    if not state.stop_training:
        what = "its update made a weight infinite or NaN" if update else f"the cost became {cost}"
        finding = (f"Training diverged in epoch {state.epoch}, batch {batch + 1} of {state.n_batches}: {what}. "
                   "The weights were restored to the last finite ones (from before that batch).")
        raise NonFiniteError(
            f"{finding} Try a smaller learning rate, or pass callbacks=[dp.callbacks.TerminateOnNaN()] to stop "
            "without an error.", cli=f"{finding} Try a smaller --lr (it was {state.optimizer.lr:g}).")


# ---------------------------------------------------------------------------------------
# Signals and checkpoints

def _install_signal_handlers(state) -> dict | None:
    """SIGINT/SIGTERM set a flag the loop checks after each block of batches, so training
    stops with the weights of a finished batch (and a checkpoint, with ModelCheckpoint);
    a second SIGINT interrupts at once. Only in the main thread (Python's rule for signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {}

    def handler(signum, frame):
        if state.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.interrupted = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    return previous


def _interrupt(state) -> None:
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


def find_checkpoint(path) -> Path:
    """``path`` itself if it is a file; for a folder, its most advanced checkpoint."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise MissingFileError(f"The 'resume' argument names {str(path)!r}, which does not exist.", path)
    best, best_key, skipped = None, None, []
    for candidate in sorted(path.iterdir()):
        if not candidate.is_file() or _archive.is_temporary(candidate):
            continue
        try:
            header = io.read_header(candidate)       # the progress, without reading the arrays
        except (DataError, ValidationError) as e:
            if candidate.suffix in (".dpz", ".npz"):
                skipped.append(f"{candidate.name}: {e}")
            continue
        if header.get("kind") != "checkpoint":
            continue
        p = header.get("training", {}).get("progress", {})
        key = (p.get("epochs_done", 0), p.get("batch", 0), candidate.stat().st_mtime)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    if best is None:
        detail = "".join(f"\n  {s}" for s in skipped)
        raise DataError(f"No readable checkpoint in {str(path)!r}.{detail}")
    for s in skipped:
        warnings.warn(f"resume: skipped an unreadable file in {str(path)!r}: {s}", stacklevel=4)
    return best


def _read_resume(resume):
    if not isinstance(resume, (str, Path)) and not hasattr(resume, "__fspath__"):
        raise DeltapropTypeError(f"The 'resume' argument must be a checkpoint file or folder. Got {resume!r} instead.")
    path = find_checkpoint(resume)
    ck_net, training, arrays = io.read_checkpoint(path)
    if training.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"{str(path)!r} holds training state of version {training.get('version')!r}; this "
                        f"deltaprop reads version {CHECKPOINT_VERSION}.")
    return path, training, arrays, ck_net


def _apply_checkpoint(state, path, training, arrays, ck_net) -> None:
    """Check the checkpoint against this fit call in full, then put its state in place."""
    net, opt = state.net, state.optimizer
    io.check_compatible(net, io.network_header(ck_net))
    mismatches = [f"{key}: checkpoint {training['fit'].get(key)!r}, this call {value!r}" if key != "data" else
                  "data: the training data (X, Y) are not those the checkpoint was trained on"
                  for key, value in state.fit_info.items() if training["fit"].get(key) != value]
    if mismatches:
        raise ValidationError(f"Cannot resume from {str(path)!r}: this fit call differs from the one that wrote it "
                              "(same data, batch size, shuffling and validation are needed):\n  "
                              + "\n  ".join(mismatches))
    saved_opt = training["optimizer"]["config"]
    mine = opt.config()
    diffs = [f"{k}: checkpoint {saved_opt.get(k)!r}, given {v!r}" for k, v in mine.items()
             if k != "lr" and saved_opt.get(k) != v]
    if diffs:
        raise ValidationError(f"Cannot resume from {str(path)!r} with this optimizer:\n  " + "\n  ".join(diffs))
    progress = training["progress"]
    if progress["epochs_done"] > state.epochs or (progress["epochs_done"] == state.epochs and progress["batch"]):
        raise ValidationError(f"{str(path)!r} is from epoch {progress['epochs_done']}; epochs={state.epochs} "
                              "asks for fewer. Pass the total number of epochs to train.")
    rng_state = training["rng"]["state"]
    if rng_state.get("bit_generator") != type(state.rng.bit_generator).__name__:
        raise ValidationError(f"{str(path)!r} was shuffled with a {rng_state.get('bit_generator')} generator; "
                              f"this call's is {type(state.rng.bit_generator).__name__}.")
    saved_cbs = training.get("callbacks", [])
    cb_arrays: dict[int, dict] = {}
    for name, value in arrays.items():
        if name.startswith("cb/"):
            _, j, key = name.split("/", 2)
            cb_arrays.setdefault(int(j), {})[key] = value
    # -- everything checked: put it in place
    net.set_weights(ck_net.get_weights())
    opt.set_state(training["optimizer"], {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
    state.rng.bit_generator.state = rng_state
    state.epoch = progress["epochs_done"]
    if progress["batch"]:
        state.epoch += 1
        state.epoch_done = False
        state.batch = progress["batch"]
        state.order = np.asarray(arrays["order"], dtype=np.intp)
        state.epoch_cost, state.epoch_correct = float(progress["epoch_cost"]), int(progress["epoch_correct"])
    state.resumed = True
    by_class: dict[str, list[int]] = {}
    for j, saved in enumerate(saved_cbs):
        by_class.setdefault(saved["class"], []).append(j)
    for cb in state.callbacks:
        slots = by_class.get(type(cb).__name__)
        if slots:
            j = slots.pop(0)
            cb.set_state(saved_cbs[j]["state"], cb_arrays.get(j, {}))
        elif any(cb.get_state()):
            warnings.warn(f"resume: the checkpoint holds no state for {type(cb).__name__}; it starts afresh.",
                          stacklevel=4)
    _resume_learning_rate(state, path, saved_opt, progress)


def _resume_learning_rate(state, path, saved_opt: dict, progress: dict) -> None:
    """A caller who resumes with another learning rate gets it from the resume point on,
    and is told so; everything else continues bit for bit. (The caller's optimizer keeps
    the lr it was given: nothing of the checkpoint's is written over it.)

    With a LearningRateScheduler the rate that counts is the schedule's base lr0 (the
    optimizer's rate in the checkpoint is the schedule's value at that epoch)."""
    opt = state.optimizer
    if not state.optimizer_given:           # the checkpoint's own optimizer: its rate as saved
        return
    schedulers = [cb for cb in state.callbacks if isinstance(cb, LearningRateScheduler) and cb.lr0 is not None]
    base = schedulers[0].lr0 if schedulers else saved_opt.get("lr", opt.lr)
    if opt.lr == base:
        return
    for cb in schedulers:
        cb.lr0 = opt.lr
    done, batch = progress["epochs_done"], progress["batch"]
    where = f"epoch {done + 1}" + (f", batch {batch + 1}" if batch else "")
    what = "learning rate" if not schedulers else "schedule's base learning rate"
    warnings.warn(ResumeWarning(f"resume: training continues from {where} with the {what} lr={opt.lr:g}; the run in "
                                f"{str(path)!r} used lr={base:g}.",
                                cli=f"resume: training continues from {where} with --lr {opt.lr:g}"
                                    f"{' (the base of --schedule)' if schedulers else ''}; the run in "
                                    f"{str(path)!r} used {base:g}."), stacklevel=4)
