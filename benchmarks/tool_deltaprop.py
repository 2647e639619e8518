"""deltaprop: what a user's ``net.fit(...)`` call costs, on arrays already in memory.

Each measurement is ONE call, ``net.fit(X, y, epochs=E, ...)``, timed from the call to
its return, so the input checks (finite values, shapes, labels to one-hot) are paid
once per call, as a user pays them, and every epoch's own work (shuffling, the batches,
the per-epoch training metrics and the divergence check) is included. Seconds per
epoch = call time / E. The per-epoch seconds that ``fit`` records in its History are
kept too (they leave out the one-off checks).

W3 is the call the issue states: ``ex.net.fit(ex.x, ex.y, epochs=10000, batch_size=1,
optimizer=dp.SGD(lr=0.5), verbose=0)`` on ``dp.examples.mazur()``.

``--engine NAME`` passes ``engine=NAME`` to ``fit`` (only when given; ``fit`` must accept it).

Start-up (``startup_s``): what the first ``fit`` of a new process adds, measured on the
same work: right after the untimed warm-up call (the process's first fit), the very same
call (same seed, a network built the same way, same data, same epochs or steps) runs
again (``repeat_s``); ``startup_s = warmup_s - repeat_s``. W3's timed run is that same
call, so it is the repeat there. With numba's cache filled this is loading the compiled
kernels (and importing numba); with ``NUMBA_CACHE_DIR`` set to an empty folder it is the
compilation a fresh install pays (run.py does both). ``--startup-only`` stops after the
repeat (no timed run, no test accuracy).

W4 (and ``--warmup-steps``): the warm-up is a partial epoch, one ``fit`` epoch over the
first ``steps x batch + n % batch`` training images (so the same full steps and the
same short last batch as a whole epoch, fewer of them). ``--steps N``: the timed call is
one epoch over the first N x batch images, reported per step.
"""

from __future__ import annotations

import common  # first: fixes the thread count before NumPy loads

import importlib.metadata
import importlib.util
import inspect
import time

import numpy as np


def main():
    p = common.arg_parser("deltaprop")
    p.add_argument("--engine", default=None, help="pass engine=ENGINE to fit (default: do not pass it)")
    p.add_argument("--startup-only", action="store_true",
                   help="only the warm-up fit and its repeat (start-up or compile time), no timed run")
    args = p.parse_args()
    run = common.Run("deltaprop", args, engine=args.engine)
    t = time.perf_counter()
    import deltaprop as dp
    run.phase("import", time.perf_counter() - t)
    fit_params = inspect.signature(dp.Network.fit).parameters
    run.result["versions"] = {"deltaprop": getattr(dp, "__version__", "?"), "numpy": np.__version__}
    if importlib.util.find_spec("numba") is not None:   # its version, without importing it (memory)
        run.result["versions"]["numba"] = importlib.metadata.version("numba")
    run.result["fit_accepts_engine"] = "engine" in fit_params
    engine_kw = {}
    if args.engine is not None:
        if "engine" not in fit_params:
            raise SystemExit(f"--engine {args.engine}: this deltaprop's Network.fit has no 'engine' argument")
        engine_kw = {"engine": args.engine}
    wl = run.wl

    if args.workload == "W3":
        updates = args.updates or wl["updates"]

        def tiny_run():
            ex = dp.examples.mazur()
            t = time.perf_counter()
            hist = ex.net.fit(ex.x, ex.y, epochs=updates, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0, **engine_kw)
            return ex, hist, time.perf_counter() - t

        run.mark_rss("after_data")
        _, _, warm = tiny_run()                  # warm-up: one untimed run of the same call
        ex, hist, seconds = tiny_run()           # the same call again: the repeat, and the timed run
        if args.startup_only:
            run.finish(unit="us/update", updates=updates, warmup_s=warm, repeat_s=seconds,
                       startup_s=warm - seconds, engine_used=getattr(hist, "engine", None), value=None)
            return
        run.finish(unit="us/update", updates=updates, warmup_s=warm, repeat_s=seconds, startup_s=warm - seconds,
                   train_s=seconds, engine_used=getattr(hist, "engine", None),
                   value=seconds / updates * 1e6, final_loss=ex.net.loss(ex.x, ex.y))
        return

    t = time.perf_counter()
    (X, y), (Xt, yt) = common.mnist(wl["dtype"], common.training_rows(args, wl))
    run.phase("data", time.perf_counter() - t)
    run.mark_rss("after_data")
    epochs = common.timed_epochs(args, wl)
    warm_rows, warm_steps = common.warmup_plan(args, wl, len(X))

    def build(seed):
        if args.workload == "W1":
            net = dp.Network(wl["sizes"], activation="sigmoid", loss="quadratic", init="lecun_normal",
                             dtype=wl["dtype"], seed=seed)
            return net, dp.SGD(lr=wl["lr"])
        net = dp.Network(wl["sizes"], activation="relu", loss="cross_entropy", dtype=wl["dtype"], seed=seed)
        return net, dp.Adam(lr=wl["lr"])

    def train(net, opt, n_epochs, seed, rows=None):
        Xs, ys = (X, y) if rows is None or rows == len(X) else (X[:rows], y[:rows])
        t = time.perf_counter()
        hist = net.fit(Xs, ys, epochs=n_epochs, batch_size=wl["batch"], optimizer=opt, seed=seed, verbose=0,
                       **engine_kw)
        return hist, time.perf_counter() - t

    # Warm-up: one untimed epoch (W4: a partial one, see above) on a throwaway network built
    # the same way; then the very same call again, for what the process's first fit added.
    net, opt = build(args.seed + 1000)
    _, warm = train(net, opt, 1, args.seed + 1000, warm_rows)
    net, opt = build(args.seed + 1000)
    _, repeat = train(net, opt, 1, args.seed + 1000, warm_rows)
    startup = dict(warmup_s=warm, repeat_s=repeat, startup_s=warm - repeat, warmup_steps=warm_steps,
                   warmup_rows=warm_rows)
    if args.startup_only:
        run.finish(unit=None, value=None, **startup)
        return
    t = time.perf_counter()
    net, opt = build(args.seed)
    run.phase("build", time.perf_counter() - t)
    hist, seconds = train(net, opt, epochs, args.seed)
    epoch_s = list(getattr(hist, "history", {}).get("seconds", []))
    acc = net.evaluate(Xt, yt)["accuracy"]
    run.finish(**common.timing(args, seconds, epochs), **startup, train_s=seconds,
               history_epoch_s=epoch_s, checks_and_setup_s=(seconds - sum(epoch_s)) if epoch_s else None,
               test_accuracy=acc, dtype=str(net.layers[0].W.dtype), engine_used=getattr(hist, "engine", None))


if __name__ == "__main__":
    main()
