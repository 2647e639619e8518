"""Networks in files that survive: ``save``, ``load`` and training checkpoints.

A file is the container of :mod:`deltaprop._archive` (a ZIP of ``header.json`` and one
``.npy`` per array, no pickle, written atomically) holding, for a network of L layers,
the arrays ``W1, b1, ..., WL, bL`` (1-based like the notes' W^l; ``W<l>`` is
``(n_out, n_in)``, ``b<l>`` is ``(n_out,)``, in the network's dtype) and a header::

    {"format": "deltaprop", "format_version": 1, "library_version": "0.1.0",
     "kind": "model" | "checkpoint", "created": "2026-05-09T07:35:25Z",
     "network": {"dtype": "float64", "loss": "quadratic",
                 "layers": [{"n_in": 784, "n_out": 30, "activation": {"name": "sigmoid"},
                             "fixed_bias": false, "dropout": 0.0}, ...]},
     "metadata": {...},                                  # the caller's, JSON
     "training": {...},                                  # checkpoints only
     "arrays": {"W1": {"shape": [30, 784], "dtype": "<f8"}, ...}}

``docs/file-format.md`` describes every key and the versioning policy. A loaded
network equals the saved one bit for bit: weights (float32 stays float32), each
activation's parameters (leaky_relu's alpha), the loss, fixed biases, dropout.

>>> import tempfile, pathlib
>>> net = Network([2, 3, 1], activation="leaky_relu", output_activation="sigmoid",
...               loss="binary_cross_entropy", dtype="float32", seed=0)
>>> with tempfile.TemporaryDirectory() as d:
...     path = save(net, pathlib.Path(d) / "net.dpz", metadata={"classes": ["no", "yes"]})
...     copy = load(path)
...     meta = read_header(path)["metadata"]
>>> copy, meta
(Network([Dense(2, 3, activation='leaky_relu', dtype='float32'), Dense(3, 1, activation='sigmoid', dtype='float32')], loss='binary_cross_entropy', dtype='float32'), {'classes': ['no', 'yes']})
>>> all(np.array_equal(a, b) for a, b in zip(net.get_weights(), copy.get_weights()))
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _archive
from ._format import (FORMAT, FORMAT_VERSION, KINDS, TRAINING, check_compatible, check_header,  # noqa: F401
                      checked_arrays, library_version, network_arrays, network_header, parse_network, write)
from ._onnx import export_onnx  # noqa: F401  (dp.io.export_onnx; onnx itself is imported when it is called)
from .errors import DataError, DeltapropTypeError
from .layers import Dense
from .network import Network


def network_from(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, copy: bool = True) -> Network:
    """The network a header and its arrays describe.

    ``header`` is a whole file header or just its ``"network"`` part. Arrays under
    ``training/`` are left alone; any other array must be one of ``W1, b1, ...``.
    Raises :class:`DataError` naming every problem it meets first: a malformed entry,
    an unknown activation or loss, an array of the wrong shape or dtype, NaN weights.
    With ``copy=False`` the layers take the arrays themselves (the caller gives them up).
    """
    spec = parse_network(header)
    dtype = np.dtype(spec["dtype"])
    layers = []
    for layer, (W, b) in zip(spec["layers"], checked_arrays(header, arrays)):
        extra_kw = {"dropout": layer["dropout"]} if layer["dropout"] else {}
        layers.append(Dense(layer["n_in"], layer["n_out"], layer["activation"], W=W, b=b,
                            fixed_bias=layer["fixed_bias"], dtype=dtype, copy=copy, **extra_kw))
    net = Network(layers, loss=spec["loss"])
    net.feature_names = spec.get("feature_names")
    return net


# -- files ----------------------------------------------------------------------------

def save(net: Network, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None,
         compress: bool = False) -> Path:
    """Write ``net`` to ``path`` (kind ``"model"``), atomically; returns the path.

    ``metadata`` is any JSON-able dict (class names, the standardisation used, ...),
    returned by :func:`read_header`. ``compress`` deflates the arrays (rarely worth
    it for weights). Any existing file at ``path`` is replaced only once the new one
    is complete on disk.
    """
    return _save(path, net, "model", metadata, None, {}, compress)


def load(path: str | os.PathLike, *, max_ratio: float = _archive.MAX_RATIO,
         max_bytes: int = _archive.MAX_BYTES) -> Network:
    """The network in a file written by :func:`save` (or by :func:`write_checkpoint`).

    Raises :class:`DataError` naming the file if it is missing (then also a
    ``FileNotFoundError``), not a regular file, not a deltaprop file, truncated or
    damaged, of a newer format version, or inconsistent with itself; and if its arrays
    would take more than ``max_bytes`` (4 GiB), or more than ``max_ratio`` (100) times
    the file's own size beyond 16 MiB (a deflated file that unpacks to gigabytes).
    Raise those for files you trust. The arrays read become the network's own (they
    are not copied: a file is held in memory once).
    """
    header, arrays = _archive.read(path, check=check_header, max_bytes=max_bytes, max_ratio=max_ratio)
    return network_from(header, arrays, copy=False)


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The whole header of a deltaprop file (``header["metadata"]`` is the caller's),
    checked like :func:`load` checks it, without reading the arrays."""
    return _archive.read_header(path, check=check_header)


def load_weights(net: Network, path: str | os.PathLike) -> None:
    """Copy the weights of the file at ``path`` into ``net``, in place.

    The file's network must match ``net`` exactly (:func:`check_compatible`), and its
    arrays are all checked before any weight is written: on an error ``net`` is untouched.
    """
    _check_network(net)
    header, arrays = _archive.read(path, check=check_header)
    check_compatible(net, header)
    net.set_weights(network_from(header, arrays).get_weights())


def write_checkpoint(path: str | os.PathLike, net: Network, training: Mapping[str, Any],
                     arrays: Mapping[str, np.ndarray], *, metadata: Mapping[str, Any] | None = None,
                     compress: bool = False) -> Path:
    """Write ``net`` with training state (kind ``"checkpoint"``), atomically.

    ``training`` (JSON-able: epoch counters, optimizer hyperparameters, RNG state as
    ints, ...) becomes ``header["training"]``; ``arrays`` (optimizer moments, ...) are
    stored as ``training/<name>``, names like ``opt/0/m``. :func:`load` reads the
    network of a checkpoint; :func:`read_checkpoint` reads everything back.
    """
    if not isinstance(training, Mapping):
        raise DeltapropTypeError(f"The 'training' argument must be a dict. Got {type(training).__name__} instead.")
    _archive.check_json(dict(training), "training")
    if not isinstance(arrays, Mapping):
        raise DeltapropTypeError(f"The 'arrays' argument must be a dict of name -> array. "
                                 f"Got {type(arrays).__name__} instead.")
    bad = [k for k in arrays if not isinstance(k, str)]
    if bad:
        raise DeltapropTypeError(f"The 'arrays' argument must have str names. Got {bad[0]!r}.")
    return _save(path, net, "checkpoint", metadata, dict(training),
                  {TRAINING + name: value for name, value in arrays.items()}, compress)


def read_checkpoint(path: str | os.PathLike) -> tuple[Network, dict[str, Any], dict[str, np.ndarray]]:
    """``(network, header["training"], training arrays)`` of a checkpoint file; the
    arrays' names come back without the ``training/`` prefix."""
    header, arrays = _archive.read(path, check=check_header)
    if header["kind"] != "checkpoint":
        raise DataError(f"'{path}' is a model file (kind {header['kind']!r}, written by save()): it holds no "
                        "training state to resume from. Use load() for its network, or a file written by "
                        "write_checkpoint().")
    training = header.get("training")
    if not isinstance(training, dict):
        raise DataError(f"'{path}' is a checkpoint but its header has no 'training' object "
                        f"(got {type(training).__name__}).")
    state = {name[len(TRAINING):]: value for name, value in arrays.items() if name.startswith(TRAINING)}
    return network_from(header, arrays), training, state


def _save(path: str | os.PathLike, net: Network, kind: str, metadata: Mapping[str, Any] | None,
          training: dict[str, Any] | None, extra_arrays: Mapping[str, np.ndarray], compress: bool) -> Path:
    _check_network(net)
    return write(path, net, kind, metadata, training, extra_arrays, compress)


def _check_network(net: object) -> None:
    if not isinstance(net, Network):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network. Got {type(net).__name__} instead.")
