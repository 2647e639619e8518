"""scikit-learn's multi-layer perceptron, configured as close to each workload as it allows.

Each measurement is ONE ``fit`` call over E epochs (``max_iter=E``), timed from the call
to its return (input validation, weight initialisation and label binarising included,
as for deltaprop's ``fit``); seconds per epoch = call time / E. Early stopping is off
and the "no improvement" stop is disabled (``tol=0``, ``n_iter_no_change`` larger than
``max_iter``), so every call runs exactly E epochs; the ConvergenceWarning that
``max_iter`` then raises is silenced.

Where scikit-learn differs, because it offers no choice:

* W1: ``MLPClassifier`` always puts softmax + log-loss (cross-entropy) on a multi-class
  output, so W1 runs 784-30(logistic)-10(softmax) with cross-entropy, not sigmoid
  outputs with the quadratic cost; same SGD (lr 3.0, no momentum, no L2), batch 10.
* W2: same network, loss, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) and batch; float32
  data stay float32 in scikit-learn's MLP.
* Initial weights: its own scheme (uniform +-sqrt(f/(fan_in + fan_out)), f = 2 for
  logistic, 6 otherwise, biases drawn alike); it has no way to take given weights.
* It computes the training loss of every mini-batch (and the L2 term, even at alpha=0).
* Shuffling: ``sklearn.utils.shuffle`` of the indices each epoch (random_state=seed).
* W4: not run (``workloads.NOT_RUN`` gives the reason).
* W3: ``MLPRegressor`` (a classifier cannot fit the targets 0.01/0.99): 2-2(logistic)-2
  with an IDENTITY output (not sigmoid), squared error averaged over the 2 outputs and
  halved (half deltaprop's gradient), biases trained (the example holds them fixed),
  its own initial weights; 10,000 epochs of the one example (``max_iter=10000``,
  ``batch_size=1``, ``shuffle=False``: there is nothing to shuffle). Its per-update time
  is comparable; its final loss is not.
"""

from __future__ import annotations

import common  # first: fixes the thread count before NumPy loads

import time
import warnings

import numpy as np


def main():
    args = common.arg_parser("sklearn").parse_args()
    # W4 is left out for scikit-learn (workloads.NOT_RUN says why; run.py skips the pair).
    if ("sklearn", args.workload) in common.NOT_RUN:
        raise SystemExit(f"scikit-learn, {args.workload}: not run: {common.NOT_RUN['sklearn', args.workload]}")
    if args.steps is not None or args.warmup_steps is not None:
        raise SystemExit("tool_sklearn.py: --steps and --warmup-steps are not supported (its fit runs whole epochs)")
    run = common.Run("sklearn", args)
    t = time.perf_counter()
    import scipy
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    run.phase("import", time.perf_counter() - t)
    run.result["versions"] = {"scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
                              "numpy": np.__version__}
    wl = run.wl
    never = 10**9   # n_iter_no_change: never stop before max_iter

    def fit(model, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t = time.perf_counter()
            model.fit(X, y)
            return time.perf_counter() - t

    if args.workload == "W3":
        updates = args.updates or wl["updates"]
        m = common.MAZUR

        def build(seed):
            return MLPRegressor(hidden_layer_sizes=(2,), activation="logistic", solver="sgd", alpha=0.0,
                                batch_size=1, learning_rate="constant", learning_rate_init=m["lr"],
                                momentum=0.0, nesterovs_momentum=False, max_iter=updates, shuffle=False,
                                tol=0.0, n_iter_no_change=never, early_stopping=False, random_state=seed)

        run.mark_rss("after_data")
        warm = fit(build(args.seed + 1000), m["x"], m["y"])
        model = build(args.seed)
        seconds = fit(model, m["x"], m["y"])
        assert model.n_iter_ == updates, model.n_iter_
        final = float(0.5 * np.sum((model.predict(m["x"]) - m["y"]) ** 2))
        run.finish(unit="us/update", updates=updates, warmup_s=warm, train_s=seconds,
                   value=seconds / updates * 1e6, final_loss=final,
                   final_loss_note="different model (identity output, trained biases, own init): not comparable")
        return

    t = time.perf_counter()
    (X, y), (Xt, yt) = common.mnist(wl["dtype"], wl["n_train"])
    run.phase("data", time.perf_counter() - t)
    run.mark_rss("after_data")
    epochs = args.epochs or wl["epochs"]

    def build(seed, n_epochs):
        common_kw = dict(alpha=0.0, batch_size=wl["batch"], learning_rate_init=wl["lr"], max_iter=n_epochs,
                         shuffle=True, tol=0.0, n_iter_no_change=never, early_stopping=False, random_state=seed)
        if args.workload == "W1":
            return MLPClassifier(hidden_layer_sizes=(30,), activation="logistic", solver="sgd",
                                 learning_rate="constant", momentum=0.0, nesterovs_momentum=False, **common_kw)
        return MLPClassifier(hidden_layer_sizes=(256, 256), activation="relu", solver="adam",
                             beta_1=0.9, beta_2=0.999, epsilon=1e-8, **common_kw)

    # Warm-up: one untimed epoch on a throwaway model built the same way.
    warm = fit(build(args.seed + 1000, 1), X, y)
    model = build(args.seed, epochs)
    seconds = fit(model, X, y)
    assert model.n_iter_ == epochs, model.n_iter_
    acc = float(model.score(Xt, yt))
    run.finish(unit="s/epoch", epochs=epochs, warmup_s=warm, train_s=seconds, value=seconds / epochs,
               test_accuracy=acc, dtype=str(model.coefs_[0].dtype), train_loss_curve=model.loss_curve_)


if __name__ == "__main__":
    main()
