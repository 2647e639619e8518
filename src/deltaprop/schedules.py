"""Learning-rate schedules, eta as a function of the epoch.

A schedule is a callable ``schedule(epoch, lr0) -> lr``: ``epoch`` counts from 1 (the
epoch about to run), ``lr0`` is the optimizer's learning rate when training began.
:class:`deltaprop.callbacks.LearningRateScheduler` applies one before every epoch; any
function of that signature works too.

>>> [round(StepDecay(drop=0.5, every=2)(e, 1.0), 3) for e in range(1, 6)]
[1.0, 1.0, 0.5, 0.5, 0.25]
>>> [round(CosineDecay(epochs=4)(e, 1.0), 3) for e in range(1, 6)]
[1.0, 0.854, 0.5, 0.146, 0.0]
"""

from __future__ import annotations

import math
from typing import Any

from ._array import check_positive_int, check_real


class Schedule:
    """Base class: subclasses implement ``__call__(epoch, lr0)``."""

    def __call__(self, epoch: int, lr0: float) -> float:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **vars(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """lr = lr0 * drop ** floor((epoch - 1) / every): multiply by ``drop`` every ``every`` epochs."""

    def __init__(self, drop: float = 0.5, every: int = 10) -> None:
        self.drop = check_real("drop", drop, low=0, high=1, low_open=True)
        self.every = check_positive_int("every", every)

    def __call__(self, epoch: int, lr0: float) -> float:
        return lr0 * self.drop ** ((epoch - 1) // self.every)


class ExponentialDecay(Schedule):
    """lr = lr0 * rate ** (epoch - 1)."""

    def __init__(self, rate: float = 0.95) -> None:
        self.rate = check_real("rate", rate, low=0, high=1, low_open=True)

    def __call__(self, epoch: int, lr0: float) -> float:
        return lr0 * self.rate ** (epoch - 1)


class CosineDecay(Schedule):
    """Half a cosine from lr0 at epoch 1 down to ``min_lr`` after ``epochs`` epochs (held after):

        lr = min_lr + (lr0 - min_lr) (1 + cos(pi min(epoch - 1, epochs) / epochs)) / 2

    so every one of the ``epochs`` epochs still learns (as PyTorch's CosineAnnealingLR
    with T_max = epochs, stepped once per epoch).
    """

    def __init__(self, epochs: int, min_lr: float = 0.0) -> None:
        self.epochs = check_positive_int("epochs", epochs)
        self.min_lr = check_real("min_lr", min_lr, low=0)

    def __call__(self, epoch: int, lr0: float) -> float:
        t = min(epoch - 1, self.epochs) / self.epochs
        return self.min_lr + (lr0 - self.min_lr) * (1 + math.cos(math.pi * t)) / 2


SCHEDULES: dict[str, type[Schedule]] = {"step": StepDecay, "exponential": ExponentialDecay, "cosine": CosineDecay}
