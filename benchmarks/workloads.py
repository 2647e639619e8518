"""The three benchmark workloads (DESIGN.md, "Benchmark workloads"). Standard library
only: the orchestrator (run.py) reads them without NumPy; every tool script reads them
through common.py.
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
}


def steps_per_epoch(wl: dict) -> list[int]:
    """The batch sizes of one epoch, in order (a short last batch is used, not dropped)."""
    n, b = wl["n_train"], wl["batch"]
    return [b] * (n // b) + ([n % b] if n % b else [])
