"""Data-parallel scaling: measured on this machine, projected to clusters.

    .venv/bin/python benchmarks/data_parallel.py [--quick]

Measures, with the project's own .venv (mpi4py + MPICH's wheel, torch 2.13.0 for gloo):

1. seconds per epoch of W1 and W2 (benchmarks/workloads.py: full MNIST) with 1 rank
   (no communicator) and with 2 ranks on MPI and on gloo, every rank on one core
   (one BLAS thread each, so that 2 ranks use this machine's 2 cores), and one process
   with 2 BLAS threads for comparison;
2. the all-reduce time of a gradient of each layer's size (and of the whole network's),
   for 2 ranks on each backend;
3. one rank's time per mini-batch step for the per-rank batch sizes a bigger cluster
   would give (m / N examples), for W2 and a wide network 784-2048-2048-10.

and from those a stated model projects W2 and the wide network to 8, 32 and 128 ranks
at 10 and 100 Gbit/s:

    T_epoch(N) = steps x ( t_step(ceil(m / N)) + t_allreduce(N) )
    t_allreduce(N) = 2 (N - 1) / N x bytes / bandwidth + 2 (N - 1) x latency   (ring)

with `bytes` the gradient's (4 per float32 parameter), `latency` 10 us per message
(MPI over a 10/100 Gbit/s Ethernet-class network; stated, not measured here), and
t_step measured here. Writes results/data_parallel.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
RESULTS = HERE / "results"
RANKS_PROJECTED = (1, 2, 8, 32, 128)
LINKS_GBIT = (10, 100)
LATENCY_S = 10e-6
WIDE = [784, 2048, 2048, 10]

WORKLOADS = {
    "W1": dict(sizes=[784, 30, 10], activation="sigmoid", loss="quadratic", dtype="float64", batch_size=10,
               optimizer=("SGD", dict(lr=3.0)), n=50_000),
    "W2": dict(sizes=[784, 256, 256, 10], activation="relu", loss="cross_entropy", dtype="float32",
               batch_size=128, optimizer=("Adam", dict(lr=1e-3)), n=60_000),
}


def _env(threads: int = 1) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        env.pop(k, None)
    return env


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# What each rank runs (python benchmarks/data_parallel.py --worker JOB DATA OUT)

def _comm(backend: str):
    import deltaprop as dp
    if backend == "mpi":
        return dp.distributed.from_mpi()
    if backend == "gloo":
        return dp.distributed.from_torch(backend="gloo")
    return None


def worker(job: str, data: Path, out: Path, backend: str, epochs: int) -> None:
    import numpy as np

    import deltaprop as dp
    comm = _comm(backend)
    rank = 0 if comm is None else comm.rank
    found: dict = {}
    if job == "epochs":
        for name, wl in WORKLOADS.items():
            X, y = str(data / f"{name}-X.npy"), str(data / f"{name}-y.npy")
            net = dp.Network(wl["sizes"], activation=wl["activation"], loss=wl["loss"], dtype=wl["dtype"], seed=0)
            kind, kw = wl["optimizer"]
            h = net.fit(X, y, epochs=epochs, batch_size=wl["batch_size"], optimizer=getattr(dp, kind)(**kw), seed=1,
                        verbose=0, engine="numba", comm=comm)
            found[name] = {"seconds": h.history["seconds"], "loss": h.history["loss"], "engine": h.engine}
    elif job == "allreduce":
        sizes = {}
        for name, s in (("W1", WORKLOADS["W1"]["sizes"]), ("W2", WORKLOADS["W2"]["sizes"]), ("wide", WIDE)):
            for i in range(len(s) - 1):
                sizes[f"{name} layer {i + 1} ({s[i]}x{s[i + 1]})"] = s[i] * s[i + 1] + s[i + 1]
            sizes[f"{name} whole"] = sum(s[i] * s[i + 1] + s[i + 1] for i in range(len(s) - 1))
        for label, count in sizes.items():
            for dtype in ("float32", "float64"):
                buf = np.ones(count, dtype=dtype)
                for _ in range(3):
                    comm.allreduce(buf)
                reps = max(5, min(2000, int(2e7 // count)))
                t0 = time.perf_counter()
                for _ in range(reps):
                    comm.allreduce(buf)
                found[f"{label} {dtype}"] = {"count": count, "bytes": count * buf.itemsize,
                                             "seconds": (time.perf_counter() - t0) / reps}
    if rank == 0:
        out.write_text(json.dumps(found))


# ---------------------------------------------------------------------------------------
# The driver

def _launch(backend: str, job: str, data: Path, out: Path, epochs: int, n: int = 2, threads: int = 1) -> dict:
    args = [str(Path(__file__)), "--worker", job, str(data), str(out), "--backend", backend, "--epochs", str(epochs)]
    if backend == "mpi":
        cmd = [str(BIN / "mpiexec"), "-n", str(n), sys.executable, *args]
    elif backend == "gloo":
        cmd = [str(BIN / "torchrun"), "--nproc-per-node", str(n), "--master-port", str(_port()), *args]
    else:
        cmd = [sys.executable, *args]
    subprocess.run(cmd, check=True, env=_env(threads), capture_output=True, timeout=3600)
    return json.loads(out.read_text())


def step_times(sizes: list[int], m: int, ranks: tuple[int, ...], dtype: str = "float32") -> dict[int, float]:
    """One rank's seconds per step (Adam) with the batch of m / N examples, one BLAS thread."""
    code = f"""
import json, time, numpy as np, deltaprop as dp
from deltaprop import engines
net = dp.Network({sizes}, activation="relu", loss="cross_entropy", dtype="{dtype}", seed=0)
out = {{}}
for N in {list(ranks)}:
    b = -(-{m} // N)
    rng = np.random.default_rng(0)
    X = rng.random((b * 64, {sizes[0]})).astype("{dtype}"); y = rng.integers(0, {sizes[-1]}, b * 64)
    t = dp.Trainer(net, X, y, epochs=None, batch_size=b, optimizer=dp.Adam(lr=1e-4), seed=0, engine="numba")
    t.train_batches(8)
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter(); t.train_batches(32); best = min(best, (time.perf_counter() - t0) / 32)
    out[N] = best
print(json.dumps(out))
"""
    p = subprocess.run([sys.executable, "-c", code], check=True, env=_env(1), capture_output=True, text=True,
                       timeout=3600)
    return {int(k): v for k, v in json.loads(p.stdout.strip().splitlines()[-1]).items()}


def ring(bytes_: float, n: int, gbit: float) -> float:
    """Seconds of a ring all-reduce of `bytes_` over n ranks at `gbit` Gbit/s (model above)."""
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * bytes_ / (gbit * 1e9 / 8) + 2 * (n - 1) * LATENCY_S


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch instead of 3")
    ap.add_argument("--worker", nargs=3, metavar=("JOB", "DATA", "OUT"))
    ap.add_argument("--backend", default="none")
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    if a.worker:
        job, data, out = a.worker
        worker(job, Path(data), Path(out), a.backend, a.epochs)
        return
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np

    import deltaprop as dp
    epochs = 1 if a.quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="dp-dist-bench-"))
    try:
        (Xtr, ytr), _ = dp.datasets.mnist(ROOT / "data" / "mnist", download=False)
        for name, wl in WORKLOADS.items():
            np.save(tmp / f"{name}-X.npy", Xtr[:wl["n"]].astype(wl["dtype"]))
            np.save(tmp / f"{name}-y.npy", ytr[:wl["n"]])
        measured = {}
        # the last column is what one process gets from both cores (its BLAS threads), for comparison
        for backend, n, threads in (("none", 1, 1), ("mpi", 2, 1), ("gloo", 2, 1), ("none", 1, 2)):
            found = _launch(backend, "epochs", tmp, tmp / f"epochs-{backend}-{threads}.json", epochs, n, threads)
            label = (f"{n} rank{'s' if n > 1 else ''}" + ("" if backend == "none" else f" ({backend})")
                     + (f", {threads} threads" if threads > 1 else ""))
            measured[label] = found
            print(backend, {k: min(v["seconds"]) for k, v in found.items()}, flush=True)
        allreduce = {b: _launch(b, "allreduce", tmp, tmp / f"ar-{b}.json", 1) for b in ("mpi", "gloo")}
        steps = {"W2": step_times(WORKLOADS["W2"]["sizes"], 128, RANKS_PROJECTED),
                 "wide": step_times(WIDE, 128, RANKS_PROJECTED)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    projection = {}
    for name, sizes in (("W2", WORKLOADS["W2"]["sizes"]), ("wide", WIDE)):
        params = sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))
        n_steps = math.ceil(60_000 / 128)
        for gbit in LINKS_GBIT:
            projection[f"{name} {gbit} Gbit/s"] = {
                n: n_steps * (steps[name][n] + ring(4 * params, n, gbit)) for n in RANKS_PROJECTED}
    report = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
              "python": platform.python_version(), "epochs": epochs, "measured": measured, "allreduce": allreduce,
              "step_seconds": steps, "projection": projection,
              "model": "T_epoch(N) = steps x (t_step(ceil(m/N)) + 2(N-1)/N bytes/bandwidth + 2(N-1) x 10 us)",
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data_parallel.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "data_parallel.md").write_text(markdown(report))
    plot(report, RESULTS / "data_parallel.png")
    print(markdown(report))


def _machine() -> str:
    model = platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def markdown(r: dict) -> str:
    lines = [f"Data-parallel training, measured {r['date']} on {r['machine']} (one BLAS thread per rank; "
             f"best of {r['epochs']} epochs; engine numba)", "",
             "| workload | " + " | ".join(r["measured"]) + " |", "|---|" + "---:|" * len(r["measured"])]
    for name in WORKLOADS:
        lines.append(f"| {name} | " + " | ".join(f"{min(v[name]['seconds']):.2f} s" for v in r["measured"].values())
                     + " |")
    lines += ["", "All-reduce of one gradient, 2 ranks on this machine:", "",
              "| buffer | float32 MPI | float32 gloo | float64 MPI | float64 gloo |", "|---|---:|---:|---:|---:|"]
    labels = sorted({k.rsplit(" ", 1)[0] for k in r["allreduce"]["mpi"]}, key=lambda s: (s.split()[0], s))
    for label in labels:
        cells = [r["allreduce"][b][f"{label} {dt}"]["seconds"] * 1e6 for dt in ("float32", "float64")
                 for b in ("mpi", "gloo")]
        lines.append(f"| {label} ({r['allreduce']['mpi'][f'{label} float32']['count']:,} numbers) | "
                     + " | ".join(f"{c:,.0f} us" for c in cells) + " |")
    lines += ["", f"Projected seconds per epoch ({r['model']}):", "",
              "| network, link | " + " | ".join(f"{n} ranks" for n in RANKS_PROJECTED) + " |",
              "|---|" + "---:|" * len(RANKS_PROJECTED)]
    for key, row in r["projection"].items():
        lines.append(f"| {key} | " + " | ".join(f"{row[str(n)] if str(n) in row else row[n]:.2f}"
                                              for n in RANKS_PROJECTED) + " |")
    lines += ["", "One rank's step time by its share of the batch of 128 (W2 / wide):", "",
              "| ranks | examples per rank | W2 step | wide step |", "|---:|---:|---:|---:|"]
    for n in RANKS_PROJECTED:
        s = r["step_seconds"]
        get = lambda d: d[str(n)] if str(n) in d else d[n]          # noqa: E731 (JSON keys are strings)
        lines.append(f"| {n} | {math.ceil(128 / n)} | {get(s['W2']) * 1e3:.2f} ms | {get(s['wide']) * 1e3:.2f} ms |")
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, name in zip(axes, ("W2", "wide")):
        for gbit, style in zip(LINKS_GBIT, ("--", "-")):
            row = r["projection"][f"{name} {gbit} Gbit/s"]
            xs = RANKS_PROJECTED
            ys = [row[str(n)] if str(n) in row else row[n] for n in xs]
            ax.plot(xs, ys, style, marker="o", label=f"projected, {gbit} Gbit/s")
        if name == "W2":
            for label, found in r["measured"].items():
                n = int(label.split()[0])
                mark = "k^" if "gloo" in label else "ks" if "mpi" in label else "gD" if "threads" in label else "ko"
                ax.plot([n], [min(found["W2"]["seconds"])], mark, label=f"measured: {label}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ranks (batch of 128 shared out)")
        ax.set_ylabel("seconds per epoch")
        ax.set_title(f"{name}: {'784-256-256-10' if name == 'W2' else '784-2048-2048-10'}, float32, Adam")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", framealpha=0.7)
    fig.suptitle(f"Data-parallel epochs: measured on {r['machine']} ({r['date']}), projected by the ring model",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
