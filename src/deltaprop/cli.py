"""The ``deltaprop`` command line.

Every command speaks the command line's language: an error or a warning names the
option (``--lr``, ``--test-split``), never the Python argument behind it, and never
shows a Python source line. Bad input exits with 2, a missing or damaged file with 3
(:data:`EXIT_CODES`), the same in every command.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TextIO, TypeAlias, overload

from . import __version__

if TYPE_CHECKING:           # (the command line imports numpy and the library only when a command runs)
    import os
    from pathlib import Path

    import numpy as np

    from .callbacks import Callback
    from .datasets import CsvData
    from .network import Network
    from .optimizers import Optimizer
    from .schedules import Schedule

#: What ``add_subparsers`` returns, as each command's ``_add_*`` receives it.
_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_DIVERGED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
#: What every command's exit status means (``deltaprop --help`` and each command's help list it).
EXIT_CODES = """exit codes (every command):
  0 done            1 a check failed (--require not met, gradcheck FAILED)
  2 bad arguments or input (options, shapes, values in a CSV)
  3 a missing, unreadable or damaged file (a model, a data set)
  4 training diverged (NaN or infinity)      130 interrupted (Ctrl-C)     143 terminated (SIGTERM)"""

SYNTHETIC = ("xor", "moons", "circles", "spirals", "blobs")
DATASETS = ("mnist", "fashion-mnist", *SYNTHETIC)
ACTIVATIONS = ("sigmoid", "relu", "tanh", "identity", "leaky_relu", "softmax")
LOSSES = ("quadratic", "binary_cross_entropy", "cross_entropy")
INITS = ("auto", "standard_normal", "lecun_normal", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
         "glorot", "he")
TRAIN_ARGS_FILE = "deltaprop-train.json"     # the train command's arguments, kept beside its checkpoints
#: Validation rows held out of MNIST's 60,000 training images unless --validation-split says otherwise (the book's split).
MNIST_VALIDATION = 10_000


# ---------------------------------------------------------------------------------------
# Option values: checked when parsed, so that a bad one is named as the option it is

def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}; got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}; got {text!r}")
        return value
    return parse


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _int_at_least(low)(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}; got {text!r}")
        return value
    return parse


def _number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False) -> Callable[[str], float]:
    lo = "(" if low_open or low is None else "["
    hi = ")" if high_open or high is None else "]"
    interval = f"{lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}; got {text!r}") from None
        ok = math.isfinite(value) and (low is None or (value > low if low_open else value >= low)) \
            and (high is None or (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}; got {text!r}")
        return value
    return parse


def _sizes(text: str) -> list[int]:
    """Layer sizes ``"256,256"`` (``""`` for none): whole numbers >= 1, no empty field."""
    if text.strip() == "":
        return []
    fields = [f.strip() for f in text.split(",")]
    if any(f == "" for f in fields):
        raise argparse.ArgumentTypeError(f"has an empty size in {text!r}; write sizes separated by single commas, "
                                         "e.g. 256,256 ('' for none)")
    try:
        sizes = [int(f) for f in fields]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole numbers separated by commas, such as 256,256; "
                                         f"got {text!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be >= 1; got {text!r}")
    return sizes


def _patience(text: str) -> int | str:
    """--early-stopping: epochs without improvement, or ``off``."""
    if text == "off":
        return "off"
    try:
        return _int_at_least(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a number of epochs >= 1 or 'off'; got {text!r}") from None


def _header(text: str) -> bool | str:
    choices: dict[str, bool | str] = {"auto": "auto", "yes": True, "no": False}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"must be auto, yes or no; got {text!r}")
    return choices[text]


POSITIVE, NONNEG = _int_at_least(1), _int_at_least(0)


# ---------------------------------------------------------------------------------------
# Errors and warnings, as the command line words them

def _color(text: str, code: str, stream: TextIO) -> str:
    """ANSI colour for a terminal, unless NO_COLOR is set (https://no-color.org)."""
    import os
    if os.environ.get("NO_COLOR") or not getattr(stream, "isatty", lambda: False)():
        return text
    return f"\033[{code}m{text}\033[0m"


def _say(command: str, kind: str, message: str) -> None:
    code = "31;1" if kind == "error" else "33"
    print(_color(f"deltaprop {command}: {kind}:", code, sys.stderr), message, file=sys.stderr, flush=True)


def _show_warning(command: str) -> Callable[..., None]:
    """warnings.showwarning for a command: one line, the command-line wording, no source line."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        _say(command, "warning", getattr(message, "cli", None) or str(message))
    return show


def exit_code(e: BaseException) -> int | None:
    """The exit status an exception means (:data:`EXIT_CODES`), or None if it is a bug."""
    from .errors import DataError, DeltapropError, InputError, NonFiniteError
    if isinstance(e, NonFiniteError):
        return EXIT_DIVERGED
    if isinstance(e, InputError):          # the file was read: its values are bad input
        return EXIT_USAGE
    if isinstance(e, DataError):           # missing, unreadable, damaged or foreign files
        return EXIT_DATA
    if isinstance(e, (DeltapropError, ImportError)):
        return EXIT_USAGE
    if isinstance(e, (ValueError, TypeError)) and _is_ours(e):
        return EXIT_USAGE
    if isinstance(e, OSError):
        return EXIT_DATA
    return None


def _is_ours(e: Exception) -> bool:
    """Plain ValueError/TypeError raised by deltaprop's own code (not a bug elsewhere)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "deltaprop" in tb.tb_frame.f_code.co_filename


class UsageError(Exception):
    """A command line that does not make sense (options that clash or are missing)."""


# ---------------------------------------------------------------------------------------
# Data: what a command trains, evaluates, predicts or explains

class _Data:
    """Rows for a command: training, validation and test parts, and what a saved model
    must remember of them (``meta``, stored as the model's ``metadata["cli"]``)."""

    def __init__(self, X, y, meta, *, X_val=None, y_val=None, X_test=None, y_test=None):
        self.X, self.y, self.meta = X, y, meta
        self.X_val, self.y_val, self.X_test, self.y_test = X_val, y_val, X_test, y_test

    @property
    def classification(self) -> bool:
        return self.meta.get("task") == "classification"


def _split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int,
           stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_keep, y_keep, X_out, y_out)``: ``fraction`` of the rows held out at random
    (stratified for classes), the same rows for the same seed."""
    from . import data as _data
    X_keep, X_out, y_keep, y_out = _data.train_test_split(X, y, test_size=fraction, seed=seed,
                                                          stratify=True if stratify else None)
    return X_keep, y_keep, X_out, y_out


def _classes_of(y: np.ndarray, task_option: str) -> tuple[str, np.ndarray, list[str] | None]:
    """``(task, labels 0..k-1 or y, class names or None)`` for a CSV target column."""
    import numpy as np
    if y.dtype.kind == "f":
        if task_option == "classification":
            raise UsageError("--task classification needs a target of class names or whole numbers; this one "
                             "holds other numbers (a regression target)")
        return "regression", y, None
    values = np.unique(y)
    task = task_option if task_option != "auto" else ("classification" if len(values) <= 50 else "regression")
    if task == "regression":
        return task, y.astype(np.float64), None
    return task, np.searchsorted(values, y), [str(v) for v in values.tolist()]


def _load_data(args: argparse.Namespace) -> _Data:
    """The training, validation and test rows of ``train`` (and ``explain``)."""
    from . import data as _data
    from . import datasets

    dtype = args.dtype
    if (args.dataset is None) == (args.csv is None):
        raise UsageError("give the data with either --dataset NAME or --csv FILE (not both). "
                         f"Data sets: {', '.join(DATASETS)}.")
    if args.dataset in ("mnist", "fashion-mnist"):
        load = datasets.mnist if args.dataset == "mnist" else datasets.fashion_mnist
        (X, y), (X_test, y_test) = load(args.data, dtype=dtype)
        n_val = MNIST_VALIDATION if args.validation_split is None else int(len(X) * args.validation_split)
        X_val, y_val = (X[len(X) - n_val:], y[len(y) - n_val:]) if n_val else (None, None)
        X, y = X[:len(X) - n_val], y[:len(y) - n_val]
        if args.train_size is not None:
            if args.train_size > len(X):
                raise UsageError(f"--train-size {args.train_size} is more than the {len(X)} training images left "
                                 f"after {n_val} for validation")
            X, y = X[:args.train_size], y[:args.train_size]
        classes: list[str] | None = \
            [str(k) for k in range(10)] if args.dataset == "mnist" else list(datasets.FASHION_MNIST_CLASSES)
        meta = {"dataset": args.dataset, "task": "classification", "classes": classes, "input": "images"}
        return _Data(X, y, meta, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test)
    if args.dataset is not None:
        X, y = getattr(_data, args.dataset)(args.samples, seed=args.seed, dtype=dtype)
        X, y, X_test, y_test = _split(X, y, 0.2 if args.test_split is None else args.test_split, args.seed, True)
        meta = {"dataset": args.dataset, "task": "classification", "classes": [str(k) for k in range(int(y.max()) + 1)]}
        d = _Data(X, y, meta, X_test=X_test, y_test=y_test)
    else:
        table = datasets.load_csv(args.csv, target=_target_arg(args.target), dtype=dtype, header=args.header)
        if table.y is None:
            raise UsageError(f"{args.csv!r} gave no target column; name it with --target")
        task, y, classes = _classes_of(table.y, args.task)
        if table.class_names is not None:
            classes = list(table.class_names)
        meta = {"dataset": "csv", "csv": str(args.csv), "task": task, "classes": classes,
                "feature_names": list(table.feature_names), "target": table.target_name,
                "target_index": _column_index(args.csv, args.target, args.header)}
        d = _Data(table.X, y, meta)
        if args.test_csv:
            test = datasets.load_csv(args.test_csv, dtype=dtype, header=args.header,
                                     target=table.target_name if table.target_name else _target_arg(args.target),
                                     features=list(table.feature_names) if args.header is not False else None)
            d.X_test, d.y_test = test.X, _labels_in(test, meta, args.test_csv)
        elif args.test_split:
            d.X, d.y, d.X_test, d.y_test = _split(d.X, d.y, args.test_split, args.seed, d.classification)
    fraction = 0.2 if args.validation_split is None else args.validation_split
    if fraction:
        if int(len(d.X) * fraction) < 1:
            raise UsageError(f"--validation-split {fraction:g} of {len(d.X)} training rows leaves none for validation")
        d.X, d.y, d.X_val, d.y_val = _split(d.X, d.y, fraction, args.seed, d.classification)
    if args.standardize:
        scaler = _data.Standardizer().fit(d.X)             # on the training rows alone
        d.X = scaler.transform(d.X)
        d.X_val = None if d.X_val is None else scaler.transform(d.X_val)
        d.X_test = None if d.X_test is None else scaler.transform(d.X_test)
        d.meta["standardize"] = scaler.to_dict()
    return d


def _class_weights(args, d):
    """--class-weight: each training (and validation) row's weight, its class's; (None, None) without it."""
    import numpy as np

    spec = getattr(args, "class_weight", None)
    if spec is None:
        return None, None
    if not d.classification:
        raise UsageError("--class-weight weighs classes; this target is numeric (a regression)")
    classes = list(d.meta["classes"])
    if spec == "balanced":          # n / (k count_c), on the training rows, as scikit-learn's 'balanced'
        counts = np.bincount(d.y, minlength=len(classes))
        if (counts == 0).any():
            missing = classes[int(np.argmin(counts))]
            raise UsageError(f"--class-weight balanced: class {missing!r} has no training rows")
        per_class = len(d.y) / (len(classes) * counts)
    else:
        per_class = np.ones(len(classes))
        for item in spec.split(","):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise UsageError(f"--class-weight takes 'balanced' or CLASS=WEIGHT,...; got {item!r}")
            if name in classes:
                k = classes.index(name)
            elif name.isdigit() and int(name) < len(classes):
                k = int(name)
            else:
                raise UsageError(f"--class-weight names class {name!r}; the classes are {', '.join(classes)}")
            try:
                weight = float(value)
            except ValueError:
                weight = float("nan")
            if not np.isfinite(weight) or weight < 0:
                raise UsageError(f"--class-weight {name}={value}: a weight must be a number >= 0")
            per_class[k] = weight
        if not per_class[np.unique(d.y)].any():
            raise UsageError("--class-weight gives every class of the training rows the weight 0")
    return per_class[d.y], (None if d.X_val is None else per_class[d.y_val])


def _target_arg(target: str | int | None) -> int | str:
    if target is None:
        return -1
    try:
        return int(target)
    except ValueError:
        return target


def _column_index(path: str | os.PathLike[str], target: str | int | None, header: bool | str) -> int:
    """The file column (0-based) the target came from, for headerless files later on."""
    from . import datasets
    names, width = datasets.read_csv_header(path, header=header)
    target = _target_arg(target)
    if isinstance(target, str):
        assert names is not None        # load_csv found the target by its name: the file has a header
        return names.index(target)
    return target % width


def _labels_in(table: CsvData, meta: dict, path: str | os.PathLike[str]) -> np.ndarray:
    """The target of ``table`` as the model's class numbers (by name), or as numbers."""
    import numpy as np
    from .errors import InputError
    assert table.y is not None          # the table was read with its target column
    if meta.get("task") != "classification":
        return table.y.astype(np.float64)
    names = list(table.class_names) if table.class_names is not None else [str(v) for v in table.y.tolist()]
    index = {name: i for i, name in enumerate(meta["classes"])}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise InputError(f"{str(path)!r} has classes the model does not know: {', '.join(map(repr, unknown))}; "
                         f"its classes are {', '.join(map(repr, meta['classes']))}")
    if table.class_names is not None:
        return np.array([index[table.class_names[k]] for k in table.y], dtype=np.int64)
    return np.array([index[str(v)] for v in table.y.tolist()], dtype=np.int64)


# ---------------------------------------------------------------------------------------
# train

def _resolve_defaults(args: argparse.Namespace, d: _Data) -> None:
    """Fill in what the command line left open. Classification: ReLU hidden layers, a
    softmax output with cross-entropy, Adam, up to 200 epochs with early stopping on the
    validation loss; regression: the same with an identity output and the quadratic
    cost; ``--book``: the book's sigmoid network, quadratic cost and plain SGD."""
    book = args.book
    regression = not d.classification
    defaults = {
        "hidden": [30] if book else [64, 64],
        "activation": "sigmoid" if book else "relu",
        "loss": "quadratic" if book or regression else "cross_entropy",
        "optimizer": "sgd" if book else "adam",
        "batch_size": 10 if book else 32,
        "epochs": 30 if book else 200,
        "init": "lecun_normal" if book else "auto",
        "early_stopping": "off" if book else 10,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.output_activation is None and args.loss == "quadratic" and (book or regression):
        args.output_activation = "identity" if regression else "sigmoid"   # a number out, or the book's sigmoid
    if args.lr is None:
        args.lr = 3.0 if book else 0.1 if args.optimizer == "sgd" else 1e-3


def _check_pairing(args: argparse.Namespace, n_out: int) -> None:
    """The loss and output activation must be an exact pair (the library's rule, in the
    command line's words)."""
    from . import losses
    if args.from_logits and args.loss == "quadratic":
        raise UsageError("--from-logits is for --loss cross_entropy or binary_cross_entropy (the quadratic cost "
                         "takes the outputs as they are)")
    loss = losses.get({"name": args.loss, "from_logits": True} if args.from_logits else args.loss)
    out = args.output_activation or loss.fused_with or args.activation     # as the network picks it
    try:
        loss.check_output(out, n_out)
    except ValueError:
        works = ("--loss quadratic with any --output-activation; --loss binary_cross_entropy or cross_entropy with "
                 "--output-activation sigmoid or softmax; either cross-entropy with --from-logits and "
                 "--output-activation identity")
        if args.from_logits:
            raise UsageError(f"--from-logits takes the logits of an identity output; --output-activation is {out!r}. "
                             f"Pairings that work: {works}") from None
        if args.loss != "quadratic" and out not in ("sigmoid", "softmax"):
            raise UsageError(f"--loss {args.loss} needs probabilities from the output layer (--output-activation "
                             f"sigmoid or softmax); {out!r} outputs are not probabilities, so the cost and its "
                             f"gradient would be wrong. For an output layer without activation (logits) add "
                             f"--from-logits with --output-activation identity. Pairings that work: {works}") from None
        raise UsageError(f"--loss {args.loss} needs at least 2 outputs (one per class); this network would have "
                         f"{n_out}. For two classes with one output use --loss binary_cross_entropy") from None
    if out == "softmax" and n_out == 1:
        raise UsageError("--output-activation softmax over a single output is always 1 and cannot learn; use sigmoid")


def _build_network(args: argparse.Namespace, d: _Data) -> Network:
    """The network ``train`` trains: the data's features in, one output per class (or target) out."""
    from . import losses
    from .network import Network
    n_in = d.X.shape[1]
    if d.classification:
        n_out = len(d.meta["classes"])
        if args.loss == "binary_cross_entropy" and n_out == 2:
            n_out = 1                                   # one sigmoid output for two classes
    else:
        n_out = 1 if d.y.ndim == 1 else d.y.shape[1]
        if args.loss != "quadratic":
            raise UsageError(f"--loss {args.loss} is for classes, but the target is a regression target "
                             f"(numbers); use --loss quadratic, or --task classification")
    if args.layers is not None:
        sizes = args.layers
        if len(sizes) < 2 or sizes[0] != n_in or sizes[-1] != n_out:
            raise UsageError(f"--layers {','.join(map(str, sizes))} does not fit the data, which has {n_in} features "
                             f"and {n_out} output(s): the sizes must start with {n_in} and end with {n_out} "
                             f"(or give only the hidden sizes with --hidden)")
    else:
        sizes = [n_in, *args.hidden, n_out]
    _check_pairing(args, n_out)
    loss = losses.get({"name": args.loss, "from_logits": True}) if args.from_logits else args.loss
    return Network(sizes, activation=args.activation, output_activation=args.output_activation, loss=loss,
                   init=args.init, dropout=args.dropout, dtype=args.dtype, seed=args.seed)


def _optimizer(args: argparse.Namespace) -> Optimizer:
    from .optimizers import SGD, Adam
    if args.optimizer == "adam":
        if args.momentum or args.nesterov:
            raise UsageError("--momentum and --nesterov are for --optimizer sgd (Adam keeps its own moments)")
        return Adam(lr=args.lr, weight_decay=args.weight_decay)
    if args.nesterov and not args.momentum:
        raise UsageError("--nesterov needs --momentum > 0")
    return SGD(lr=args.lr, momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay)


def _schedule(args: argparse.Namespace) -> Schedule:
    from .schedules import CosineDecay, ExponentialDecay, StepDecay
    return {"step": lambda: StepDecay(drop=0.5, every=max(1, args.epochs // 3)),
            "exponential": lambda: ExponentialDecay(rate=0.95),
            "cosine": lambda: CosineDecay(epochs=args.epochs)}[args.schedule]()


def _plan_callback(args: argparse.Namespace, d: _Data, net: Network, opt: Optimizer, resume: Path | None,
                   batch_size: int) -> Callback:
    """A callback whose on_train_begin prints the plan and keeps the arguments beside the
    checkpoints: it runs only once fit has accepted every argument and any checkpoint,
    so a refused resume prints nothing it did not do and writes nothing."""
    import json
    from pathlib import Path

    import numpy as np

    from . import _files
    from .callbacks import Callback

    class Plan(Callback):
        def on_train_begin(self, state):
            val = f", {len(d.X_val)} for validation" if d.X_val is not None else ""
            test = f", {len(d.X_test)} for the test at the end" if d.X_test is not None else ""
            print(f"deltaprop {__version__} train: {net}", flush=True)
            print(f"  {len(d.X)} training samples{val}{test}; {opt!r}; up to {args.epochs} epochs of batches of "
                  f"{batch_size}" + (f", early stopping after {args.early_stopping} without improvement"
                                     if args.early_stopping != "off" else "")
                  + (f"; resuming from {resume}" if resume else "")
                  + (f"; data-parallel over {state.ranks} ranks" if state.ranks > 1 else ""), flush=True)
            if state.sample_weight is not None:
                per_class = {d.meta["classes"][k]: float(state.sample_weight[int(np.argmax(d.y == k))])
                             for k in np.unique(d.y)}
                print("  class weights in the cost: " + ", ".join(f"{c} {w:.4g}" for c, w in per_class.items()),
                      flush=True)
            if args.checkpoint_dir and state.writes_files:
                Path(args.checkpoint_dir).mkdir(parents=True, exist_ok=True)
                path = Path(args.checkpoint_dir) / TRAIN_ARGS_FILE
                with _files.atomic_open(path, "w") as f:
                    f.write(json.dumps(_saved_args(args), indent=1))
    return Plan()


def _train(args: argparse.Namespace) -> int:
    """Train a network on a data set or a CSV file, and save it.

    For classes, the defaults are a modern setup: ReLU hidden layers (64,64), a softmax
    output with cross-entropy, Adam (lr 1e-3), batches of 32, up to 200 epochs that stop
    when the validation loss has not improved for 10 (keeping the best weights). For a
    numeric target, the same with an identity output and the quadratic cost. --book
    gives the book's network instead: sigmoid layers, the quadratic cost and plain SGD
    with lr 3.0 on batches of 10, for 30 epochs.
    """
    from pathlib import Path

    import numpy as np

    from . import callbacks as cb
    from . import distributed

    if args.resume is True and not args.checkpoint_dir:
        raise UsageError("--resume without a path needs --checkpoint-dir DIR (the folder to resume from)")
    # Under mpiexec or torchrun this process is one rank of a data-parallel run: every rank
    # trains, rank 0 alone prints and writes (the others' stdout goes nowhere).
    comm = distributed.detect()
    if comm is not None and comm.rank:
        sys.stdout = open(os.devnull, "w")
    d = _load_data(args)
    _resolve_defaults(args, d)
    net = _build_network(args, d)
    opt = _optimizer(args)
    batch_size = args.batch_size
    if batch_size > len(d.X):
        if comm is None or comm.rank == 0:
            _say("train", "warning", f"--batch-size {batch_size} is larger than the {len(d.X)} training samples; "
                                     f"using {len(d.X)}")
        batch_size = len(d.X)
    weights, val_weights = _class_weights(args, d)
    validation = None
    if d.X_val is not None:
        validation = (d.X_val, d.y_val) if val_weights is None else (d.X_val, d.y_val, val_weights)
    resume = None
    if args.resume:
        resume = Path(args.checkpoint_dir) if args.resume is True else Path(args.resume)
    callbacks = [_plan_callback(args, d, net, opt, resume, batch_size)]
    if args.checkpoint_dir:
        callbacks.append(cb.ModelCheckpoint(Path(args.checkpoint_dir), every=args.checkpoint_every, keep=args.keep))
    if args.log:
        callbacks.append(cb.CSVLogger(args.log))
    if args.early_stopping != "off":
        callbacks.append(cb.EarlyStopping("val_loss" if validation else "loss", patience=args.early_stopping,
                                          restore_best_weights=True))
    if args.schedule:
        callbacks.append(cb.LearningRateScheduler(_schedule(args)))
    save_meta = {"cli": d.meta}
    try:
        history = net.fit(d.X, d.y, epochs=args.epochs, batch_size=batch_size, optimizer=opt,
                          validation_data=validation, callbacks=callbacks, seed=args.seed, verbose=args.verbose,
                          engine=args.engine, resume=resume, sample_weight=weights, comm=comm)
    except (KeyboardInterrupt, SystemExit) as e:
        return _interrupted(args, net, save_meta, e)
    if history.stop_reason:
        print(history.stop_reason)
    final = {k: v[-1] for k, v in history.history.items() if k != "seconds" and v}
    stopper = next((c for c in callbacks if isinstance(c, cb.EarlyStopping)), None)
    if stopper is not None and stopper.best_epoch and stopper.best_epoch != history.epoch[-1]:
        best = history.epoch.index(stopper.best_epoch)     # restore_best_weights: the network is that epoch's
        final = {k: v[best] for k, v in history.history.items() if k != "seconds" and v}
        print(f"kept the weights of epoch {stopper.best_epoch}, the best {stopper.monitor}")
    print("final: " + "  ".join(f"{k} {v:.4f}" for k, v in final.items())
          + (f"  ({np.median(history['seconds']):.2f} s per epoch, engine {history.engine})"
             if "seconds" in history else ""))
    measured = final.get("val_accuracy", final.get("accuracy"))
    if d.X_test is not None:
        test = net.evaluate(d.X_test, d.y_test)
        print(f"test ({len(d.X_test)} samples): " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        measured = test.get("accuracy")
    if comm is not None and comm.rank:      # the same network on every rank: rank 0 saves it
        return EXIT_OK
    if args.save:
        net.save(args.save, metadata=save_meta)
        print(f"saved {args.save}")
    else:
        print("not saved (pass --save model.dpz to keep the network)")
    if args.plot:
        from . import plotting
        X_plot, y_plot = next((X, y) for X, y in ((d.X_test, d.y_test), (d.X_val, d.y_val), (d.X, d.y))
                              if X is not None)
        for path in plotting.save_all(args.plot, net, history, X_plot, y_plot):
            print(f"wrote {path}")
    if args.require is not None:
        if measured is None or measured < args.require:
            _say("train", "error", f"accuracy {measured} is below the required {args.require}")
            return EXIT_CHECK_FAILED
    return EXIT_OK


def _interrupted(args: argparse.Namespace, net: Network, save_meta: dict, e: BaseException) -> int:
    """Ctrl-C (or SIGTERM) during training: keep the work, or say in one line how to."""
    if isinstance(e, SystemExit) and e.code != EXIT_TERMINATED:
        raise e
    clean = bool(e.args) and str(e.args[0]).startswith("training interrupted") or isinstance(e, SystemExit)
    code = EXIT_TERMINATED if isinstance(e, SystemExit) else EXIT_INTERRUPTED
    if isinstance(e, KeyboardInterrupt):
        print(f"\ndeltaprop train: {e.args[0] if clean else 'interrupted at once (a second Ctrl-C)'}",
              file=sys.stderr)
    if args.checkpoint_dir:
        print(f"deltaprop train: resume with: deltaprop train --checkpoint-dir {args.checkpoint_dir} --resume",
              file=sys.stderr)
    if args.save and clean:
        net.save(args.save, metadata=save_meta)
        print(f"deltaprop train: saved the network trained so far to {args.save}", file=sys.stderr)
    elif not args.checkpoint_dir:
        print("deltaprop train: not saved: pass --save FILE to keep the network of an interrupted run "
              "(or --checkpoint-dir DIR to resume it)", file=sys.stderr)
    return code


def _saved_args(args: argparse.Namespace) -> dict:
    keep = dict(vars(args))
    for k in ("func", "resume", "verbose", "plot", "require", "command"):
        keep.pop(k, None)
    return keep


# ---------------------------------------------------------------------------------------
# A saved model, and the rows it is asked about

def _model(path):
    """``(network, its metadata["cli"] checked against it)``."""
    from . import io
    net = io.load(path)
    return net, _cli_meta(path, io.read_header(path), net)


def _cli_meta(path: str | os.PathLike[str], header: dict, net: Network) -> dict:
    """What ``deltaprop train`` wrote into a model's metadata, checked against the network
    (a file changed by hand, or written by something else, gets a clear error)."""
    from .data import Standardizer
    from .errors import DataError
    meta = header.get("metadata") or {}
    cli = meta.get("cli", {})
    where = f"{str(path)!r}: its metadata['cli']"

    def bad(key, why):
        return DataError(f"{where}[{key!r}] {why}; deltaprop train did not write that (the file was changed, or "
                         "written by something else). Fix or remove that entry.")

    if not isinstance(cli, dict):
        raise DataError(f"{where} is a {type(cli).__name__}; deltaprop train writes an object there (the file was "
                        "changed, or written by something else).")
    classes = cli.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                    for c in classes):
            raise bad("classes", f"must be a list of class names; it is {classes!r:.60}")
        want = 2 if net.n_out == 1 else net.n_out
        if len(classes) != want:
            raise bad("classes", f"names {len(classes)} classes, but the network has {net.n_out} output(s)")
    names = cli.get("feature_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad("feature_names", f"must be a list of column names; it is {names!r:.60}")
        if len(names) != net.n_in:
            raise bad("feature_names", f"names {len(names)} features, but the network takes {net.n_in}")
    for key in ("target", "dataset", "task", "input", "csv"):
        if cli.get(key) is not None and not isinstance(cli[key], str):
            raise bad(key, f"must be a text; it is {cli[key]!r:.60}")
    index = cli.get("target_index")
    if index is not None and (type(index) is not int or index < 0):
        raise bad("target_index", f"must be a column number >= 0; it is {index!r:.40}")
    scaling = cli.get("standardize")
    if scaling is not None:
        try:
            scaler = Standardizer.from_dict(scaling)
        except (ValueError, TypeError, KeyError) as e:
            raise bad("standardize", f"is not a standardisation ({e})") from None
        if scaler.n_features != net.n_in:
            raise bad("standardize", f"scales {scaler.n_features} features, but the network takes {net.n_in}")
    return cli


@overload
def _model_rows(path: str | os.PathLike[str], net: Network, meta: dict, args: argparse.Namespace, *,
                with_target: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def _model_rows(path: str | os.PathLike[str], net: Network, meta: dict, args: argparse.Namespace, *,
                with_target: Literal[False]) -> tuple[np.ndarray, None]: ...


def _model_rows(path: str | os.PathLike[str], net: Network, meta: dict, args: argparse.Namespace, *,
                with_target: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of a CSV file as the model takes them: columns matched by name when the
    model knows its features' names and the file has a header, else by position; with
    ``with_target``, also the target column (by --target, or the name the model keeps).
    Returns ``(X scaled as in training, y or None)``."""
    from . import datasets
    from .data import Standardizer
    from .errors import InputError

    names, width = datasets.read_csv_header(path, header=args.header)
    features = meta.get("feature_names")
    target = _target_arg(args.target) if getattr(args, "target", None) is not None else meta.get("target")
    described = (f"the model's {net.n_in} features" + (f" ({', '.join(map(repr, features[:6]))}"
                                                        f"{', ...' if len(features) > 6 else ''})" if features else ""))
    if names is not None and features is not None:
        in_file = target if isinstance(target, str) and target in names else None
        missing = [f for f in features if f not in names]
        unknown = [n for n in names if n not in features and n != in_file]
        if missing or unknown:
            raise InputError(f"{str(path)!r} does not have the columns the model was trained on"
                             + (f": it lacks {', '.join(map(repr, missing))}" if missing else "")
                             + (f"{'; it' if missing else ': it'} has {', '.join(map(repr, unknown))}, which the model "
                                f"does not know" if unknown else "")
                             + f". The model's features: {', '.join(map(repr, features))}"
                             + (f" (and the target {target!r})" if isinstance(target, str) else "")
                             + "; their order in the file does not matter.")
        if with_target and in_file is None:
            raise InputError(f"{str(path)!r} has no target column {target!r}; name it with --target")
        table = datasets.load_csv(path, target=in_file, features=features, header=True, dtype=net.dtype.name)
    else:
        index = target if isinstance(target, int) else meta.get("target_index")
        if width == net.n_in + 1 and index is not None:
            table = datasets.load_csv(path, target=index, header=names is not None, dtype=net.dtype.name)
        elif width == net.n_in and not with_target:
            table = datasets.load_csv(path, target=None, header=names is not None, dtype=net.dtype.name)
        else:
            raise InputError(f"{str(path)!r} has {width} columns{'' if names else ' and no header'}; it needs "
                             f"{described}{' and the target' if with_target else ''}"
                             + (", matched by position (give the file a header to match them by name)"
                                if names is None and features else ""))
    X = table.X
    if meta.get("standardize"):
        X = Standardizer.from_dict(meta["standardize"]).transform(X)
    y = None
    if with_target:
        y = _labels_in(table, meta, path) if meta.get("classes") else table.y
    return X, y


def _is_idx(path: str | os.PathLike[str]) -> bool:
    """IDX files start with two zero bytes and a type code (gzipped: look inside)."""
    import gzip

    from . import _files
    with _files.open_for_reading(path, what="input file") as f:
        head = f.read(4)
        if head[:2] == b"\x1f\x8b":
            f.seek(0)
            with gzip.open(f) as g:
                head = g.read(4)
    return len(head) == 4 and head[:2] == b"\x00\x00" and head[2] in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)


def _images(path, net):
    import numpy as np

    from . import datasets
    from .errors import InputError
    images = datasets.read_idx(path)
    X = images.reshape(len(images), -1).astype(net.dtype)
    if images.dtype == np.uint8:
        X /= 255                                   # as the IDX data sets were scaled for training
    if X.shape[1] != net.n_in:
        raise InputError(f"{str(path)!r} holds images of {X.shape[1]} pixels; the model takes {net.n_in} inputs")
    return X


def _evaluate(args: argparse.Namespace) -> int:
    """Loss and accuracy of a saved model on a data set's test images or on a CSV file."""
    import json

    from . import data as _data
    from . import datasets

    net, meta = _model(args.model)
    if (args.dataset is None) == (args.csv is None):
        raise UsageError(f"give the data with either --dataset NAME or --csv FILE (not both). "
                         f"Data sets: {', '.join(DATASETS)}.")
    if args.dataset in ("mnist", "fashion-mnist"):
        load = datasets.mnist if args.dataset == "mnist" else datasets.fashion_mnist
        _, (X, y) = load(args.data, dtype=net.dtype.name)
    elif args.dataset is not None:      # the test rows train held out (the same --samples and --seed)
        X, y = getattr(_data, args.dataset)(args.samples, seed=args.seed, dtype=net.dtype.name)
        X, y = _split(X, y, 0.2, args.seed, True)[2:]
    else:
        X, y = _model_rows(args.csv, net, meta, args, with_target=True)
    result = net.evaluate(X, y)
    result["samples"] = len(X)
    print(json.dumps(result) if args.json else "  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in result.items()))
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    """Outputs of a saved model for each row of a CSV file or each image of an IDX file, as CSV."""
    from . import datasets

    net, meta = _model(args.model)
    X = _images(args.input, net) if _is_idx(args.input) else \
        _model_rows(args.input, net, meta, args, with_target=False)[0]
    A = net.predict(X)
    columns = {}
    if net.is_classifier:
        classes = meta.get("classes")
        labels = net.classes(A)
        columns["prediction"] = [classes[k] for k in labels] if classes else labels
        if args.proba:
            # probabilities (p_) where the outputs stand for them, else the output activations (a_)
            probabilities = net.loss_fn.fused_with is not None
            P = net.predict_proba(X) if probabilities else A
            names = classes or [str(k) for k in range(max(2, A.shape[1]))]
            for j in range(P.shape[1]):
                columns[f"{'p_' if probabilities else 'a_'}{names[j] if P.shape[1] > 1 else names[-1]}"] = P[:, j]
    else:
        for j in range(A.shape[1]):
            columns[f"y{j}" if A.shape[1] > 1 else "prediction"] = A[:, j]
    if args.output:
        datasets.save_csv(args.output, columns)
        print(f"wrote {len(A)} predictions to {args.output}", file=sys.stderr)
    else:
        datasets.save_csv(sys.stdout, columns)
    return EXIT_OK


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
            net = Network(args.layers, activation=args.activation, loss=args.loss, seed=args.seed)
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
    _cli_meta(args.model, header, net)
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
    if isinstance(training, dict):
        p = training.get("progress", {}) if isinstance(training.get("progress"), dict) else {}
        opt = training.get("optimizer", {}) if isinstance(training.get("optimizer"), dict) else {}
        where = f"after epoch {p.get('epochs_done')}" if not p.get("batch") else \
            f"in epoch {p.get('epochs_done', 0) + 1} after batch {p.get('batch')}"
        print(f"training: {where}, step {p.get('step')}; optimizer {opt.get('config')}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    """Write a saved model as an ONNX model, for onnxruntime and the other runtimes that read ONNX.

    The input "input" is (batch, n_in), one example per row; the output "output" is what
    predict prints (for a model trained on logits: "probabilities", then "logits");
    --labels adds "label", each row's class index. The model file's metadata (class
    names, ...) goes into the ONNX model's metadata.
    """
    from . import _onnx, io
    low, high = _onnx.opset_range()
    if not low <= args.opset <= high:
        raise UsageError(f"--opset must be from {low} to {high} (the newest the installed onnx knows); "
                         f"got {args.opset}")
    header = io.read_header(args.model)
    net = io.load(args.model)
    if args.labels and not net.is_classifier:
        raise UsageError(f"--labels is for classifiers; {str(args.model)!r} is a regression ({net.n_out} "
                         f"{net.layers[-1].activation.name} output(s), {net.loss_fn.name} cost)")
    path = io.export_onnx(net, args.output, opset=args.opset, labels=args.labels,
                          metadata=header.get("metadata") or {})
    outputs = ", ".join(_onnx.output_names(net, labels=args.labels))
    print(f"wrote {path}: ONNX opset {args.opset}, IR version {_onnx.ir_version(args.opset)}; input 'input' "
          f"(batch, {net.n_in}) {net.dtype.name}; outputs {outputs}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# demo, explain, why

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
        _say("demo", "error", f"test accuracy {accuracy:.2%} is below the required {args.require:.2%}")
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    """One step of backpropagation with every number shown, in the notation of the notes."""
    from . import examples
    from .explain import explain, parse_rows
    from .optimizers import SGD

    sources = [args.example is not None, args.model is not None and args.input is not None,
               args.dataset is not None or args.csv is not None]
    if args.model is not None and args.input is None and not sources[2] and args.example is None:
        raise UsageError("--model needs --input and --target (e.g. --input 0.05,0.10 --target 0.01,0.99), or a row "
                         "of a data set: --dataset NAME or --csv FILE with --index N")
    if sum(sources) != 1:
        raise UsageError("give one example to explain: a worked example (mazur or kaist), --model FILE with --input "
                         "and --target, or a row of a data set (--dataset NAME or --csv FILE, with --index N, and "
                         "--model FILE for a trained network)")
    if args.example is not None:
        if args.input is not None or args.target is not None or args.model is not None:
            raise UsageError(f"--model, --input and --target go without an example; the {args.example} example "
                             "brings its own")
        ex = examples.mazur() if args.example == "mazur" else examples.kaist()
        trace = explain(ex, optimizer=SGD(lr=ex.lr if args.lr is None else args.lr), steps=args.steps,
                        rounds=args.rounds)
        notation, level = args.notation or args.example, args.level or "neuron"
    else:
        if args.input is not None:
            net, meta = _model(args.model)
            if args.target is None:
                raise UsageError("--input needs --target (e.g. '0.01,0.99', or a class for a classifier)")
            x = parse_rows(args.input, name="--input", n=net.n_in)
        else:
            net, meta, x, label = _explain_row(args)
            args.target = label if args.target is None else args.target
        y = _explain_target(args.target, net, meta, len(x))
        trace = explain(net, x, y, optimizer=SGD(lr=0.1 if args.lr is None else args.lr), steps=args.steps,
                        rounds=args.rounds or ())
        notation = args.notation or "nielsen"
        level = args.level or ("neuron" if len(x) == 1 and max(net.sizes) <= args.max_units else "matrix")
    text = trace.render(args.format, level=level, notation=notation, precision=args.precision,
                        max_units=args.max_units)
    if args.output:
        from . import _files
        with _files.atomic_open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output} ({args.format}, {len(text)} characters)")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _explain_row(args):
    """``(network, meta, the row x, its target)`` for ``explain --dataset/--csv --index N``:
    row N of the data (MNIST: training image N), through --model, or else through the
    book's untrained network for those sizes (sigmoid, quadratic cost, seed 0)."""
    from .network import Network
    if args.index is None:
        raise UsageError("--dataset and --csv need --index N: the row to explain")
    if args.model is not None:
        net, meta = _model(args.model)
    else:
        net = meta = None
    if args.csv is not None and net is not None:
        X, y = _model_rows(args.csv, net, meta, args, with_target=True)
    else:
        ns = argparse.Namespace(**{**vars(args), "validation_split": 0.0, "test_split": None, "train_size": None,
                                   "dtype": "float64" if net is None else net.dtype.name, "test_csv": None,
                                   "standardize": False, "task": "auto"})
        d = _load_data(ns)
        X, y = d.X, d.y
        if net is None:
            if not d.classification:
                raise UsageError("without --model, explain builds a classifier; this target is a regression target")
            net = Network([X.shape[1], 30, len(d.meta["classes"])], activation="sigmoid", loss="quadratic", seed=0)
            meta = d.meta
    if not 0 <= args.index < len(X):
        raise UsageError(f"--index {args.index} is out of range: the data has {len(X)} rows (0..{len(X) - 1})")
    return net, meta, X[args.index:args.index + 1], y[args.index:args.index + 1]


def _explain_target(target: str | np.ndarray, net: Network, meta: dict, m: int) -> np.ndarray:
    """--target as the network takes it: numbers per output, or (for a classifier) one
    class per example, as its number or its name."""
    import numpy as np

    from .errors import ShapeError
    from .explain import parse_rows
    if not isinstance(target, str):
        return target
    classes = (meta or {}).get("classes")
    labels = [t.strip() for t in target.replace(";", ",").split(",") if t.strip()]
    if net.is_classifier and net.n_out >= 2 and len(labels) == m:
        if classes and all(t in classes for t in labels):
            return np.array([classes.index(t) for t in labels])
        if all(t.isdigit() and int(t) < net.n_out for t in labels) and net.n_out != m:
            return np.array([int(t) for t in labels])
    try:
        return parse_rows(target, name="--target", n=net.n_out)
    except ShapeError as e:
        hint = f" or one class per example ({', '.join(map(repr, classes[:10]))})" if classes else \
            " or one class number per example" if net.n_out >= 2 else ""
        raise UsageError(f"--target needs {net.n_out} number(s) per example{hint}; got {target!r}") from e


def _why(args: argparse.Namespace) -> int:
    """Why backpropagation: one full gradient by backprop and by finite differences, timed as the network grows."""
    from .why import measure

    report = measure(max_weights=args.max_weights, sizes=args.sizes, batch=args.batch, budget=args.budget,
                     seed=args.seed, threads=args.threads or None, progress=sys.stderr if args.verbose else None)
    print(report)
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


def _playground(args: argparse.Namespace) -> int:
    """Backpropagation to play with in the browser: build a network, train it step by step,
and click any neuron or weight for the numbers of the last step (z, a, delta, dC/dw, the
update) in the notation you pick. The network is a real deltaprop network in this process;
the page only draws what it sends. Serves on 127.0.0.1 (this machine only) unless --host
says otherwise. Needs the playground extra: pip install "deltaprop[playground]"."""
    from .playground import serve

    serve(host=args.host, port=args.port, model=args.model, data=args.data, open_browser=not args.no_browser,
          max_upload=args.max_upload * 2**20)
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# The parser

def _epilog(examples: str) -> str:
    return f"{examples}\n{EXIT_CODES}"


def _add_data_args(p: argparse.ArgumentParser, *, training: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, help="a built-in data set")
    g.add_argument("--csv", metavar="FILE", help="a CSV table of numbers; the target column is --target")
    g.add_argument("--target", metavar="COL", help="the CSV's target column, by name or index (default: the last; "
                                                   "for a saved model, the one it was trained on)")
    g.add_argument("--header", type=_header, default="auto", choices=("auto", True, False), metavar="{auto,yes,no}",
                   help="whether the CSV's first row names the columns (default auto: it does if it holds text)")
    g.add_argument("--data", metavar="DIR", default=None, help="folder of the MNIST/Fashion-MNIST IDX files "
                                                                "(default: search, then download)")
    g.add_argument("--samples", type=POSITIVE, default=500, help="size of a synthetic data set (default 500)")
    g.add_argument("--seed", type=NONNEG, default=0, help="seed for weights, shuffling, splits and synthetic data "
                                                          "(default 0)")
    if training:
        g.add_argument("--test-csv", metavar="FILE", dest="test_csv", help="a second CSV, evaluated once at the end")
        g.add_argument("--test-split", type=_number(0, 1, low_open=True, high_open=True), default=None,
                       dest="test_split", metavar="F",
                       help="hold out this fraction of a CSV (default none) or synthetic set (default 0.2) as the "
                            "test set, evaluated once at the end")
        g.add_argument("--validation-split", type=_number(0, 1, high_open=True), default=None,
                       dest="validation_split", metavar="F",
                       help="validate on this fraction of the training rows after each epoch (default 0.2; MNIST: "
                            "its last 10,000 training images, as the book); 0 for none")
        g.add_argument("--train-size", type=POSITIVE, default=None, dest="train_size", metavar="N",
                       help="train on the first N MNIST images only (the book uses 50000)")
        g.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                       help="what the CSV target is (default auto: text or at most 50 whole numbers are classes)")
        g.add_argument("--standardize", action="store_true",
                       help="scale each feature to mean 0 and variance 1 on the training rows (remembered by the "
                            "saved model)")


def _add_train(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "train", help="train a network on a data set or a CSV file", description=_train.__doc__,
        usage="deltaprop train (--dataset NAME | --csv FILE) [OPTIONS]   (deltaprop train --help lists them)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog("""examples:
  deltaprop train --dataset moons --save moons.dpz
  deltaprop train --dataset mnist --save mnist.dpz --plot plots
  deltaprop train --dataset mnist --book --train-size 50000 --epochs 30   # the book's network
  deltaprop train --csv iris.csv --target species --standardize --test-split 0.2 --save iris.dpz
  deltaprop train --dataset mnist --checkpoint-dir ck --save mnist.dpz
  deltaprop train --checkpoint-dir ck --resume          # continue after a crash or Ctrl-C"""))
    _add_data_args(p, training=True)
    g = p.add_argument_group("network")
    g.add_argument("--book", action="store_true",
                   help="the book's setup: sigmoid layers (--hidden 30), --loss quadratic, --optimizer sgd --lr 3.0, "
                        "--batch-size 10, --epochs 30, --init lecun_normal, no early stopping (each can be changed)")
    g.add_argument("--hidden", type=_sizes, default=None,
                   help="hidden layer sizes, e.g. 30 or 256,256 ('' for none; default 64,64)")
    g.add_argument("--layers", type=_sizes, default=None,
                   help="all sizes instead, input and output included (e.g. 784,30,10)")
    g.add_argument("--activation", choices=ACTIVATIONS[:-1], default=None, help="hidden activation (default relu)")
    g.add_argument("--output-activation", choices=ACTIVATIONS, default=None, dest="output_activation",
                   help="output activation (default: softmax for cross_entropy, sigmoid for binary_cross_entropy, "
                        "identity with --from-logits or a numeric target)")
    g.add_argument("--loss", choices=LOSSES, default=None,
                   help="cost (default: cross_entropy for classes, quadratic for numbers)")
    g.add_argument("--from-logits", action="store_true", dest="from_logits",
                   help="the cross-entropy takes the logits of an identity output (PyTorch's CrossEntropyLoss and "
                        "BCEWithLogitsLoss, Keras' from_logits=True)")
    g.add_argument("--init", choices=INITS, default=None, help="initial weights (default auto: by activation)")
    g.add_argument("--dropout", type=_number(0, 1, high_open=True), default=0.0,
                   help="dropout probability of hidden outputs (default 0)")
    g.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", default=None, choices=("sgd", "adam"), help="default adam")
    g.add_argument("--lr", type=_number(0, low_open=True), default=None,
                   help="learning rate (default 1e-3 for adam, 0.1 for sgd, 3.0 with --book)")
    g.add_argument("--momentum", type=_number(0, 1, high_open=True), default=0.0, help="for sgd (default 0)")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum (with --momentum)")
    g.add_argument("--weight-decay", type=_number(0), default=0.0, dest="weight_decay", help="L2 on weight matrices")
    g.add_argument("--epochs", type=POSITIVE, default=None, help="most epochs (default 200, with early stopping)")
    g.add_argument("--batch-size", type=POSITIVE, default=None, dest="batch_size", help="default 32")
    g.add_argument("--schedule", choices=("step", "exponential", "cosine"), default=None,
                   help="learning-rate schedule over the epochs")
    g.add_argument("--early-stopping", type=_patience, default=None, metavar="PATIENCE", dest="early_stopping",
                   help="stop when the validation loss has not improved for PATIENCE epochs, keeping the best "
                        "weights (default 10; 'off' to train every epoch)")
    g.add_argument("--class-weight", default=None, dest="class_weight", metavar="{balanced,CLASS=W,...}",
                   help="weigh each class in the cost: 'balanced' (n / (classes x count), so a rare class counts as "
                        "much as a common one) or e.g. 'fraud=10' or '0=1,1=5' (others weigh 1); training and "
                        "validation rows alike")
    g.add_argument("--engine", default="auto", choices=("auto", "numpy", "numba"))
    g = p.add_argument_group("files")
    g.add_argument("--checkpoint-dir", default=None, dest="checkpoint_dir", metavar="DIR",
                   help="write a checkpoint after every epoch (and on Ctrl-C or SIGTERM) into DIR")
    g.add_argument("--checkpoint-every", type=POSITIVE, default=1, dest="checkpoint_every", metavar="N")
    g.add_argument("--keep", type=POSITIVE, default=3, help="checkpoints kept (default 3)")
    g.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                   help="continue from the newest checkpoint in --checkpoint-dir (or from PATH); options not "
                        "given again are those of the run that wrote it (a new --lr applies from there)")
    g.add_argument("--save", metavar="FILE", help="save the trained network (no pickle; atomic); also on Ctrl-C")
    g.add_argument("--log", metavar="FILE", help="append one CSV row of metrics per epoch")
    g.add_argument("--plot", metavar="DIR", help="write learning curves and diagnostics as PNG files (deltaprop[plot])")
    g.add_argument("--require", type=_number(0, 1), default=None, metavar="ACC",
                   help="exit with status 1 if the final accuracy (on the test set, if any) is below ACC")
    g.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=_train)


def _add_evaluate(sub: _Subparsers) -> None:
    p = sub.add_parser("evaluate", help="loss and accuracy of a saved model", description=_evaluate.__doc__,
                       usage="deltaprop evaluate MODEL (--dataset NAME | --csv FILE) [OPTIONS]",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("examples:\n  deltaprop evaluate mnist.dpz --dataset mnist\n"
                                      "  deltaprop evaluate iris.dpz --csv iris-test.csv --json"))
    p.add_argument("model", help="a file written by net.save or deltaprop train --save")
    _add_data_args(p, training=False)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_evaluate)


def _add_predict(sub: _Subparsers) -> None:
    p = sub.add_parser("predict", help="predict each row of a CSV or image of an IDX file, as CSV",
                       usage="deltaprop predict MODEL INPUT [OPTIONS]",
                       description=(_predict.__doc__ or "") + " A CSV's columns are matched to the model's features by "
                       "name when both have names (any order; a missing or unknown column is an error), else by "
                       "position.", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("examples:\n  deltaprop predict mnist.dpz t10k-images-idx3-ubyte.gz -o digits.csv\n"
                                      "  deltaprop predict iris.dpz new-flowers.csv --proba"))
    p.add_argument("model", help="a file written by net.save or deltaprop train --save")
    p.add_argument("input", help="a CSV file of feature rows, or an IDX file of images (gzipped or not)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the CSV here (default: standard output)")
    p.add_argument("--header", type=_header, default="auto", choices=("auto", True, False), metavar="{auto,yes,no}",
                   help="whether the CSV's first row names the columns (default auto)")
    p.add_argument("--proba", action="store_true",
                   help="add one column per class: its probability p_<class> where the outputs stand for "
                        "probabilities (cross-entropy, from logits too), else the output activation a_<class>")
    p.set_defaults(func=_predict, target=None)


def _add_gradcheck(sub: _Subparsers) -> None:
    from .activations import ACTIVATIONS as _ACTS
    p = sub.add_parser("gradcheck", help="check backprop against finite differences", description=_gradcheck.__doc__,
                       usage="deltaprop gradcheck [MODEL | mazur | kaist] [OPTIONS]",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("examples:\n  deltaprop gradcheck mazur\n  deltaprop gradcheck model.dpz\n"
                                      "  deltaprop gradcheck --layers 4,8,3 --activation tanh --loss cross_entropy\n"
                                      "exit status 1 if the check fails"))
    p.add_argument("target_model", nargs="?", metavar="MODEL",
                   help="mazur, kaist (the worked examples) or a saved model; default: a random --layers network")
    p.add_argument("--layers", type=_sizes, default=[3, 5, 4, 2], help="sizes of the random network (default 3,5,4,2)")
    p.add_argument("--activation", default="tanh", choices=sorted(_ACTS))
    p.add_argument("--loss", default="quadratic", choices=LOSSES)
    p.add_argument("--samples", type=POSITIVE, default=4, help="random examples in the batch (default 4)")
    p.add_argument("--max-checks", type=POSITIVE, default=2000, dest="max_checks",
                   help="entries per parameter array checked at most (a random sample beyond)")
    p.add_argument("--seed", type=NONNEG, default=0)
    p.set_defaults(func=_gradcheck)


def _add_info(sub: _Subparsers) -> None:
    p = sub.add_parser("info", help="what a saved model or checkpoint holds", description=_info.__doc__,
                       usage="deltaprop info MODEL [--json]",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("example:\n  deltaprop info mnist.dpz"))
    p.add_argument("model", help="a file written by net.save, deltaprop train --save, or a checkpoint")
    p.add_argument("--json", action="store_true", help="print the whole header as JSON")
    p.set_defaults(func=_info)


def _add_export(sub: _Subparsers) -> None:
    p = sub.add_parser("export", help="write a saved model as ONNX (for onnxruntime)", description=_export.__doc__,
                       usage="deltaprop export MODEL OUTPUT [--opset N] [--labels]",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("examples:\n  deltaprop export moons.dpz moons.onnx\n"
                                      "  deltaprop export mnist.dpz mnist.onnx --labels --opset 13"))
    p.add_argument("model", help="a file written by net.save or deltaprop train --save")
    p.add_argument("output", help="the ONNX file to write (.onnx); replaced only once complete")
    p.add_argument("--opset", type=POSITIVE, default=17,
                   help="ONNX opset, 13 or newer (default 17, IR version 8; onnxruntime 1.17 reads up to 20)")
    p.add_argument("--labels", action="store_true", help="also output 'label', each row's class (classifiers)")
    p.set_defaults(func=_export)


def _add_explain(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "explain", help="show one step of backpropagation with every number", description=_explain.__doc__,
        usage="deltaprop explain (mazur | kaist | --model FILE --input X --target Y | --dataset NAME --index N | "
              "--csv FILE --index N) [OPTIONS]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog("examples:\n  deltaprop explain mazur\n  deltaprop explain kaist --level matrix\n"
                       "  deltaprop explain --dataset mnist --index 7 --model mnist.dpz\n"
                       "  deltaprop explain --csv iris.csv --index 0 --model iris.dpz\n"
                       "  deltaprop explain --model net.dpz --input 0.05,0.10 --target 0.01,0.99 --format html -o "
                       "step.html"))
    p.add_argument("example", nargs="?", choices=("mazur", "kaist"),
                   help="a worked example of the notes: mazur (Mazur's step-by-step 2-2-2 example) or kaist (the "
                        "KAIST lecture's 2-2-1 example)")
    p.add_argument("--model", metavar="FILE", help="a network saved with net.save (instead of an example)")
    p.add_argument("--input", metavar="X", help="the example(s) for --model: numbers separated by commas, "
                                                "rows by ';' (e.g. '0.05,0.10')")
    p.add_argument("--target", metavar="Y", help="the target(s): numbers as --input (e.g. '0.01,0.99'), or for a "
                                                 "classifier one class per example (its number or name)")
    p.add_argument("--dataset", choices=DATASETS, help="explain a row of a built-in data set (with --index)")
    p.add_argument("--csv", metavar="FILE", help="explain a row of a CSV file (with --index; target: --target COL)")
    p.add_argument("--index", type=NONNEG, default=None, metavar="N",
                   help="the row to explain (MNIST: training image N)")
    p.add_argument("--header", type=_header, default="auto", choices=("auto", True, False), metavar="{auto,yes,no}",
                   help="whether the CSV's first row names the columns (default auto)")
    p.add_argument("--data", metavar="DIR", default=None, help="folder of the MNIST/Fashion-MNIST IDX files")
    p.add_argument("--samples", type=POSITIVE, default=500, help="size of a synthetic data set (default 500)")
    p.add_argument("--seed", type=NONNEG, default=0, help="seed of a synthetic data set (default 0)")
    p.add_argument("--lr", type=_number(0, low_open=True), default=None,
                   help="learning rate of the SGD step (default: the example's, or 0.1)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "latex", "json", "html"),
                   help="output format (default text)")
    p.add_argument("--level", choices=("matrix", "neuron"), default=None,
                   help="matrix: BP1-BP4 per layer; neuron: each scalar chain-rule product "
                        "(default: neuron for the examples and small networks)")
    p.add_argument("--notation", choices=("nielsen", "kaist", "mazur"), default=None,
                   help="whose symbols: nielsen (w^l_jk, z^l, a^l, delta^l), kaist (x_mk, W_m, B_m, z_mn, y_mn), "
                        "mazur (i, h, o, net, out, w1..w8) (default: the example's own, else nielsen)")
    p.add_argument("--steps", type=_int_at_least(1), default=1, metavar="N",
                   help="rounds recorded in full; the error after each is listed (default 1)")
    p.add_argument("--rounds", type=POSITIVE, action="append", default=None, metavar="N",
                   help="also give the error after N rounds (repeatable; mazur's default: 10000, as the source)")
    p.add_argument("--precision", type=_int_between(1, 17), default=9, help="decimals printed, 1-17 (default 9)")
    p.add_argument("--max-units", type=POSITIVE, default=8, dest="max_units",
                   help="neurons shown per layer before a network is summarised (default 8)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_explain, task="auto", target_index=None)


def _add_why(sub: _Subparsers) -> None:
    p = sub.add_parser("why", help="time backprop against finite differences as the network grows",
                       usage="deltaprop why [OPTIONS]",
                       description=_why.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("example:\n  deltaprop why --plot why.png   (8.7 s on a 2-core machine)"))
    p.add_argument("--max-weights", type=_int_at_least(10), default=100_000, dest="max_weights",
                   help="largest network, in parameters (default 100000)")
    p.add_argument("--sizes", type=_int_at_least(2), default=9, help="number of network sizes, log-spaced (default 9)")
    p.add_argument("--batch", type=POSITIVE, default=100,
                   help="examples in the batch the gradient is taken on (default 100)")
    p.add_argument("--budget", type=_number(0, low_open=True), default=2.0,
                   help="seconds of finite differences per size; past it the weights are sampled and the total "
                        "extrapolated (default 2)")
    p.add_argument("--seed", type=NONNEG, default=0, help="seed for the networks, data and sampled weights (default 0)")
    p.add_argument("--threads", type=NONNEG, default=1,
                   help="BLAS threads while timing (default 1, so a busy machine does not distort the curves; "
                        "0 leaves the BLAS as configured)")
    p.add_argument("--plot", metavar="PATH", help="also write a log-log plot (PNG; needs deltaprop[plot])")
    p.add_argument("-v", "--verbose", action="store_true", help="report each size as it is measured")
    p.set_defaults(func=_why)


def _add_playground(sub: _Subparsers) -> None:
    p = sub.add_parser("playground", help="train a network step by step in the browser",
                       usage="deltaprop playground [OPTIONS]", description=_playground.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_epilog("examples:\n  deltaprop playground\n"
                                      "  deltaprop playground --data iris.csv --no-browser --port 9000"))
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other lets everyone "
                        "who can reach it use the playground)")
    p.add_argument("--port", type=_int_between(0, 65535), default=8765,
                   help="port to listen on (default 8765; 0: any free one)")
    p.add_argument("--model", metavar="FILE", help="start from this saved model (.dpz)")
    p.add_argument("--data", metavar="FILE", help="start with this CSV (target: its last column; the page can change it)")
    p.add_argument("--no-browser", action="store_true", dest="no_browser", help="do not open a browser")
    p.add_argument("--max-upload", type=POSITIVE, default=10, dest="max_upload", metavar="MIB",
                   help="largest file the page may upload, in MiB (default 10)")
    p.set_defaults(func=_playground)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltaprop", description="Fully-connected neural networks trained by backpropagation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog("examples:\n  deltaprop demo\n  deltaprop train --dataset moons --save moons.dpz\n"
                       "  deltaprop explain mazur\n  deltaprop playground\n"
                       "  deltaprop COMMAND --help"))
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train the book's 784-30-10 network on MNIST", description=_demo.__doc__,
                          usage="deltaprop demo [OPTIONS]",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog=_epilog("example:\n  deltaprop demo --epochs 30 --require 0.95"))
    demo.add_argument("--epochs", type=POSITIVE, default=30, help="passes over the 50,000 training images (default 30)")
    demo.add_argument("--init", default="lecun_normal", choices=("lecun_normal", "standard_normal"),
                      help="weight initialisation: lecun_normal (N(0, 1/n_in), default) or standard_normal "
                           "(N(0, 1), the book's first network)")
    demo.add_argument("--seed", type=NONNEG, default=0, help="seed for the initial weights and shuffling (default 0)")
    demo.add_argument("--data", default=None, help="folder holding the four MNIST IDX files (default: search)")
    demo.add_argument("--require", type=_number(0, 1), default=None, metavar="ACC",
                      help="exit with status 1 if the final test accuracy is below ACC (e.g. 0.95)")
    demo.set_defaults(func=_demo)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_gradcheck(sub)
    _add_info(sub)
    _add_export(sub)
    _add_explain(sub)
    _add_why(sub)
    _add_playground(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (:data:`EXIT_CODES`)."""
    from .errors import DeltapropError
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # --help, --version (0) or an option argparse refused (2)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning(args.command)
        try:
            if args.func is _train and args.resume:
                args = _with_saved_train_args(parser, argv, args)
            return args.func(args)
        except UsageError as e:
            _say(args.command, "error", str(e))
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"\ndeltaprop {args.command}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as e:
            code = exit_code(e)
            if code is None:
                raise
            message = getattr(e, "cli", None) or str(e)
            if isinstance(e, OSError) and not isinstance(e, DeltapropError) and e.filename:
                message = f"{e.strerror or e}: {e.filename}"      # as the shell says it
            _say(args.command, "error", message)
            return code


def _with_saved_train_args(parser, argv, args):
    """--resume: options not given again are those saved beside the checkpoints."""
    import json
    from pathlib import Path

    from . import _files
    from .errors import DataError

    folder = args.checkpoint_dir or (Path(args.resume).parent if args.resume is not True else None)
    saved = Path(folder) / TRAIN_ARGS_FILE if folder else None
    if saved is None or not saved.exists():
        return args
    with _files.open_for_reading(saved, text=True) as f:
        try:
            defaults = json.load(f)
        except ValueError as e:
            raise DataError(f"{str(saved)!r} is not the JSON deltaprop train writes ({e})") from None
    if not isinstance(defaults, dict):
        raise DataError(f"{str(saved)!r} is not the JSON object deltaprop train writes")
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    known = {action.dest for action in train_parser._actions}
    train_parser.set_defaults(**{k: v for k, v in defaults.items() if k in known
                                 and (k != "checkpoint_dir" or not args.checkpoint_dir)})
    return parser.parse_args(argv)
