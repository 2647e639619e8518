"""Floor 5: the training loop, as the seeds' algorithm states it.

For each epoch: shuffle the training data (from an explicit seed), cut it into
mini-batches of m examples (a short last batch is used, not dropped), and for each
mini-batch feed forward, backpropagate, and let the optimizer step. With plain SGD
that step is the seeds' rule w -> w - (eta/m) sum_x delta^{x,l} (a^{x,l-1})^T.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from . import engines
from . import optimizers as _optimizers
from ._array import as_rng, check_positive_int
from .errors import DeltapropTypeError, NonFiniteError, ValidationError


class History:
    """Per-epoch metrics of a :func:`fit` call, Keras-style.

    ``history.history`` maps ``"loss"``, ``"accuracy"``, ``"val_loss"``,
    ``"val_accuracy"`` (those that apply) and ``"seconds"`` to one value per epoch;
    ``history["loss"]`` is a shortcut. Training loss and accuracy are over the
    outputs the network gave each example while it was trained on it during the
    epoch (as Keras reports them); validation metrics are taken at the epoch's end.
    """

    def __init__(self):
        self.engine = ""
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def extend(self, epochs, columns: dict) -> None:
        """Record several epochs at once: ``columns`` maps each key to one value per epoch."""
        self.epoch.extend(epochs)
        for key, values in columns.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.history)})"


def format_logs(epoch: int, epochs: int, logs: dict) -> str:
    """One line per epoch: ``epoch 3/30  loss 0.0123  accuracy 0.9501 ... 1.2s``."""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for key, value in logs.items():
        if key == "seconds":
            continue
        parts.append(f"{key} {value:.4f}")
    parts.append(f"{logs.get('seconds', 0.0):.2f}s")
    return "  ".join(parts)


def fit(net, X, Y, *, epochs: int = 1, batch_size: int = 32, optimizer=None, validation_data=None,
        seed=None, verbose: int = 1, shuffle: bool = True, engine=None) -> History:
    """Train ``net`` by mini-batch gradient descent; return a :class:`History`.

    Args:
        X: inputs, ``(n_samples, n_features)``.
        Y: targets: rows ``(n_samples, n_outputs)`` or, for a classifier, integer labels ``(n_samples,)``.
        epochs: passes over the data.
        batch_size: m, examples per update; larger than the data it is clipped with a warning.
        optimizer: an optimizer object, or ``"sgd"``/``"adam"`` for defaults; default ``SGD(lr=0.1)``.
        validation_data: ``(X_val, Y_val)`` evaluated after each epoch.
        seed: int or Generator for the shuffling; default: the network's own generator.
        verbose: 0 prints nothing; 1 prints one line per epoch.
        shuffle: reshuffle every epoch (the seeds' stochastic gradient descent).
        engine: ``"numpy"`` (the reference), ``"numba"`` (compiled, ``deltaprop[fast]``),
            or None/``"auto"``: numba when installed. See :mod:`deltaprop.engines`.

    Raises:
        NonFiniteError: the loss or a weight became NaN or infinite; the weights are
            put back to where they were at the start of that epoch.
    """
    X, Y = net.check_XY(X, Y)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    opt = _optimizers.get(optimizer)
    if verbose not in (0, 1, 2, False, True):
        raise ValidationError(f"The 'verbose' argument must be 0 or 1. Got {verbose!r} instead.")
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise DeltapropTypeError("The 'validation_data' argument must be a pair (X_val, Y_val). "
                                     f"Got {type(validation_data).__name__} instead.")
        val = net.check_XY(*validation_data, names=("validation_data[0]", "validation_data[1]"))
    runner = engines.select(engine, net, opt)
    rng = net.rng if seed is None else as_rng(seed)
    n = len(X)
    if batch_size > n:   # warned only once every argument has been accepted
        warnings.warn(f"batch_size={batch_size} is larger than the {n} training samples; using {n}.",
                      stacklevel=3)
        batch_size = n

    history = History()
    history.engine = runner.name
    # Epochs run in chunks: one epoch at a time when something happens between
    # epochs (validation, printing), else as many as fit in a modest order table,
    # so a compiled engine can run them all in one call.
    per_call = 1 if (val is not None or verbose) else max(1, min(epochs, (1 << 22) // n))
    epoch = 0
    while epoch < epochs:
        count = min(per_call, epochs - epoch)
        start_time = time.perf_counter()
        if shuffle and n > 1:
            orders = np.stack([rng.permutation(n) for _ in range(count)])
        else:   # in order; a permutation of one example is the identity: nothing is drawn
            orders = np.broadcast_to(np.arange(n), (count, n))
        try:
            results = runner.train(X, Y, orders, batch_size)
        except engines.Diverged as d:
            raise NonFiniteError(
                f"Training diverged in epoch {epoch + d.epoch + 1}: the loss became {d.loss} (NaN or infinity). "
                f"The weights were restored to their values at the start of epoch {epoch + d.epoch + 1}. "
                "Try a smaller learning rate."
            ) from None
        seconds = (time.perf_counter() - start_time) / count
        if count > 1:      # nothing happens between these epochs: record them in one go
            columns = {"loss": [cost / n for cost, _ in results]}
            if net.is_classifier:
                columns["accuracy"] = [correct / n for _, correct in results]
            columns["seconds"] = [seconds] * count
            history.extend(range(epoch + 1, epoch + count + 1), columns)
            epoch += count
            continue
        (cost, correct), = results
        epoch += 1
        logs = {"loss": cost / n}
        if net.is_classifier:
            logs["accuracy"] = correct / n
        if val is not None:
            logs.update({f"val_{k}": v for k, v in net.metrics(net.forward_rows(val[0]), val[1]).items()})
        logs["seconds"] = seconds
        history.append(epoch, logs)
        if verbose:
            print(format_logs(epoch, epochs, logs), file=sys.stdout, flush=True)
    return history
