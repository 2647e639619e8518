"""Hypothesis strategies shared by the property tests: random small networks and batches."""

import numpy as np
from hypothesis import strategies as st

import deltaprop as dp

ELEMENTWISE = ["sigmoid", "relu", "tanh", "identity", "leaky_relu"]


@st.composite
def networks(draw, dtype="float64", max_depth=4, max_width=8, max_batch=5, logits=False):
    """A random network (depth 1-4 layers, widths 1-8) with every activation and loss
    reachable (with ``logits``, also the cross-entropies from logits after an identity
    output), plus a batch (X, Y) of 1-5 examples drawn from a seeded Generator."""
    depth = draw(st.integers(1, max_depth))
    sizes = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(["quadratic", "binary_cross_entropy", "cross_entropy"]))
    from_logits = logits and loss != "quadratic" and draw(st.booleans())
    hidden = draw(st.sampled_from(ELEMENTWISE))
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)
        output = "softmax"
    elif loss == "binary_cross_entropy":
        output = "sigmoid"
    else:
        output = draw(st.sampled_from(ELEMENTWISE + (["softmax"] if sizes[-1] >= 2 else [])))
    if from_logits:
        output, loss = "identity", dp.losses.get({"name": loss, "from_logits": True})
    seed = draw(st.integers(0, 2**32 - 1))
    net = dp.Network(sizes, activation=hidden, output_activation=output, loss=loss, dtype=dtype, seed=seed)
    loss = net.loss_fn.name
    rng = np.random.default_rng(seed)
    m = draw(st.integers(1, max_batch))
    X = rng.uniform(-2, 2, (m, sizes[0]))
    if loss == "cross_entropy":
        Y = rng.integers(0, sizes[-1], m) if draw(st.booleans()) else dp.one_hot(rng.integers(0, sizes[-1], m), sizes[-1])
    else:
        Y = rng.uniform(0, 1, (m, sizes[-1]))
    return net, X, Y
