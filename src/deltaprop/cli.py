"""Floor 7: the ``deltaprop`` command line."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    """The book's network: 784-30-10 sigmoid, quadratic cost, SGD eta 3.0, mini-batch 10."""
    import numpy as np

    from .datasets import mnist
    from .network import Network
    from .optimizers import SGD

    (X, y), (X_test, y_test) = mnist(args.data)
    X, y = X[:50_000], y[:50_000]        # the book trains on 50,000 and keeps 10,000 for validation
    net = Network([784, 30, 10], activation="sigmoid", loss="quadratic", init=args.init, seed=args.seed)
    print(f"deltaprop {__version__} demo: {net.sizes} sigmoid, quadratic cost, SGD(lr=3.0), mini-batch 10, "
          f"{len(X)} training / {len(X_test)} test images, init={args.init}, seed={args.seed}", flush=True)
    start = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=10, optimizer=SGD(lr=3.0),
                      validation_data=(X_test, y_test), verbose=1)
    total = time.perf_counter() - start
    accuracy = history["val_accuracy"][-1]
    print(f"test accuracy after {args.epochs} epochs: {accuracy:.2%} "
          f"({int(round(accuracy * len(X_test)))} / {len(X_test)}); "
          f"{total:.1f} s in all, {np.median(history['seconds']):.2f} s per epoch (median)")
    if args.require is not None and accuracy < args.require:
        print(f"error: test accuracy {accuracy:.2%} is below the required {args.require:.2%}", file=sys.stderr)
        return 1
    return 0


def _explain(args: argparse.Namespace) -> int:
    """One step of backpropagation with every number shown, in the notation of the notes."""
    from . import examples
    from .errors import DeltapropError
    from .explain import explain, parse_rows
    from .optimizers import SGD

    try:
        if (args.example is None) == (args.model is None):
            raise ValueError("give either an example (mazur or kaist) or --model FILE with --input and --target")
        if args.example is not None:
            if args.input is not None or args.target is not None:
                raise ValueError(f"--input and --target go with --model; the {args.example} example brings its own")
            ex = examples.mazur() if args.example == "mazur" else examples.kaist()
            opt = SGD(lr=ex.lr if args.lr is None else args.lr)
            trace = explain(ex, optimizer=opt, steps=args.steps, rounds=args.rounds)
            notation = args.notation or args.example
            level = args.level or "neuron"
        else:
            from .io import load
            if args.input is None or args.target is None:
                raise ValueError("--model needs --input (e.g. '0.05,0.10') and --target (e.g. '0.01,0.99')")
            net = load(args.model)
            x = parse_rows(args.input, name="--input", n=net.n_in)
            y = parse_rows(args.target, name="--target", n=net.n_out)
            trace = explain(net, x, y, optimizer=SGD(lr=0.1 if args.lr is None else args.lr), steps=args.steps,
                            rounds=args.rounds or ())
            notation = args.notation or "nielsen"
            level = args.level or ("neuron" if len(x) == 1 and max(net.sizes) <= args.max_units else "matrix")
        text = trace.render(args.format, level=level, notation=notation, precision=args.precision,
                            max_units=args.max_units)
    except (DeltapropError, ValueError, OSError) as e:
        print(f"deltaprop explain: error: {e}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output} ({args.format}, {len(text)} characters)")
    else:
        sys.stdout.write(text)
    return 0


def _add_explain(sub) -> None:
    p = sub.add_parser(
        "explain", help="show one step of backpropagation with every number", description=_explain.__doc__,
        epilog="Examples: deltaprop explain mazur | deltaprop explain kaist --level matrix | "
               "deltaprop explain --model net.dpz --input 0.05,0.10 --target 0.01,0.99 --format html -o step.html")
    p.add_argument("example", nargs="?", choices=("mazur", "kaist"),
                   help="a worked example of the notes: mazur (seed 002, 2-2-2) or kaist (seed 001, 2-2-1)")
    p.add_argument("--model", metavar="FILE", help="a network saved with net.save (instead of an example)")
    p.add_argument("--input", metavar="X", help="the example(s) for --model: numbers separated by commas, "
                                                "rows by ';' (e.g. '0.05,0.10')")
    p.add_argument("--target", metavar="Y", help="the target(s) for --model, as --input (e.g. '0.01,0.99')")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the SGD step (default: the example's, or 0.1 for --model)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "latex", "json", "html"),
                   help="output format (default text)")
    p.add_argument("--level", choices=("matrix", "neuron"), default=None,
                   help="matrix: BP1-BP4 per layer; neuron: each scalar chain-rule product "
                        "(default: neuron for the examples and small --model networks)")
    p.add_argument("--notation", choices=("nielsen", "kaist", "mazur"), default=None,
                   help="whose symbols: nielsen (w^l_jk, z^l, a^l, delta^l), kaist (x_mk, W_m, B_m, z_mn, y_mn), "
                        "mazur (i, h, o, net, out, w1..w8) (default: the example's own, else nielsen)")
    p.add_argument("--steps", type=int, default=1, metavar="N",
                   help="rounds recorded in full; the error after each is listed (default 1)")
    p.add_argument("--rounds", type=int, action="append", default=None, metavar="N",
                   help="also give the error after N rounds (repeatable; mazur's default: 10000, as the source)")
    p.add_argument("--precision", type=int, default=9, help="decimals printed (default 9, as the worked example)")
    p.add_argument("--max-units", type=int, default=8, dest="max_units",
                   help="neurons shown per layer before a network is summarised (default 8)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_explain)


def _why(args: argparse.Namespace) -> int:
    """Why backpropagation: one full gradient by backprop and by finite differences, timed as the network grows."""
    from .errors import DeltapropError
    from .why import measure

    try:
        report = measure(max_weights=args.max_weights, sizes=args.sizes, batch=args.batch, budget=args.budget,
                         seed=args.seed, threads=args.threads or None, progress=sys.stderr if args.verbose else None)
        print(report)
        if args.plot:
            report.plot(args.plot)
            print(f"wrote {args.plot}")
    except (DeltapropError, ValueError, OSError, ImportError) as e:
        print(f"deltaprop why: error: {e}", file=sys.stderr)
        return 2
    return 0


def _add_why(sub) -> None:
    p = sub.add_parser("why", help="time backprop against finite differences as the network grows",
                       description=_why.__doc__,
                       epilog="Example: deltaprop why --plot why.png   (about 30 s)")
    p.add_argument("--max-weights", type=int, default=100_000, dest="max_weights",
                   help="largest network, in parameters (default 100000)")
    p.add_argument("--sizes", type=int, default=9, help="number of network sizes, log-spaced (default 9)")
    p.add_argument("--batch", type=int, default=100, help="examples in the batch the gradient is taken on (default 100)")
    p.add_argument("--budget", type=float, default=2.0,
                   help="seconds of finite differences per size; past it the weights are sampled and the total "
                        "extrapolated (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the networks, data and sampled weights (default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads while timing (default 1, so a busy machine does not distort the curves; "
                        "0 leaves the BLAS as configured)")
    p.add_argument("--plot", metavar="PATH", help="also write a log-log plot (PNG; needs deltaprop[plot])")
    p.add_argument("-v", "--verbose", action="store_true", help="report each size as it is measured")
    p.set_defaults(func=_why)


# ---------------------------------------------------------------------------------------
# train, evaluate, predict, gradcheck, info
#
# Exit codes (the same for every command, so scripts can rely on them):
#   0 success;  1 a check failed (--require not met, gradcheck FAILED);  2 bad usage or
#   bad input (arguments, shapes, values);  3 a file or data set that is missing, corrupt
#   or not ours;  4 training diverged (NaN or infinity);  130 interrupted (SIGINT);
#   143 terminated (SIGTERM), after a checkpoint was written.

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_DIVERGED = 0, 1, 2, 3, 4

SYNTHETIC = ("xor", "moons", "circles", "spirals", "blobs")
DATASETS = ("mnist", "fashion-mnist", *SYNTHETIC)
TRAIN_ARGS_FILE = "deltaprop-train.json"     # the train command's arguments, kept beside its checkpoints


def _color(text: str, code: str, stream) -> str:
    """ANSI colour for a terminal, unless NO_COLOR is set (https://no-color.org)."""
    import os
    if os.environ.get("NO_COLOR") or not getattr(stream, "isatty", lambda: False)():
        return text
    return f"\033[{code}m{text}\033[0m"


def _say_error(command: str, message: str) -> None:
    print(_color(f"deltaprop {command}: error:", "31;1", sys.stderr), message, file=sys.stderr)


def _sizes(text: str, what: str) -> list[int]:
    from .errors import ValidationError
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ValidationError(f"{what} must be whole numbers separated by commas, such as 784,30,10. "
                              f"Got {text!r} instead.") from None
    return sizes


class _Data:
    """Training and test rows for the CLI, with what a saved model must remember of them."""

    def __init__(self, X, y, X_test, y_test, meta):
        self.X, self.y, self.X_test, self.y_test, self.meta = X, y, X_test, y_test, meta


def _load_data(args, *, need_train: bool = True) -> _Data:
    """The rows a command works on, from --dataset or --csv (and --test-csv / --test-split)."""
    import numpy as np

    from . import data as _data
    from . import datasets
    from .errors import ValidationError

    dtype = getattr(args, "dtype", "float64")
    if (args.dataset is None) == (args.csv is None):
        raise ValidationError("give the data with either --dataset NAME or --csv FILE (not both). "
                              f"Data sets: {', '.join(DATASETS)}.")
    if args.dataset in ("mnist", "fashion-mnist"):
        load = datasets.mnist if args.dataset == "mnist" else datasets.fashion_mnist
        (X, y), (X_test, y_test) = load(args.data, dtype=dtype)
        if getattr(args, "train_size", None):
            X, y = X[:args.train_size], y[:args.train_size]
        classes = None if args.dataset == "mnist" else list(datasets.FASHION_MNIST_CLASSES)
        meta = {"dataset": args.dataset, "classes": classes, "input": "images"}
        return _Data(X, y, X_test, y_test, meta)
    if args.dataset is not None:
        if args.dataset not in SYNTHETIC:
            from .errors import unknown_name
            raise unknown_name("data set", args.dataset, DATASETS)
        make = getattr(_data, args.dataset)
        X, y = make(args.samples, seed=args.seed, dtype=dtype)
        X, X_test, y, y_test = _data.train_test_split(X, y, test_size=args.test_split or 0.2, seed=args.seed)
        return _Data(X, y, X_test, y_test, {"dataset": args.dataset, "classes": None})
    table = datasets.load_csv(args.csv, target=_target_arg(args.target), dtype=dtype)
    meta = {"dataset": "csv", "csv": str(args.csv), "feature_names": list(table.feature_names),
            "target": table.target_name,
            "classes": list(table.class_names) if table.class_names is not None else None}
    X, y = table.X, table.y
    if y is None:
        raise ValidationError(f"{args.csv!r} gave no target column; name it with --target.")
    X_test = y_test = None
    if getattr(args, "test_csv", None):
        test = datasets.load_csv(args.test_csv, target=table.target_name if table.target_name else
                                 _target_arg(args.target), dtype=dtype)
        X_test, y_test = test.X, _relabel(test, table)
    elif need_train and getattr(args, "test_split", None):
        X, X_test, y, y_test = _data.train_test_split(X, y, test_size=args.test_split, seed=args.seed)
    if getattr(args, "standardize", False):
        scaler = _data.Standardizer().fit(X)
        X = scaler.transform(X)
        X_test = None if X_test is None else scaler.transform(X_test)
        meta["standardize"] = scaler.to_dict()
    return _Data(X, np.asarray(y), X_test, y_test, meta)


def _target_arg(target):
    if target is None:
        return -1
    try:
        return int(target)
    except ValueError:
        return target


def _relabel(test, train):
    """Class labels of a test table in the training table's numbering (by class name)."""
    import numpy as np

    from .errors import DataError
    if test.class_names is None or train.class_names is None:
        return test.y
    index = {name: i for i, name in enumerate(train.class_names)}
    unknown = sorted(set(test.class_names) - set(index))
    if unknown:
        raise DataError(f"The test file has classes the training file has not: {unknown}.")
    return np.array([index[test.class_names[k]] for k in test.y], dtype=np.int64)


def _apply_meta(net, meta: dict, X):
    """Inputs as the model was trained on them (the same standardisation)."""
    from .data import Standardizer
    scaling = (meta or {}).get("standardize")
    return Standardizer.from_dict(scaling).transform(X) if scaling else X


def _model_meta(path) -> dict:
    from . import io
    return (io.read_header(path).get("metadata") or {}).get("cli", {})


def _n_outputs(y, loss: str) -> int:
    import numpy as np
    y = np.asarray(y)
    if y.ndim == 2:
        return y.shape[1]
    if loss in ("quadratic",) and not np.issubdtype(y.dtype, np.integer):
        return 1
    return int(y.max()) + 1 if y.size else 1


def _build_network(args, d: _Data):
    from .errors import ValidationError
    from .network import Network
    n_in = d.X.shape[1]
    n_out = max(_n_outputs(d.y, args.loss), 2 if args.loss == "cross_entropy" else 1)
    if d.meta.get("classes"):
        n_out = len(d.meta["classes"])
    if args.loss == "binary_cross_entropy" and n_out == 2 and d.y.ndim == 1:
        n_out = 1                                   # one sigmoid output for two classes
    if args.layers:
        sizes = _sizes(args.layers, "--layers")
        if len(sizes) < 2 or sizes[0] != n_in or sizes[-1] != n_out:
            raise ValidationError(f"--layers {args.layers} does not fit the data, which has {n_in} features and "
                                  f"{n_out} output(s): the sizes must start with {n_in} and end with {n_out} "
                                  f"(or give only the hidden sizes with --hidden).")
    else:
        sizes = [n_in, *_sizes(args.hidden, "--hidden"), n_out]
    return Network(sizes, activation=args.activation, output_activation=args.output_activation, loss=args.loss,
                   init=args.init, dropout=args.dropout, dtype=args.dtype, seed=args.seed)


def _optimizer(args):
    from .optimizers import SGD, Adam
    if args.optimizer == "adam":
        return Adam(lr=1e-3 if args.lr is None else args.lr, weight_decay=args.weight_decay)
    return SGD(lr=0.1 if args.lr is None else args.lr, momentum=args.momentum, nesterov=args.nesterov,
               weight_decay=args.weight_decay)


def _train(args: argparse.Namespace) -> int:
    """Train a network on a data set or a CSV file, and save it."""
    import json
    from pathlib import Path

    import numpy as np

    from . import callbacks as cb
    from .errors import ValidationError
    from .schedules import SCHEDULES

    d = _load_data(args)
    net = _build_network(args, d)
    opt = _optimizer(args)
    callbacks = []
    if args.checkpoint_dir:
        folder = Path(args.checkpoint_dir)
        callbacks.append(cb.ModelCheckpoint(folder, every=args.checkpoint_every, keep=args.keep))
    elif args.resume is True:
        raise ValidationError("--resume without a path needs --checkpoint-dir DIR (the folder to resume from).")
    if args.log:
        callbacks.append(cb.CSVLogger(args.log))
    if args.early_stopping is not None:
        callbacks.append(cb.EarlyStopping("val_loss" if d.X_test is not None or args.validation_split else "loss",
                                          patience=args.early_stopping, restore_best_weights=True))
    if args.schedule:
        schedule = {"step": lambda: SCHEDULES["step"](drop=0.5, every=max(1, args.epochs // 3)),
                    "exponential": lambda: SCHEDULES["exponential"](rate=0.95),
                    "cosine": lambda: SCHEDULES["cosine"](epochs=args.epochs)}[args.schedule]()
        callbacks.append(cb.LearningRateScheduler(schedule))
    validation = (d.X_test, d.y_test) if d.X_test is not None and not args.validation_split else None
    resume = None
    if args.resume:
        resume = Path(args.checkpoint_dir) if args.resume is True else Path(args.resume)
    print(f"deltaprop {__version__} train: {net}", flush=True)
    print(f"  {len(d.X)} training samples{'' if validation is None else f', {len(validation[0])} for validation'}; "
          f"{opt!r}; {args.epochs} epochs of batches of {args.batch_size}"
          + (f"; resuming from {resume}" if resume else ""), flush=True)
    if args.checkpoint_dir:
        Path(args.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.checkpoint_dir) / TRAIN_ARGS_FILE).write_text(json.dumps(_saved_args(args), indent=1))
    try:
        history = net.fit(d.X, d.y, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt,
                          validation_data=validation, validation_split=args.validation_split,
                          callbacks=callbacks, seed=args.seed, verbose=args.verbose, engine=args.engine,
                          resume=resume)
    except KeyboardInterrupt:
        where = f"; resume with: deltaprop train --checkpoint-dir {args.checkpoint_dir} --resume" \
            if args.checkpoint_dir else ""
        print(f"\ndeltaprop train: interrupted{where}", file=sys.stderr)
        return 130
    if history.stop_reason:
        print(history.stop_reason)
    final = {k: v[-1] for k, v in history.history.items() if k != "seconds" and v}
    print("final: " + "  ".join(f"{k} {v:.4f}" for k, v in final.items())
          + (f"  ({np.median(history['seconds']):.2f} s per epoch, engine {history.engine})"
             if "seconds" in history else ""))
    if args.save:
        net.save(args.save, metadata={"cli": d.meta})
        print(f"saved {args.save}")
    else:
        print("not saved (pass --save model.dpz to keep the network)")
    if args.plot:
        from . import plotting
        X_plot, y_plot = (d.X_test, d.y_test) if d.X_test is not None else (d.X, d.y)
        for path in plotting.save_all(args.plot, net, history, X_plot, y_plot):
            print(f"wrote {path}")
    if args.require is not None:
        measured = final.get("val_accuracy", final.get("accuracy"))
        if measured is None or measured < args.require:
            _say_error("train", f"accuracy {measured} is below the required {args.require}")
            return EXIT_CHECK_FAILED
    return EXIT_OK


def _saved_args(args) -> dict:
    keep = dict(vars(args))
    for k in ("func", "resume", "verbose", "plot", "require", "command"):
        keep.pop(k, None)
    return keep


def _evaluate(args: argparse.Namespace) -> int:
    """Loss and accuracy of a saved model on a data set's test images or on a CSV file."""
    import json

    from .io import load
    net = load(args.model)
    meta = _model_meta(args.model)
    args.dtype = net.dtype.name
    d = _load_data(args, need_train=False)
    X, y = (d.X_test, d.y_test) if args.dataset is not None else (d.X, d.y)
    if args.csv is not None and meta.get("classes") and d.meta.get("classes"):
        import numpy as np
        index = {name: i for i, name in enumerate(meta["classes"])}
        y = np.array([index[d.meta["classes"][k]] for k in y])
    result = net.evaluate(_apply_meta(net, meta, X), y)
    result["samples"] = len(X)
    print(json.dumps(result) if args.json else "  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in result.items()))
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    """Outputs of a saved model for each row of a CSV file or each image of an IDX file, as CSV."""
    from pathlib import Path

    import numpy as np

    from . import datasets
    from .errors import DataError
    from .io import load

    net = load(args.model)
    meta = _model_meta(args.model)
    source = Path(args.input)
    if _is_idx(source):
        images = datasets.read_idx(source)
        X = images.reshape(len(images), -1).astype(net.dtype)
        if images.dtype == np.uint8:
            X /= 255                                   # as the IDX data sets were scaled for training
    else:
        from .errors import UnknownNameError
        try:   # a file that still has the target column (a test file, say): leave it out
            X = datasets.load_csv(source, target=meta["target"], dtype=net.dtype.name).X if meta.get("target") \
                else datasets.load_csv(source, target=None, dtype=net.dtype.name).X
        except UnknownNameError:
            X = datasets.load_csv(source, target=None, dtype=net.dtype.name).X
    if X.shape[1] != net.n_in:
        raise DataError(f"{str(source)!r} has {X.shape[1]} features per row; the model expects {net.n_in}.")
    A = net.predict(_apply_meta(net, meta, X))
    columns = {}
    if net.is_classifier:
        classes = meta.get("classes")
        labels = net.classes(A)
        columns["prediction"] = [classes[k] for k in labels] if classes else labels
        if args.proba:
            # softmax outputs are probabilities (p_); other outputs are the activations a^L (a_)
            prefix = "p_" if net.layers[-1].activation.name in ("softmax", "sigmoid") and net.fused else "a_"
            names = classes or [str(k) for k in range(A.shape[1])]
            for j in range(A.shape[1]):
                columns[f"{prefix}{names[j] if A.shape[1] > 1 else names[-1]}"] = A[:, j]
    else:
        for j in range(A.shape[1]):
            columns[f"y{j}" if A.shape[1] > 1 else "prediction"] = A[:, j]
    if args.output:
        datasets.save_csv(args.output, columns)
        print(f"wrote {len(A)} predictions to {args.output}", file=sys.stderr)
    else:
        import io as _io
        buf = _io.StringIO()
        _write_csv(buf, columns)
        sys.stdout.write(buf.getvalue())
    return EXIT_OK


def _write_csv(f, columns: dict) -> None:
    import csv
    w = csv.writer(f, lineterminator="\n")
    w.writerow(list(columns))
    for row in zip(*columns.values()):
        w.writerow([repr(float(v)) if isinstance(v, float) or hasattr(v, "dtype") and v.dtype.kind == "f"
                    else str(v) for v in row])


def _is_idx(path) -> bool:
    """IDX files start with two zero bytes and a type code (gzipped: look inside)."""
    import gzip
    with open(path, "rb") as f:
        head = f.read(4)
        if head[:2] == b"\x1f\x8b":
            f.seek(0)
            with gzip.open(f) as g:
                head = g.read(4)
    return len(head) == 4 and head[:2] == b"\x00\x00" and head[2] in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)


def _gradcheck(args: argparse.Namespace) -> int:
    """Compare backprop's gradients with finite differences, for an example, a saved model or a random network."""
    import numpy as np

    from . import examples
    from .gradcheck import gradcheck
    from .network import Network

    if args.target_model in ("mazur", "kaist"):
        ex = examples.mazur() if args.target_model == "mazur" else examples.kaist()
        net, X, Y = ex.net, ex.x, ex.y
        what = f"the {args.target_model} example"
    else:
        rng = np.random.default_rng(args.seed)
        if args.target_model is not None:
            from .io import load
            net = load(args.target_model)
            what = args.target_model
        else:
            net = Network(_sizes(args.layers, "--layers"), activation=args.activation, loss=args.loss,
                          seed=args.seed)
            what = f"a random {net.sizes} network"
        if net.dtype != np.float64:
            print(f"(checking a float64 copy of the {net.dtype.name} network)")
            net = net.astype("float64")
        X = rng.uniform(-1, 1, (args.samples, net.n_in))
        if net.loss_fn.name == "cross_entropy":
            Y = rng.integers(0, net.n_out, args.samples)
        else:
            Y = rng.uniform(0, 1, (args.samples, net.n_out))
    report = gradcheck(net, X, Y, max_checks=args.max_checks, seed=args.seed)
    print(f"{what}, {len(X)} example(s)")
    print(report)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _info(args: argparse.Namespace) -> int:
    """What a saved model or checkpoint holds: layers, shapes, parameter count, versions, training progress."""
    import json

    from . import io
    header = io.read_header(args.model)
    net = io.load(args.model)
    if args.json:
        print(json.dumps({k: header[k] for k in header if k != "arrays"}, indent=1, default=str))
        return EXIT_OK
    print(f"{args.model}: a deltaprop {header['kind']} (format version {header['format_version']}, "
          f"written by deltaprop {header.get('library_version', '?')} on {header.get('created', '?')})")
    print(net.summary())
    meta = header.get("metadata") or {}
    if meta:
        print("metadata: " + json.dumps(meta, default=str)[:400])
    training = header.get("training")
    if training:
        p, opt = training.get("progress", {}), training.get("optimizer", {})
        where = f"after epoch {p.get('epochs_done')}" if not p.get("batch") else \
            f"in epoch {p.get('epochs_done', 0) + 1} after batch {p.get('batch')}"
        print(f"training: {where}, step {p.get('step')}; optimizer {opt.get('config')}")
    return EXIT_OK


def _add_data_args(p, *, training: bool) -> None:
    p.add_argument("--dataset", choices=DATASETS, help="a built-in data set")
    p.add_argument("--csv", metavar="FILE", help="a CSV table of numbers; the target column is --target")
    p.add_argument("--target", metavar="COL", help="the CSV's target column, by name or index (default: the last)")
    p.add_argument("--data", metavar="DIR", default=None, help="folder of the MNIST/Fashion-MNIST IDX files "
                                                                "(default: search, then download)")
    if training:
        p.add_argument("--test-csv", metavar="FILE", dest="test_csv", help="a second CSV to validate on each epoch")
        p.add_argument("--test-split", type=float, default=None, dest="test_split", metavar="F",
                       help="hold out this fraction of the CSV (or of a synthetic set, default 0.2) as test data")
        p.add_argument("--samples", type=int, default=500, help="size of a synthetic data set (default 500)")
        p.add_argument("--train-size", type=int, default=None, dest="train_size", metavar="N",
                       help="train on the first N MNIST images only (the book uses 50000)")
        p.add_argument("--standardize", action="store_true",
                       help="scale each CSV feature to mean 0 and variance 1 (remembered by the saved model)")


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network on a data set or a CSV file", description=_train.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  deltaprop train --dataset mnist --hidden 30 --lr 3.0 --batch-size 10 --epochs 30 --save mnist.dpz
  deltaprop train --dataset mnist --hidden 256,256 --activation relu --loss cross_entropy \\
                  --optimizer adam --lr 1e-3 --batch-size 128 --dtype float32 --epochs 5 \\
                  --checkpoint-dir ck --save mnist.dpz --plot plots
  deltaprop train --checkpoint-dir ck --resume          # continue after a crash or Ctrl-C
  deltaprop train --csv iris.csv --target species --standardize --test-split 0.2 \\
                  --hidden 8 --activation tanh --loss cross_entropy --optimizer adam --lr 0.01 --epochs 100
exit codes: 0 done, 1 --require not met, 2 bad arguments or input, 3 missing or corrupt file,
            4 training diverged, 130 interrupted (SIGINT), 143 terminated (SIGTERM)""")
    _add_data_args(p, training=True)
    g = p.add_argument_group("network")
    g.add_argument("--hidden", default="30", help="hidden layer sizes, e.g. 30 or 256,256 ('' for none; default 30)")
    g.add_argument("--layers", default=None, help="all sizes instead, input and output included (e.g. 784,30,10)")
    g.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    g.add_argument("--output-activation", default=None, dest="output_activation",
                   help="output activation (default: softmax for cross_entropy, sigmoid for binary_cross_entropy, "
                        "else the hidden one)")
    g.add_argument("--loss", default="quadratic", help="quadratic, binary_cross_entropy or cross_entropy")
    g.add_argument("--init", default="auto", help="initial weights: auto, standard_normal, lecun_normal, glorot, he")
    g.add_argument("--dropout", type=float, default=0.0, help="dropout probability of hidden outputs (default 0)")
    g.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    g.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1 for sgd, 1e-3 for adam)")
    g.add_argument("--momentum", type=float, default=0.0)
    g.add_argument("--nesterov", action="store_true")
    g.add_argument("--weight-decay", type=float, default=0.0, dest="weight_decay", help="L2 on weight matrices")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--batch-size", type=int, default=32, dest="batch_size")
    g.add_argument("--validation-split", type=float, default=0.0, dest="validation_split",
                   help="validate on this fraction of the training rows instead of the test data")
    g.add_argument("--schedule", choices=("step", "exponential", "cosine"), default=None,
                   help="learning-rate schedule over the epochs")
    g.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE", dest="early_stopping",
                   help="stop when the validation loss has not improved for PATIENCE epochs (best weights kept)")
    g.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and splits (default 0)")
    g.add_argument("--engine", default="auto", choices=("auto", "numpy", "numba"))
    g = p.add_argument_group("files")
    g.add_argument("--checkpoint-dir", default=None, dest="checkpoint_dir", metavar="DIR",
                   help="write a checkpoint after every epoch (and on SIGINT/SIGTERM) into DIR")
    g.add_argument("--checkpoint-every", type=int, default=1, dest="checkpoint_every", metavar="N")
    g.add_argument("--keep", type=int, default=3, help="checkpoints kept (default 3)")
    g.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                   help="continue from the newest checkpoint in --checkpoint-dir (or from PATH); arguments not "
                        "given again are those of the run that wrote it")
    g.add_argument("--save", metavar="FILE", help="save the trained network (no pickle; atomic)")
    g.add_argument("--log", metavar="FILE", help="append one CSV row of metrics per epoch")
    g.add_argument("--plot", metavar="DIR", help="write learning curves and diagnostics as PNG files (deltaprop[plot])")
    g.add_argument("--require", type=float, default=None, metavar="ACC",
                   help="exit with status 1 if the final (validation) accuracy is below ACC")
    g.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=_train)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="loss and accuracy of a saved model", description=_evaluate.__doc__,
                       epilog="Examples: deltaprop evaluate mnist.dpz --dataset mnist | "
                              "deltaprop evaluate iris.dpz --csv iris-test.csv --target species --json")
    p.add_argument("model", help="a file written by net.save or deltaprop train --save")
    _add_data_args(p, training=False)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_evaluate, seed=0, samples=500, test_split=None, standardize=False)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict each row of a CSV or image of an IDX file, as CSV",
                       description=_predict.__doc__,
                       epilog="Examples: deltaprop predict mnist.dpz t10k-images-idx3-ubyte.gz -o digits.csv | "
                              "deltaprop predict iris.dpz new-flowers.csv --proba")
    p.add_argument("model", help="a file written by net.save or deltaprop train --save")
    p.add_argument("input", help="a CSV file of feature rows, or an IDX file of images (gzipped or not)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the CSV here (default: standard output)")
    p.add_argument("--proba", action="store_true",
                   help="add one column per class with the output activation: p_<class> for softmax + cross-entropy "
                        "(and sigmoid + binary cross-entropy), which are probabilities, else a_<class>")
    p.set_defaults(func=_predict)


def _add_gradcheck(sub) -> None:
    p = sub.add_parser("gradcheck", help="check backprop against finite differences", description=_gradcheck.__doc__,
                       epilog="Examples: deltaprop gradcheck mazur | deltaprop gradcheck model.dpz | "
                              "deltaprop gradcheck --layers 4,8,3 --activation tanh --loss cross_entropy. "
                              "Exit status 1 if the check fails.")
    p.add_argument("target_model", nargs="?", metavar="MODEL",
                   help="mazur, kaist (the worked examples) or a saved model; default: a random --layers network")
    p.add_argument("--layers", default="3,5,4,2", help="sizes of the random network (default 3,5,4,2)")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--loss", default="quadratic")
    p.add_argument("--samples", type=int, default=4, help="random examples in the batch (default 4)")
    p.add_argument("--max-checks", type=int, default=2000, dest="max_checks",
                   help="entries per parameter array checked at most (a random sample beyond)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_gradcheck)


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="what a saved model or checkpoint holds", description=_info.__doc__,
                       epilog="Example: deltaprop info mnist.dpz")
    p.add_argument("model", help="a file written by net.save, deltaprop train --save, or a checkpoint")
    p.add_argument("--json", action="store_true", help="print the whole header as JSON")
    p.set_defaults(func=_info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltaprop",
        description="Fully-connected neural networks trained by backpropagation.",
        epilog="Example: deltaprop demo --epochs 30",
    )
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train the book's 784-30-10 network on MNIST",
                          description=_demo.__doc__,
                          epilog="Example: deltaprop demo --epochs 30 --require 0.95")
    demo.add_argument("--epochs", type=int, default=30, help="passes over the 50,000 training images (default 30)")
    demo.add_argument("--init", default="lecun_normal",
                      help="weight initialisation: lecun_normal (N(0, 1/n_in), default) or standard_normal "
                           "(N(0, 1), the book's first network)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the initial weights and shuffling (default 0)")
    demo.add_argument("--data", default=None, help="folder holding the four MNIST IDX files (default: search)")
    demo.add_argument("--require", type=float, default=None, metavar="ACC",
                      help="exit with status 1 if the final test accuracy is below ACC (e.g. 0.95)")
    demo.set_defaults(func=_demo)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_gradcheck(sub)
    _add_info(sub)
    _add_explain(sub)
    _add_why(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (see the exit codes above)."""
    from .errors import DataError, DeltapropError, NonFiniteError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if args.func is _train and args.resume:
        args = _with_saved_train_args(parser, argv, args)
    try:
        return args.func(args)
    except NonFiniteError as e:
        _say_error(args.command, str(e))
        return EXIT_DIVERGED
    except DataError as e:
        _say_error(args.command, str(e))
        return EXIT_DATA
    except (DeltapropError, ValueError, TypeError) as e:
        if not isinstance(e, DeltapropError) and not _is_ours(e):
            raise
        _say_error(args.command, str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\ndeltaprop {args.command}: interrupted", file=sys.stderr)
        return 130
    except ImportError as e:
        _say_error(args.command, str(e))
        return EXIT_USAGE
    except OSError as e:
        _say_error(args.command, f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        return EXIT_DATA


def _is_ours(e: Exception) -> bool:
    """Plain ValueError/TypeError raised by deltaprop's own code (not a bug elsewhere)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "deltaprop" in tb.tb_frame.f_code.co_filename


def _with_saved_train_args(parser, argv, args):
    """--resume: arguments not given again are those saved beside the checkpoints."""
    import json
    from pathlib import Path

    folder = args.checkpoint_dir or (Path(args.resume).parent if args.resume is not True else None)
    saved = Path(folder) / TRAIN_ARGS_FILE if folder else None
    if saved is None or not saved.exists():
        return args
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    defaults = json.loads(saved.read_text())
    train_parser.set_defaults(**{k: v for k, v in defaults.items() if k != "checkpoint_dir" or not args.checkpoint_dir})
    return parser.parse_args(argv)
