"""Callbacks, everything optional about training.

The loop of :func:`deltaprop.training.fit` is short; whatever else happens while a
network trains (recording metrics, stopping early, writing checkpoints and logs,
changing the learning rate, a progress bar) is a :class:`Callback`. Each hook receives
the loop's :class:`~deltaprop.training.TrainingState`, the one object they share:

==================  =================================================================
``state.net``       the network being trained; ``state.optimizer`` its optimizer
``state.epoch``     the epoch running (1-based) or, after it, the last one finished
``state.epochs``    how many epochs the call trains in all
``state.batch``     batches finished in the current epoch (of ``state.n_batches``)
``state.logs``      the epoch's metrics: ``loss``, ``accuracy``, ``val_loss``, ... (Keras' names);
                    a callback adds its own to ``state.extra_logs`` before the epoch ends
``state.stop_training``  set it to True to stop after the current epoch
``state.rank``      data-parallel training: this process's rank (of ``state.ranks``); every
                    rank runs every callback on the same global figures, and
                    ``state.writes_files`` is True on rank 0 alone (a callback that writes
                    or shows something checks it, as CSVLogger and ModelCheckpoint do)
==================  =================================================================

Hooks, in the order the loop calls them: ``on_train_begin``, then per epoch
``on_epoch_begin``, ``on_batch_end`` (after each block of batches the engine runs:
one batch with the NumPy engine, several with a compiled one), ``on_epoch_end``; finally
``on_train_end``. ``on_nonfinite`` is called when a batch's cost is NaN or infinite
(the weights are then the last finite ones), ``on_interrupt`` when SIGINT or SIGTERM
arrives. A callback whose state must survive a crash returns it from
:meth:`Callback.get_state` (JSON-able values and NumPy arrays), and gets it back through
:meth:`Callback.set_state` when training resumes from a checkpoint.

Callbacks never import the training loop: they act on the state they are given.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from ._array import check_positive_int, check_real
from ._files import atomic_open
from ._protocols import NetworkLike
from .errors import DeltapropTypeError, DivergenceWarning, InputRangeWarning, ValidationError, warn
from .optimizers import Optimizer


class TrainingStateLike(Protocol):
    """What every hook receives: the loop's :class:`~deltaprop.training.TrainingState`
    (the fields of the table above, and what the loop and checkpoints keep beside them).
    Callbacks never import the loop, so they know the state by this description (annotate
    a hook of your own with it)."""

    net: NetworkLike
    optimizer: Optimizer
    callbacks: list[Callback]
    rng: np.random.Generator
    epochs: int | None
    batch_size: int
    n_samples: int
    n_batches: int
    sample_weight: np.ndarray | None
    total_weight: float
    has_validation: bool
    fit_info: dict[str, Any]
    epoch: int
    epoch_done: bool
    batch: int
    batch_loss: float | None
    order: np.ndarray | None
    epoch_cost: float
    epoch_correct: int
    logs: dict[str, float]
    extra_logs: dict[str, float]
    stop_training: bool
    stop_reason: str
    nonfinite: dict[str, Any] | None
    interrupted: int
    checkpointing: bool
    optimizer_given: bool
    resumed: bool
    engine: str
    metric_names: list[str]
    rank: int
    ranks: int

    @property
    def history(self) -> History: ...
    @property
    def progress(self) -> tuple[int, int]: ...
    @property
    def finished(self) -> bool: ...
    @property
    def writes_files(self) -> bool: ...
    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path: ...
    def remove_stale_temporaries(self, directory: str | os.PathLike[str]) -> None: ...


class Callback:
    """Base class: every hook does nothing. Override the ones you need."""

    def validate(self, state: TrainingStateLike) -> None:
        """Raise if this callback cannot work with this fit call (before anything changes)."""

    def on_train_begin(self, state: TrainingStateLike) -> None: ...
    def on_epoch_begin(self, state: TrainingStateLike) -> None: ...
    def on_batch_end(self, state: TrainingStateLike) -> None: ...
    def on_epoch_end(self, state: TrainingStateLike) -> None: ...
    def on_train_end(self, state: TrainingStateLike) -> None: ...
    def on_nonfinite(self, state: TrainingStateLike) -> None: ...
    def on_interrupt(self, state: TrainingStateLike) -> None: ...

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What a checkpoint must keep of this callback: ``(json_part, arrays)``."""
        return {}, {}

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Put back what :meth:`get_state` returned."""

    #: Names of the metrics this callback adds to ``state.extra_logs`` each epoch (so that
    #: EarlyStopping and ModelCheckpoint may monitor them).
    provides: tuple[str, ...] = ()

    @property
    def wants_batches(self) -> bool:
        """True if ``on_batch_end`` does something (the loop then runs shorter blocks)."""
        return type(self).on_batch_end is not Callback.on_batch_end

    @property
    def wants_epochs(self) -> bool:
        """True if anything must run between epochs (else a compiled engine may run many at once)."""
        return any(getattr(type(self), hook) is not getattr(Callback, hook)
                   for hook in ("on_epoch_begin", "on_batch_end", "on_epoch_end", "on_interrupt"))


class History(Callback):
    """Per-epoch metrics of a :func:`~deltaprop.training.fit` call, Keras-style.

    ``history.history`` maps ``"loss"``, ``"accuracy"``, ``"val_loss"``,
    ``"val_accuracy"`` (those that apply), ``"lr"`` (with a schedule) and
    ``"seconds"`` to one value per epoch; ``history["loss"]`` is a shortcut. Training
    loss and accuracy are over the outputs the network gave each example while it was
    trained on it during the epoch (as Keras reports them); validation metrics are
    taken at the epoch's end. ``engine`` names the engine that ran the batches and
    ``stop_reason`` says why training ended before its last epoch, if it did.
    """

    def __init__(self) -> None:
        self.engine = ""
        self.stop_reason = ""
        self._epoch: list[int] = []
        self._history: dict[str, list[float]] = {}
        # epochs recorded in bulk (extend), as arrays until someone reads them: W3's
        # 10,000 epochs would otherwise cost 30,000 Python floats per fit, more than
        # the compiled loop that trained them
        self._pending: list[tuple[Iterable[int], dict[str, np.ndarray]]] = []

    @property
    def epoch(self) -> list[int]:
        """The epoch numbers recorded (from 1), one per entry of each list in ``history``."""
        self._flush()
        return self._epoch

    @epoch.setter
    def epoch(self, value: list[int]) -> None:
        self._pending, self._epoch = [], value

    @property
    def history(self) -> dict[str, list[float]]:
        """Each metric's list of per-epoch values."""
        self._flush()
        return self._history

    @history.setter
    def history(self, value: dict[str, list[float]]) -> None:
        self._pending, self._history = [], value

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        self.append(state.epoch, state.logs)

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def extend(self, epochs: Iterable[int], columns: Mapping[str, Iterable[float]]) -> None:
        """Record several epochs at once: ``columns`` maps each key to one value per epoch
        (arrays, kept as they are until ``epoch`` or ``history`` is read)."""
        self._pending.append((epochs, {key: np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                                                        dtype=np.float64) for key, values in columns.items()}))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for epochs, columns in pending:
            self._epoch.extend(epochs)
            for key, values in columns.items():
                self._history.setdefault(key, []).extend(values.tolist())

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}, {}

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.epoch = [int(e) for e in meta.get("epoch", [])]
        self.history = {k: [float(x) for x in v] for k, v in meta.get("history", {}).items()}

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.history)})"


def format_logs(epoch: int, epochs: int | None, logs: Mapping[str, float]) -> str:
    """One line per epoch: ``epoch  3/30  loss 0.0123  accuracy 0.9501 ... 1.20s``."""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for key, value in logs.items():
        if key == "seconds":
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    parts.append(f"{logs.get('seconds', 0.0):.2f}s")
    return "  ".join(parts)


# ---------------------------------------------------------------------------------------
# Monitoring a metric: shared by EarlyStopping and ModelCheckpoint(save_best_only=True)

def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValidationError(f"The 'mode' argument must be 'auto', 'min' or 'max'. Got {mode!r} instead.")
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


def _check_monitor(name: str, monitor: str, state: TrainingStateLike) -> None:
    """Before training starts: ``monitor`` must be a metric this fit call will report."""
    if monitor in state.metric_names:
        return
    if monitor.startswith("val_") and not state.has_validation:
        raise ValidationError(
            f"{name} monitors {monitor!r}, but this fit call has no validation data. "
            "Pass validation_data=(X_val, Y_val) or validation_split=0.1, or monitor 'loss'."
        )
    if monitor.endswith("accuracy") and not state.net.is_classifier:
        raise ValidationError(f"{name} monitors {monitor!r}, but this network is not a classifier "
                              "(it reports no accuracy). Monitor 'loss' or 'val_loss'.")
    close = difflib.get_close_matches(monitor, state.metric_names, n=1, cutoff=0.5)
    raise ValidationError(f"{name} monitors {monitor!r}, which this fit call does not report. "
                          + (f"Did you mean {close[0]!r}? " if close else "")
                          + f"It reports: {', '.join(map(repr, state.metric_names))}.")


class _Monitor:
    """The best value of a metric so far, and whether a new one improves on it by min_delta."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if not isinstance(monitor, str):
            raise DeltapropTypeError(f"The 'monitor' argument must be a metric name such as 'val_loss'. "
                                     f"Got {monitor!r} instead.")
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.min_delta = check_real("min_delta", min_delta, low=0)
        self.best = math.inf if self.mode == "min" else -math.inf

    def improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def value(self, logs: Mapping[str, float]) -> float:
        return float(logs[self.monitor])

    def set_best(self, best: float | None) -> None:
        """From a checkpoint: None stands for "nothing seen yet" (JSON has no infinity)."""
        self.best = (math.inf if self.mode == "min" else -math.inf) if best is None else float(best)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (Keras' semantics: with patience 3, the third epoch in a row without improvement is
    the last; patience 0 stops at the first).

    With ``restore_best_weights=True`` the network ends with the weights of its best
    epoch (also when training runs to its last epoch without stopping early).
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        self._m = _Monitor(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValidationError(f"The 'patience' argument must be an integer >= 0. Got {patience!r} instead.")
        self.patience = patience
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    @property
    def monitor(self) -> str:
        return self._m.monitor

    @property
    def best(self) -> float:
        return self._m.best

    def validate(self, state: TrainingStateLike) -> None:
        _check_monitor("EarlyStopping", self.monitor, state)

    def on_train_begin(self, state: TrainingStateLike) -> None:
        if not state.resumed:        # a new fit starts afresh (a resumed one got its state back)
            self._m.set_best(None)
            self.wait = self.best_epoch = self.stopped_epoch = 0
            self.best_weights = None

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        value = self._m.value(state.logs)
        if self._m.improves(value):
            self._m.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = state.net.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = state.epoch
            state.stop_training = True
            state.stop_reason = (f"EarlyStopping: {self.monitor} did not improve on {self._m.best:.6g} "
                                 f"(epoch {self.best_epoch}) for {self.wait} epoch(s)")

    def on_train_end(self, state: TrainingStateLike) -> None:
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != state.epoch:
            state.net.set_weights(self.best_weights)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"best": _finite_or_none(self._m.best), "wait": self.wait, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}
        arrays = {f"w{i}": w for i, w in enumerate(self.best_weights or [])}
        return meta, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._m.set_best(meta["best"])
        self.wait, self.best_epoch = int(meta["wait"]), int(meta["best_epoch"])
        self.stopped_epoch = int(meta.get("stopped_epoch", 0))
        weights = [arrays[f"w{i}"] for i in range(len(arrays))]
        self.best_weights = weights or None


class TerminateOnNaN(Callback):
    """Stop training, instead of raising NonFiniteError, when a batch's cost is NaN or infinite.

    The network keeps its last finite weights (those before the bad batch); the
    message, printed to stderr and kept as ``history.stop_reason``, names the epoch
    and the batch.
    """

    def on_nonfinite(self, state: TrainingStateLike) -> None:
        info = state.nonfinite
        assert info is not None              # the loop sets it before it calls this hook
        state.stop_training = True
        what = "a weight became infinite or NaN" if info["update"] else f"the cost became {info['loss']}"
        state.stop_reason = (f"TerminateOnNaN: {what} in epoch {info['epoch']}, batch {info['batch']} of "
                             f"{state.n_batches}; training stopped with the last finite weights (those before "
                             "that batch).")
        print(state.stop_reason, file=sys.stderr, flush=True)


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` and every metric of ``state.logs``.

    The file is flushed after every row, so a crash loses at most the epoch that was
    running. When training resumes from a checkpoint, rows of epochs after the
    checkpoint's (written before a crash, then trained again) are dropped first.
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False, separator: str = ",") -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise DeltapropTypeError(f"The 'path' argument of CSVLogger must be a file path. Got {path!r} instead.")
        self.path = Path(path)
        self.append = bool(append)
        self.separator = separator
        self._keys: list[str] | None = None
        self._file: IO[str] | None = None

    def validate(self, state: TrainingStateLike) -> None:
        if self.path.is_dir():
            raise ValidationError(f"CSVLogger needs a file path; {str(self.path)!r} is a folder.")

    def on_train_begin(self, state: TrainingStateLike) -> None:
        if not state.writes_files:              # data-parallel: rank 0 writes the rows
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if state.resumed and self.path.exists():
            self._keep_rows_up_to(state.epoch)
            mode = "a"
        else:
            mode = "a" if self.append and self.path.exists() else "w"
        if mode == "a" and self.path.exists() and self.path.stat().st_size:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self._keys = header[1:] if header else None
        self._file = open(self.path, mode, newline="")

    def _keep_rows_up_to(self, epoch: int) -> None:
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.separator))
        kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= epoch]
        with atomic_open(self.path, "w") as f:
            csv.writer(f, delimiter=self.separator).writerows(kept)

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        if self._file is None:               # (not rank 0 of data-parallel training)
            return
        writer = csv.writer(self._file, delimiter=self.separator)
        if self._keys is None:
            self._keys = list(state.logs)
            writer.writerow(["epoch", *self._keys])
        writer.writerow([state.epoch, *(_fmt(state.logs.get(k, "")) for k in self._keys)])
        self._file.flush()

    def on_train_end(self, state: TrainingStateLike) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(value: object) -> str:
    return repr(float(value)) if isinstance(value, (int, float, np.floating)) else str(value)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate before every epoch from ``schedule(epoch, lr0)``.

    ``schedule`` is a :mod:`deltaprop.schedules` object or any function of
    ``(epoch, lr0)``, with ``epoch`` counting from 1 and ``lr0`` the learning rate the
    optimizer had when training began. The rate used is logged as ``lr``.
    """

    provides = ("lr",)

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        if not callable(schedule):
            raise DeltapropTypeError("The 'schedule' argument must be callable as schedule(epoch, lr0), e.g. "
                                     f"dp.schedules.CosineDecay(epochs=30). Got {schedule!r} instead.")
        self.schedule = schedule
        self.lr0: float | None = None

    def on_train_begin(self, state: TrainingStateLike) -> None:
        if not state.resumed or self.lr0 is None:     # a resumed fit got lr0 back from its checkpoint
            self.lr0 = state.optimizer.lr

    def on_epoch_begin(self, state: TrainingStateLike) -> None:
        assert self.lr0 is not None          # set in on_train_begin
        lr = self.schedule(state.epoch, self.lr0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not 0 <= lr < math.inf:
            raise ValidationError(f"The learning-rate schedule {self.schedule!r} gave {lr!r} for epoch "
                                  f"{state.epoch}; it must give a finite number >= 0.")
        state.optimizer.lr = float(lr)
        state.extra_logs["lr"] = state.optimizer.lr

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"lr0": self.lr0}, {}

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.lr0 = meta.get("lr0")


class ModelCheckpoint(Callback):
    """Write training checkpoints into ``directory``: every ``every`` epochs, or only when
    ``monitor`` improves (``save_best_only``), keeping the last ``keep`` files it wrote.

    A checkpoint holds everything :func:`~deltaprop.training.fit` needs to continue
    bit-identically (weights, optimizer state, epoch and step counters, the shuffling
    generator's state, every callback's state); ``fit(..., resume=directory)`` picks
    the most advanced one. ``dp.load(file)`` reads the network of any of them. While a
    ModelCheckpoint is in use, SIGINT and SIGTERM make the loop write one more
    checkpoint (mid-epoch, named ``epoch-XXXX-batch-YYYYY.dpz``) before it stops.
    Files are written atomically: a crash mid-write leaves the previous files intact.
    """

    def __init__(self, directory: str | os.PathLike[str], *, every: int = 1, save_best_only: bool = False,
                 monitor: str = "val_loss", mode: str = "auto", keep: int | None = None) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise DeltapropTypeError(f"The 'directory' argument of ModelCheckpoint must be a folder path. "
                                     f"Got {directory!r} instead.")
        self.directory = Path(directory)
        self.every = check_positive_int("every", every)
        self.save_best_only = bool(save_best_only)
        self._m = _Monitor(monitor, mode, 0.0)
        self.keep = None if keep is None else check_positive_int("keep", keep)
        self.written: list[str] = []

    def validate(self, state: TrainingStateLike) -> None:
        if self.save_best_only:
            _check_monitor("ModelCheckpoint", self._m.monitor, state)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValidationError(f"ModelCheckpoint needs a folder; {str(self.directory)!r} is a file.")

    def on_train_begin(self, state: TrainingStateLike) -> None:
        if state.writes_files:              # data-parallel: rank 0 writes the files
            self.directory.mkdir(parents=True, exist_ok=True)
            state.remove_stale_temporaries(self.directory)
        if not state.resumed:
            self._m.set_best(None)
            self.written = []

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        if self.save_best_only:
            value = self._m.value(state.logs)
            if not self._m.improves(value):
                return
            self._m.best = value
        elif state.epoch % self.every and state.epoch != state.epochs:
            return
        self._write(state, f"epoch-{state.epoch:04d}.dpz")

    def on_interrupt(self, state: TrainingStateLike) -> None:
        self._write(state, f"epoch-{state.epoch:04d}-batch-{state.batch:05d}.dpz", prune=False)

    def _write(self, state: TrainingStateLike, name: str, prune: bool = True) -> None:
        path = self.directory / name
        # Record the file first, so the checkpoint itself knows it is among those written.
        if name not in self.written:
            self.written.append(name)
        state.save_checkpoint(path)
        if prune and self.keep is not None:
            while len(self.written) > self.keep:
                old = self.directory / self.written.pop(0)
                if old != path:
                    old.unlink(missing_ok=True)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"best": _finite_or_none(self._m.best), "written": list(self.written)}, {}

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._m.set_best(meta.get("best"))
        self.written = list(meta.get("written", []))


class RunWatch:
    """What every fit watches for without being asked, on a probe of up to 1,024 training
    examples spread over the data: inputs far from the range networks train well on
    (raw 0-255 pixels), warned when training begins; and a run that failed without
    reaching NaN (the cost ended above where it began, or the weights grew a
    thousandfold: ReLU at lr 1e3, saturated sigmoids at chance), warned when it ends,
    naming the learning rate."""

    #: Root mean square of a feature beyond which inputs are far from the usual range.
    INPUT_RMS_LIMIT = 20.0
    #: A cost that ends above this multiple of where it began means the run failed;
    #: so do weights that grew beyond this multiple of the largest initial one (or of 1).
    DIVERGED = 1.1
    WEIGHTS_RAN_AWAY = 1000.0

    def __init__(self, X: np.ndarray, Y: np.ndarray, size: int = 1024) -> None:
        step = max(1, len(X) // size)
        self.X, self.Y = X[::step][:size], Y[::step][:size]
        self.start_cost = self.start_weight = math.nan

    def begin(self, net: NetworkLike) -> None:
        rms = np.sqrt(np.mean(np.square(self.X, dtype=np.float64), axis=0))
        j = int(np.argmax(rms))
        if rms[j] > self.INPUT_RMS_LIMIT:
            pixels = " (raw 0-255 pixels? divide them by 255)" if 0 <= self.X.min() and 1 < self.X.max() <= 255 else ""
            finding = (f"The inputs are far from the range networks train well on: feature {j} has a root mean "
                       f"square of {rms[j]:.4g} over {len(self.X)} of the training examples{pixels}.")
            warn(InputRangeWarning(f"{finding} Scale each feature to about 1: dp.data.Standardizer().fit(X) and its "
                                   "transform(X).", cli=f"{finding} Scale each feature to about 1: pass --standardize."))
        self.start_cost, self.start_weight = self._cost(net), self._largest_weight(net)

    def end(self, net: NetworkLike, optimizer: Optimizer) -> None:
        end_weight = self._largest_weight(net)
        if end_weight > self.WEIGHTS_RAN_AWAY * max(self.start_weight, 1.0):
            self._warn(f"Training diverged: the largest weight grew from {self.start_weight:.3g} to "
                       f"{end_weight:.3g}.", optimizer.lr)
            return
        start, end = self.start_cost, self._cost(net)
        if np.isfinite(start) and start > 0 and not end <= self.DIVERGED * start:
            what = "diverged" if not end <= 1.5 * start else "did not learn"
            times = f"{end / start:.3g} times" if np.isfinite(end) else "above"
            self._warn(f"Training {what}: the cost on {len(self.X)} of the training examples ended at {end:.4g}, "
                       f"{times} the {start:.4g} it began at.", optimizer.lr)

    def _cost(self, net: NetworkLike) -> float:
        # the layers keep the caches of the last training pass (explain and tests read them)
        kept = [(layer.A_prev, layer.Z, layer.A, layer.M) for layer in net.layers]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            cost = net.metrics(net.forward_rows(self.X), self.Y)["loss"]
        for layer, cache in zip(net.layers, kept):
            layer.A_prev, layer.Z, layer.A, layer.M = cache
        return cost

    @staticmethod
    def _largest_weight(net: NetworkLike) -> float:
        return max(float(np.max(np.abs(layer.W), initial=0.0)) for layer in net.layers)

    @staticmethod
    def _warn(finding: str, lr: float) -> None:
        hint = "is probably too large: try one 10 or 100 times smaller."
        warn(DivergenceWarning(f"{finding} The learning rate (lr={lr:g}) {hint}",
                               cli=f"{finding} The learning rate (--lr {lr:g}) {hint}"))


def __getattr__(name: str) -> Any:
    """``dp.callbacks.LivePlot`` is :class:`deltaprop.plotting.LivePlot`, loaded on first use
    (it draws with matplotlib, an optional extra, from the plotting floor above)."""
    if name == "LivePlot":
        from .plotting import LivePlot
        return LivePlot
    raise AttributeError(f"module 'deltaprop.callbacks' has no attribute {name!r}")
