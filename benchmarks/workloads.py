"""The benchmark workloads (DESIGN.md, "Benchmark workloads"; W4 from the issue "Fastest
of all"). Standard library only: the orchestrator (run.py) reads them without NumPy;
every tool script reads them through common.py.

``warmup_steps`` (W4 only): the untimed warm-up before the timed epochs is that many
full mini-batch steps plus the epoch's short last batch, not a whole epoch (a W4 epoch
is about 2 TFLOP of matrix products). Without it the warm-up is one whole epoch.
"""


WORKLOADS = {
    "W1": dict(
        title="Nielsen", sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic",
        optimizer="sgd", lr=3.0, batch=10, dtype="float64", n_train=50_000, epochs=30,
        # deltaprop's README/demo initialisation for this network: W ~ N(0, 1/n_in), b ~ N(0, 1)
        init=["lecun_normal", "lecun_normal"],
    ),
    "W2": dict(
        title="modern", sizes=[784, 256, 256, 10], hidden="relu", output="softmax", loss="cross_entropy",
        optimizer="adam", lr=1e-3, batch=128, dtype="float32", n_train=60_000, epochs=5,
        # deltaprop's default ("auto"): He normal before ReLU, Glorot uniform before softmax, b = 0
        init=["he_normal", "he_normal", "glorot_uniform"],
    ),
    "W3": dict(
        title="tiny", sizes=[2, 2, 2], hidden="sigmoid", output="sigmoid", loss="quadratic",
        optimizer="sgd", lr=0.5, batch=1, dtype="float64", updates=10_000,
    ),
    "W4": dict(
        title="wide", sizes=[784, 2048, 2048, 10], hidden="relu", output="softmax", loss="cross_entropy",
        optimizer="adam", lr=1e-3, batch=256, dtype="float32", n_train=60_000, epochs=1,
        # as W2: deltaprop's default ("auto") initialisation
        init=["he_normal", "he_normal", "glorot_uniform"],
        # 234 full steps of 256 and a last one of 96 per epoch; warm-up: 20 of them and the last
        warmup_steps=20,
    ),
}


def steps_per_epoch(wl: dict) -> list[int]:
    """The batch sizes of one epoch, in order (a short last batch is used, not dropped)."""
    n, b = wl["n_train"], wl["batch"]
    return [b] * (n // b) + ([n % b] if n % b else [])


#: (tool, workload) pairs that are not run, with the reason run.py reports for each.
#: scikit-learn and W4: no target of the issue reads a scikit-learn figure for W4 (its
#: targets are the matrix-product ceiling, PyTorch and both JAX variants); its MLP cannot
#: start from the shared initial weights, so it trains a different network; and at
#: about 2 TFLOP of matrix products an epoch (warm-up included) it would add tens of
#: seconds to every round on a 2-core machine for a column nothing reads.
NOT_RUN = {
    ("sklearn", "W4"): "not a W4 peer: the issue's W4 targets are the ceiling, PyTorch and JAX; scikit-learn's MLP "
                       "cannot start from the shared weights, and a W4 epoch would cost tens of seconds a round "
                       "for a column no target reads",
}
