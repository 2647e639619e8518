"""JAX on the CPU, two ways an expert writes it (``--variant``):

* ``step``: one ``jax.jit``-compiled train step (loss, ``jax.grad``, optax update),
  called from a Python loop once per mini-batch, as the Flax/optax tutorials do. The
  data live on the device (``jnp.asarray`` once); each step receives the indices of
  its mini-batch and gathers them inside the compiled step. Parameters and optimizer
  state are donated to the step (updated in place).
* ``scan``: a whole epoch in ONE compiled call: ``lax.scan`` of the same update over the
  epoch's index batches. A short last batch (W2: 60,000 = 468 x 128 + 96) is one more
  call of the compiled step. W3: the 10,000 updates are one ``lax.scan``.

Compile time is measured apart (``jit(...).lower(...).compile()``, ahead of time) and
reported as ``compile_s``; it is not in the per-epoch time. Then, like every tool, one
untimed warm-up epoch on a throwaway copy, then the timed epochs.

W4 is W2's code at W4's sizes and batch (256; 60,000 = 234 x 256 + 96). Its warm-up is a
partial epoch (``--warmup-steps``, W4's default 20): the first 20 index batches of the
epoch's permutation and its short last batch. ``step`` runs them with the same compiled
step as the timed epoch; ``scan`` needs a scan of that length, compiled for the warm-up
only (``warmup_compile_s``, not in ``compile_s``: the timed epoch never runs it), so the
full-epoch scan program first runs in the timed epoch (XLA's runtime, thread pool and
the data already warmed by the warm-up). ``--steps N``: the timed epoch is over the first
N x batch training images (no short batch), reported per step.

Shuffling: a NumPy permutation per epoch (host), its index batches sent to the device.
Same initial weights as deltaprop for the same seed. Optimizers: ``optax.sgd`` (W1,
W3), ``optax.adam`` (W2, W4) with the same hyperparameters (eps=1e-8 as deltaprop, PyTorch,
scikit-learn). W1 and W3 run in float64 (``jax_enable_x64``), W2 and W4 in float32.
XLA's CPU runtime uses its own thread pool (sized by the cores, 2 here); the
environment also sets OMP/BLAS threads to 2.
"""

from __future__ import annotations

import common  # first: fixes the thread count before NumPy loads

import os
import time

import numpy as np


def main():
    p = common.arg_parser("jax")
    p.add_argument("--variant", choices=["step", "scan"], required=True)
    args = p.parse_args()
    run = common.Run(f"jax-{args.variant}", args, variant=args.variant)
    wl = run.wl
    t = time.perf_counter()
    import jax
    jax.config.update("jax_platforms", "cpu")
    if wl["dtype"] == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax
    from jax import lax
    run.phase("import", time.perf_counter() - t)
    import jaxlib
    run.result["versions"] = {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__,
                              "numpy": np.__version__}
    run.result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    run.result["devices"] = [str(d) for d in jax.devices()]

    def predict(params, x):                     # x: (m, n_in) rows; W: (n_in, n_out)
        act = jax.nn.sigmoid if wl["hidden"] == "sigmoid" else jax.nn.relu
        for W, b in params[:-1]:
            x = act(x @ W + b)
        W, b = params[-1]
        z = x @ W + b
        return jax.nn.sigmoid(z) if wl["output"] == "sigmoid" else z   # W2, W4: logits

    compile_s = 0.0

    def aot(fn, *example):
        """Compile ``fn`` for these argument shapes ahead of time; add the seconds to compile_s."""
        nonlocal compile_s
        t = time.perf_counter()
        compiled = fn.lower(*example).compile()
        compile_s += time.perf_counter() - t
        return compiled

    if args.workload == "W3":
        updates = args.updates or wl["updates"]
        m = common.MAZUR
        x, y = jnp.asarray(m["x"]), jnp.asarray(m["y"])
        biases = [jnp.asarray(b) for b in m["b"]]            # fixed: not parameters

        def loss(Ws, x, y):
            return 0.5 * jnp.sum((predict(list(zip(Ws, biases)), x) - y) ** 2)   # E_total

        tx = optax.sgd(m["lr"])

        def update(Ws, state, x, y):
            grads = jax.grad(loss)(Ws, x, y)
            upd, state = tx.update(grads, state, Ws)
            return optax.apply_updates(Ws, upd), state

        def fresh():
            Ws = [jnp.asarray(W.T) for W in m["W"]]
            return Ws, tx.init(Ws)

        if args.variant == "step":
            step = jax.jit(update, donate_argnums=(0, 1))
            Ws, st = fresh()
            step_c = aot(step, Ws, st, x, y)

            def tiny_run():
                Ws, st = fresh()
                jax.block_until_ready((Ws, st))
                t = time.perf_counter()
                for _ in range(updates):
                    Ws, st = step_c(Ws, st, x, y)
                jax.block_until_ready(Ws)
                return Ws, time.perf_counter() - t
        else:
            def many(Ws, st, x, y):
                def body(carry, _):
                    return update(*carry, x, y), None
                return lax.scan(body, (Ws, st), None, length=updates)[0]
            many_j = jax.jit(many, donate_argnums=(0, 1))
            Ws, st = fresh()
            many_c = aot(many_j, Ws, st, x, y)

            def tiny_run():
                Ws, st = fresh()
                jax.block_until_ready((Ws, st))
                t = time.perf_counter()
                Ws, st = many_c(Ws, st, x, y)
                jax.block_until_ready(Ws)
                return Ws, time.perf_counter() - t

        run.mark_rss("after_data")
        _, warm = tiny_run()
        Ws, seconds = tiny_run()
        run.finish(unit="us/update", updates=updates, compile_s=compile_s, warmup_s=warm, train_s=seconds,
                   value=seconds / updates * 1e6, final_loss=float(loss(Ws, x, y)))
        return

    t = time.perf_counter()
    (Xn, yn), (Xtn, ytn) = common.mnist(wl["dtype"], common.training_rows(args, wl))
    X, y = jax.device_put(Xn), jax.device_put(yn.astype(np.int32))    # one copy each, onto the device
    Xt, yt = jax.device_put(Xtn), jax.device_put(ytn.astype(np.int32))
    if args.workload == "W1":
        T = jax.device_put(common.one_hot(yn, 10, wl["dtype"]))
    else:
        T = y
    del Xn, Xtn                                               # the device copies are what is used
    run.phase("data", time.perf_counter() - t)
    run.mark_rss("after_data")
    n, batch = len(X), wl["batch"]
    epochs = common.timed_epochs(args, wl)
    n_full = n // batch
    rest = n - n_full * batch
    _, warm_steps = common.warmup_plan(args, wl, n)

    if args.workload == "W1":
        tx = optax.sgd(wl["lr"])

        def loss(params, X, T, idx):             # T: one-hot targets
            a = predict(params, X[idx])
            return 0.5 * jnp.sum((a - T[idx]) ** 2) / idx.shape[0]   # C = 1/m sum_x 1/2 ||a - y||^2
    else:
        tx = optax.adam(wl["lr"], b1=0.9, b2=0.999, eps=1e-8)

        def loss(params, X, T, idx):             # T: integer labels
            logits = predict(params, X[idx])
            return optax.softmax_cross_entropy_with_integer_labels(logits, T[idx]).mean()

    # The data are arguments (device buffers), not constants baked into the program.
    def update(params, state, X, T, idx):
        grads = jax.grad(loss)(params, X, T, idx)
        upd, state = tx.update(grads, state, params)
        return optax.apply_updates(params, upd), state

    def fresh(seed):
        params = [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in common.init_params(wl, seed)]
        return params, tx.init(params)

    step = jax.jit(update, donate_argnums=(0, 1))

    def epoch_scan(params, state, X, T, idx_batches):
        def body(carry, idx):
            return update(*carry, X, T, idx), None
        return lax.scan(body, (params, state), idx_batches)[0]

    params, state = fresh(args.seed)
    idx_full = np.zeros((n_full, batch), np.int32)
    if args.variant == "step":
        step_c = aot(step, params, state, X, T, idx_full[0])
        step_rest = aot(step, params, state, X, T, np.zeros(rest, np.int32)) if rest else None
    else:
        scan_j = jax.jit(epoch_scan, donate_argnums=(0, 1))
        scan_c = aot(scan_j, params, state, X, T, idx_full)
        step_rest = aot(step, params, state, X, T, np.zeros(rest, np.int32)) if rest else None
    warmup_compile_s = None
    if args.variant == "scan" and warm_steps is not None:   # the warm-up's shorter scan: not the timed program
        t = time.perf_counter()
        scan_warm_c = scan_j.lower(params, state, X, T, idx_full[:warm_steps]).compile()
        warmup_compile_s = time.perf_counter() - t
    del params, state

    def train(params, state, n_epochs, rng, steps=None):
        """``steps``: only the first ``steps`` index batches of the epoch and its short last one."""
        epoch_s = []
        for _ in range(n_epochs):
            t = time.perf_counter()
            perm = rng.permutation(n).astype(np.int32)
            full = perm[:n_full * batch].reshape(n_full, batch)
            if steps is not None:
                full = full[:steps]
            if args.variant == "step":
                for idx in full:
                    params, state = (step if os.environ.get("JITCALL") else step_c)(params, state, X, T, idx)
            else:
                params, state = (scan_c if steps is None else scan_warm_c)(params, state, X, T, full)
            if rest:
                params, state = step_rest(params, state, X, T, perm[n_full * batch:])
            jax.block_until_ready(params)
            epoch_s.append(time.perf_counter() - t)
        return params, epoch_s

    # Warm-up: one untimed epoch (W4: a partial one) on a throwaway copy.
    _, warm = train(*fresh(args.seed + 1000), 1, np.random.default_rng(args.seed + 1000), warm_steps)
    t = time.perf_counter()
    params, state = fresh(args.seed)
    jax.block_until_ready(params)
    run.phase("build", time.perf_counter() - t)
    t = time.perf_counter()
    params, epoch_s = train(params, state, epochs, np.random.default_rng(args.seed))
    seconds = time.perf_counter() - t
    acc = float(jnp.mean(jnp.argmax(jax.jit(predict)(params, Xt), axis=1) == yt))
    run.finish(**common.timing(args, seconds, epochs), compile_s=compile_s, warmup_s=sum(warm),
               warmup_steps=warm_steps, warmup_compile_s=warmup_compile_s,
               train_s=seconds, epoch_s=epoch_s, test_accuracy=acc,
               dtype=str(params[0][0].dtype))


if __name__ == "__main__":
    main()
