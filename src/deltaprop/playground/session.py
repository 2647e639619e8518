"""One playground session (one browser tab): its data, its network, the
:class:`~deltaprop.training.Trainer` that trains it, and what the page draws of them.

Nothing here knows of the web: the server (:mod:`deltaprop.playground.app`) passes the
page's JSON in and sends what comes back out. Every number the page shows comes from
here, computed by the library itself: the weights and gradients of the real network,
its metrics from ``evaluate``, the heat maps from its forward pass, and "why" from
:func:`deltaprop.explain` on the state before the last step (the step the engine took,
bit for bit: the playground trains with the NumPy reference engine).
"""

from __future__ import annotations

import base64
import copy
import io
import math
import os
import tempfile
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import data as _data
from .. import datasets, examples, losses
from ..callbacks import LearningRateScheduler
from ..errors import DeltapropError, ValidationError
from ..explain import explain
from ..layers import Dense
from ..network import Network
from ..optimizers import SGD, Adam
from ..schedules import CosineDecay, ExponentialDecay, StepDecay
from ..training import Trainer

if TYPE_CHECKING:
    from ..explain import Trace
    from ..optimizers import Optimizer

SYNTHETIC = ("xor", "moons", "circles", "spirals", "blobs")
EXAMPLES = ("mazur", "kaist")
ACTIVATIONS = ("sigmoid", "relu", "tanh", "identity", "leaky_relu")
OUTPUTS = ("sigmoid", "softmax", "identity", "tanh", "relu", "leaky_relu")
LOSSES = ("quadratic", "binary_cross_entropy", "cross_entropy")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
NOTATIONS = ("nielsen", "kaist", "mazur")
INITS = ("auto", "standard_normal", "lecun_normal", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform")
#: What the page starts with; the user may raise them up to HARD_LIMITS.
LIMITS = {"layers": 6, "units": 16}
#: What no page may pass: beyond, a step takes seconds on a laptop.
HARD_LIMITS = {"layers": 32, "units": 1024, "samples": 20_000, "batch_size": 20_000}
#: Cells per side of the neurons' heat maps and of the decision regions.
GRID, DECISION_GRID = 40, 100
#: A step slower than this is reported to the page as slow.
SLOW_STEP_S = 0.05

DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "data": {"source": "xor", "samples": 200, "noise": 0.2, "test_share": 0.3, "seed": 0, "classes": 3},
    "network": {"hidden": [{"units": 4, "activation": "tanh"}], "output_activation": "auto", "loss": "cross_entropy",
                "from_logits": False, "init": "auto", "dropout": 0.0, "dtype": "float64", "seed": 0},
    "training": {"optimizer": "sgd", "lr": 0.3, "momentum": 0.9, "batch_size": 10, "weight_decay": 0.0,
                 "schedule": None, "schedule_epochs": 100, "seed": 0},
    "limits": dict(LIMITS),
}


class PlaygroundError(ValidationError):
    """Something the page asked for that cannot be done; the message is for the user."""


class Session:
    """The state of one tab. ``setup(config)`` builds data, network and trainer; ``step``,
    ``epoch``, ``reset``, ``add_point`` change them; ``state()`` and ``inspect()`` say what
    the page draws and shows."""

    def __init__(self, sid: str, *, model: Network | None = None, csv_text: str | None = None):
        """``model`` and ``csv_text`` are what the person starting the server named on the
        command line (read once, at start); the page itself can name no file."""
        self.sid = sid
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.csv_text = csv_text
        self.loaded_net = None if model is None else model.copy()
        if csv_text is not None:
            self.config["data"] = {**self.config["data"], "source": "csv", "target": None}
        if model is not None:
            self.config["network"] = {**self.config["network"], "use_loaded": True}
        self.setup(self.config)

    # -- building ---------------------------------------------------------------------

    def setup(self, config: dict) -> dict:
        """(Re)build everything from ``config`` (the page's choices); raises PlaygroundError."""
        config = _merge(self.config, config)
        _check_config(config)
        data = self._build_data(config)
        net, example = self._build_network(config, data)
        opt = self._build_optimizer(config, example)
        callbacks = []
        t = config["training"]
        if t["schedule"]:
            horizon = int(t["schedule_epochs"])
            make = {"step": lambda: StepDecay(drop=0.5, every=max(1, horizon // 3)),
                    "exponential": lambda: ExponentialDecay(rate=0.95),
                    "cosine": lambda: CosineDecay(epochs=horizon)}[t["schedule"]]
            callbacks.append(LearningRateScheduler(make()))
        batch = 1 if example is not None else min(int(t["batch_size"]), len(data["X"]))
        try:
            trainer = Trainer(net, data["X"], data["Y"], batch_size=batch, optimizer=opt, callbacks=callbacks,
                              seed=int(t["seed"]), engine="numpy")
        except DeltapropError as e:
            raise PlaygroundError(str(e)) from None
        self.config, self.data, self.net, self.opt, self.example = config, data, net, opt, example
        self.trainer, self.batch_size = trainer, batch
        self.steps = 0
        # (weights, optimizer) before the last step, and its batch
        self.before: tuple[list[np.ndarray], Optimizer, np.ndarray] | None = None
        self.last_trace: Trace | None = None
        self.previous_weights = net.get_weights()
        self.step_seconds = 0.0
        return self.state(full=True)

    def reset(self) -> dict:
        return self.setup({})

    def _build_data(self, config: dict) -> dict:
        d = config["data"]
        source = d["source"]
        if source in EXAMPLES:
            ex = examples.mazur() if source == "mazur" else examples.kaist()
            return {"X": ex.x, "Y": ex.y, "X_test": None, "Y_test": None, "classes": None, "features": ["x1", "x2"],
                    "task": "regression" if source == "mazur" else "classification", "labels_train": None}
        if source == "csv":
            return self._csv_data(d)
        kwargs = {"noise": float(d["noise"]), "seed": int(d["seed"])}
        if source == "spirals":
            kwargs["n_classes"] = int(d.get("classes", 2))
        if source == "blobs":
            kwargs["centers"] = int(d.get("classes", 3))
        X, y = getattr(_data, source)(int(d["samples"]), **kwargs)
        extra = d.get("points") or []
        if extra:
            X = np.concatenate([X, np.array([p[:2] for p in extra], dtype=float)])
            y = np.concatenate([y, np.array([p[2] for p in extra], dtype=np.int64)])
        X_train, X_test, y_train, y_test = _data.train_test_split(X, y, test_size=float(d["test_share"]),
                                                                  seed=int(d["seed"]), stratify=True)
        k = int(y.max()) + 1
        return {"X": X_train, "Y": y_train, "X_test": X_test, "Y_test": y_test, "classes": [str(i) for i in range(k)],
                "features": ["x1", "x2"], "task": "classification", "labels_train": y_train}

    def _csv_data(self, d: dict) -> dict:
        if self.csv_text is None:
            raise PlaygroundError("No CSV file has been uploaded: drop one on the page (or choose another data set).")
        target = d.get("target")
        if target in (None, ""):
            target = -1
        elif isinstance(target, str) and target.lstrip("-").isdigit():
            target = int(target)
        try:
            table = datasets.load_csv(io.StringIO(self.csv_text), target=target)
        except DeltapropError as e:
            raise PlaygroundError(str(e).replace("<StringIO>", "the uploaded CSV")) from None
        y = table.y
        assert y is not None                   # loaded with a target column (never target=None)
        if table.class_names is not None:
            classes, task = list(table.class_names), "classification"
        elif y.dtype.kind in "iu" and len(np.unique(y)) <= 50:
            values = np.unique(y)
            classes, task, y = [str(v) for v in values.tolist()], "classification", np.searchsorted(values, y)
        else:
            classes, task, y = None, "regression", y.astype(np.float64)
        X = table.X
        if d.get("standardize", True):
            X = _data.Standardizer().fit(X).transform(X)
        try:
            X_train, X_test, y_train, y_test = _data.train_test_split(
                X, y, test_size=float(d["test_share"]), seed=int(d["seed"]),
                stratify=True if task == "classification" else None)
        except DeltapropError as e:
            raise PlaygroundError(f"The CSV's {len(X)} row(s) cannot be split into training and test rows "
                                  f"at a test share of {d['test_share']}: {e}") from None
        return {"X": X_train, "Y": y_train, "X_test": X_test, "Y_test": y_test, "classes": classes,
                "features": list(table.feature_names), "task": task, "target": table.target_name,
                "labels_train": y_train if classes else None}

    def _build_network(self, config, data):
        source = config["data"]["source"]
        if source in EXAMPLES:
            ex = examples.mazur() if source == "mazur" else examples.kaist()
            return ex.net, ex
        if self.loaded_net is not None and config["network"].get("use_loaded"):
            if self.loaded_net.n_in != data["X"].shape[1]:
                raise PlaygroundError(f"The loaded model takes {self.loaded_net.n_in} inputs; this data has "
                                      f"{data['X'].shape[1]} features.")
            return self.loaded_net.copy(), None
        n = config["network"]
        limits = config["limits"]
        hidden = n["hidden"]
        if len(hidden) + 1 > int(limits["layers"]):
            raise PlaygroundError(f"{len(hidden) + 1} layers is more than the limit of {limits['layers']}; raise the "
                                  "limit to go on.")
        for h in hidden:
            if int(h["units"]) > int(limits["units"]):
                raise PlaygroundError(f"A layer of {h['units']} neurons is more than the limit of {limits['units']}; "
                                      "raise the limit to go on.")
        classification = data["task"] == "classification"
        loss_name = n["loss"] if classification else "quadratic"
        if classification:
            k = len(data["classes"])
            n_out = 1 if loss_name == "binary_cross_entropy" and k == 2 else k
        else:
            n_out = 1
        loss = losses.get({"name": loss_name, "from_logits": True} if n.get("from_logits") and loss_name != "quadratic"
                          else loss_name)
        out = n["output_activation"]
        if out in (None, "auto"):
            out = loss.fused_with or ("identity" if not classification else "sigmoid")
        sizes = [data["X"].shape[1], *[int(h["units"]) for h in hidden], n_out]
        acts = [h["activation"] for h in hidden] + [out]
        rng = np.random.default_rng(int(n["seed"]))
        try:
            layers = [Dense(a, b, act, init=n["init"], seed=rng, dtype=n["dtype"],
                            dropout=float(n["dropout"]) if i < len(acts) - 1 else 0.0)
                      for i, (a, b, act) in enumerate(zip(sizes[:-1], sizes[1:], acts))]
            return Network(layers, loss=loss, seed=int(n["seed"])), None
        except DeltapropError as e:
            raise PlaygroundError(str(e)) from None

    def _build_optimizer(self, config, example):
        t = config["training"]
        lr = float(t["lr"])
        if example is not None:
            return SGD(lr=example.lr if t.get("example_lr", True) else lr)
        try:
            if t["optimizer"] == "adam":
                return Adam(lr=lr, weight_decay=float(t["weight_decay"]))
            momentum = float(t["momentum"]) if t["optimizer"] in ("momentum", "nesterov") else 0.0
            return SGD(lr=lr, momentum=momentum, nesterov=t["optimizer"] == "nesterov",
                       weight_decay=float(t["weight_decay"]))
        except DeltapropError as e:
            raise PlaygroundError(str(e)) from None

    # -- training ---------------------------------------------------------------------

    def step(self, batches: int = 1) -> dict:
        """Train ``batches`` mini-batches; keep the state before the last of them (for "why")."""
        batches = max(1, min(int(batches), 10_000))
        began = time.perf_counter()
        try:
            if batches > 1:
                self.trainer.train_batches(batches - 1)
            self.previous_weights = self.net.get_weights()
            before = (self.net.get_weights(), copy.deepcopy(self.opt))
            self.trainer.train_batches(1)
        except DeltapropError as e:
            raise PlaygroundError(str(e)) from None
        st = self.trainer.state
        nb, m = st.n_batches, self.batch_size
        k = nb - 1 if st.epoch_done else st.batch - 1            # the batch just trained, in its epoch
        assert st.order is not None                              # that epoch's order
        self.before = (*before, st.order[k * m:(k + 1) * m].copy())
        self.last_trace = None
        self.steps += batches
        self.step_seconds = (time.perf_counter() - began) / batches
        return self.state()

    def epoch(self) -> dict:
        st = self.trainer.state
        left = st.n_batches if st.epoch_done else st.n_batches - st.batch
        return self.step(left)

    def add_point(self, x: float, y: float, label: int) -> dict:
        d = self.config["data"]
        if d["source"] not in SYNTHETIC:
            raise PlaygroundError("Points can be added to the 2-D data sets only.")
        k = len(self.data["classes"])
        if not 0 <= int(label) < k:
            raise PlaygroundError(f"The class must be one of 0..{k - 1}.")
        points = list(d.get("points") or []) + [[float(x), float(y), int(label)]]
        return self.setup({"data": {"points": points}})

    # -- what the page shows ----------------------------------------------------------

    def state(self, full: bool = False) -> dict:
        net, d = self.net, self.data
        st = self.trainer.state
        out = {"type": "state", "step": self.steps, "epoch": st.epoch, "batch": st.batch, "n_batches": st.n_batches,
               "lr": self.opt.lr, "network": self._network_view(), "metrics": self._metrics(),
               "seconds_per_step": self.step_seconds,
               "slow": self.step_seconds > SLOW_STEP_S}
        if net.n_in == 2 and d["task"] == "classification":
            out["grid"] = self._grid()
        elif d["classes"] and d.get("X_test") is not None and len(d["X_test"]):
            out["confusion"] = self._confusion()
        if full:
            out["config"] = self.config
            out["data"] = self._points()
            out["limits"] = {"page": self.config["limits"], "hard": HARD_LIMITS}
            out["classes"] = d["classes"]
            out["features"] = d["features"]
            out["example"] = self.config["data"]["source"] if self.example is not None else None
        return out

    def _network_view(self) -> dict:
        layers = []
        for layer, (W0, b0) in zip(self.net.layers, zip(self.previous_weights[::2], self.previous_weights[1::2])):
            layers.append({"activation": layer.activation.name, "W": layer.W.tolist(), "b": layer.b.tolist(),
                           "dW": None if layer.dW is None else layer.dW.tolist(),
                           "db": None if layer.db is None else layer.db.tolist(),
                           "dW_update": (layer.W - W0).tolist(), "db_update": (layer.b - b0).tolist()})
        return {"sizes": self.net.sizes, "loss": self.net.loss_fn.name, "from_logits": self.net.loss_fn.from_logits,
                "dtype": self.net.dtype.name, "layers": layers}

    def _metrics(self) -> dict:
        d = self.data
        keep = ("loss", "accuracy") if d["task"] == "classification" else ("loss",)
        out = {"train": _finite(self.net.evaluate(d["X"], d["Y"]), keep)}
        if d.get("X_test") is not None and len(d["X_test"]):
            out["test"] = _finite(self.net.evaluate(d["X_test"], d["Y_test"]), keep)
        return out

    def _extent(self):
        X = np.concatenate([self.data["X"]] + ([self.data["X_test"]] if self.data.get("X_test") is not None else []))
        lo, hi = X.min(axis=0), X.max(axis=0)
        # a tenth of the data's width around it; at least 1 either side of a single point
        # (the worked examples train on one)
        pad = np.where(hi - lo > 1e-6, 0.1 * (hi - lo), 1.0)
        return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]

    def _grid(self) -> dict:
        """Each neuron's output over the plane, and the decision regions (values quantised to
        bytes for the picture, with each map's range), from the network's own forward pass."""
        x0, x1, y0, y1 = self._extent()
        probe = self.net.copy()                      # the real network's caches stay as training left them
        maps = []
        G = GRID
        P = _plane(x0, x1, y0, y1, G, probe.dtype)
        probe.forward(P.T)
        for layer in probe.layers:
            maps.append([_bytes_map(layer.A[j]) for j in range(layer.A.shape[0])])
        D = DECISION_GRID
        A = probe.forward_rows(_plane(x0, x1, y0, y1, D, probe.dtype))
        labels = probe.classes(A)
        confidence = probe.loss_fn.probabilities(A.T).T if probe.loss_fn.fused_with else A
        conf = confidence.max(axis=1) if confidence.shape[1] > 1 else np.where(labels == 1, confidence[:, 0],
                                                                                   1 - confidence[:, 0])
        return {"extent": [x0, x1, y0, y1], "size": G, "neurons": maps, "decision_size": D,
                "decision": base64.b64encode(labels.astype(np.uint8).tobytes()).decode(),
                "confidence": base64.b64encode(np.clip(conf * 255, 0, 255).astype(np.uint8).tobytes()).decode()}

    def _points(self) -> dict:
        d = self.data
        out = {"features": d["features"], "task": d["task"]}
        if d["X"].shape[1] == 2:
            out["train"] = np.column_stack([d["X"], _labels(d, d["Y"])]).tolist()
            out["test"] = [] if d.get("X_test") is None else np.column_stack([d["X_test"],
                                                                               _labels(d, d["Y_test"])]).tolist()
        elif d["X"].shape[1] > 2:
            out["projection"] = self._projection()
        return out

    def _projection(self) -> dict:
        """The data on its first two principal axes (of the training rows)."""
        d = self.data
        mean = d["X"].mean(axis=0)
        _, _, Vt = np.linalg.svd(d["X"] - mean, full_matrices=False)
        axes = Vt[:2].T
        proj = lambda X: ((X - mean) @ axes).tolist()  # noqa: E731
        return {"train": proj(d["X"]), "train_labels": _labels(d, d["Y"]).tolist(),
                "test": [] if d.get("X_test") is None else proj(d["X_test"]),
                "test_labels": [] if d.get("X_test") is None else _labels(d, d["Y_test"]).tolist()}

    def _confusion(self) -> list[list[int]]:
        d = self.data
        k = len(d["classes"])
        predicted = self.net.predict_classes(d["X_test"])
        actual = np.asarray(d["Y_test"])
        M = np.zeros((k, k), dtype=int)
        np.add.at(M, (actual, predicted), 1)
        return M.tolist()

    # -- why ----------------------------------------------------------------------------

    def trace(self):
        """The last step, recorded: dp.explain on the state before it, with its batch
        (the same step the engine took, bit for bit)."""
        if self.before is None:
            raise PlaygroundError("Train one step first: \"why\" shows the numbers of the last step.")
        if self.last_trace is None:
            weights, opt, idx = self.before
            net = self.net.copy()
            net.set_weights(weights)
            names = self.example.names if self.example is not None else None
            try:
                self.last_trace = explain(net, self.data["X"][idx], np.asarray(self.data["Y"])[idx],
                                          optimizer=copy.deepcopy(opt), names=names)
            except DeltapropError as e:
                raise PlaygroundError(str(e)) from None
        return self.last_trace

    def example_trace(self):
        """The worked example's own first step, with every figure its source prints and its errata."""
        if self.example is None:
            return None
        ex = examples.mazur() if self.config["data"]["source"] == "mazur" else examples.kaist()
        return explain(ex)

    def inspect(self, layer: int, neuron: int, notation: str = "nielsen", edge: int | None = None) -> dict:
        from .why import neuron_story
        if notation not in NOTATIONS:
            raise PlaygroundError(f"The notation must be one of {', '.join(NOTATIONS)}; got {notation!r}.")
        trace = self.trace()
        if not 0 <= layer < len(trace.sizes) - 1 or not 0 <= neuron < trace.sizes[layer + 1]:
            raise PlaygroundError(f"There is no neuron {neuron} in layer {layer}.")
        if edge is not None and not 0 <= edge < trace.sizes[layer]:
            raise PlaygroundError(f"Neuron {neuron} of layer {layer} has no weight from neuron {edge} below "
                                  f"(there are {trace.sizes[layer]}).")
        return {"type": "inspect", "layer": layer, "neuron": neuron, "edge": edge, "notation": notation,
                **neuron_story(trace, layer, neuron, notation, edge)}

    # -- keeping the work ---------------------------------------------------------------

    def model_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.dpz")
            meta = {"cli": {"dataset": self.config["data"]["source"], "classes": self.data["classes"],
                            "feature_names": self.data["features"] if self.net.n_in == len(self.data["features"])
                            else None, "task": self.data["task"]}}
            self.net.save(path, metadata=meta)
            with open(path, "rb") as f:
                return f.read()

    def load_model_bytes(self, blob: bytes) -> dict:
        """A model file dropped on the page: read by dp.load (no pickle), then trained on."""
        from .. import io as _io
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "upload.dpz")
            with open(path, "wb") as f:
                f.write(blob)
            try:
                self.loaded_net = _io.load(path)
            except DeltapropError as e:
                raise PlaygroundError(str(e).replace(path, "the uploaded file")) from None
        return self.setup({"network": {"use_loaded": True}})

    def load_csv_bytes(self, blob: bytes, target: str | None = None) -> dict:
        try:
            text = blob.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise PlaygroundError(f"The uploaded CSV is not UTF-8 text (byte {e.start}).") from None
        previous = self.csv_text
        self.csv_text = text
        try:
            return self.setup({"data": {"source": "csv", "target": target},
                               "network": {"use_loaded": False}})
        except PlaygroundError:
            self.csv_text = previous
            raise

    def code(self) -> str:
        from .code import python_code
        return python_code(self.config, self.data, self.net, self.steps)


# ---------------------------------------------------------------------------------------

def _merge(base: dict, changes: dict) -> dict:
    """``base`` with the page's ``changes`` (one level of sections)."""
    if not isinstance(changes, dict):
        raise PlaygroundError("The setup must be an object of sections (data, network, training, limits).")
    out = copy.deepcopy(base)
    for section, values in changes.items():
        if section not in out or not isinstance(values, dict):
            raise PlaygroundError(f"Unknown setup section {section!r}.")
        out[section].update(values)
    return out


def _check_config(c: dict) -> None:
    """Every choice of the page against what the library offers (clear messages, never a traceback)."""
    d, n, t, lim = c["data"], c["network"], c["training"], c["limits"]

    def number(where, value, lo, hi, integer=False):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and lo <= value <= hi and (not integer or float(value).is_integer())
        if not ok:
            raise PlaygroundError(f"{where} must be {'a whole number' if integer else 'a number'} from {lo} to {hi}; "
                                  f"got {value!r}.")

    def choice(where, value, options):
        if value not in options:
            raise PlaygroundError(f"{where} must be one of {', '.join(map(str, options))}; got {value!r}.")

    choice("The data set", d["source"], (*SYNTHETIC, *EXAMPLES, "csv"))
    number("The number of points", d["samples"], 4, HARD_LIMITS["samples"], True)
    number("The noise", d["noise"], 0, 5)
    number("The test share", d["test_share"], 0.05, 0.9)
    number("The seed", d["seed"], 0, 2**31, True)
    number("The number of classes", d.get("classes", 3), 2, 10, True)
    number("The layer limit", lim["layers"], 1, HARD_LIMITS["layers"], True)
    number("The neuron limit", lim["units"], 1, HARD_LIMITS["units"], True)
    if not isinstance(n["hidden"], list):
        raise PlaygroundError("The hidden layers must be a list.")
    for i, h in enumerate(n["hidden"]):
        if not isinstance(h, dict):
            raise PlaygroundError(f"Hidden layer {i + 1} must be an object with units and activation.")
        number(f"Hidden layer {i + 1}'s neurons", h.get("units"), 1, HARD_LIMITS["units"], True)
        choice(f"Hidden layer {i + 1}'s activation", h.get("activation"), ACTIVATIONS)
    choice("The output activation", n["output_activation"], ("auto", *OUTPUTS))
    choice("The loss", n["loss"], LOSSES)
    choice("The initializer", n["init"], INITS)
    choice("The dtype", n["dtype"], ("float64", "float32"))
    number("The dropout", n["dropout"], 0, 0.9)
    number("The network's seed", n["seed"], 0, 2**31, True)
    choice("The optimizer", t["optimizer"], OPTIMIZERS)
    number("The learning rate", t["lr"], 1e-8, 1e3)
    number("The momentum", t["momentum"], 0, 0.999)
    number("The batch size", t["batch_size"], 1, HARD_LIMITS["batch_size"], True)
    number("The weight decay", t["weight_decay"], 0, 10)
    choice("The schedule", t["schedule"], (None, "step", "exponential", "cosine"))
    number("The schedule's epochs", t["schedule_epochs"], 1, 100_000, True)
    number("The training seed", t["seed"], 0, 2**31, True)


def _labels(d: dict, Y: npt.ArrayLike) -> np.ndarray:
    Y = np.asarray(Y)
    if d["task"] != "classification":
        return np.zeros(len(Y), dtype=int)
    return Y.argmax(axis=1) if Y.ndim == 2 else Y.astype(int)


def _bytes_map(values: np.ndarray) -> dict:
    lo, hi = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if hi == lo else (values - lo) / (hi - lo)
    return {"min": lo, "max": hi, "data": base64.b64encode((scaled * 255).round().astype(np.uint8).tobytes()).decode()}


def _finite(metrics: dict, keep: Collection[str]) -> dict:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in metrics.items() if k in keep}


def _plane(x0: float, x1: float, y0: float, y1: float, size: int, dtype: npt.DTypeLike) -> np.ndarray:
    """``size`` x ``size`` points over the plane as rows (x, y): row by row from the top
    (y1) down, each from left (x0) to right: the order the page paints the cells in."""
    xs, ys = np.meshgrid(np.linspace(x0, x1, size), np.linspace(y1, y0, size))
    return np.column_stack([xs.ravel(), ys.ravel()]).astype(dtype)
