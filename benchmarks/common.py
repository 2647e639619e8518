"""What every tool script of the benchmark shares: the workloads, the thread count,
a tiny MNIST (IDX) reader, the initial weights, and how a run reports itself.

Only the standard library and NumPy are used here, so each tool's virtual environment
(deltaprop, torch, jax, sklearn) can import it. Import this module BEFORE NumPy or any
tool library: it fixes the BLAS/OpenMP thread count through the environment first.
"""

from __future__ import annotations

import os

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = Path(os.environ.get("BENCH_DATA", ROOT / "data" / "mnist"))

from workloads import NOT_RUN, WORKLOADS, steps_per_epoch  # noqa: E402,F401

#: The 2-2-2 worked example (dp.examples.mazur()): weights (n_out, n_in), fixed biases,
#: one training example. Written out so that the peers need not import deltaprop.
MAZUR = dict(
    W=[np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45], [0.50, 0.55]])],
    b=[np.array([0.35, 0.35]), np.array([0.60, 0.60])],
    x=np.array([[0.05, 0.10]]), y=np.array([[0.01, 0.99]]), lr=0.5,
)


# --------------------------------------------------------------------------------------
# MNIST, read straight from the four standard IDX files (gzipped or not).

def read_idx(path: Path) -> np.ndarray:
    """One IDX file of unsigned bytes as an array of the shape its header declares."""
    path = Path(path)
    if not path.exists() and path.with_suffix(path.suffix + ".gz").exists():
        path = path.with_suffix(path.suffix + ".gz")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4]!r})")
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(dtype: str, n_train: int):
    """``(X, y), (X_test, y_test)``: rows of 784 pixels / 255 in ``dtype``, int64 labels.

    Only the first ``n_train`` training images are kept. Each array is C-contiguous.
    """
    dt = np.dtype(dtype)

    def images(name, n=None):
        u8 = read_idx(DATA_DIR / name)
        u8 = u8.reshape(len(u8), -1)[:n]
        X = u8.astype(dt)
        X /= dt.type(255)
        return X

    def labels(name, n=None):
        return read_idx(DATA_DIR / name)[:n].astype(np.int64)

    return ((images("train-images-idx3-ubyte", n_train), labels("train-labels-idx1-ubyte", n_train)),
            (images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")))


def one_hot(y: np.ndarray, k: int, dtype: str) -> np.ndarray:
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


# --------------------------------------------------------------------------------------
# Initial weights: the same schemes as deltaprop's initializers, drawn the same way
# (one numpy Generator, layer by layer, W then b, in float64, cast once), so a peer given
# the same seed starts from the same numbers as deltaprop.

def init_params(wl: dict, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b), ...]`` with W of shape (n_out, n_in), in the workload's dtype."""
    rng = np.random.default_rng(seed)
    params = []
    for scheme, n_in, n_out in zip(wl["init"], wl["sizes"][:-1], wl["sizes"][1:]):
        if scheme == "lecun_normal":
            W, b = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal(n_out)
        elif scheme == "he_normal":
            W, b = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)), np.zeros(n_out)
        elif scheme == "glorot_uniform":
            r = np.sqrt(6.0 / (n_in + n_out))
            W, b = rng.uniform(-r, r, (n_out, n_in)), np.zeros(n_out)
        else:
            raise ValueError(scheme)
        params.append((W.astype(wl["dtype"]), b.astype(wl["dtype"])))
    return params


# --------------------------------------------------------------------------------------
# Command line and report shared by the tool scripts.

def arg_parser(tool: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"One benchmark run of {tool} (one workload, one process).")
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--epochs", type=int, default=None,
                   help="timed epochs (W1/W2/W4; default: the workload's, 30, 5 or 1); W3: ignored")
    p.add_argument("--steps", type=int, default=None,
                   help="W1/W2/W4: time N full mini-batch steps instead of whole epochs: one epoch over the "
                        "first N x batch training images, reported per step (ms/step), never as an epoch")
    p.add_argument("--warmup-steps", type=int, default=None,
                   help="W1/W2/W4: the untimed warm-up is N full steps and the epoch's short last batch "
                        "(default: the workload's warmup_steps (W4: 20), else one whole epoch)")
    p.add_argument("--updates", type=int, default=None, help="W3: timed updates (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the result JSON here (default: stdout)")
    return p


def training_rows(args, wl: dict) -> int:
    """How many training images the timed run uses: the workload's, or N x batch with ``--steps N``."""
    if args.steps is None:
        return wl["n_train"]
    if args.epochs not in (None, 1):
        raise SystemExit("--steps N times one pass over N x batch images; leave --epochs out")
    n = args.steps * wl["batch"]
    if not 0 < n <= wl["n_train"]:
        raise SystemExit(f"--steps {args.steps}: between 1 and {wl['n_train'] // wl['batch']} for {args.workload}")
    return n


def timed_epochs(args, wl: dict) -> int:
    return 1 if args.steps is not None else (args.epochs or wl["epochs"])


def warmup_plan(args, wl: dict, n: int) -> tuple[int, int | None]:
    """``(rows, steps)`` of the untimed warm-up over ``n`` training rows: ``steps`` full
    mini-batches and the epoch's short last batch (``rows = steps x batch + n % batch``),
    or ``(n, None)``, one whole epoch, when no warm-up steps are set or they cover the epoch."""
    k = args.warmup_steps if args.warmup_steps is not None else wl.get("warmup_steps")
    b = wl["batch"]
    if k is None or k >= n // b:
        return n, None
    if k < 1:
        raise SystemExit("--warmup-steps: at least 1")
    return k * b + n % b, k


def timing(args, seconds: float, epochs: int) -> dict:
    """The fields of a timed run: per epoch (``s/epoch``), or per step (``ms/step``) with ``--steps``."""
    if args.steps is not None:
        return {"unit": "ms/step", "steps": args.steps, "epochs": None, "value": seconds / args.steps * 1e3}
    return {"unit": "s/epoch", "epochs": epochs, "value": seconds / epochs}


class Run:
    """Collects what one process measures and writes it as JSON.

    ``t0`` is taken when the tool script starts (before importing the tool's library).
    """

    def __init__(self, tool: str, args, **extra):
        self.t0 = time.perf_counter()
        self.args = args
        self.wl = WORKLOADS[args.workload]
        self.result = {
            "tool": tool, "workload": args.workload, "seed": args.seed, "threads": THREADS,
            "pid": os.getpid(), "python": platform.python_version(), **extra,
            "phases_s": {},
        }

    def phase(self, name: str, seconds: float) -> None:
        self.result["phases_s"][name] = seconds

    def mark_rss(self, name: str) -> None:
        self.result.setdefault("rss_mib", {})[name] = peak_rss_mib()

    def finish(self, **fields) -> None:
        self.result.update(fields)
        self.mark_rss("peak")
        self.result["process_s"] = time.perf_counter() - self.t0
        try:
            from threadpoolctl import threadpool_info
            self.result["threadpools"] = threadpool_info()
        except Exception as e:  # pragma: no cover - reported, not fatal
            self.result["threadpools"] = f"threadpoolctl unavailable: {e}"
        text = json.dumps(self.result, indent=1, default=_jsonable)
        if self.args.out:
            self.args.out.write_text(text)
        else:
            print(text)


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t
