"""One rank of the data-parallel tests (tests/test_distributed.py), run as a script by a
launcher (mpiexec, torchrun, or the test with torch.distributed's environment):

    python tests/ranks.py JOB DATA OUT [--backend mpi|gloo|detect] [job options]

DATA holds X.npy and y.npy (memory-mapped: each rank reads its shard); each rank writes
what it found to OUT/rank-<r>.npz / .json. The runs themselves (:data:`RUNS`,
:func:`train`) are shared with the test, which trains the same ones in one process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

import deltaprop as dp

#: The runs compared with one process: W1 on a subset (float64) and W2's network (float32),
#: with each engine. The float32 runs that must stay within 1e-5 of one process use tanh:
#: with ReLU, a rounding-level difference (2 ranks' partial sums added, or OpenBLAS with
#: another thread count) flips relu'(z) for a z within rounding of 0, and each flip moves the
#: weights by one example's share of a step, which flips more: the run stays close but drifts
#: (measured: 1e-7 after 3 epochs of tanh, 1.8e-3 of ReLU). "w2-relu" is W2 itself.
RUNS = {
    "w1-numpy": dict(sizes=[784, 30, 10], activation="sigmoid", loss="quadratic", dtype="float64",
                     optimizer=lambda: dp.SGD(lr=3.0), batch_size=10, epochs=3, engine="numpy"),
    "w1-numba": dict(sizes=[784, 30, 10], activation="sigmoid", loss="quadratic", dtype="float64",
                     optimizer=lambda: dp.SGD(lr=3.0), batch_size=10, epochs=3, engine="numba"),
    "w2-numba": dict(sizes=[784, 256, 256, 10], activation="tanh", loss="cross_entropy", dtype="float32",
                     optimizer=lambda: dp.Adam(lr=1e-3), batch_size=128, epochs=3, engine="numba"),
    "w2-numpy": dict(sizes=[784, 256, 256, 10], activation="tanh", loss="cross_entropy", dtype="float32",
                     optimizer=lambda: dp.Adam(lr=1e-3), batch_size=128, epochs=1, engine="numpy"),
    "w2-relu": dict(sizes=[784, 256, 256, 10], activation="relu", loss="cross_entropy", dtype="float32",
                    optimizer=lambda: dp.Adam(lr=1e-3), batch_size=128, epochs=3, engine="numba"),
}


def network(run: dict) -> dp.Network:
    return dp.Network(run["sizes"], activation=run["activation"], loss=run["loss"], dtype=run["dtype"], seed=7)


def digest(net: dp.Network) -> str:
    h = hashlib.blake2b(digest_size=12)
    for a in net.get_weights():
        h.update(np.ascontiguousarray(a).data.cast("B"))
    return h.hexdigest()


def train(name: str, X, y, comm=None, *, every_step: bool = False) -> tuple[dp.Network, list[str]]:
    """Run ``name`` of RUNS; with ``every_step``, one batch at a time, a digest of the
    weights after each."""
    run = RUNS[name]
    net = network(run)
    trainer = dp.Trainer(net, X, y, epochs=run["epochs"], batch_size=run["batch_size"], optimizer=run["optimizer"](),
                         seed=11, engine=run["engine"], comm=comm)
    steps = []
    if every_step:
        while not trainer.state.finished:
            trainer.train_batches(1)
            steps.append(digest(net))
        trainer.close()
    else:
        trainer.run()
    return net, steps


def _comm(backend: str):
    if backend == "mpi":
        return dp.distributed.from_mpi()
    if backend == "gloo":
        return dp.distributed.from_torch(backend="gloo", timeout_s=float(os.environ.get("DP_TIMEOUT", "60")))
    return dp.distributed.detect()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("job")
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--backend", default="detect")
    p.add_argument("--runs", default="")
    p.add_argument("--checkpoints", type=Path)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--die-at", type=int, default=-1, help="fault: rank 1 kills itself after this many batches")
    a = p.parse_args()
    comm = _comm(a.backend)
    rank = 0 if comm is None else comm.rank
    X, y = str(a.data / "X.npy"), str(a.data / "y.npy")
    found: dict = {"rank": rank, "size": 1 if comm is None else comm.size,
                   "backend": "" if comm is None else getattr(comm, "backend", ""), "pid": os.getpid()}
    arrays: dict[str, np.ndarray] = {}
    if a.job == "runs":
        for name in a.runs.split(","):
            net, steps = train(name, X, y, comm, every_step=True)
            again, _ = train(name, X, y, comm)
            found[name] = {"steps": steps, "again": digest(again) == digest(net)}
            for i, w in enumerate(net.get_weights()):
                arrays[f"{name}/{i}"] = w
    elif a.job == "checkpoint":              # W1: a checkpoint each epoch; resumes from --checkpoints
        net = network(RUNS["w1-numba"])

        class Die(dp.callbacks.Callback):
            seen = 0

            def on_batch_end(self, state):
                self.seen += 1
                if rank == 1 and self.seen == a.die_at:
                    os.kill(os.getpid(), signal.SIGKILL)

        cbs = [dp.callbacks.ModelCheckpoint(a.checkpoints), dp.callbacks.CSVLogger(a.out / "log.csv")]
        if a.die_at >= 0:
            cbs.append(Die())
        resume = a.checkpoints if any(a.checkpoints.glob("*.dpz")) else None
        try:
            history = net.fit(X, y, epochs=a.epochs, batch_size=10, optimizer=dp.SGD(lr=3.0), seed=5,
                              callbacks=cbs, resume=resume, verbose=2, comm=comm)
            found["loss"] = history.history["loss"]
        except dp.distributed.DistributedError as e:
            found["error"] = str(e)
        for i, w in enumerate(net.get_weights()):
            arrays[f"w/{i}"] = w
    elif a.job == "errors":                  # bad setups, one after the other, on the same communicator
        def attempt(label, change=None):
            args = dict(sizes=[784, 8, 10], seed=1, batch_size=16, n=None, nan=False)
            args.update((change or {}).get(rank, {}))
            net = dp.Network(args["sizes"], loss="cross_entropy", seed=args["seed"])
            Xa = np.load(X, mmap_mode="r")[:args["n"]]
            ya = np.load(y, mmap_mode="r")[:args["n"]]
            if args["nan"]:                   # a NaN in the last row: in the last rank's shard
                Xa = np.array(Xa)
                Xa[-1, 0] = np.nan
            try:
                net.fit(Xa, ya, epochs=1, batch_size=args["batch_size"], verbose=0, comm=comm)
                found[label] = {"error": None}
            except Exception as e:            # the test checks the type and the words
                found[label] = {"type": type(e).__name__, "error": str(e)}
        attempt("network", {1: {"sizes": [784, 9, 10]}})
        attempt("weights", {1: {"seed": 2}})
        attempt("length", {1: {"n": 999}})
        attempt("batch", {1: {"batch_size": 32}})
        attempt("tiny batch", {0: {"batch_size": 1}, 1: {"batch_size": 1}})
        attempt("nan", {1: {"nan": True}})           # rank 1 alone fails its own checks
        attempt("fine")
    else:
        sys.exit(f"unknown job {a.job!r}")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"rank-{rank}.json").write_text(json.dumps(found))
    np.savez(a.out / f"rank-{rank}.npz", **arrays)


if __name__ == "__main__":
    main()
