"""The machine's own ceiling: NumPy matrix products at exactly the shapes a workload's
training step performs, and the least time per epoch (or per update) they imply.

Per Dense layer l with W of shape (n_out, n_in) and a mini-batch of m examples held
one per column (deltaprop's layout), one training step performs:

* forward   Z = W @ A_prev                 (n_out, n_in) x (n_in, m)
* backward  dW = D @ A_prev.T  (BP4)        (n_out, m) x (m, n_in)
* backward  W.T @ D            (BP2)        (n_in, n_out) x (n_out, m), for l > 1 only:
  nobody needs the gradient with respect to the input images.

Each product writes into a preallocated output (``np.matmul(..., out=...)``) with the
operands laid out as deltaprop lays them out (the input batch is a transposed view of
gathered rows; A_prev.T and W.T are views). Each shape is timed in blocks of repeated
calls; the per-call time is the best block's mean (a ceiling: the least time the BLAS
needed), and the median block is kept too. Least time per epoch = sum over the epoch's
steps of the sum of that step's products (the short last batch of W2 and W4, 96 examples,
is timed at 96). ``per_batch[m]["step_best_s"]`` is the least time of one step at batch m
(run.py uses it for per-step timings, ``--steps``).
Elementwise work (activations, the loss, the update) is left out, so no implementation
that calls this BLAS for its products can be faster than the ceiling.

Run in the deltaprop environment: the same NumPy and BLAS deltaprop uses.
"""

from __future__ import annotations

import common  # first: fixes the thread count before NumPy loads

import argparse
import json
import time
from pathlib import Path

import numpy as np


def products(sizes, m, dtype, rng):
    """``[(name, fn), ...]``: one closure per matrix product of one training step at batch ``m``."""
    out = []
    rows = rng.random((m, sizes[0])).astype(dtype)           # X[idx]: gathered rows
    A_prev = rows.T                                          # (n_in, m) view, as deltaprop passes it
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W = rng.standard_normal((n_out, n_in)).astype(dtype)
        Z = np.empty((n_out, m), dtype)
        D = rng.standard_normal((n_out, m)).astype(dtype)
        dW = np.empty((n_out, n_in), dtype)
        out.append((f"L{l} forward W@A_prev ({n_out}x{n_in})@({n_in}x{m})",
                    lambda W=W, A=A_prev, Z=Z: np.matmul(W, A, out=Z), 2 * n_out * n_in * m))
        out.append((f"L{l} BP4 D@A_prev.T ({n_out}x{m})@({m}x{n_in})",
                    lambda D=D, A=A_prev, dW=dW: np.matmul(D, A.T, out=dW), 2 * n_out * n_in * m))
        if l > 1:
            dA = np.empty((n_in, m), dtype)
            out.append((f"L{l} BP2 W.T@D ({n_in}x{n_out})@({n_out}x{m})",
                        lambda W=W, D=D, dA=dA: np.matmul(W.T, D, out=dA), 2 * n_out * n_in * m))
        A_prev = np.ascontiguousarray(rng.random((n_out, m)).astype(dtype))   # a^l: (n_out, m), C order
    return out


def time_call(fn, min_block_s: float, blocks: int):
    """``(best, median)`` seconds per call over ``blocks`` blocks of repeated calls."""
    fn()
    reps, t = 1, 0.0
    while True:                                  # calibrate a block to about min_block_s
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        t = time.perf_counter() - t0
        if t >= min_block_s:
            break
        reps = max(reps * 2, int(reps * min_block_s / max(t, 1e-9)))
    per = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        per.append((time.perf_counter() - t0) / reps)
    return min(per), float(np.median(per)), reps


def ceiling(workload: str, min_block_s=0.02, blocks=15) -> dict:
    wl = common.WORKLOADS[workload]
    rng = np.random.default_rng(0)
    dt = np.dtype(wl["dtype"])
    if workload == "W3":
        batches = {1: 1}                         # one update of the one example
    else:
        steps = common.steps_per_epoch(wl)
        batches = {m: steps.count(m) for m in sorted(set(steps), reverse=True)}
    per_batch = {}
    least = 0.0
    for m, count in batches.items():
        rows = []
        for name, fn, flops in products(wl["sizes"], m, dt, rng):
            best, med, reps = time_call(fn, min_block_s, blocks)
            rows.append({"product": name, "best_s": best, "median_s": med, "reps_per_block": reps,
                         "gflops_best": flops / best / 1e9})
        step_best = sum(r["best_s"] for r in rows)
        per_batch[str(m)] = {"steps": count, "step_best_s": step_best,
                             "step_median_s": sum(r["median_s"] for r in rows), "products": rows}
        least += count * step_best
    unit = "us/update" if workload == "W3" else "s/epoch"
    return {"workload": workload, "dtype": dt.name, "unit": unit,
            "value": least * 1e6 if workload == "W3" else least, "per_batch": per_batch}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", default=",".join(common.WORKLOADS))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    res = {"tool": "ceiling", "threads": common.THREADS, "numpy": np.__version__,
           "workloads": {w: ceiling(w) for w in args.workloads.split(",")}}
    try:
        from threadpoolctl import threadpool_info
        res["threadpools"] = threadpool_info()
    except Exception as e:  # pragma: no cover
        res["threadpools"] = str(e)
    res["rss_mib"] = {"peak": common.peak_rss_mib()}
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
