"""Explain - one step of backpropagation, every quantity with its numbers.

:func:`explain` runs the real pass - ``Network.forward``, ``Network.backward`` and the
optimizer's ``step``, the three calls of the reference training loop
(:class:`deltaprop.engines.NumpyEngine`) - and copies what the layers cached on the way
(``A_prev, Z, A, D, dW, db`` of :mod:`deltaprop.layers`), with the parameters before
and after the step. It is an observer: no equation of backpropagation is evaluated
here a second time, so the numbers of a trace are those of training, bit for bit.

Two of those caches are there for explain: ``dA``, the dC/da^l each ``Dense.backward``
received (BP1's grad_a C from the loss at the output, BP2's (W^{l+1})^T delta^{l+1}
from the layer above; ``None`` for a fused output layer, whose delta^L = (a - y)/n is
formed directly), and ``S``, the sigma'(z^l) of that pass, which a layer keeps while
its ``record`` flag is set (explain sets it on the copy it steps): the middle factor
of the chain rule the renderers display (for softmax only the diagonal of the
Jacobian, and the renderers say so).

A :class:`Trace` renders as plain text, Markdown, LaTeX, a self-contained HTML page or
JSON (:meth:`Trace.render`), at the level of matrices (BP1-BP4 per layer, as seeds
000 and 003 write them) or of single neurons (each scalar chain-rule product, as
seed 002 writes them), in the notation of any of three notes.

>>> import deltaprop as dp
>>> trace = dp.explain(dp.examples.mazur(), rounds=())
>>> float(trace.steps[0].layers[1].dW[0, 0])            # dE_total/dw5
0.08216704056423078
>>> print(trace.render(level="neuron", notation="mazur").splitlines()[0])
deltaprop explain: one step of backpropagation on a 2-2-2 network
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from . import optimizers as _optimizers
from ._array import check_positive_int
from .errors import DataError, DeltapropTypeError, NonFiniteError, ShapeError, ValidationError
from .examples import WorkedExample
from .network import Network
from .optimizers import Optimizer

#: Version of the JSON layout written by :meth:`Trace.to_json`.
JSON_VERSION = 1

#: What the sources get wrong, by seed file and figure (``docs/errata.md`` has the details).
ERRATA = {
    "002_56bd98b6111f8107.txt": {
        "E_total_after_1": "errata #1: the source back-propagated through the already updated w5..w8",
        "E_total_after_10000": "errata #2: the source's figure is the error after 9,999 rounds",
        "dE_o2/dout_h1": "errata #5: the source rounded delta_o2 before multiplying by w7",
    },
}

#: Slips of the sources that are not figures deltaprop computes, said once at the top.
SOURCE_NOTES = {
    "002_56bd98b6111f8107.txt": [
        "b1 = 0.35: the overview's 'b1 = 0.3' is a typo, every computation uses 0.35 (docs/errata.md #3).",
        "net_h1 = w1*i1 + w2*i2 + b1: the hidden-layer section's 'w3*i2' is a slip (docs/errata.md #4).",
    ],
}


@dataclass
class LayerTrace:
    """What one Dense layer held during one step. Arrays are columns, as in the layer.

    ``A_prev`` (n_in, m); ``Z, A, dA, prime, D`` (n_out, m); ``W, W_new, dW`` (n_out, n_in);
    ``b, b_new, db`` (n_out,); ``Z_new, A_new`` (n_out, m) come from the forward pass with
    the updated parameters (the one that gives the cost after the step).
    """

    activation: str
    fixed_bias: bool
    W: np.ndarray
    b: np.ndarray
    A_prev: np.ndarray
    Z: np.ndarray
    A: np.ndarray
    dA: np.ndarray | None      # dC/da^l as Dense.backward received it; None for a fused output
    prime: np.ndarray          # sigma'(z^l), from activation.prime (the diagonal, for softmax)
    D: np.ndarray
    dW: np.ndarray
    db: np.ndarray
    W_new: np.ndarray
    b_new: np.ndarray
    Z_new: np.ndarray
    A_new: np.ndarray

    @property
    def n_in(self) -> int:
        return self.W.shape[1]

    @property
    def n_out(self) -> int:
        return self.W.shape[0]


@dataclass
class StepTrace:
    """One round: forward, cost, backward, update, and the cost after the update."""

    round: int
    cost: float                          # C on the batch, before the update
    cost_terms: np.ndarray | None        # each output's share of C, (n_out,): loss on that output alone
    loss_grad: np.ndarray | None         # grad_a C for a fused output (display only: D skips it)
    cost_after: float
    layers: list[LayerTrace]


@dataclass
class Trace:
    """The record :func:`explain` returns; see :meth:`render` and :meth:`to_json`."""

    sizes: list[int]
    loss: str
    fused: bool
    dtype: str
    optimizer: dict[str, Any]            # the optimizer's config(), with "repr"
    X: np.ndarray                        # (m, n_in): the examples, as rows
    Y: np.ndarray                        # (m, n_out)
    steps: list[StepTrace]
    rounds: dict[int, float] = field(default_factory=dict)   # total rounds -> cost after them
    # source name -> (layer, "W"/"b", index)
    names: dict[str, tuple[int, str, tuple[int, ...]]] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)    # source figure name -> as printed
    errata: dict[str, str] = field(default_factory=dict)     # source figure name -> why it is wrong
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def m(self) -> int:
        """Examples in the batch."""
        return len(self.X)

    @property
    def n_params(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.steps[0].layers)

    @property
    def plain_sgd(self) -> bool:
        """The update is w - eta dC/dw exactly (SGD without momentum or weight decay)."""
        o = self.optimizer
        return o.get("name") == "SGD" and not o.get("momentum") and not o.get("weight_decay")

    def render(self, format: str = "text", *, level: str = "matrix", notation: str = "nielsen",
               precision: int = 9, max_units: int = 8) -> str:
        """The trace as ``"text"``, ``"markdown"``, ``"latex"``, ``"html"`` or ``"json"``.

        Args:
            level: ``"matrix"`` (BP1-BP4 per layer) or ``"neuron"`` (each scalar
                chain-rule product; one example only).
            notation: ``"nielsen"`` (w^l_jk, z^l, a^l, delta^l), ``"kaist"`` (x_mk, W_m,
                B_m, z_mn, y_mn) or ``"mazur"`` (i, h, o, net, out, w1..w8).
            precision: decimals printed (9, as the worked example prints them).
            max_units: neurons shown per layer (and columns per matrix); a larger
                network is summarised, with a line saying what was left out.
        """
        from . import _render   # the renderers load when something is rendered, not with the package
        format = _render.check_choice("format", format, _render.FORMATS + ("json",))
        if format == "json":
            return self.to_json()
        return _render.render(self, format=format, level=level, notation=notation,
                              precision=precision, max_units=max_units)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        """In a notebook: the HTML page ``render("html")`` gives, at neuron level for one
        example of a small network (as ``deltaprop explain``), in the source's notation
        for a worked example; in an iframe, so its styles stay its own."""
        from . import _render
        from ._notebook import isolated
        level = "neuron" if self.m == 1 and max(self.sizes) <= 8 else "matrix"
        notation = _render.SOURCE_NOTATION.get(self.source, "nielsen")
        return isolated(self.render("html", level=level, notation=notation))

    def __repr__(self) -> str:
        return (f"Trace(sizes={self.sizes}, loss={self.loss!r}, m={self.m}, steps={len(self.steps)}, "
                f"optimizer={self.optimizer.get('repr', self.optimizer.get('name'))})")

    # -- JSON -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, floats and strings (arrays as nested lists, in the layers' layout)."""
        return {
            "format": "deltaprop.explain", "version": JSON_VERSION,
            "network": {"sizes": list(self.sizes), "loss": self.loss, "fused": self.fused, "dtype": self.dtype},
            "optimizer": dict(self.optimizer), "X": self.X.tolist(), "Y": self.Y.tolist(),
            "steps": [{
                "round": s.round, "cost": s.cost, "cost_after": s.cost_after,
                "cost_terms": None if s.cost_terms is None else s.cost_terms.tolist(),
                "loss_grad": None if s.loss_grad is None else s.loss_grad.tolist(),
                "layers": [{name: (value.tolist() if isinstance(value, np.ndarray) else value)
                            for name, value in vars(layer).items()} for layer in s.layers],
            } for s in self.steps],
            "rounds": {str(k): v for k, v in self.rounds.items()},
            "names": {k: [layer, kind, list(index)] for k, (layer, kind, index) in self.names.items()},
            "printed": dict(self.printed), "errata": dict(self.errata), "notes": list(self.notes),
            "source": self.source,
        }

    def to_json(self, *, indent: int | None = 1) -> str:
        """JSON text; floats are written with ``repr``, so :meth:`from_json` gives them back exactly."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        """Read what :meth:`to_json` wrote, checking its layout; raises :class:`DataError`."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            raise DataError(f"Not a deltaprop explain trace: the text is not JSON ({e}).") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> "Trace":
        """Rebuild a trace from :meth:`to_dict`'s layout; raises :class:`DataError` if it does not fit."""
        try:
            return _trace_from_dict(data)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"Not a valid deltaprop explain trace: {type(e).__name__}: {e}.") from None


#: The JSON layout of :meth:`Trace.to_json`, as a JSON Schema (draft 2020-12).
_NUM = {"type": "number"}
_MAT = {"type": "array", "items": {"type": "array", "items": _NUM}}
_VEC = {"type": "array", "items": _NUM}
_LAYER_KEYS = {"W": _MAT, "b": _VEC, "A_prev": _MAT, "Z": _MAT, "A": _MAT, "dA": {"anyOf": [_MAT, {"type": "null"}]},
               "prime": _MAT, "D": _MAT, "dW": _MAT, "db": _VEC, "W_new": _MAT, "b_new": _VEC,
               "Z_new": _MAT, "A_new": _MAT, "activation": {"type": "string"}, "fixed_bias": {"type": "boolean"}}
JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "deltaprop explain trace",
    "type": "object",
    "required": ["format", "version", "network", "optimizer", "X", "Y", "steps", "rounds", "names",
                 "printed", "errata", "notes", "source"],
    "properties": {
        "format": {"const": "deltaprop.explain"},
        "version": {"const": JSON_VERSION},
        "network": {"type": "object", "required": ["sizes", "loss", "fused", "dtype"],
                    "properties": {"sizes": {"type": "array", "items": {"type": "integer", "minimum": 1},
                                             "minItems": 2},
                                   "loss": {"type": "string"}, "fused": {"type": "boolean"},
                                   "dtype": {"enum": ["float64", "float32"]}}},
        "optimizer": {"type": "object", "required": ["name"]},
        "X": _MAT, "Y": _MAT,
        "steps": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["round", "cost", "cost_after", "cost_terms", "loss_grad", "layers"],
            "properties": {"round": {"type": "integer", "minimum": 1}, "cost": _NUM, "cost_after": _NUM,
                           "cost_terms": {"anyOf": [_VEC, {"type": "null"}]},
                           "loss_grad": {"anyOf": [_MAT, {"type": "null"}]},
                           "layers": {"type": "array", "minItems": 1, "items": {
                               "type": "object", "required": sorted(_LAYER_KEYS), "properties": _LAYER_KEYS,
                               "additionalProperties": False}}}}},
        "rounds": {"type": "object", "patternProperties": {"^[0-9]+$": _NUM}, "additionalProperties": False},
        "names": {"type": "object", "additionalProperties": {
            "type": "array", "prefixItems": [{"type": "integer"}, {"enum": ["W", "b"]},
                                             {"type": "array", "items": {"type": "integer"}}],
            "minItems": 3, "maxItems": 3}},
        "printed": {"type": "object", "additionalProperties": {"type": "string"}},
        "errata": {"type": "object", "additionalProperties": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "source": {"type": "string"},
    },
}


def _trace_from_dict(data: Any) -> Trace:
    if not isinstance(data, dict) or data.get("format") != "deltaprop.explain":
        raise DataError("Not a deltaprop explain trace: the top level must be an object with "
                        "\"format\": \"deltaprop.explain\".")
    if data.get("version") != JSON_VERSION:
        raise DataError(f"This deltaprop reads explain traces of version {JSON_VERSION}; "
                        f"got version {data.get('version')!r}.")
    net = data["network"]
    dtype = np.dtype(net["dtype"]) if net["dtype"] in ("float64", "float32") else None
    if dtype is None:
        raise DataError(f"network.dtype must be 'float64' or 'float32'; got {net['dtype']!r}.")
    sizes = [int(n) for n in net["sizes"]]

    def arr(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
        a = np.array(value, dtype=dtype)
        if a.shape != shape:
            raise DataError(f"{where} has shape {a.shape}; the network {sizes} needs {shape}.")
        return a

    X = arr(data["X"], (len(data["X"]), sizes[0]), "X")
    m = len(X)
    Y = arr(data["Y"], (m, sizes[-1]), "Y")
    steps = []
    for s, step in enumerate(data["steps"]):
        layers = []
        if len(step["layers"]) != len(sizes) - 1:
            raise DataError(f"steps[{s}] has {len(step['layers'])} layers; the network {sizes} has {len(sizes) - 1}.")
        for i, (raw, n_in, n_out) in enumerate(zip(step["layers"], sizes[:-1], sizes[1:])):
            where = f"steps[{s}].layers[{i}]"
            shapes = {"W": (n_out, n_in), "b": (n_out,), "A_prev": (n_in, m), "Z": (n_out, m), "A": (n_out, m),
                      "dA": (n_out, m), "prime": (n_out, m), "D": (n_out, m), "dW": (n_out, n_in), "db": (n_out,),
                      "W_new": (n_out, n_in), "b_new": (n_out,), "Z_new": (n_out, m), "A_new": (n_out, m)}
            extra = set(raw) - set(shapes) - {"activation", "fixed_bias"}
            if extra:
                raise DataError(f"{where} has unknown fields {sorted(extra)}.")
            values: dict[str, Any] = {k: (None if raw[k] is None and k == "dA" else
                                          arr(raw[k], shape, f"{where}.{k}")) for k, shape in shapes.items()}
            layers.append(LayerTrace(activation=str(raw["activation"]), fixed_bias=bool(raw["fixed_bias"]), **values))
        terms = step["cost_terms"]
        grad = step["loss_grad"]
        steps.append(StepTrace(round=int(step["round"]), cost=float(step["cost"]),
                               cost_terms=None if terms is None else arr(terms, (sizes[-1],), f"steps[{s}].cost_terms"),
                               loss_grad=None if grad is None else arr(grad, (sizes[-1], m), f"steps[{s}].loss_grad"),
                               cost_after=float(step["cost_after"]), layers=layers))
    if not steps:
        raise DataError("A trace needs at least one step; 'steps' is empty.")
    names = {str(k): (int(v[0]), str(v[1]), tuple(int(i) for i in v[2])) for k, v in data["names"].items()}
    return Trace(sizes=sizes, loss=str(net["loss"]), fused=bool(net["fused"]), dtype=dtype.name,
                 optimizer=dict(data["optimizer"]), X=X, Y=Y, steps=steps,
                 rounds={int(k): float(v) for k, v in data["rounds"].items()}, names=names,
                 printed={str(k): str(v) for k, v in data["printed"].items()},
                 errata={str(k): str(v) for k, v in data["errata"].items()},
                 notes=[str(n) for n in data["notes"]], source=str(data["source"]))


# -- recording ----------------------------------------------------------------------

#: Losses whose cost is a sum over outputs, so each output's share is the loss on it alone.
_SEPARABLE = ("quadratic", "binary_cross_entropy", "cross_entropy")


def _one_step(net: Network, opt: Optimizer, Xc: np.ndarray, Yc: np.ndarray) -> None:
    """The reference loop's step: forward, backward, the optimizer's update (in place)."""
    net.forward(Xc)
    net.backward(Yc)
    opt.step(net.params())


def _kept(cache: np.ndarray | None) -> np.ndarray:
    """A copy of a cache the pass just filled."""
    assert cache is not None
    return cache.copy()


def _record_step(net: Network, opt: Optimizer, Xc: np.ndarray, Yc: np.ndarray, number: int) -> StepTrace:
    layers = net.layers
    before = [(layer.W.copy(), layer.b.copy()) for layer in layers]
    out = net.forward(Xc)                                       # a^L; every layer caches A_prev, Z, A
    cost = net.loss_fn(out, Yc)
    net.backward(Yc)                                            # BP1-BP4 into dA, S, D, dW, db
    caches: list[dict[str, Any]] = [
        {"A_prev": _kept(layer.A_prev), "Z": _kept(layer.Z), "A": _kept(layer.A), "D": _kept(layer.D),
         "dW": _kept(layer.dW), "db": _kept(layer.db), "prime": _kept(layer.S),
         "dA": None if layer.dA is None else layer.dA.copy()} for layer in layers]
    opt.step(net.params())                                      # the update, in place
    terms = None
    if net.loss_fn.name in _SEPARABLE:
        # C = sum_j C_j over outputs for these losses: output j's share is the loss on row j alone.
        terms = np.array([net.loss_fn(out[j:j + 1], Yc[j:j + 1]) for j in range(out.shape[0])], dtype=net.dtype)
    loss_grad = net.loss_fn.grad(out, Yc).copy() if net.fused else None   # display: the fused D skips it
    out_new = net.forward(Xc)                                   # the cost after the update, by the same code
    cost_after = net.loss_fn(out_new, Yc)
    records = []
    for layer, (W, b), cache in zip(layers, before, caches):
        records.append(LayerTrace(activation=layer.activation.name, fixed_bias=layer.fixed_bias, W=W, b=b,
                                  W_new=layer.W.copy(), b_new=layer.b.copy(),
                                  Z_new=_kept(layer.Z), A_new=_kept(layer.A), **cache))
    return StepTrace(round=number, cost=cost, cost_terms=terms, loss_grad=loss_grad, cost_after=cost_after,
                     layers=records)


def _finite(step: StepTrace) -> bool:
    arrays = [a for layer in step.layers for a in (layer.Z, layer.D, layer.W_new, layer.b_new)]
    return np.isfinite(step.cost) and np.isfinite(step.cost_after) and all(np.all(np.isfinite(a)) for a in arrays)


def _check_rounds(rounds: object, steps: int) -> list[int]:
    if isinstance(rounds, (int, np.integer)) and not isinstance(rounds, bool):
        rounds = [rounds]
    if not isinstance(rounds, Iterable) or isinstance(rounds, (str, bytes)):
        raise DeltapropTypeError(f"The 'rounds' argument must be a list of round counts such as [10000]. "
                                 f"Got {type(rounds).__name__} {rounds!r} instead.")
    out = sorted({check_positive_int("rounds", r) for r in rounds})
    if out and out[-1] > 1_000_000:
        raise ValidationError(f"The 'rounds' argument is capped at 1,000,000 rounds. Got {out[-1]} instead.")
    return [r for r in out if r > steps]


def explain(net: Network | WorkedExample, x: npt.ArrayLike | None = None, y: npt.ArrayLike | None = None, *,
            optimizer: str | Optimizer | None = None, steps: int = 1, rounds: int | Iterable[int] | None = None,
            names: Mapping[str, tuple[int, str, tuple[int, ...]]] | None = None, inplace: bool = False) -> Trace:
    """Run ``steps`` rounds of forward pass, backpropagation and update, recording each.

    Args:
        net: a :class:`Network`, or a :class:`~deltaprop.examples.WorkedExample`
            (``dp.examples.mazur()``), which brings its own ``x``, ``y``, learning rate,
            names of the weights, and the figures its source prints.
        x: the examples, ``(m, n_in)`` rows (one row is one example).
        y: the targets, as :meth:`Network.fit` takes them.
        optimizer: as for :meth:`Network.fit` (default ``SGD(lr=0.1)``, or the worked
            example's ``SGD(lr=ex.lr)``).
        steps: rounds recorded in full.
        rounds: further round counts after which to record only the cost (the worked
            example's "after 10,000 rounds"); by default those its source prints.
        names: source names of parameters, ``{"w5": (1, "W", (0, 0)), ...}``.
        inplace: update ``net`` (and ``optimizer``) itself, as ``fit`` would; by default
            both are copied first and left as they were.

    Returns:
        A :class:`Trace`. Its numbers are the real pass's: ``trace.steps[0].layers[l].dW``
        is bit for bit the ``dW`` that ``net.fit(x, y, epochs=1, batch_size=len(x),
        shuffle=False, engine="numpy")`` computes, and ``W_new`` the weights it leaves
        (the compiled engine agrees to about 1e-12; on the worked examples, bit for bit).
    """
    example = None
    if isinstance(net, WorkedExample):
        example = net
        net = example.net
        x = example.x if x is None else x
        y = example.y if y is None else y
        optimizer = _optimizers.SGD(lr=example.lr) if optimizer is None else optimizer
    if not isinstance(net, Network):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network or a worked example "
                                 f"(dp.examples.mazur()). Got {type(net).__name__} instead.")
    if x is None or y is None:
        raise ValidationError("explain needs the examples 'x' and the targets 'y' (rows), "
                              "e.g. dp.explain(net, [[0.05, 0.10]], [[0.01, 0.99]]).")
    X, Y = net.check_XY(x, y, names=("x", "y"))
    steps = check_positive_int("steps", steps)
    if steps > 1000:
        raise ValidationError(f"The 'steps' argument records every step in full and is capped at 1000. "
                              f"Got {steps} instead; use 'rounds' for the cost after many rounds.")
    printed = dict(example.printed) if example is not None else {}
    source = example.source if example is not None else ""
    if rounds is None:   # by default, the rounds after which the source prints its error
        rounds = [int(k.rsplit("_", 1)[1]) for k in printed if re.fullmatch(r".+_after_\d+", k)]
    rounds = _check_rounds(rounds, steps)
    names = dict(example.names) if names is None and example is not None else dict(names or {})
    _check_names(names, net)
    opt = _optimizers.get(optimizer)
    dropped = [i for i, layer in enumerate(net.layers) if getattr(layer, "dropout", 0)]
    if dropped:
        raise ValidationError(f"explain shows the deterministic pass, but layer {dropped[0]} has dropout "
                              f"{net.layers[dropped[0]].dropout}: its random mask would change every step. "
                              "Explain a copy with dropout set to 0 (net.layers[i].dropout = 0).")
    if not inplace:
        net, opt = net.copy(), copy.deepcopy(opt)
    notes = list(SOURCE_NOTES.get(source, []))
    caller = net
    if net.loss_fn.from_logits:
        net, note = _probability_form(net)
        notes.append(note)
    records_kept = [layer.record for layer in net.layers]
    # Columns laid out exactly as the reference loop lays out a batch (X[idx].T), so the
    # matrix products run the same BLAS path and give the same bits as fit.
    idx = np.arange(len(X))
    Xc, Yc = X[idx].T, Y[idx].T
    records, costs = [], {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for number in range(1, steps + 1):
            for layer in net.layers:
                layer.record = True         # the recorded passes keep sigma'(z) for the trace
            record = _record_step(net, opt, Xc, Yc, number)
            for layer, kept in zip(net.layers, records_kept):
                layer.record = kept
            if not _finite(record):
                raise NonFiniteError(f"Round {number} produced NaN or infinity (cost {record.cost} -> "
                                     f"{record.cost_after}). Try a smaller learning rate.")
            records.append(record)
        done = steps
        for target in rounds:
            for _ in range(target - done):
                _one_step(net, opt, Xc, Yc)
            done = target
            costs[target] = net.loss_fn(net.forward(Xc), Yc)
            if not np.isfinite(costs[target]):
                raise NonFiniteError(f"The cost after {target} rounds is {costs[target]}. Try a smaller learning rate.")
    if caller is not net:                  # the logits network takes the step its probability form took
        caller.set_weights(net.get_weights())
    errata = {k: v for k, v in ERRATA.get(source, {}).items() if k in printed}
    return Trace(sizes=net.sizes, loss=net.loss_fn.name, fused=net.fused, dtype=net.dtype.name,
                 optimizer={**opt.config(), "repr": repr(opt)}, X=X.copy(), Y=Y.copy(), steps=records,
                 rounds=costs, names=names, printed=printed, errata=errata,
                 notes=notes, source=source)


def _probability_form(net: Network) -> tuple[Network, str]:
    """The same network with its logits turned into probabilities by the output layer
    itself: identity + cross_entropy(from_logits) is softmax + cross_entropy, identity +
    binary_cross_entropy(from_logits) is sigmoid + binary_cross_entropy. Both give the same
    cost, the same delta^L = (p - y)/n and so the same step, bit for bit (the loss forms
    p with the activation's own code); the renderers know the probability form."""
    out = net.layers[-1]
    link = net.loss_fn.probability_output
    layers = [layer.copy() for layer in net.layers[:-1]]
    layers.append(type(out)(out.n_in, out.n_out, link, W=out.W, b=out.b, fixed_bias=out.fixed_bias, dtype=out.dtype))
    note = (f"The network's output layer is an identity whose logits z^L the {net.loss_fn.name} cost takes "
            f"(from_logits=True); it is shown as the equivalent {link} output with that cost on the probabilities "
            f"a^L = {link}(z^L): the same cost, delta^L and update.")
    return Network(layers, loss=net.loss_fn.name), note


def _check_names(names: Mapping[str, Any], net: Network) -> None:
    for name, where in names.items():
        ok = (isinstance(name, str) and re.fullmatch(r"[A-Za-z]+\w*", name) and isinstance(where, (tuple, list))
              and len(where) == 3 and isinstance(where[0], int) and 0 <= where[0] < len(net.layers)
              and where[1] in ("W", "b"))
        if ok:
            shape = getattr(net.layers[where[0]], where[1]).shape
            index = tuple(where[2])
            ok = len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape))
        if not ok:
            raise ValidationError(f"The 'names' argument maps a source name to (layer, 'W' or 'b', index) inside "
                                  f"the network {net.sizes}; the entry {name!r}: {where!r} does not fit.")


def parse_rows(text: str, *, name: str = "input", n: int | None = None) -> np.ndarray:
    """Numbers typed on a command line as rows: ``"0.05,0.10"`` or ``"0.05 0.10; 1 2"``.

    Rows are separated by ``;``, numbers by commas or spaces. ``n`` is the number of
    columns each row must have. Returns a float64 array ``(rows, columns)``.

    >>> parse_rows("0.05, 0.10")
    array([[0.05, 0.1 ]])
    >>> parse_rows("1 2; 3 4", n=2).shape
    (2, 2)
    """
    if not isinstance(text, str):
        raise DeltapropTypeError(f"The '{name}' argument must be text such as '0.05,0.10'. "
                                 f"Got {type(text).__name__} instead.")
    rows = []
    for r, row in enumerate(text.split(";")):
        fields = [f for f in re.split(r"[,\s]+", row.strip()) if f]
        if not fields:
            raise ValidationError(f"The '{name}' argument has an empty row (row {r + 1} of {text!r}); "
                                  "write numbers separated by commas, rows separated by ';'.")
        values = []
        for f in fields:
            try:
                v = float(f)
            except ValueError:
                raise ValidationError(f"The '{name}' argument must hold numbers; {f!r} (row {r + 1}) is not "
                                      "a number.") from None
            if not np.isfinite(v):
                raise ValidationError(f"The '{name}' argument must hold finite numbers; got {f!r} (row {r + 1}).")
            values.append(v)
        rows.append(values)
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ValidationError(f"The rows of '{name}' must all have the same length; got lengths "
                              f"{[len(row) for row in rows]}.")
    width = widths.pop()
    if n is not None and width != n:
        raise ShapeError(f"The '{name}' argument needs {n} number(s) per row (the network's size there); "
                         f"got {width}: {text!r}.")
    return np.array(rows, dtype=np.float64)
