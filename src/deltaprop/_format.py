"""The deltaprop file format of a network, without building one: its description in a
header (:func:`network_header`, :func:`parse_network`), its arrays (:func:`network_arrays`,
:func:`checked_arrays`), how a network and a file compare (:func:`check_compatible`), and
writing a file (:func:`write`).

Duck-typed on purpose: nothing here imports the network, so that the training loop can
write and read checkpoints through this module without importing the network that
imports it. :mod:`deltaprop.io` builds networks from what this module checked.
``docs/file-format.md`` describes every key and the versioning policy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _archive, activations, losses
from ._protocols import NetworkLike
from ._array import all_finite
from .errors import DataError, DeltapropError, DeltapropTypeError, ShapeError, ValidationError, did_you_mean

#: The name every deltaprop file carries in ``header["format"]``.
FORMAT = "deltaprop"
#: The newest format version this library writes and reads (it reads every older one).
#: Version 2 allows a loss with parameters (``{"name": ..., "from_logits": true}``);
#: version 3 the inputs' names (``"feature_names"``, a DataFrame's columns). A file is
#: written in the lowest version that describes it: most are version 1, which every
#: deltaprop reads.
FORMAT_VERSION = 3
#: What ``header["kind"]`` may be.
KINDS = ("model", "checkpoint")
#: The prefix of the training arrays of a checkpoint inside the file.
TRAINING = "training/"
# The keys of one layer's entry under header["network"]["layers"]; "dropout" may be
# left out (then 0). Any other key is refused: it would mean something this version
# cannot honour, so loading without it would be silently wrong.
_LAYER_KEYS = {"n_in", "n_out", "activation", "fixed_bias", "dropout"}
_NETWORK_KEYS = {"dtype", "loss", "layers"}
_OPTIONAL_NETWORK_KEYS = {"feature_names"}


def library_version() -> str:
    """The installed deltaprop's version, as written into ``header["library_version"]``."""
    import importlib.metadata     # here, not at import: it pulls in the email package
    try:
        return importlib.metadata.version("deltaprop")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


# -- the network, as header and arrays --------------------------------------------------

def network_header(net: NetworkLike) -> dict[str, Any]:
    """The ``"network"`` part of a header: dtype, loss name, and each layer's sizes,
    activation ``config()``, ``fixed_bias`` and ``dropout``."""
    _check_network(net)
    layers = []
    for i, layer in enumerate(net.layers):
        config = layer.activation.config()
        try:
            rebuilt = activations.get(config)
        except (DeltapropError, TypeError):
            rebuilt = None
        if rebuilt != layer.activation:
            raise ValidationError(
                f"Layer {i}'s activation {layer.activation!r} cannot be saved: its config() {config!r} does not "
                f"rebuild it through deltaprop.activations. Register it in activations.ACTIVATIONS first."
            )
        layers.append({"n_in": layer.n_in, "n_out": layer.n_out, "activation": config,
                       "fixed_bias": layer.fixed_bias, "dropout": float(getattr(layer, "dropout", 0.0))})
    if losses.LOSSES.get(net.loss_fn.name) is not type(net.loss_fn):
        raise ValidationError(f"The loss {net.loss_fn!r} cannot be saved: {net.loss_fn.name!r} is not the name "
                              "it is registered under in deltaprop.losses.LOSSES.")
    config = net.loss_fn.config()
    # a bare name when the loss has no parameters: what format version 1 reads
    spec: dict[str, Any] = {"dtype": net.dtype.name, "loss": config["name"] if len(config) == 1 else config, "layers": layers}
    names = getattr(net, "feature_names", None)
    if names is not None:
        spec["feature_names"] = list(names)
    return spec


def network_arrays(net: NetworkLike) -> dict[str, np.ndarray]:
    """``{"W1": W^1, "b1": b^1, ..., "WL": W^L, "bL": b^L}``: the layers' own arrays (no copies).

    Raises if any weight is NaN or infinite: such a network could not be loaded back.
    """
    _check_network(net)
    arrays = {}
    for l, layer in enumerate(net.layers, start=1):
        for name, value in ((f"W{l}", layer.W), (f"b{l}", layer.b)):
            if not all_finite(value):
                raise ValidationError(f"Cannot save the network: {name} (net.layers[{l - 1}].{name[0]}) contains "
                                      "NaN or infinity.")
            arrays[name] = value
    return arrays


def format_version(spec: Mapping[str, Any]) -> int:
    """The lowest format version that describes a network header ``spec``: 3 if it names
    its inputs, 2 if its loss has parameters, else 1."""
    return 3 if "feature_names" in spec else 1 if isinstance(spec["loss"], str) else 2


def _check_network(net: object) -> None:
    if not (hasattr(net, "layers") and hasattr(net, "loss_fn") and hasattr(net, "dtype")):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network. Got {type(net).__name__} instead.")


def checked_arrays(header: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W^1, b^1), ...]`` from a file's arrays, each checked against the header: present,
    of the layer's shape and the network's dtype, finite. Arrays under ``training/`` are
    left alone; any other array must be one of ``W1, b1, ...``. Raises :class:`DataError`."""
    spec = parse_network(header)
    dtype = np.dtype(spec["dtype"])
    names = {f"{p}{l}" for l in range(1, len(spec["layers"]) + 1) for p in "Wb"}
    extra = sorted(n for n in arrays if n not in names and not n.startswith(TRAINING))
    if extra:
        raise DataError(f"The file holds arrays {', '.join(extra)} that are not part of the "
                        f"{len(spec['layers'])}-layer network its header describes.")
    out = []
    for l, layer in enumerate(spec["layers"], start=1):
        params = {}
        for key, shape in (("W", (layer["n_out"], layer["n_in"])), ("b", (layer["n_out"],))):
            name = f"{key}{l}"
            if name not in arrays:
                raise DataError(f"The file has no array {name} for layer {l} of {len(spec['layers'])}.")
            value = np.asarray(arrays[name])
            if value.shape != shape or value.dtype != dtype:
                raise DataError(f"Array {name} has shape {value.shape} and dtype {value.dtype}; layer {l} of the "
                                f"header ({layer['n_in']} -> {layer['n_out']}, {dtype}) needs {shape} of {dtype}.")
            if not all_finite(value):
                raise DataError(f"Array {name} contains NaN or infinity.")
            params[key] = value
        out.append((params["W"], params["b"]))
    return out


def check_compatible(net: NetworkLike, header: Mapping[str, Any]) -> None:
    """Raise :class:`ShapeError` listing every way ``net`` differs from the file's network.

    ``header`` is a whole file header or its ``"network"`` part. Compared: the number
    of layers, each layer's (n_in, n_out), activation (with its parameters),
    fixed_bias and dropout, the loss and the dtype.
    """
    theirs = parse_network(header)
    mine = network_header(net)
    problems = []
    if len(theirs["layers"]) != len(mine["layers"]):
        problems.append(f"number of layers: file {len(theirs['layers'])}, network {len(mine['layers'])}")
    for i, (f, n) in enumerate(zip(theirs["layers"], mine["layers"])):
        where = f"net.layers[{i}] (W{i + 1}, b{i + 1})"
        if (f["n_in"], f["n_out"]) != (n["n_in"], n["n_out"]):
            problems.append(f"{where} size (n_in, n_out): file ({f['n_in']}, {f['n_out']}), "
                            f"network ({n['n_in']}, {n['n_out']})")
        if activations.get(f["activation"]) != activations.get(n["activation"]):
            problems.append(f"{where} activation: file {_describe(f['activation'])}, "
                            f"network {_describe(n['activation'])}")
        for key in ("fixed_bias", "dropout"):
            if f[key] != n[key]:
                problems.append(f"{where} {key}: file {f[key]}, network {n[key]}")
    for key in ("loss", "dtype"):
        if theirs[key] != mine[key]:
            problems.append(f"{key}: file {theirs[key]}, network {mine[key]}")
    if problems:
        raise ShapeError(f"The file's network does not match this one in {len(problems)} way(s):\n  - " +
                         "\n  - ".join(problems))


def _describe(config: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "name")
    return f"{config['name']}({params})" if params else config["name"]


# -- writing ------------------------------------------------------------------------------

def write(path: str | os.PathLike[str], net: NetworkLike, kind: str, metadata: Mapping[str, Any] | None,
          training: dict[str, Any] | None, extra_arrays: Mapping[str, np.ndarray], compress: bool) -> Path:
    """Write ``net`` as a file of ``kind`` (``"model"`` or ``"checkpoint"``), atomically:
    its header (with ``metadata`` and, for checkpoints, ``training``) and its arrays
    (with ``extra_arrays``), in the lowest format version that describes it."""
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise DeltapropTypeError(f"The 'metadata' argument must be a dict (or None). "
                                 f"Got {type(metadata).__name__} instead.")
    _archive.check_json(dict(metadata), "metadata")
    spec = network_header(net)
    header = {
        "format": FORMAT,
        "format_version": format_version(spec),
        "library_version": library_version(),
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "network": spec,
        "metadata": dict(metadata),
    }
    if training is not None:
        header["training"] = training
    return _archive.write(path, header, {**network_arrays(net), **extra_arrays}, compress=compress)


# -- reading a header -------------------------------------------------------------------

def check_header(header: dict[str, Any]) -> None:
    """The file-level checks, run by the archive before it trusts anything else."""
    if header.get("format") != FORMAT:
        raise DataError(f"it is not a deltaprop file (its header's 'format' is {header.get('format')!r:.40}, "
                        f"not {FORMAT!r}).")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise DataError(f"its header's 'format_version' must be a positive integer. Got {version!r:.40}.")
    if version > FORMAT_VERSION:
        raise DataError(f"it is deltaprop file format version {version}, but this deltaprop "
                        f"({library_version()}) reads format version {FORMAT_VERSION} and older. Upgrade "
                        f"deltaprop (pip install --upgrade deltaprop) to read it; the file was written by "
                        f"deltaprop {header.get('library_version')!s:.40}.")
    if header.get("kind") not in KINDS:
        raise DataError(f"its header's 'kind' must be one of {', '.join(map(repr, KINDS))}. "
                        f"Got {header.get('kind')!r:.40}.")
    if not isinstance(header.get("network"), dict):
        raise DataError(f"its header has no 'network' object. Got {header.get('network')!r:.40}.")
    if not isinstance(header.get("metadata", {}), dict):
        raise DataError(f"its header's 'metadata' must be an object. Got {type(header['metadata']).__name__}.")
    parse_network(header)  # before any array is read: a bad description costs no I/O


def parse_network(header: Mapping[str, Any]) -> dict[str, Any]:
    """The ``"network"`` part of a header, checked and with defaults filled in."""
    if not isinstance(header, Mapping):
        raise DeltapropTypeError(f"The 'header' argument must be a dict. Got {type(header).__name__} instead.")
    spec = header["network"] if "network" in header else header
    where = "header['network']"
    if not isinstance(spec, Mapping):
        raise DataError(f"{where} must be an object. Got {type(spec).__name__}.")
    keys = set(spec)
    allowed = _NETWORK_KEYS | _OPTIONAL_NETWORK_KEYS
    if not _NETWORK_KEYS <= keys <= allowed:
        raise DataError(f"{where} must have the keys {sorted(_NETWORK_KEYS)} (and optionally 'feature_names')" +
                        (f"; missing {sorted(_NETWORK_KEYS - keys)}" if _NETWORK_KEYS - keys else "") +
                        (f"; unknown {sorted(keys - allowed)} (written by a newer deltaprop?)"
                         if keys - allowed else "") + ".")
    if spec["dtype"] not in ("float64", "float32"):
        raise DataError(f"{where}['dtype'] must be 'float64' or 'float32'. Got {spec['dtype']!r:.40}.")
    loss = _parse_loss(spec["loss"], f"{where}['loss']")
    layers = spec["layers"]
    if not isinstance(layers, list) or not layers:
        raise DataError(f"{where}['layers'] must be a non-empty list. Got {layers!r:.60}.")
    parsed: list[dict[str, Any]] = []
    for i, layer in enumerate(layers):
        at = f"{where}['layers'][{i}]"
        if not isinstance(layer, Mapping):
            raise DataError(f"{at} must be an object. Got {type(layer).__name__}.")
        keys = set(layer)
        required = _LAYER_KEYS - {"dropout"}
        if not required <= keys <= _LAYER_KEYS:
            raise DataError(f"{at} must have the keys {sorted(required)} (and optionally 'dropout')" +
                            (f"; missing {sorted(required - keys)}" if required - keys else "") +
                            (f"; unknown {sorted(keys - _LAYER_KEYS)} (written by a newer deltaprop?)"
                             if keys - _LAYER_KEYS else "") + ".")
        for key in ("n_in", "n_out"):
            if type(layer[key]) is not int or not 1 <= layer[key] < 2**31:
                raise DataError(f"{at}['{key}'] must be a positive integer. Got {layer[key]!r:.40}.")
        if type(layer["fixed_bias"]) is not bool:
            raise DataError(f"{at}['fixed_bias'] must be true or false. Got {layer['fixed_bias']!r:.40}.")
        dropout = layer.get("dropout", 0.0)
        if type(dropout) not in (int, float) or not 0 <= dropout < 1:
            raise DataError(f"{at}['dropout'] must be a number in [0, 1). Got {dropout!r:.40}.")
        config = layer["activation"]
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise DataError(f"{at}['activation'] must be an object with a 'name'. Got {config!r:.60}.")
        if config["name"] not in activations.ACTIVATIONS:
            raise DataError(f"{at}['activation'] is {config['name']!r:.40}, which this deltaprop does not know. "
                            f"{did_you_mean(config['name'], activations.ACTIVATIONS)}")
        try:
            activations.get(config)
        except (DeltapropError, TypeError) as e:
            raise DataError(f"{at}['activation'] {config!r:.80} does not build an activation: {e}") from None
        if i and layer["n_in"] != parsed[-1]["n_out"]:
            raise DataError(f"{at}['n_in'] is {layer['n_in']}, but the layer below has n_out "
                            f"{parsed[-1]['n_out']}: consecutive layers must chain.")
        parsed.append({"n_in": layer["n_in"], "n_out": layer["n_out"], "activation": dict(config),
                       "fixed_bias": layer["fixed_bias"], "dropout": float(dropout)})
    out: dict[str, Any] = {"dtype": spec["dtype"], "loss": loss, "layers": parsed}
    if "feature_names" in spec:
        names = spec["feature_names"]
        if not isinstance(names, list) or len(names) != parsed[0]["n_in"] \
                or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise DataError(f"{where}['feature_names'] must be a list of {parsed[0]['n_in']} distinct strings (one "
                            f"per input). Got {names!r:.80}.")
        out["feature_names"] = list(names)
    return out


def _parse_loss(value: Any, where: str) -> str | dict[str, Any]:
    """A loss entry: a registered name, or (format version 2) ``{"name": ..., "from_logits": true}``."""
    config = value if isinstance(value, dict) else {"name": value}
    name = config.get("name")
    if not isinstance(name, str) or set(config) - {"name", "from_logits"}:
        raise DataError(f"{where} must be a loss name such as 'quadratic', or an object with a 'name' "
                        f"(and 'from_logits'). Got {value!r:.60}.")
    if name not in losses.LOSSES:
        raise DataError(f"{where} is {name!r:.40}, which this deltaprop does not know. "
                        f"{did_you_mean(name, losses.LOSSES)}")
    if type(config.get("from_logits", False)) is not bool:
        raise DataError(f"{where}['from_logits'] must be true or false. Got {config['from_logits']!r:.40}.")
    try:
        losses.get(dict(config))
    except (DeltapropError, TypeError) as e:
        raise DataError(f"{where} {value!r:.60} does not build a loss: {e}") from None
    return value
