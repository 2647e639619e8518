"""Named schemes for drawing initial weights, always from an explicit Generator.

========================  ===========================  =============================
name (aliases)            W[j, k] drawn from           b drawn from
========================  ===========================  =============================
``standard_normal``       N(0, 1): the book's          N(0, 1)
(``book``, ``normal``)    ``network.py``
``lecun_normal``          N(0, 1/n_in): the book's      N(0, 1)
(``lecun``)               improved initialisation
``glorot_uniform``        U(-r, r), r = sqrt(6/(n_in   0
(``glorot``, ``xavier``)  + n_out))
``glorot_normal``         N(0, 2/(n_in + n_out))       0
``he_normal`` (``he``)    N(0, 2/n_in)                 0
``he_uniform``            U(-r, r), r = sqrt(6/n_in)   0
========================  ===========================  =============================

``auto`` picks ``he_normal`` for ReLU-family layers and ``glorot_uniform`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import unknown_name


def _standard_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)


def _lecun_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal(n_out)


def _glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, (n_out, n_in)), np.zeros(n_out)


def _glorot_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), (n_out, n_in)), np.zeros(n_out)


def _he_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)), np.zeros(n_out)


def _he_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.sqrt(6.0 / n_in)
    return rng.uniform(-r, r, (n_out, n_in)), np.zeros(n_out)


INITIALIZERS: dict[str, Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]] = {
    "standard_normal": _standard_normal,
    "lecun_normal": _lecun_normal,
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
}
ALIASES = {"book": "standard_normal", "normal": "standard_normal", "lecun": "lecun_normal",
           "glorot": "glorot_uniform", "xavier": "glorot_uniform", "he": "he_normal"}


def resolve(init: str, activation_name: str) -> str:
    """The canonical scheme name for ``init`` (``"auto"`` depends on the activation)."""
    if init == "auto":
        return "he_normal" if activation_name in ("relu", "leaky_relu") else "glorot_uniform"
    init = ALIASES.get(init, init)
    if init not in INITIALIZERS:
        raise unknown_name("initializer", init, [*INITIALIZERS, *ALIASES, "auto"])
    return init


def draw(init: str, rng: np.random.Generator, n_in: int, n_out: int,
         dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of shapes ``(n_out, n_in)`` and ``(n_out,)`` drawn by the scheme ``init``.

    Drawn in float64 and cast once, so float32 and float64 networks built from the
    same seed start from the same numbers (to float32 precision).
    """
    W, b = INITIALIZERS[init](rng, n_in, n_out)
    return W.astype(dtype), b.astype(dtype)
