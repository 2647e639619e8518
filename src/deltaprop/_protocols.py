"""The network and its layers as the training loop's floors see them, for the type checker.

The training loop, its engines, callbacks and checkpoints, and the file format never
import :mod:`deltaprop.network` or :mod:`deltaprop.layers` (the network imports them:
see the import contracts in ``pyproject.toml``); they are handed a network and use it by
its attributes. These protocols name the attributes they use, so that mypy checks both
sides: :class:`deltaprop.Network` and :class:`deltaprop.Dense` satisfy them (mypy
checks that wherever a Network is handed down), and the loop uses nothing else.

Nothing here runs: the classes are only annotations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .activations import Activation
from .losses import Loss


class LayerLike(Protocol):
    """A :class:`deltaprop.Dense` layer: its sizes, parameters, activation and caches."""

    n_in: int
    n_out: int
    W: np.ndarray
    b: np.ndarray
    activation: Activation
    fixed_bias: bool
    dropout: float
    dtype: np.dtype
    A_prev: np.ndarray | None
    Z: np.ndarray | None
    A: np.ndarray | None
    M: np.ndarray | None


class NetworkLike(Protocol):
    """A :class:`deltaprop.Network`, as the loop, its engines and the file format use it."""

    rng: np.random.Generator

    @property
    def layers(self) -> Sequence[LayerLike]: ...
    @property
    def loss_fn(self) -> Loss: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def sizes(self) -> list[int]: ...
    @property
    def n_params(self) -> int: ...
    @property
    def fused(self) -> bool: ...
    @property
    def is_classifier(self) -> bool: ...
    @property
    def has_dropout(self) -> bool: ...
    @property
    def feature_names(self) -> list[str] | None: ...
    @feature_names.setter
    def feature_names(self, names: Sequence[str] | None) -> None: ...

    def forward(self, A: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray: ...
    def backward(self, Y: np.ndarray, m: float | None = None, w: np.ndarray | None = None) -> None: ...
    def forward_rows(self, X: np.ndarray, *, batch_size: int = 1024) -> np.ndarray: ...
    def params(self) -> list[tuple[np.ndarray, np.ndarray | None]]: ...
    def metrics(self, A: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]: ...
    def classes(self, A: np.ndarray) -> np.ndarray: ...
    @staticmethod
    def target_classes(Y: np.ndarray) -> np.ndarray: ...
    @staticmethod
    def frame_names(X: object) -> list[str] | None: ...
    def check_XY(self, X: npt.ArrayLike, Y: npt.ArrayLike, *,
                 names: tuple[str, str] = ("X", "Y")) -> tuple[np.ndarray, np.ndarray]: ...
    def check_weights(self, sample_weight: npt.ArrayLike | None, n: int, *,
                      name: str = "sample_weight") -> np.ndarray | None: ...
    def get_weights(self) -> list[np.ndarray]: ...
    def set_weights(self, weights: Iterable[npt.ArrayLike]) -> None: ...


class CommunicatorLike(Protocol):
    """What data-parallel training adds gradients through (see :mod:`deltaprop.engines`):
    this process's ``rank`` among ``size`` processes, and ``allreduce(array)``, the sum
    over the ranks, in place."""

    rank: int
    size: int

    def allreduce(self, buf: np.ndarray) -> None: ...
