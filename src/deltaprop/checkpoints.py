"""Training checkpoints: what one holds, writing it, finding and reading it, and
resuming a fit from it, bit-identically.

A checkpoint is a deltaprop file of kind ``"checkpoint"`` (:mod:`deltaprop._format`):
the network's header and arrays, plus ``header["training"]`` (this fit's settings, its
progress, the optimizer's hyperparameters and step count, the shuffling generator's
state, every callback's state) and the arrays ``training/opt/<i>/<buffer>``,
``training/order`` (mid-epoch) and ``training/cb/<j>/<name>``. ``dp.load`` reads the
network of one; :class:`~deltaprop.callbacks.ModelCheckpoint` writes them during a fit,
and ``fit(..., resume=path)`` continues from one.

This module never builds a network: it compares a file's description with the network
being trained and copies the weights into it, so the training loop can use it without
importing the network (which imports the loop).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _archive, _format
from .callbacks import LearningRateScheduler, TrainingStateLike
from .errors import DataError, DeltapropTypeError, MissingFileError, ResumeWarning, ValidationError, warn

#: Version of the "training" part of a checkpoint (the file format has its own version).
CHECKPOINT_VERSION = 1


#: The fingerprint's row hashes are added modulo this prime (2^61 - 1), so that shards'
#: partial sums (data-parallel ranks) add up to the whole data set's, in any partition.
_PRIME = (1 << 61) - 1


def fingerprint(X: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None, *, start: int = 0,
                n: int | None = None, add: Callable[[int], int] | None = None) -> str:
    """A hash of the training data, so a checkpoint refuses to resume on other data.

    It is the sum (mod 2^61 - 1) of a hash of each example (its index, row of X, row
    of Y and weight), so it does not depend on how the rows are shared out: a process
    holding rows ``start .. start + len(X) - 1`` of ``n`` (``w`` over all n) hashes
    those, and ``add`` sums the processes' partial sums (the ranks of data-parallel
    training, any number of them, get the fingerprint one process gets).
    """
    n = len(X) if n is None else n
    X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    W = None if w is None else np.ascontiguousarray(w[start:start + len(X)])
    total = 0
    for i in range(len(X)):
        h = hashlib.blake2b(int(start + i).to_bytes(8, "little"), digest_size=8)
        h.update(X[i].data.cast("B"))
        h.update(Y[i].data.cast("B"))
        if W is not None:
            h.update(W[i:i + 1].data.cast("B"))
        total += int.from_bytes(h.digest(), "little") % _PRIME
    total %= _PRIME
    if add is not None:
        total = add(total) % _PRIME
    kind = f"{X.dtype.str}{X.shape[1:]}{Y.dtype.str}{Y.shape[1:]}{'' if w is None else w.dtype.str}"
    return f"rows:{n}:{kind}:{total:016x}"


def legacy_fingerprint(*arrays: np.ndarray) -> str:
    """The fingerprint of checkpoints written before fingerprints were by rows (they still resume)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data.cast("B"))
    return h.hexdigest()


# -- writing --------------------------------------------------------------------------------

def write(path: str | os.PathLike[str], state: TrainingStateLike) -> Path:
    """Everything needed to continue the fit of ``state`` (a TrainingState) bit-identically,
    written to ``path`` atomically."""
    done, batch = state.progress
    meta, arrays = state.optimizer.get_state()
    rng = state.rng.bit_generator.state
    training: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "fit": state.fit_info,
        "progress": {"epochs_done": done, "batch": batch, "step": state.optimizer.iterations,
                     "epoch_cost": state.epoch_cost if batch else 0.0,
                     "epoch_correct": state.epoch_correct if batch else 0},
        "optimizer": meta,
        "rng": {"bit_generator": rng["bit_generator"], "state": rng},
        "callbacks": [],
    }
    out = {f"opt/{k}": v for k, v in arrays.items()}
    if batch:
        assert state.order is not None       # mid-epoch: the running epoch's order
        out["order"] = state.order
    for j, cb in enumerate(state.callbacks):
        cb_meta, cb_arrays = cb.get_state()
        training["callbacks"].append({"class": type(cb).__name__, "state": cb_meta})
        out.update({f"cb/{j}/{k}": v for k, v in cb_arrays.items()})
    _archive.check_json(training, "training")
    return _format.write(path, state.net, "checkpoint", None, training,
                         {_format.TRAINING + name: value for name, value in out.items()}, False)


# -- finding and reading ---------------------------------------------------------------------

def find(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is a file; for a folder, its most advanced checkpoint."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise MissingFileError(f"The 'resume' argument names {str(path)!r}, which does not exist.", path)
    best: Path | None = None
    best_key: tuple[Any, ...] | None = None
    skipped: list[str] = []
    for candidate in sorted(path.iterdir()):
        if not candidate.is_file() or _archive.is_temporary(candidate):
            continue
        try:
            header = _archive.read_header(candidate, check=_format.check_header)   # the progress alone
        except (DataError, ValidationError) as e:
            if candidate.suffix in (".dpz", ".npz"):
                skipped.append(f"{candidate.name}: {e}")
            continue
        if header.get("kind") != "checkpoint" or not isinstance(header.get("training"), dict):
            continue
        p = header["training"].get("progress", {})
        key = (p.get("epochs_done", 0), p.get("batch", 0), candidate.stat().st_mtime)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    if best is None:
        detail = "".join(f"\n  {s}" for s in skipped)
        raise DataError(f"No readable checkpoint in {str(path)!r}.{detail}")
    for s in skipped:
        warnings.warn(f"resume: skipped an unreadable file in {str(path)!r}: {s}", stacklevel=4)
    return best


class Checkpoint:
    """A checkpoint read from disk: its path, its header, ``training`` (the header's part),
    its weights ``[(W, b), ...]`` (checked) and its training arrays (names without the prefix)."""

    def __init__(self, path: Path, header: dict[str, Any], weights: list[tuple[np.ndarray, np.ndarray]],
                 arrays: dict[str, np.ndarray]) -> None:
        self.path, self.header, self.weights, self.arrays = path, header, weights, arrays
        self.training: dict[str, Any] = header["training"]


def read(resume: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint ``resume`` names (a file, or the most advanced in a folder)."""
    if not isinstance(resume, (str, Path)) and not hasattr(resume, "__fspath__"):
        raise DeltapropTypeError(f"The 'resume' argument must be a checkpoint file or folder. Got {resume!r} instead.")
    path = find(resume)
    header, arrays = _archive.read(path, check=_format.check_header)
    if header["kind"] != "checkpoint":
        raise DataError(f"'{path}' is a model file (kind {header['kind']!r}, written by save()): it holds no "
                        "training state to resume from. Use load() for its network, or a file written by "
                        "write_checkpoint().")
    training = header.get("training")
    if not isinstance(training, dict):
        raise DataError(f"'{path}' is a checkpoint but its header has no 'training' object "
                        f"(got {type(training).__name__}).")
    if training.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"{str(path)!r} holds training state of version {training.get('version')!r}; this "
                        f"deltaprop reads version {CHECKPOINT_VERSION}.")
    prefix = _format.TRAINING
    extra = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
    return Checkpoint(path, header, _format.checked_arrays(header, arrays), extra)


# -- resuming ---------------------------------------------------------------------------------

def apply(state: TrainingStateLike, ck: Checkpoint) -> None:
    """Check ``ck`` against this fit call (``state``) in full, then put its state in place:
    on an error nothing has changed."""
    net, opt, path, training = state.net, state.optimizer, ck.path, ck.training
    _format.check_compatible(net, ck.header)
    mismatches = [f"{key}: checkpoint {training['fit'].get(key)!r}, this call {value!r}" if key != "data" else
                  "data: the training data (X, Y and any sample_weight) are not those the checkpoint was trained on"
                  for key, value in state.fit_info.items() if training["fit"].get(key) != value]
    if mismatches:
        raise ValidationError(f"Cannot resume from {str(path)!r}: this fit call differs from the one that wrote it "
                              "(same data, batch size, shuffling and validation are needed):\n  "
                              + "\n  ".join(mismatches))
    saved_opt = training["optimizer"]["config"]
    mine = opt.config()
    diffs = [f"{k}: checkpoint {saved_opt.get(k)!r}, given {v!r}" for k, v in mine.items()
             if k != "lr" and saved_opt.get(k) != v]
    if diffs:
        raise ValidationError(f"Cannot resume from {str(path)!r} with this optimizer:\n  " + "\n  ".join(diffs))
    progress = training["progress"]
    if state.epochs is not None and (progress["epochs_done"] > state.epochs
                                     or (progress["epochs_done"] == state.epochs and progress["batch"])):
        raise ValidationError(f"{str(path)!r} is from epoch {progress['epochs_done']}; epochs={state.epochs} "
                              "asks for fewer. Pass the total number of epochs to train.")
    rng_state = training["rng"]["state"]
    if rng_state.get("bit_generator") != type(state.rng.bit_generator).__name__:
        raise ValidationError(f"{str(path)!r} was shuffled with a {rng_state.get('bit_generator')} generator; "
                              f"this call's is {type(state.rng.bit_generator).__name__}.")
    saved_cbs = training.get("callbacks", [])
    cb_arrays: dict[int, dict[str, np.ndarray]] = {}
    for name, value in ck.arrays.items():
        if name.startswith("cb/"):
            _, position, key = name.split("/", 2)
            cb_arrays.setdefault(int(position), {})[key] = value
    # -- everything checked: put it in place
    net.set_weights([p for pair in ck.weights for p in pair])
    opt.set_state(training["optimizer"], {k[4:]: v for k, v in ck.arrays.items() if k.startswith("opt/")})
    state.rng.bit_generator.state = rng_state
    state.epoch = progress["epochs_done"]
    if progress["batch"]:
        state.epoch += 1
        state.epoch_done = False
        state.batch = progress["batch"]
        state.order = np.asarray(ck.arrays["order"], dtype=np.intp)
        state.epoch_cost, state.epoch_correct = float(progress["epoch_cost"]), int(progress["epoch_correct"])
    state.resumed = True
    by_class: dict[str, list[int]] = {}
    for j, saved in enumerate(saved_cbs):
        by_class.setdefault(saved["class"], []).append(j)
    for cb in state.callbacks:
        slots = by_class.get(type(cb).__name__)
        if slots:
            j = slots.pop(0)
            cb.set_state(saved_cbs[j]["state"], cb_arrays.get(j, {}))
        elif any(cb.get_state()):
            warnings.warn(f"resume: the checkpoint holds no state for {type(cb).__name__}; it starts afresh.",
                          stacklevel=4)
    _resume_learning_rate(state, path, saved_opt, progress)


def _resume_learning_rate(state: TrainingStateLike, path: Path, saved_opt: dict[str, Any],
                          progress: dict[str, Any]) -> None:
    """A caller who resumes with another learning rate gets it from the resume point on,
    and is told so; everything else continues bit for bit. (The caller's optimizer keeps
    the lr it was given: nothing of the checkpoint's is written over it.)

    With a LearningRateScheduler the rate that counts is the schedule's base lr0 (the
    optimizer's rate in the checkpoint is the schedule's value at that epoch)."""
    opt = state.optimizer
    if not state.optimizer_given:           # the checkpoint's own optimizer: its rate as saved
        return
    schedulers = [cb for cb in state.callbacks if isinstance(cb, LearningRateScheduler) and cb.lr0 is not None]
    base = schedulers[0].lr0 if schedulers else saved_opt.get("lr", opt.lr)
    if opt.lr == base:
        return
    for cb in schedulers:
        cb.lr0 = opt.lr
    done, batch = progress["epochs_done"], progress["batch"]
    where = f"epoch {done + 1}" + (f", batch {batch + 1}" if batch else "")
    what = "learning rate" if not schedulers else "schedule's base learning rate"
    warn(ResumeWarning(f"resume: training continues from {where} with the {what} lr={opt.lr:g}; the run in "
                                f"{str(path)!r} used lr={base:g}.",
                                cli=f"resume: training continues from {where} with --lr {opt.lr:g}"
                                    f"{' (the base of --schedule)' if schedulers else ''}; the run in "
                                    f"{str(path)!r} used {base:g}."))
