"""The Python that rebuilds and trains a playground session's network: the same data,
the same network from the same seed, the same optimizer and loop, so that it trains to
the same bits as the page did (the playground trains with ``engine="numpy"``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network import Network


def python_code(config: dict, data: dict, net: Network, steps: int) -> str:
    """A script, as text, for ``config`` (the session's choices), training ``steps`` mini-batches."""
    d, n, t = config["data"], config["network"], config["training"]
    lines = ["# deltaprop playground: the network on the page, rebuilt and trained the same way",
             "import numpy as np", "import deltaprop as dp", ""]
    source = d["source"]
    if source in ("mazur", "kaist"):
        lines += [f"ex = dp.examples.{source}()              # the worked example: its network, input and target",
                  "net, X_train, y_train = ex.net, ex.x, ex.y",
                  "optimizer = dp.SGD(lr=ex.lr)", "batch_size = 1"]
        return "\n".join(lines + _training(t, 1, [], steps) + [""])
    if source == "csv":
        target = d.get("target")
        lines += [f"table = dp.datasets.load_csv(\"data.csv\", target={target!r})   # the CSV you uploaded",
                  "X, y = table.X, table.y"]
        if d.get("standardize", True):
            lines.append("X = dp.data.Standardizer().fit(X).transform(X)")
    else:
        kwargs = [f"noise={d['noise']!r}", f"seed={d['seed']}"]
        if source == "spirals":
            kwargs.append(f"n_classes={d.get('classes', 2)}")
        if source == "blobs":
            kwargs.append(f"centers={d.get('classes', 3)}")
        lines.append(f"X, y = dp.data.{source}({d['samples']}, {', '.join(kwargs)})")
        if d.get("points"):
            lines += [f"added = np.array({json.dumps(d['points'])})     # the points clicked on the plane",
                      "X, y = np.concatenate([X, added[:, :2]]), np.concatenate([y, added[:, 2].astype(int)])"]
    stratify = data["task"] == "classification"
    lines.append(f"X_train, X_test, y_train, y_test = dp.data.train_test_split(X, y, test_size={d['test_share']!r}, "
                 f"seed={d['seed']}, stratify={stratify})")
    lines += ["", f"rng = np.random.default_rng({n['seed']})     # every layer's weights, drawn in turn", "layers = ["]
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        extra = f", dropout={layer.dropout!r}" if layer.dropout else ""
        dt = f", dtype={net.dtype.name!r}" if net.dtype.name != "float64" else ""
        lines.append(f"    dp.Dense({layer.n_in}, {layer.n_out}, {layer.activation.name!r}, init={n['init']!r}, "
                     f"seed=rng{extra}{dt}),{'' if i < last else '  # output'}")
    lines.append("]")
    loss = net.loss_fn
    loss_expr = f"dp.losses.{type(loss).__name__}(from_logits=True)" if loss.from_logits else repr(loss.name)
    lines.append(f"net = dp.Network(layers, loss={loss_expr}, seed={n['seed']})")
    if t["optimizer"] == "adam":
        opt = f"dp.Adam(lr={t['lr']!r}" + (f", weight_decay={t['weight_decay']!r}" if t["weight_decay"] else "") + ")"
    else:
        args = [f"lr={t['lr']!r}"]
        if t["optimizer"] in ("momentum", "nesterov"):
            args.append(f"momentum={t['momentum']!r}")
        if t["optimizer"] == "nesterov":
            args.append("nesterov=True")
        if t["weight_decay"]:
            args.append(f"weight_decay={t['weight_decay']!r}")
        opt = f"dp.SGD({', '.join(args)})"
    lines.append(f"optimizer = {opt}")
    callbacks = []
    if t["schedule"]:
        horizon = t["schedule_epochs"]
        schedule = {"step": f"dp.schedules.StepDecay(drop=0.5, every={max(1, horizon // 3)})",
                    "exponential": "dp.schedules.ExponentialDecay(rate=0.95)",
                    "cosine": f"dp.schedules.CosineDecay(epochs={horizon})"}[t["schedule"]]
        callbacks.append(f"dp.callbacks.LearningRateScheduler({schedule})")
    return "\n".join(lines + _training(t, min(t["batch_size"], len(data["X"])), callbacks, steps) + [""])


def _training(t: dict, batch: int, callbacks: list[str], steps: int) -> list[str]:
    cbs = f", callbacks=[{', '.join(callbacks)}]" if callbacks else ""
    return ["",
            "# the playground's loop: the same Trainer that fit runs, on the reference engine",
            f"trainer = dp.Trainer(net, X_train, y_train, batch_size={batch}, optimizer=optimizer, "
            f"seed={t['seed']}, engine=\"numpy\"{cbs})",
            f"trainer.train_batches({max(steps, 1)})            # the mini-batches trained on the page",
            "print(net.evaluate(X_train, y_train))"]
