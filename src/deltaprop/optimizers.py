"""Optimizers. Each ``step`` receives ``(param, grad)`` pairs and updates the
parameters in place, in the dtype they already have.

The gradients the network hands over are those of the batch mean C = 1/m sum_x C_x,
so ``SGD(lr=eta)`` with no momentum is the seeds' rule exactly::

    w -> w - (eta/m) sum_x dC_x/dw,    b -> b - (eta/m) sum_x dC_x/db

State (momentum buffers, Adam's moments) is kept per position in the list of pairs,
so a network must pass its parameters in the same order at every step (it does).

Each optimizer also states its update one parameter entry at a time
(``scalar_prepare`` once per step, ``scalar_update`` per entry), with the same
operations in the same order as :meth:`Optimizer.update`: the compiled engine
(:mod:`deltaprop._kernels`) learns the optimizers from those, their
:meth:`Optimizer.hyper` record and the registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ._array import check_real
from .errors import DeltapropTypeError, ValidationError, unknown_name


class Hyper(NamedTuple):
    """Every optimizer's hyperparameters as the compiled engine reads them (by name; an
    optimizer leaves the fields it has no use for at 0)."""

    lr: float
    momentum: float = 0.0
    nesterov: float = 0.0           # 1.0 for Nesterov momentum
    weight_decay: float = 0.0
    beta1: float = 0.0
    beta2: float = 0.0
    eps: float = 0.0
    one_minus_beta1: float = 0.0    # 1 - beta1, as Python forms it (then cast, as NumPy casts it)
    one_minus_beta2: float = 0.0


class Optimizer:
    """Base class. Subclasses implement :meth:`update` for one parameter."""

    def __init__(self, lr: float) -> None:
        self.lr = check_real("lr", lr, low=0, low_open=True)
        self.state: dict[int, dict[str, np.ndarray]] = {}
        self.iterations = 0

    def step(self, pairs: Iterable[tuple[np.ndarray, np.ndarray | None]]) -> None:
        """Apply one update to every ``(param, grad)`` pair, in place."""
        self.iterations += 1
        for i, (param, grad) in enumerate(pairs):
            if grad is None:      # a layer's gradient before its first backward pass
                raise DeltapropTypeError(f"Pair {i} passed to step() has no gradient (None): step() takes "
                                         "(param, grad) pairs after a backward pass.")
            self.update(param, grad, self.state.setdefault(i, {}))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state (moments, momentum, step count)."""
        self.state.clear()
        self.iterations = 0

    def config(self) -> dict[str, Any]:
        return {"name": type(self).__name__}

    # -- what the compiled engine reads ------------------------------------------------

    @property
    def state_keys(self) -> tuple[str, ...]:
        """Names of the per-parameter state buffers, in the engine's order (S1, S2)."""
        return ()

    def hyper(self) -> Hyper:
        """The hyperparameters as the compiled engine reads them (Python floats)."""
        raise NotImplementedError

    @property
    def plain_step(self) -> bool:
        """The update is w - lr dC/dw and nothing else (the engine may fold it into BP4's product)."""
        return False

    # scalar_prepare(h, t) -> (k0, k1): per-step float64 factors, from the float64 record
    # h and the step number t (a float); scalar_update(p, g, s1, s2, h, k0, k1, wd) ->
    # (p, s1, s2) for one entry, in the parameter's dtype (wd is 0 for biases).
    scalar_prepare: ClassVar[Callable[..., tuple[float, float]] | None] = None
    scalar_update: ClassVar[Callable[..., tuple[float, float, float]] | None] = None

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything needed to continue bit for bit: ``(json_part, arrays)``.

        Arrays are named ``"<position>/<buffer>"`` (e.g. ``"0/m"``), the position being
        that of the parameter in the list of pairs ``step`` receives.
        """
        arrays = {f"{i}/{key}": value for i, buffers in self.state.items() for key, value in buffers.items()}
        return {"config": self.config(), "iterations": self.iterations}, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Put back what :meth:`get_state` returned (hyperparameters are checked, not set)."""
        mine, theirs = self.config(), meta.get("config", {})
        if mine.get("name") != theirs.get("name"):
            raise ValidationError(f"The saved optimizer state is for {theirs.get('name')!r}, "
                                  f"not for this {mine.get('name')!r}.")
        state: dict[int, dict[str, np.ndarray]] = {}
        for name, value in arrays.items():
            position, _, key = name.partition("/")
            state.setdefault(int(position), {})[key] = np.array(value)
        self.state = state
        self.iterations = int(meta.get("iterations", 0))


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    With g = dC/dw (+ weight_decay * w for weight matrices; biases are not decayed,
    which is gradient descent on C + weight_decay/2 * sum ||W^l||^2, the L2-regularised
    cost of Nielsen's chapter 3 with lambda/n = weight_decay)::

        momentum = 0:   w <- w - lr g
        momentum mu:    v <- mu v + g;   w <- w - lr v            (PyTorch's form)
        nesterov:       v <- mu v + g;   w <- w - lr (g + mu v)
    """

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = check_real("momentum", momentum, low=0, high=1, high_open=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValidationError("nesterov=True needs a momentum > 0. Got momentum=0 instead.")
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.weight_decay and param.ndim >= 2:
            grad = grad + self.weight_decay * param
        if self.momentum:
            v = state.get("v")
            if v is None:
                v = state["v"] = np.zeros_like(param)
            v *= self.momentum
            v += grad
            grad = grad + self.momentum * v if self.nesterov else v
        param -= self.lr * grad

    def config(self) -> dict[str, Any]:
        return {"name": "SGD", "lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    @property
    def state_keys(self) -> tuple[str, ...]:
        return ("v",) if self.momentum else ()

    def hyper(self) -> Hyper:
        return Hyper(self.lr, self.momentum, float(self.nesterov), self.weight_decay)

    @property
    def plain_step(self) -> bool:
        return not self.momentum and not self.weight_decay

    @staticmethod
    def scalar_prepare(h: Hyper, t: float) -> tuple[float, float]:
        return h.lr, 0.0

    @staticmethod
    def scalar_update(p: float, g: float, s1: float, s2: float, h: Hyper, k0: float, k1: float,
                      wd: float) -> tuple[float, float, float]:
        if wd != 0:
            g = g + wd * p
        if h.momentum == 0:
            return p - k0 * g, s1, s2
        v = s1 * h.momentum + g
        return p - k0 * (g + h.momentum * v if h.nesterov != 0 else v), v, s2

    def __repr__(self) -> str:
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias-corrected moments. At step t, for g = dC/dw
    (+ weight_decay * w for weight matrices, the L2 penalty as in :class:`SGD`)::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        w <- w - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.beta1 = check_real("beta1", beta1, low=0, high=1, high_open=True)
        self.beta2 = check_real("beta2", beta2, low=0, high=1, high_open=True)
        self.eps = check_real("eps", eps, low=0, low_open=True)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.weight_decay and param.ndim >= 2:   # L2 as in SGD: g + lambda w, matrices only
            grad = grad + self.weight_decay * param
        if "m" not in state:
            state["m"] = np.zeros_like(param)
            state["v"] = np.zeros_like(param)
        m, v, t = state["m"], state["v"], self.iterations
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * (grad * grad)
        # The paper's "more efficient" ordering (end of its section 2), equal to the
        # update above: the bias corrections fold into two Python floats, which also
        # keep float32 parameters in float32 (a NumPy float64 scalar would upcast).
        c2 = math.sqrt(1 - self.beta2 ** t)
        step = self.lr * c2 / (1 - self.beta1 ** t)
        param -= step * m / (np.sqrt(v) + self.eps * c2)

    def config(self) -> dict[str, Any]:
        return {"name": "Adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "weight_decay": self.weight_decay}

    state_keys = ("m", "v")

    def hyper(self) -> Hyper:
        return Hyper(self.lr, weight_decay=self.weight_decay, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                     one_minus_beta1=1 - self.beta1, one_minus_beta2=1 - self.beta2)

    @staticmethod
    def scalar_prepare(h: Hyper, t: float) -> tuple[float, float]:
        # update's two Python floats: lr sqrt(1 - beta2^t) / (1 - beta1^t) and eps sqrt(1 - beta2^t)
        c2 = math.sqrt(1.0 - math.pow(h.beta2, t))
        return h.lr * c2 / (1.0 - math.pow(h.beta1, t)), h.eps * c2

    @staticmethod
    def scalar_update(p: float, g: float, m: float, v: float, h: Hyper, k0: float, k1: float,
                      wd: float) -> tuple[float, float, float]:
        if wd != 0:
            g = g + wd * p
        m = m * h.beta1 + h.one_minus_beta1 * g
        v = v * h.beta2 + h.one_minus_beta2 * (g * g)
        return p - k0 * m / (math.sqrt(v) + k1), m, v

    def __repr__(self) -> str:
        wd = f", weight_decay={self.weight_decay}" if self.weight_decay else ""
        return f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps}{wd})"


#: Optimizers by name, built with their default hyperparameters.
OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {"sgd": SGD, "adam": Adam}


def from_config(config: dict[str, Any]) -> Optimizer:
    """Rebuild an optimizer from its :meth:`Optimizer.config` (as saved in a checkpoint)."""
    config = dict(config)
    name = str(config.pop("name", "")).lower()
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](**config)


def get(optimizer: str | Optimizer | None) -> Optimizer:
    """An optimizer from an instance (returned as is), a name (its defaults), or None
    (``SGD()``, whose default lr is 0.1 wherever plain SGD is made)."""
    if optimizer is None:
        return SGD()
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        return OPTIMIZERS[key]()
    raise DeltapropTypeError(f"The 'optimizer' argument must be an optimizer such as dp.SGD(lr=3.0), or 'sgd'/'adam'. "
                             f"Got {type(optimizer).__name__} {optimizer!r} instead.")
