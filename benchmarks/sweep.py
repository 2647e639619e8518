#!/usr/bin/env python3
"""How cost grows: one hidden layer of width H x mini-batch size B, deltaprop against its peers.

    python3 benchmarks/sweep.py [--quick] [--threads N] [--rounds R] [--widths 16,64,...] [--batches 1,10,...]

The network is W2's setup with ONE hidden layer: 784-H-10, ReLU hidden, softmax output
with cross-entropy (PyTorch and JAX: logits + their fused softmax cross-entropy), Adam
lr 1e-3 (b1 0.9, b2 0.999, eps 1e-8), float32, He-normal / Glorot-uniform initial
weights (``common.init_params``, the same numbers as deltaprop's for the same seed), on
the first 10,000 MNIST training images (``common.mnist``), 2 epochs per cell, shuffled
each epoch, the short last batch used (not dropped). The grid: H in 16, 64, 256, 1024,
4096 x B in 1, 10, 128, 1024 (20 cells).

Budget per cell ("a few minutes" for the whole run on a 2-core machine): an epoch is the
10,000 examples unless its Adam updates would touch more than PARAM_UPDATES_PER_EPOCH
parameters (steps x parameters); then the epoch is the first n examples, n a multiple of
B (B=1 at H=256, 1024 and 4096, B=10 at H=4096). Every
time is reported per example and as seconds per epoch OF 10,000 EXAMPLES (time per
example x 10,000), so cells with a shorter epoch stay comparable; the tables mark them.

The tools, each in its own virtual environment (benchmarks/.venvs/<env>, run.ensure_env),
each ONE process per round that runs all the cells one after another (``sweep.py
--worker TOOL``), the thread count fixed by common.py (imported first) and run.child_env,
pinned as run.py pins them (run._pin):

* ``deltaprop``: its default engine (numba when installed). Per cell ONE call
  ``net.fit(X, y, epochs=2, batch_size=B, optimizer=dp.Adam(lr=1e-3), seed=..., verbose=0)``
  on a fresh ``dp.Network([784, H, 10], activation="relu", loss="cross_entropy",
  dtype="float32")``, timed from the call to its return (its input checks included, as in
  tool_deltaprop.py). numba's on-disk cache is filled before round 1 by one untimed tiny
  run of every cell's shape (as run.prime_numba does for the workloads).
* ``torch``: tool_torch.py's loop: ``nn.Sequential(Linear, ReLU, Linear)``,
  ``torch.optim.Adam(fused=True)``, a ``torch.randperm`` shuffle per epoch, per batch
  index / zero_grad / forward / ``F.cross_entropy`` / backward / step.
* ``jax-step`` and ``jax-scan``: tool_jax.py's two ways (its code lives inside its
  ``main()``, so it cannot be imported; it is written out again here, line for line the
  same): a ``jax.jit`` step with donated parameters and optax state, called once per
  batch with the batch's indices (gathered inside), and a whole epoch as one
  ``lax.scan`` of the same update (the short last batch: one more call of the step).
  Compiled ahead of time (``jit(...).lower(...).compile()``), the compile seconds
  reported apart.

Every cell of every tool first runs an untimed warm-up of the same shapes on a throwaway
network: one epoch over the first k*B + (short batch) examples, k about a tenth of the
epoch's full batches (at least 2), so the short last batch is warmed too; JAX's scan
program has the epoch's length built in, so its warm-up is one whole epoch. Then the
timed run: 2 epochs on a fresh network.

The ceiling (a ``ceiling`` worker in the deltaprop environment, once per round): NumPy
matrix products only, at exactly one training step's shapes, as ceiling.py defines and
times them (``ceiling.products``, ``ceiling.time_call``): L1 forward and BP4, L2 forward,
BP4 and BP2 (no gradient with respect to the images). Per cell: the least seconds of
the epoch's steps (the short last batch timed at its own size) / examples; per width, the
"ceiling line" is the least of those over the batch sizes.

Rounds (default 2): the tool order rotates from round to round; each cell's value is the
best (least) of its rounds, since on a shared 2-core machine another process only ever
adds time; every round's value is in the JSON. Each cell also records how many cores
OTHER processes kept busy while it ran (/proc/stat less the worker's own CPU time); a cell
run while they kept more than BUSY_CORES busy is run again (``--retry-busy``, default
once) and its best attempt kept: 2-thread pools (BLAS, OpenMP, numba's) lose far more than
half their speed when a third thread takes one of the two cores. ``--openblas-coretype`` is run.py's
(default ``auto``: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset together for every tool).

Writes benchmarks/results/sweep.json, sweep.md, sweep_heatmap.png (deltaprop's time over
the best peer's per cell) and sweep_scaling.png (time per example against width, one
panel per batch size, with the ceiling); ``--name`` changes the base name. The pictures
are drawn with matplotlib in the deltaprop environment (``sweep.py --plot JSON``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

WIDTHS = (16, 64, 256, 1024, 4096)
BATCHES = (1, 10, 128, 1024)
N_TRAIN = 10_000
EPOCHS = 2
LR = 1e-3
#: An epoch's Adam updates may touch at most this many parameters (steps x parameters);
#: beyond it the epoch is shortened (the cell's budget: PyTorch about 1-2 s an epoch here).
#: A cell whose run saw other processes keep more than BUSY_CORES cores busy is measured
#: again, up to RETRY_BUSY more times (--retry-busy), and its best attempt kept.
BUSY_CORES = 0.25
RETRY_BUSY = 1
PARAM_UPDATES_PER_EPOCH = 1e9
QUICK = dict(widths=(16, 256), batches=(10, 128), n_train=2_000, rounds=1)

#: tool -> (environment, label)
TOOLS = {
    "deltaprop": ("deltaprop", "deltaprop"),
    "torch": ("torch", "PyTorch (CPU)"),
    "jax-step": ("jax", "JAX jit step"),
    "jax-scan": ("jax", "JAX lax.scan epoch"),
}
PEERS = ("torch", "jax-step", "jax-scan")
SHORT = {"torch": "PyTorch", "jax-step": "JAX step", "jax-scan": "JAX scan"}
TOLERANCE = 1.10


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def n_params(h: int) -> int:
    return 784 * h + h + h * 10 + 10


def plan(widths, batches, n_train: int, epochs: int = EPOCHS) -> list[dict]:
    """The cells: width, batch, the epoch's examples, the warm-up's examples."""
    cells = []
    for h in widths:
        for b in batches:
            n = n_train
            max_steps = int(PARAM_UPDATES_PER_EPOCH // n_params(h))
            if -(-n // b) > max_steps:
                n = b * max_steps
                digits = 10 ** max(0, int(math.log10(n)) - 1)      # two significant figures
                n = max(b, (n // digits * digits) // b * b)
            full, rest = divmod(n, b)
            k = min(full, max(2, -(-full // 10)))
            cells.append({"width": h, "batch": b, "n": n, "epochs": epochs, "n_warm": k * b + rest,
                          "shortened": n < n_train})
    return cells


# ======================================================================================
# Workers: run inside a tool's environment. Nothing here is imported at module level.

def cpu_snapshot() -> tuple[float, float, float] | None:
    """(the machine's busy CPU seconds, this process's and its children's CPU seconds, wall time)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    import resource
    own = sum(getattr(resource.getrusage(w), k) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for k in ("ru_utime", "ru_stime"))
    busy = (f[0] + f[1] + f[2] + f[5] + f[6]) / os.sysconf("SC_CLK_TCK")    # user nice system irq softirq
    return busy, own, time.perf_counter()


def others_cores(before) -> float | None:
    """How many cores OTHER processes kept busy, on average, since ``before`` (a cpu_snapshot):
    a measurement on a shared machine is only as good as this is small."""
    after = cpu_snapshot()
    if not before or not after or after[2] <= before[2]:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / (after[2] - before[2])


def _write(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def worker(tool: str, plan_path: Path, out: Path, seed: int) -> None:
    import common  # first: fixes the thread count before NumPy loads

    t = time.perf_counter()
    import numpy as np
    spec = json.loads(plan_path.read_text())
    cells = spec["cells"]
    res = {"tool": tool, "threads": common.THREADS, "pid": os.getpid(), "seed": seed, "cells": [],
           "versions": {"numpy": np.__version__}, "phases_s": {}}
    (X, y), _ = common.mnist("float32", max(c["n"] for c in cells))
    res["phases_s"]["data"] = time.perf_counter() - t
    t = time.perf_counter()
    runner = {"deltaprop": _deltaprop, "torch": _torch, "jax-step": _jax, "jax-scan": _jax,
              "ceiling": _ceiling}[tool](X, y, res, seed)
    res["phases_s"]["import"] = time.perf_counter() - t
    retry, busy = spec.get("retry_busy", 0), spec.get("busy_cores", 0.25)
    key = "ceiling_s_per_epoch" if tool == "ceiling" else "s_per_epoch"
    for cell in cells:
        attempts = []
        for attempt in range(1 + retry):
            t = time.perf_counter()
            snap = cpu_snapshot()
            try:
                row = {**cell, **runner(cell, attempt)}
                if "train_s" in row:
                    per_ex = row["train_s"] / (cell["epochs"] * cell["n"])
                    row.update(us_per_example=per_ex * 1e6, s_per_epoch=per_ex * N_TRAIN)
            except Exception:
                row = {**cell, "error": traceback.format_exc(limit=4)[-2000:]}
            row["cell_wall_s"] = time.perf_counter() - t
            row["others_cores"] = others_cores(snap)
            attempts.append(row)
            msg = row.get("error", "").strip().splitlines()[-1:] or [
                f"{row[key]:.3f} s/epoch" if key == "s_per_epoch" else f"{row['ceiling_us_per_example']:.3f} us/example"]
            oc = row["others_cores"]
            log(f"  {tool} H={cell['width']} B={cell['batch']} n={cell['n']}: {msg[0]} ({row['cell_wall_s']:.1f} s"
                + (f"; others kept {oc:.2f} cores busy" if oc is not None else "") + ")")
            # measured while other processes were busy: once more (up to retry_busy times), keep the best
            if "error" in row or oc is None or oc <= busy:
                break
        ok = [a for a in attempts if "error" not in a]
        row = min(ok, key=lambda a: a[key]) if ok else attempts[-1]
        if len(attempts) > 1:
            row["attempts"] = [{k: a.get(k) for k in (key, "others_cores", "cell_wall_s", "error")} for a in attempts]
        res["cells"].append(row)
        res["rss_peak_mib"] = common.peak_rss_mib()
        _write(out, res)                      # after every cell: a crash keeps what was done
    try:
        from threadpoolctl import threadpool_info
        res["threadpools"] = threadpool_info()
    except Exception as e:  # pragma: no cover - reported, not fatal
        res["threadpools"] = f"threadpoolctl unavailable: {e}"
    res["done"] = True
    _write(out, res)


def _init(h: int, seed: int):
    import common
    wl = {"sizes": [784, h, 10], "init": ["he_normal", "glorot_uniform"], "dtype": "float32"}
    return common.init_params(wl, seed)


def _deltaprop(X, y, res, seed):
    import importlib.metadata
    import importlib.util

    import deltaprop as dp
    res["versions"]["deltaprop"] = getattr(dp, "__version__", "?")
    if importlib.util.find_spec("numba") is not None:
        res["versions"]["numba"] = importlib.metadata.version("numba")
    fast = os.environ.get("SWEEP_PRIME") == "1"     # numba cache priming: no warm-up, no timing detail

    def fit(h, b, n, epochs, s):
        net = dp.Network([784, h, 10], activation="relu", loss="cross_entropy", dtype="float32", seed=s)
        Xn, yn = X[:n], y[:n]
        t = time.perf_counter()
        hist = net.fit(Xn, yn, epochs=epochs, batch_size=b, optimizer=dp.Adam(lr=LR), seed=s, verbose=0)
        return net, hist, time.perf_counter() - t

    def cell(c, attempt=0):
        h, b = c["width"], c["batch"]
        warm = 0.0
        if not fast:
            _, _, warm = fit(h, b, c["n_warm"], 1, seed + 1000)
        net, hist, seconds = fit(h, b, c["n"], c["epochs"], seed)
        # History's "seconds": fit's own per-epoch figures (with verbose=0 it apportions a block's time)
        return {"warmup_s": warm, "train_s": seconds, "engine_used": getattr(hist, "engine", None),
                "history_epoch_s": list(getattr(hist, "history", {}).get("seconds", [])),
                "final_loss": float(net.loss(X[:1000], y[:1000]))}
    return cell


def _torch(X, y, res, seed):
    import torch
    import torch.nn.functional as F
    from torch import nn

    import common
    torch.set_num_threads(common.THREADS)
    res["versions"]["torch"] = torch.__version__
    res["torch_threads"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def build(h, s):
        model = nn.Sequential(nn.Linear(784, h), nn.ReLU(), nn.Linear(h, 10)).to(torch.float32)
        with torch.no_grad():
            for lin, (W, b) in zip((model[0], model[2]), _init(h, s)):
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
        return model, torch.optim.Adam(model.parameters(), lr=LR, fused=True)

    def train(model, opt, n, batch, epochs, gen):
        model.train()
        epoch_s = []
        for _ in range(epochs):
            t = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, batch):
                idx = perm[start:start + batch]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            epoch_s.append(time.perf_counter() - t)
        return epoch_s

    def cell(c, attempt=0):
        h, b = c["width"], c["batch"]
        model, opt = build(h, seed + 1000)
        t = time.perf_counter()
        train(model, opt, c["n_warm"], b, 1, torch.Generator().manual_seed(seed + 1000))
        warm = time.perf_counter() - t
        model, opt = build(h, seed)
        gen = torch.Generator().manual_seed(seed)
        t = time.perf_counter()
        epoch_s = train(model, opt, c["n"], b, c["epochs"], gen)
        seconds = time.perf_counter() - t
        with torch.inference_mode():
            final = float(F.cross_entropy(model(Xt[:1000]), yt[:1000]))
        return {"warmup_s": warm, "train_s": seconds, "epoch_s": epoch_s, "final_loss": final}
    return cell


def _jax(X, y, res, seed):
    import numpy as np

    import jax
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp
    import jaxlib
    import optax
    from jax import lax
    variant = res["tool"].split("-", 1)[1]
    res["versions"].update(jax=jax.__version__, jaxlib=jaxlib.__version__, optax=optax.__version__)
    res["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    res["devices"] = [str(d) for d in jax.devices()]
    Xd, Td = jax.device_put(X), jax.device_put(y.astype(np.int32))   # one copy each, onto the device
    tx = optax.adam(LR, b1=0.9, b2=0.999, eps=1e-8)

    def predict(params, x):                     # x: (m, n_in) rows; W: (n_in, n_out)
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        return x @ W + b                        # logits

    def loss(params, X, T, idx):
        return optax.softmax_cross_entropy_with_integer_labels(predict(params, X[idx]), T[idx]).mean()

    def update(params, state, X, T, idx):
        grads = jax.grad(loss)(params, X, T, idx)
        upd, state = tx.update(grads, state, params)
        return optax.apply_updates(params, upd), state

    def epoch_scan(params, state, X, T, idx_batches):
        def body(carry, idx):
            return update(*carry, X, T, idx), None
        return lax.scan(body, (params, state), idx_batches)[0]

    step = jax.jit(update, donate_argnums=(0, 1))
    scan = jax.jit(epoch_scan, donate_argnums=(0, 1))
    loss_j = jax.jit(loss)

    def fresh(h, s):
        params = [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in _init(h, s)]
        return params, tx.init(params)

    def cell(c, attempt=0):
        h, b, n = c["width"], c["batch"], c["n"]
        full_n, rest = divmod(n, b)
        compile_s = 0.0

        def aot(fn, *example):
            nonlocal compile_s
            t = time.perf_counter()
            compiled = fn.lower(*example).compile()
            compile_s += time.perf_counter() - t
            return compiled

        params, state = fresh(h, seed)
        step_c = aot(step, params, state, Xd, Td, np.zeros(b, np.int32))
        step_rest = aot(step, params, state, Xd, Td, np.zeros(rest, np.int32)) if rest else None
        scan_c = aot(scan, params, state, Xd, Td, np.zeros((full_n, b), np.int32)) if variant == "scan" else None
        del params, state

        def train(params, state, n_ex, epochs, rng):
            full_k = n_ex // b
            epoch_s = []
            for _ in range(epochs):
                t = time.perf_counter()
                perm = rng.permutation(n_ex).astype(np.int32)
                full = perm[:full_k * b].reshape(full_k, b)
                if variant == "step":
                    for idx in full:
                        params, state = step_c(params, state, Xd, Td, idx)
                else:
                    params, state = scan_c(params, state, Xd, Td, full)
                if rest:
                    params, state = step_rest(params, state, Xd, Td, perm[full_k * b:])
                jax.block_until_ready(params)
                epoch_s.append(time.perf_counter() - t)
            return params, epoch_s

        # warm-up: the step's, over n_warm examples; the scan's, one whole epoch (its length is compiled in)
        _, warm = train(*fresh(h, seed + 1000), c["n_warm"] if variant == "step" else n, 1,
                        np.random.default_rng(seed + 1000))
        params, state = fresh(h, seed)
        jax.block_until_ready(params)
        t = time.perf_counter()
        params, epoch_s = train(params, state, n, c["epochs"], np.random.default_rng(seed))
        seconds = time.perf_counter() - t
        final = float(loss_j(params, Xd, Td, jnp.arange(1000)))
        return {"warmup_s": sum(warm), "train_s": seconds, "epoch_s": epoch_s, "compile_s": compile_s,
                "final_loss": final}
    return cell


def _ceiling(X, y, res, seed):
    import numpy as np

    import ceiling
    rng = np.random.default_rng(0)
    dt = np.dtype("float32")
    memo = {}

    def step_s(h, m):
        if (h, m) not in memo:
            rows = []
            for name, fn, flops in ceiling.products([784, h, 10], m, dt, rng):
                best, med, reps = ceiling.time_call(fn, 0.005, 9)
                rows.append({"product": name, "best_s": best, "median_s": med, "gflops_best": flops / best / 1e9})
            memo[h, m] = (sum(r["best_s"] for r in rows), rows)
        return memo[h, m]

    def cell(c, attempt=0):
        h, b, n = c["width"], c["batch"], c["n"]
        full, rest = divmod(n, b)
        if attempt:                             # measured again: the shapes timed afresh
            memo.pop((h, b), None)
            memo.pop((h, rest), None)
        sb, rows = step_s(h, b)
        least = full * sb + (step_s(h, rest)[0] if rest else 0.0)
        per_ex = least / n
        return {"ceiling_s_per_epoch": per_ex * N_TRAIN, "ceiling_us_per_example": per_ex * 1e6,
                "step_best_s": sb, "products": rows}
    return cell


# ======================================================================================
# Orchestrator: standard library only (plus run.py, read-only).

def wait_quiet(limit_s: float, cores: float = 0.3) -> dict:
    """Wait (up to ``limit_s``) until other processes keep fewer than ``cores`` cores busy over 2 s."""
    t = time.perf_counter()
    oc = None
    while True:
        snap = cpu_snapshot()
        time.sleep(2.0)
        oc = others_cores(snap)
        if oc is None or oc < cores or time.perf_counter() - t >= limit_s:
            return {"waited_s": time.perf_counter() - t, "others_cores_at_start": oc}


def launch(cmd: list[str], out: Path, threads: int, timeout: float, extra_env: dict | None = None,
           quiet_s: float = 0.0) -> dict:
    """run.run_process, but what a worker wrote before failing is kept (it writes per cell),
    and the CPU other processes used meanwhile is measured."""
    import run
    env = run.child_env(threads)
    env.update(extra_env or {})
    waited = wait_quiet(quiet_s) if quiet_s > 0 else {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    snap = cpu_snapshot()
    t = time.perf_counter()
    err = None
    try:
        proc = subprocess.run(cmd + ["--out", str(out)], env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=BENCH, preexec_fn=run._pin(threads))
        out.with_suffix(".log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            err = f"exit {proc.returncode}: " + "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    except subprocess.TimeoutExpired:
        err = f"timed out after {timeout:.0f} s"
    wall = time.perf_counter() - t
    res = json.loads(out.read_text()) if out.exists() else {"cells": []}
    if err:
        res["error"] = err
    res.update(wall_s=wall, load_before=load, others_cores=others_cores(snap), **waited)
    return res


def worker_cmd(tool: str, plan_path: Path, seed: int) -> list[str]:
    import run
    env = "deltaprop" if tool == "ceiling" else TOOLS[tool][0]
    return [str(run.env_python(env)), str(Path(__file__).resolve()), "--worker", tool,
            "--plan", str(plan_path), "--seed", str(seed)]


def run_tool(tool, plan_path, raw, tag, threads, timeout, seed, retries=2, extra_env=None, quiet_s=0.0):
    """One worker process; retried (after a pause) when it failed before finishing any cell,
    e.g. deltaprop not importable for a moment while its sources are being edited."""
    for attempt in range(retries + 1):
        out = raw / f"{tag}-{tool}.json"
        res = launch(worker_cmd(tool, plan_path, seed), out, threads, timeout, extra_env, quiet_s)
        if "error" not in res or res.get("cells") or attempt == retries:
            return res
        log(f"[sweep] {tool} failed before any cell ({res['error'].splitlines()[-1][:120]}); retrying in 30 s")
        time.sleep(30)
    return res


def summarise(cells: list[dict], rounds: list[dict], tools: list[str]) -> list[dict]:
    rows = []
    for c in cells:
        key = (c["width"], c["batch"])
        row = {**c, "tools": {}}
        for tool in tools + ["ceiling"]:
            vals, loss, errors, extra, busy = [], [], [], {}, []
            for r, rnd in enumerate(rounds):
                for x in rnd.get(tool, {}).get("cells", []):
                    if (x["width"], x["batch"]) != key:
                        continue
                    if "error" in x:
                        errors.append(x["error"])
                    elif tool == "ceiling":
                        vals.append(x["ceiling_s_per_epoch"])
                        busy.append(x.get("others_cores"))
                    else:
                        vals.append(x["s_per_epoch"])
                        busy.append(x.get("others_cores"))
                        loss.append(x.get("final_loss"))
                        for k in ("engine_used", "compile_s", "warmup_s"):
                            if x.get(k) is not None:
                                extra.setdefault(k, []).append(x[k])
            if vals or errors:
                best = min(vals) if vals else None
                row["tools"][tool] = {"s_per_epoch": best, "per_round": vals, "others_cores_per_round": busy,
                                      "others_cores": busy[vals.index(best)] if vals else None,
                                      "us_per_example": best / N_TRAIN * 1e6 if best else None,
                                      "final_loss": loss, "errors": errors, **extra}
        times = {p: row["tools"][p]["s_per_epoch"] for p in PEERS if row["tools"].get(p, {}).get("s_per_epoch")}
        d = row["tools"].get("deltaprop", {}).get("s_per_epoch")
        if times:
            best_peer = min(times, key=times.get)
            row["best_peer"] = best_peer
            row["best_peer_s_per_epoch"] = times[best_peer]
            row["ratio"] = d / times[best_peer] if d else None
            # the same ratio round by round (deltaprop's and the peers' runs of that round)
            per = []
            for r in range(len(rounds)):
                def at(tool, r=r):
                    v = [x.get("s_per_epoch") for x in rounds[r].get(tool, {}).get("cells", [])
                         if (x["width"], x["batch"]) == key and "error" not in x]
                    return v[0] if v else None
                dv, pv = at("deltaprop"), [at(p) for p in PEERS if at(p)]
                if dv and pv:
                    per.append(dv / min(pv))
            row["ratio_per_round"] = per
        ceil = row["tools"].get("ceiling", {}).get("s_per_epoch")
        if ceil and d:
            row["ceiling_fraction"] = ceil / d
        rows.append(row)
    return rows


def _fmt(x):
    if x is None:
        return "—"
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}" if x < 10 else f"{x:.1f}"


def markdown(rep: dict) -> str:
    m, cfg = rep["machine"], rep["config"]
    tools = [t for t in cfg["tools"] if t in TOOLS]
    lines = [f"# How cost grows: width x batch sweep — {rep['date'][:10]}", ""]
    lines += [
        f"Measured {rep['date']} on {m.get('cpu_model', '?')} ({m.get('cpus_usable', m.get('cpu_count'))} cores "
        f"usable, flags {', '.join(m.get('cpu_flags', [])) or '?'}; {m.get('memory_gib', '?')} GiB), "
        f"{m['platform']}, Python {m['python']}; {cfg['threads']} threads for every tool; {cfg['rounds']} "
        f"round(s), tool order rotated each round, each value the best of its rounds. deltaprop "
        f"{rep['deltaprop'].get('version')} at commit `{(rep['git'].get('commit') or '?')[:10]}`"
        + (" (library modified)" if rep["git"].get("library_dirty") else "")
        + f", engine {rep.get('deltaprop_engine') or '?'}." + (" **--quick**." if cfg["quick"] else ""), "",
        f"Network 784-H-10 (W2's setup with one hidden layer): ReLU, softmax + cross-entropy, Adam lr 1e-3, "
        f"float32, {cfg['epochs']} epochs of the first {cfg['n_train']:,} MNIST training images, shuffled each "
        "epoch, after an untimed warm-up of the same shapes. Times are **seconds per epoch of "
        f"{N_TRAIN:,} examples** (time per example x {N_TRAIN:,}); cells marked * ran a shorter epoch "
        f"(the first n examples; Adam's updates per epoch capped at {PARAM_UPDATES_PER_EPOCH:.2g} "
        "parameter updates to keep the run to a few minutes).", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(rep["versions"].items())) + ".", ""]
    rows = rep["cells"]
    # ratio matrix
    widths, batches = cfg["widths"], cfg["batches"]
    lines += ["## deltaprop time ÷ best peer's time", "",
              "Below 1: deltaprop is faster than every peer; in brackets the best peer.", "",
              "| width \\ batch | " + " | ".join(str(b) for b in batches) + " |", "|---|" + "---|" * len(batches)]
    by = {(r["width"], r["batch"]): r for r in rows}
    for h in widths:
        cells = []
        for b in batches:
            r = by.get((h, b), {})
            rt = r.get("ratio")
            mark = "**" if rt is not None and rt > TOLERANCE else ""
            cells.append("—" if rt is None else f"{mark}{rt:.2f}{mark} ({SHORT.get(r['best_peer'], r['best_peer'])})")
        lines.append(f"| {h} | " + " | ".join(cells) + " |")
    fails = [r for r in rows if r.get("ratio") is None or r["ratio"] > TOLERANCE]
    held = not fails
    def failing(r):
        what = "not measured" if r.get("ratio") is None else f"{r['ratio']:.2f} x {SHORT.get(r['best_peer'])}"
        return f"H={r['width']} B={r['batch']} ({what})"
    lines += ["", f"**No cell slower than the best peer by more than {TOLERANCE - 1:.0%}: "
              + ("holds.**" if held else "does NOT hold**; failing cells: " + ", ".join(map(failing, fails)) + "."),
              ""]
    # full table
    cols = ["width", "batch", "examples/epoch"] + [TOOLS[t][1] + " s/epoch" for t in tools]
    cols += ["best peer", "deltaprop ÷ best peer", "rounds' own ratios", "ceiling s/epoch", "ceiling ÷ deltaprop",
             "others' cores"]
    lines += ["## Every cell", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [str(r["width"]), str(r["batch"]), f"{r['n']:,}" + (" *" if r["shortened"] else "")]
        for t in tools:
            x = r["tools"].get(t, {})
            cells.append(_fmt(x.get("s_per_epoch")) if x.get("s_per_epoch") else
                         ("failed" if x.get("errors") else "—"))
        rt = r.get("ratio")
        cells += [TOOLS[r["best_peer"]][1] if r.get("best_peer") else "—",
                  "—" if rt is None else (f"**{rt:.2f}**" if rt > TOLERANCE else f"{rt:.2f}"),
                  ", ".join(f"{v:.2f}" for v in r.get("ratio_per_round", [])) or "—",
                  _fmt(r["tools"].get("ceiling", {}).get("s_per_epoch")),
                  "—" if r.get("ceiling_fraction") is None else f"{r['ceiling_fraction']:.2f}"]
        busy = [r["tools"][t].get("others_cores") for t in tools if r["tools"].get(t, {}).get("others_cores") is not None]
        cells.append(f"{max(busy):.2f}" if busy else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Others' cores: the most cores that OTHER processes of this machine kept busy, on average, "
              "while any tool's kept run of this cell ran (warm-up included; /proc/stat less the worker's own "
              f"CPU time). With {cfg['threads']} threads per tool on "
              f"{m.get('cpus_usable', m.get('cpu_count'))} cores, a value well above 0 means that cell's times "
              "were taken on a busy machine (2-thread BLAS and OpenMP pools suffer most at small batches)."]
    lines += ["", "Ceiling: NumPy float32 matrix products only (ceiling.py's shapes and timing), the epoch's "
              "steps at this batch size; per width, the least over the batch sizes is the scaling plot's line:", ""]
    lines += ["| width | ceiling us/example (best batch) | at batch |", "|---|---|---|"]
    for h, c in rep["ceiling_line"].items():
        lines.append(f"| {h} | {c['us_per_example']:.3f} | {c['batch']} |")
    beaten = [f"H={r['width']} B={r['batch']} ({', '.join(SHORT.get(t, t) for t in tools if 0 < (r['tools'].get(t, {}).get('s_per_epoch') or 1e99) < r['tools']['ceiling']['s_per_epoch'])})"
              for r in rows if r["tools"].get("ceiling", {}).get("s_per_epoch")
              and any(0 < (r["tools"].get(t, {}).get("s_per_epoch") or 1e99) < r["tools"]["ceiling"]["s_per_epoch"]
                      for t in tools)]
    if beaten:
        lines += ["", "Cells where a tool's whole training step beat NumPy's matrix products at that batch size "
                  "(so there the per-batch line is no bound: at small batches NumPy's matmul on a 1- or 10-column "
                  "operand, e.g. BP4's outer product, is slower than the kernels those tools use): "
                  + "; ".join(beaten) + "."]
    lines.append("")
    retried = sum(1 for rnd in rep["rounds"] for t in rnd for _ in range(rnd[t].get("cells_retried", 0)))
    if retried:
        lines += [f"{retried} cell run(s) were measured again because other processes were busy meanwhile "
                  "(`--retry-busy`); the best attempt was kept (every attempt is in the raw JSON).", ""]
    # sanity: same training, similar losses
    lines += ["Training loss on the first 1,000 images after each cell's 2 epochs (same work in every tool; "
              "values of the last round): " + "; ".join(
                  f"H={r['width']} B={r['batch']}: " + ", ".join(
                      f"{SHORT.get(t, t)} {r['tools'][t]['final_loss'][-1]:.3f}" for t in tools
                      if r["tools"].get(t, {}).get("final_loss"))
                  for r in rows) + ".", ""]
    pools = rep.get("threadpools") or {}
    if pools:
        lines += ["Thread pools (threadpoolctl) in each worker process (the BLAS kernels that ran):", ""]
        for t, ps in pools.items():
            if isinstance(ps, list):
                desc = ", ".join(f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('user_api')}, "
                                 f"{p.get('num_threads')} threads"
                                 f"{', ' + p['architecture'] if p.get('architecture') else ''})" for p in ps)
                lines.append(f"- {t}: {desc or 'none loaded'}")
        lines += ["", "PyTorch and JAX (XLA) multiply matrices with their own, statically linked libraries, which "
                  "threadpoolctl does not see; the OpenBLAS listed in their processes is NumPy's.", ""]
    core, was = cfg.get("openblas_coretype"), (rep.get("openblas_env_inherited") or {}).get("OPENBLAS_CORETYPE")
    if core == "auto":
        lines += ["`--openblas-coretype auto`: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every tool, so "
                  "OpenBLAS picked its kernels for this CPU" + (f" (this machine's environment sets "
                                                                f"OPENBLAS_CORETYPE={was})." if was else "."), ""]
    pins = rep.get("openblas_env") or {}
    if pins:
        lines += ["OpenBLAS settings the tools ran with: " + ", ".join(f"`{k}={v}`" for k, v in sorted(pins.items()))
                  + ".", ""]
    loads = [p.get("load_before") for rnd in rep["rounds"] for p in rnd.values() if p.get("load_before") is not None]
    if loads:
        lines += [f"Machine load (1-minute load average as each worker started, this run's own previous worker "
                  f"included): median {statistics.median(loads):.2f}, max {max(loads):.2f}.", ""]
    lines += [f"The whole run took {rep['elapsed_s'] / 60:.1f} minutes (numba cache priming "
              f"{rep.get('numba_prime_s', 0):.0f} s included). Raw per-worker JSON: `{rep['raw_dir']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"widths {QUICK['widths']}, batches {QUICK['batches']}, {QUICK['n_train']} examples, 1 round")
    p.add_argument("--threads", type=int, default=2, help="threads for every tool (default 2)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of every tool (default 2; --quick 1)")
    p.add_argument("--widths", default=None, help="comma-separated hidden widths (default 16,64,256,1024,4096)")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (default 1,10,128,1024)")
    p.add_argument("--examples", type=int, default=None, help=f"examples per epoch (default {N_TRAIN})")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from {','.join(TOOLS)}")
    p.add_argument("--no-ceiling", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="sweep", help="base name of the result files in benchmarks/results/")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed to one worker process")
    p.add_argument("--openblas-coretype", default="auto", metavar="CORE",
                   help="as run.py: 'auto' (default) unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE together; "
                        "'inherit' keeps the environment's; any other value sets that core type")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each worker, wait up to S seconds until other processes keep < 0.3 cores busy "
                        "(default 0: no wait; every cell records how busy the others kept the machine)")
    p.add_argument("--retry-busy", type=int, default=RETRY_BUSY, metavar="K",
                   help=f"measure a cell again, up to K more times, when other processes kept more than "
                        f"{BUSY_CORES} cores busy while it ran; keep the best (default {RETRY_BUSY})")
    p.add_argument("--no-plot", action="store_true")
    # internal
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--plan", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--plot", type=Path, default=None, metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.plan, args.out, args.seed)
        return 0
    if args.plot:
        plot(args.plot)
        return 0

    import datetime as _dt

    import run
    started = time.perf_counter()
    inherited = run._openblas_env()
    if args.openblas_coretype == "auto":
        os.environ.pop("OPENBLAS_CORETYPE", None)
        os.environ.pop("OPENBLAS_L2_SIZE", None)
    elif args.openblas_coretype != "inherit":
        os.environ["OPENBLAS_CORETYPE"] = args.openblas_coretype

    def ints(s, default):
        return tuple(int(x) for x in s.split(",")) if s else default
    widths = ints(args.widths, QUICK["widths"] if args.quick else WIDTHS)
    batches = ints(args.batches, QUICK["batches"] if args.quick else BATCHES)
    n_train = args.examples or (QUICK["n_train"] if args.quick else N_TRAIN)
    rounds = args.rounds or (QUICK["rounds"] if args.quick else 2)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r}; choose from {list(TOOLS)}")
    envs = {env: run.ensure_env(env) for env in dict.fromkeys(["deltaprop"] + [TOOLS[t][0] for t in tools])}
    probe = run.probe_deltaprop()
    cells = plan(widths, batches, n_train)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = RESULTS / "raw" / f"sweep-{stamp}"
    raw.mkdir(parents=True, exist_ok=True)
    plan_path = raw / "plan.json"
    plan_path.write_text(json.dumps({"cells": cells, "retry_busy": args.retry_busy, "busy_cores": BUSY_CORES},
                                    indent=1))
    log(f"[sweep] {len(cells)} cells x {len(tools)} tools x {rounds} round(s); shortened epochs: "
        + (", ".join(f"H={c['width']} B={c['batch']} n={c['n']}" for c in cells if c["shortened"]) or "none"))

    prime_s = 0.0
    if "deltaprop" in tools and probe.get("numba"):
        # numba's cache: every cell's shapes once, 1 epoch of 2 batches, untimed (as run.prime_numba)
        tiny = [{**c, "n": min(c["n"], 2 * c["batch"]), "epochs": 1} for c in cells]
        tiny_path = raw / "prime-plan.json"
        tiny_path.write_text(json.dumps({"cells": tiny}))
        t = time.perf_counter()
        res = run_tool("deltaprop", tiny_path, raw, "prime", args.threads, args.timeout, args.seed,
                       extra_env={"SWEEP_PRIME": "1"})
        prime_s = time.perf_counter() - t
        log(f"[sweep] numba cache primed: {prime_s:.1f} s" + (f" (FAILED: {res['error']})" if "error" in res else ""))

    all_rounds = []
    order = (["ceiling"] if not args.no_ceiling else []) + tools
    for r in range(rounds):
        rnd = {}
        k = r % len(tools)
        seq = (["ceiling"] if not args.no_ceiling else []) + tools[k:] + tools[:k]
        for tool in seq:
            t = time.perf_counter()
            log(f"[round {r + 1}/{rounds}] {tool} ...")
            rnd[tool] = run_tool(tool, plan_path, raw, f"r{r}", args.threads, args.timeout, args.seed + r,
                                 quiet_s=args.wait_quiet)
            oc = rnd[tool].get("others_cores")
            log(f"[round {r + 1}/{rounds}] {tool}: {time.perf_counter() - t:.1f} s"
                + (f", other processes kept {oc:.2f} cores busy meanwhile" if oc is not None else "")
                + (f" FAILED: {rnd[tool]['error'][-300:]}" if "error" in rnd[tool] else ""))
        all_rounds.append(rnd)

    rows = summarise(cells, all_rounds, tools)
    versions, threadpools, details = {}, {}, {}
    for tool in order:
        first = next((rnd[tool] for rnd in all_rounds if rnd.get(tool, {}).get("cells")), None)
        if first:
            for k, v in first.get("versions", {}).items():
                versions[k if k != "numpy" else f"numpy ({'deltaprop' if tool == 'ceiling' else TOOLS[tool][0]} env)"] = v
            threadpools[tool] = first.get("threadpools")
            details[tool] = {k: first[k] for k in ("torch_threads", "xla_flags", "devices", "phases_s") if k in first}
    ceiling_line = {}
    for h in widths:
        cs = [(r["tools"]["ceiling"]["s_per_epoch"], r["batch"]) for r in rows
              if r["width"] == h and r["tools"].get("ceiling", {}).get("s_per_epoch")]
        if cs:
            s, b = min(cs)
            ceiling_line[str(h)] = {"us_per_example": s / N_TRAIN * 1e6, "batch": b}
    engines_used = {e for r in rows for e in r["tools"].get("deltaprop", {}).get("engine_used", [])}
    report = {
        "date": run._now(), "machine": run.machine(), "git": run.git_state(), "deltaprop": probe,
        "deltaprop_engine": ", ".join(sorted(engines_used)) or None,
        "config": {"quick": args.quick, "threads": args.threads, "rounds": rounds, "widths": list(widths),
                   "batches": list(batches), "n_train": n_train, "epochs": EPOCHS, "tools": tools,
                   "param_updates_per_epoch_cap": PARAM_UPDATES_PER_EPOCH, "tolerance": TOLERANCE,
                   "openblas_coretype": args.openblas_coretype, "seed": args.seed,
                   "network": "784-H-10, ReLU, softmax + cross-entropy, Adam lr 1e-3, float32"},
        "versions": versions, "threadpools": threadpools, "tool_details": details,
        "environments": {k: {kk: vv for kk, vv in v.items() if kk not in ("key", "packages")} for k, v in envs.items()},
        "cells": rows, "ceiling_line": ceiling_line,
        "holds": all(r.get("ratio") is not None and r["ratio"] <= TOLERANCE for r in rows),
        "failing_cells": [{"width": r["width"], "batch": r["batch"], "ratio": r.get("ratio"),
                           "best_peer": r.get("best_peer")}
                          for r in rows if r.get("ratio") is None or r["ratio"] > TOLERANCE],
        "rounds": [{t: {**{k: v for k, v in res.items() if k not in ("cells", "threadpools")},
                        "cells_retried": sum(1 for c in res.get("cells", []) if c.get("attempts"))}
                    for t, res in rnd.items()}
                   for rnd in all_rounds],
        "raw_dir": str(raw.relative_to(ROOT)), "numba_prime_s": prime_s,
        "openblas_env": run._openblas_env(), "openblas_env_inherited": inherited,
    }
    report["elapsed_s"] = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"{args.name}.json"
    json_path.write_text(json.dumps(report, indent=1, default=str))
    if not args.no_plot:
        r = subprocess.run([str(run.env_python("deltaprop")), str(Path(__file__).resolve()), "--plot", str(json_path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"[sweep] plotting FAILED: {r.stderr.strip()[-1500:]}")
    report["elapsed_s"] = time.perf_counter() - started
    json_path.write_text(json.dumps(report, indent=1, default=str))
    md_path = RESULTS / f"{args.name}.md"
    md_path.write_text(markdown(report))
    log(f"[sweep] wrote {json_path.relative_to(ROOT)}, {md_path.relative_to(ROOT)} and the pictures "
        f"({report['elapsed_s'] / 60:.1f} min)")
    print(md_path.read_text())
    failed = [t for rnd in all_rounds for t, res in rnd.items() if "error" in res]
    return 1 if failed else 0


# ======================================================================================
# Pictures (matplotlib, in the deltaprop environment)

def plot(json_path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.ticker import FuncFormatter, LogLocator

    rep = json.loads(Path(json_path).read_text())
    cfg, rows = rep["config"], rep["cells"]
    widths, batches = cfg["widths"], cfg["batches"]
    by = {(r["width"], r["batch"]): r for r in rows}
    stem = Path(json_path).with_suffix("")
    m = rep["machine"]
    sub = (f"{rep['date'][:10]} · {m.get('cpu_model', '?')} · {cfg['threads']} threads · "
           f"{cfg['rounds']} round(s), best of · {cfg['epochs']} epochs of {cfg['n_train']:,} MNIST images"
           + (" · QUICK" if cfg["quick"] else ""))

    # --- heat map: log2(deltaprop / best peer), centred on 1.0
    R = np.full((len(widths), len(batches)), np.nan)
    for i, h in enumerate(widths):
        for j, b in enumerate(batches):
            rt = by.get((h, b), {}).get("ratio")
            if rt:
                R[i, j] = np.log2(rt)
    lim = max(np.log2(2.0), float(np.nanmax(np.abs(R))) if np.isfinite(R).any() else 1.0)
    fig, ax = plt.subplots(figsize=(2.0 + 1.9 * len(batches), 1.6 + 0.95 * len(widths)))
    im = ax.imshow(R, cmap="RdBu_r", norm=TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim), aspect="auto")
    for i, h in enumerate(widths):
        for j, b in enumerate(batches):
            r = by.get((h, b), {})
            if not np.isfinite(R[i, j]):
                ax.text(j, i, "—", ha="center", va="center")
                continue
            dark = abs(R[i, j]) > 0.6 * lim
            ax.text(j, i, f"{r['ratio']:.2f}" + ("*" if r.get("shortened") else ""), ha="center", va="center",
                    fontsize=13, fontweight="bold" if r["ratio"] > TOLERANCE else "normal",
                    color="white" if dark else "black")
            ax.text(j, i + 0.3, f"vs {SHORT.get(r['best_peer'], r['best_peer'])}", ha="center", va="center",
                    fontsize=7.5, color="white" if dark else "0.25")
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_yticks(range(len(widths)), [str(h) for h in widths])
    ax.set_xlabel("mini-batch size")
    ax.set_ylabel("hidden width H (784-H-10)")
    ticks = [t for t in (0.25, 0.5, 0.67, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0) if abs(np.log2(t)) <= lim + 1e-9]
    cb = fig.colorbar(im, ax=ax, ticks=np.log2(ticks))
    cb.ax.set_yticklabels([f"{t:g}" for t in ticks])
    cb.set_label("deltaprop time ÷ best peer's time\n(< 1: deltaprop faster)", fontsize=9)
    fails = [f"H={r['width']} B={r['batch']}" for r in rows if r.get("ratio") is None or r["ratio"] > TOLERANCE]
    ax.set_title("deltaprop ÷ fastest of PyTorch, JAX step, JAX scan\n"
                 + (f"no cell more than {TOLERANCE - 1:.0%} slower: holds" if not fails
                    else f"{len(fails)} cell(s) more than {TOLERANCE - 1:.0%} slower (bold)"), fontsize=10)
    fig.text(0.5, 0.005, sub + ("  · * shorter epoch" if any(r.get("shortened") for r in rows) else ""),
             ha="center", va="bottom", fontsize=6.5, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(f"{stem}_heatmap.png", dpi=130)
    plt.close(fig)

    # --- scaling: us per example against width, one panel per batch size
    style = {"deltaprop": dict(color="C3", marker="o", lw=2.2), "torch": dict(color="C0", marker="s"),
             "jax-step": dict(color="C2", marker="^"), "jax-scan": dict(color="C1", marker="v")}
    tools = [t for t in cfg["tools"] if t in TOOLS]
    ncol = min(2, len(batches))
    nrow = -(-len(batches) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.6 * ncol, 4.2 * nrow), squeeze=False, sharey=True)
    line = rep.get("ceiling_line") or {}
    for k, b in enumerate(batches):
        ax = axes[k // ncol][k % ncol]
        for t in tools:
            xs = [h for h in widths if by.get((h, b), {}).get("tools", {}).get(t, {}).get("us_per_example")]
            ys = [by[(h, b)]["tools"][t]["us_per_example"] for h in xs]
            if xs:
                ax.plot(xs, ys, label=TOOLS[t][1], ms=5, **style.get(t, {}))
        xs = [h for h in widths if by.get((h, b), {}).get("tools", {}).get("ceiling", {}).get("us_per_example")]
        if xs:
            ax.plot(xs, [by[(h, b)]["tools"]["ceiling"]["us_per_example"] for h in xs], color="black", ls="--",
                    lw=1.2, label="matmul ceiling, this batch")
        xs = [h for h in widths if str(h) in line]
        if xs:
            ax.plot(xs, [line[str(h)]["us_per_example"] for h in xs], color="0.55", ls=":", lw=1.5,
                    label="matmul ceiling, best batch")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(widths, [str(h) for h in widths])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("hidden width H")
        ax.set_title(f"batch {b}", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        if k % ncol == 0:
            ax.set_ylabel("µs per example (training time ÷ examples)")
    for k in range(len(batches), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    per_row = 3
    fig.legend(handles, labels, loc="upper center", ncol=per_row, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.995))
    fig.text(0.5, 0.005, sub, ha="center", va="bottom", fontsize=7.5, color="0.35")
    legend_h = 0.3 * (-(-len(labels) // per_row)) + 0.15      # inches
    fig.tight_layout(rect=(0, 0.25 / fig.get_figheight(), 1, 1 - legend_h / fig.get_figheight()))
    fig.savefig(f"{stem}_scaling.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
