"""The engines: the numba engine against the NumPy reference, and the contract both keep.

Agreement: with exact element-wise functions (relu, leaky_relu, identity, the
quadratic cost) and no layer of width 1 (NumPy's matmul then takes paths the kernel
does not copy), the compiled engine repeats the reference bit for bit, for every
optimizer, in float64 and float32, batches of one example included. Otherwise (exp, tanh, log differ in the last
bit between the C library and NumPy's SIMD code) a few steps agree to within
RTOL[dtype] relative (ATOL absolute near zero).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import _kernels, activations, engines, losses
from deltaprop.engines import Failure, NumbaEngine, NumpyEngine
from thread_ranks import run as run_ranks

RTOL = {"float64": 1e-9, "float32": 2e-3}
ATOL = {"float64": 1e-12, "float32": 1e-5}
ACTS = sorted(_kernels.ACTIVATION_CODES)
OPTIMIZERS = {
    "sgd": lambda: dp.SGD(lr=0.2),
    "momentum": lambda: dp.SGD(lr=0.1, momentum=0.9),
    "nesterov": lambda: dp.SGD(lr=0.1, momentum=0.7, nesterov=True),
    "decay": lambda: dp.SGD(lr=0.1, momentum=0.5, weight_decay=0.02),
    "adam": lambda: dp.Adam(lr=1e-2),
    "adam_decay": lambda: dp.Adam(lr=5e-3, beta1=0.8, beta2=0.99, weight_decay=0.01),
}


@st.composite
def cases(draw, exact=False):
    """A random network and data set for both engines: every activation, loss and
    optimizer reachable; sizes, batch size (often with a short last batch) drawn."""
    dtype = draw(st.sampled_from(["float64", "float32"]))
    depth = draw(st.integers(1, 3))
    lo = 2 if exact else 1
    sizes = [draw(st.integers(lo, 7)) for _ in range(depth + 1)]
    if exact:
        loss = "quadratic"
        hidden = draw(st.sampled_from(["relu", "leaky_relu", "identity"]))
        output = draw(st.sampled_from(["relu", "leaky_relu", "identity"]))
    else:
        loss = draw(st.sampled_from(sorted(losses.LOSSES)))
        hidden = draw(st.sampled_from(ACTS[:]))
        hidden = "tanh" if hidden == "softmax" else hidden
        output = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(loss) or draw(st.sampled_from(ACTS))
        if output == "softmax" or loss == "cross_entropy":
            sizes[-1] = max(sizes[-1], 2)
    n = draw(st.integers(lo, 25))
    batch = draw(st.integers(1, 9))              # batches of one: NumPy's gemv and plain-loop paths
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, (n, sizes[0]))
    if loss == "cross_entropy":
        Y = rng.integers(0, sizes[-1], n)
    else:
        Y = rng.uniform(0, 1, (n, sizes[-1]))
    opt = draw(st.sampled_from(sorted(OPTIMIZERS)))
    # example weights, often: whole batches of weight 0 among them (a zero gradient, no NaN)
    w = None if draw(st.booleans()) else \
        np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n).filter(any)))
    leaky = activations.LeakyReLU(alpha=draw(st.sampled_from([0.01, 0.3])))
    layers = [dp.Dense(a, b, leaky if act == "leaky_relu" else act, seed=seed + i, dtype=dtype,
                       fixed_bias=draw(st.booleans()) if i == 0 else False)
              for i, (a, b, act) in enumerate(zip(sizes[:-1], sizes[1:], [hidden] * (depth - 1) + [output]))]
    return dict(layers=layers, loss=loss, X=X, Y=Y, batch=batch, opt=opt, dtype=dtype, seed=seed, w=w)


def _pair(case, cls_a=NumpyEngine, cls_b=NumbaEngine):
    """Two copies of the case's network, one engine on each, on the same checked data."""
    out = []
    for cls in (cls_a, cls_b):
        net = dp.Network([layer.copy() for layer in case["layers"]], loss=case["loss"])
        opt = OPTIMIZERS[case["opt"]]()
        X, Y = net.check_XY(case["X"], case["Y"])
        out.append(cls(net, opt, X, Y, min(case["batch"], len(X)), w=net.check_weights(case.get("w"), len(X))))
    return out


def _state(eng):
    opt = eng.optimizer
    return opt.iterations, {i: {k: v.copy() for k, v in s.items()} for i, s in opt.state.items()}


def _assert_same(a, b, exact, dtype):
    wa, wb = a.net.get_weights(), b.net.get_weights()
    ta, sa = _state(a)
    tb, sb = _state(b)
    assert ta == tb
    assert sa.keys() == sb.keys() and all(sa[i].keys() == sb[i].keys() for i in sa)   # same keys: "v" or "m","v"
    pairs = list(zip(wa, wb)) + [(sa[i][k], sb[i][k]) for i in sa for k in sa[i]]
    for x, y in pairs:
        assert x.shape == y.shape and x.dtype == y.dtype
        if exact:
            assert np.array_equal(x, y, equal_nan=True)   # a diverged run: NaN where the other has NaN
        else:
            np.testing.assert_allclose(y, x, rtol=RTOL[dtype], atol=ATOL[dtype])


def _orders(case, epochs):
    rng = np.random.default_rng(case["seed"])
    return np.stack([rng.permutation(len(case["X"])) for _ in range(epochs)])


def _epochs(eng, orders):
    """Whole epochs, one per row of ``orders``, in one call."""
    return eng.run(orders, 0, len(orders) * eng.n_batches, None)


def _range(eng, order, start, stop):
    """Batches start..stop-1 of one epoch."""
    return eng.run(np.asarray(order)[None, :], start, stop - start, None)


@settings(deadline=None, max_examples=60)
@given(cases(exact=True))
def test_exact_networks_train_to_the_references_bits(case):
    ref, fast = _pair(case)
    orders = _orders(case, 2)
    steps_ref, steps_fast = _epochs(ref, orders), _epochs(fast, orders)
    assert steps_ref.done == steps_fast.done
    assert np.array_equal(steps_ref.costs, steps_fast.costs, equal_nan=True)
    assert np.array_equal(steps_ref.correct, steps_fast.correct)
    # a failed batch's cost may be NaN (NaN != NaN): compare where it failed
    failed = [(f.batch, f.update) if (f := s.failure) else None for s in (steps_ref, steps_fast)]
    assert failed[0] == failed[1]
    _assert_same(ref, fast, True, case["dtype"])


@settings(deadline=None, max_examples=60)
@given(cases())
def test_every_activation_loss_and_optimizer_agrees_with_the_reference(case):
    ref, fast = _pair(case)
    order = _orders(case, 1)[0]
    stop = min(ref.n_batches, 4)                          # a few steps: differences stay at rounding level
    a, b = _range(ref, order, 0, stop), _range(fast, order, 0, stop)
    assert (a.failure, b.failure) == (None, None)
    assert b.costs.sum() == pytest.approx(a.costs.sum(), rel=RTOL[case["dtype"]], abs=ATOL[case["dtype"]])
    _assert_same(ref, fast, False, case["dtype"])


@settings(deadline=None, max_examples=40)
@given(cases(), st.data())
def test_batch_ranges_compose_bit_for_bit(case, data):
    # [0, k) then [k, n) == [0, n) in one call == two epochs in one call; and the same
    # call from the same state gives the same bits (rewinding relies on it).
    one, two = _pair(case, NumbaEngine, NumbaEngine)
    order = _orders(case, 1)[0]
    k = data.draw(st.integers(0, one.n_batches))
    first = _range(one, order, 0, k)
    second = _range(one, order, k, one.n_batches)
    whole = _range(two, order, 0, two.n_batches)
    _assert_same(one, two, True, case["dtype"])
    assert first.correct.sum() + second.correct.sum() == whole.correct.sum()
    assert np.array_equal(np.concatenate([first.costs, second.costs]), whole.costs)
    snap = two.snapshot()
    again = _range(two, order, 0, two.n_batches)
    after = two.net.get_weights()
    two.restore(snap)
    assert np.array_equal(_range(two, order, 0, two.n_batches).costs, again.costs)
    assert all(np.array_equal(x, y) for x, y in zip(after, two.net.get_weights()))
    three, = _pair(case, NumbaEngine)[1:]
    epochs = _epochs(three, np.stack([order, order]))
    three_b, = _pair(case, NumbaEngine)[1:]
    singles = [_range(three_b, order, 0, three_b.n_batches) for _ in range(2)]
    assert epochs.done == 2 * three.n_batches and epochs.failure is None
    assert np.array_equal(epochs.costs, np.concatenate([s.costs for s in singles]))
    assert np.array_equal(epochs.correct, np.concatenate([s.correct for s in singles]))
    _assert_same(three, three_b, True, case["dtype"])


@pytest.mark.parametrize("cls", [NumpyEngine, NumbaEngine])
@pytest.mark.parametrize("bulk", [False, True])
def test_a_non_finite_batch_stops_the_run_before_its_update(cls, bulk):
    # An identity network on inputs that make the 4th batch's cost overflow.
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 3))
    X[order_pos := 17] *= 1e200                # example 17 sits in batch 3 of the identity order
    Y = rng.uniform(0, 1, (40, 2))
    net = dp.Network([3, 2], activation="identity", seed=1)
    opt = dp.SGD(lr=0.05, momentum=0.5)
    eng = cls(net, opt, *net.check_XY(X, Y), 5)
    order = np.arange(40)
    ref_net = net.copy()
    ref = NumpyEngine(ref_net, dp.SGD(lr=0.05, momentum=0.5), *ref_net.check_XY(X, Y), 5)
    ref_steps = _range(ref, order, 0, 3)        # the three batches before the bad one
    steps = _epochs(eng, np.stack([order, order])) if bulk else _range(eng, order, 0, 8)
    assert steps.done == 3 and steps.failure.batch == order_pos // 5 == 3
    assert not np.isfinite(steps.failure.cost) and not steps.failure.update
    assert steps.costs.sum() == pytest.approx(ref_steps.costs.sum(), rel=1e-12)      # the batches before it only
    assert steps.correct.sum() == ref_steps.correct.sum()
    assert opt.iterations == 3
    for a, b in zip(net.get_weights(), ref_net.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(opt.state[0]["v"], ref.optimizer.state[0]["v"], rtol=1e-12)
    # and the next call starts from there: a range after the bad batch still runs
    assert _range(eng, order, 4, 8).failure is None and opt.iterations == 7


@pytest.mark.parametrize("cls", [NumpyEngine, NumbaEngine])
def test_an_update_that_breaks_a_weight_is_found_and_undone(cls):
    # Every cost is finite, but one update overflows a weight: the run rewinds to the
    # weights before that update and says it was the update.
    X = np.ones((6, 1))
    Y = np.zeros((6, 1))
    net = dp.Network([dp.Dense(1, 1, "identity", W=[[2.0]], b=0.0)], loss="quadratic")
    eng = cls(net, dp.SGD(lr=1e308), *net.check_XY(X, Y), 2)     # cost 2, then W = 2 - 2e308 = -inf
    before = net.get_weights()
    steps = _range(eng, np.arange(6), 0, 3)
    assert steps.failure is not None and steps.failure.batch == 0 and steps.failure.update
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))


def test_the_cost_reported_is_the_sum_over_the_examples_trained():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    net = dp.Network([4, 5, 3], activation="relu", loss="cross_entropy", seed=0)
    eng = NumbaEngine(net, dp.SGD(lr=0.0 + 1e-300), *net.check_XY(X, y), 7)   # (almost) no learning
    before = net.copy()
    order = rng.permutation(30)
    steps = _range(eng, order, 0, eng.n_batches)
    Xc, Yc = before.check_XY(X[order], y[order])
    A = before.forward(Xc.T)
    assert steps.costs.sum() == pytest.approx(float(before.loss_fn.per_example(A, Yc.T).sum()), rel=1e-12)
    assert steps.correct.sum() == int(np.sum(before.classes(A.T) == before.target_classes(Yc)))


@pytest.mark.parametrize("first, second", [(NumbaEngine, NumpyEngine), (NumpyEngine, NumbaEngine)])
def test_either_engine_takes_over_from_the_other_mid_epoch(first, second):
    # The optimizer state after a numba run is exactly what the reference would hold,
    # so a checkpoint written under one engine resumes under the other.
    case = dict(layers=[dp.Dense(6, 5, "relu", seed=1), dp.Dense(5, 4, "leaky_relu", seed=2)], loss="quadratic",
                X=np.random.default_rng(0).uniform(-1, 1, (34, 6)), Y=np.random.default_rng(1).uniform(0, 1, (34, 4)),
                batch=4, opt="adam", dtype="float64", seed=5)
    ref, _ = _pair(case, NumpyEngine, NumpyEngine)
    a, b = _pair(case, first, second)
    order = _orders(case, 1)[0]
    _range(ref, order, 0, ref.n_batches)
    _range(a, order, 0, 3)
    b.net.set_weights(a.net.get_weights())
    b.optimizer.set_state(*a.optimizer.get_state())
    _range(b, order, 3, b.n_batches)
    _assert_same(ref, b, True, "float64")


def test_the_learning_rate_is_read_at_every_call():
    # A schedule changes opt.lr between epochs; the engine must not keep an old copy.
    case = dict(layers=[dp.Dense(3, 2, "identity", seed=1)], loss="quadratic", X=np.eye(3), Y=np.ones((3, 2)),
                batch=2, opt="sgd", dtype="float64", seed=0)
    ref, fast = _pair(case)
    for lr in (0.2, 0.05, 0.3):
        for eng in (ref, fast):
            eng.optimizer.lr = lr
            _range(eng, np.arange(3), 0, 2)
    _assert_same(ref, fast, True, "float64")


def test_the_worked_example_trains_10000_rounds_like_the_reference():
    # The seeds' 2-2-2 example through fit, batches of one (NumPy's gemv path): the
    # reference's error after 10,000 rounds to 1e-12 (the same bits where NumPy's float64
    # exp is the C library's, as the kernel's is; see _kernels), and the error the notes
    # should print.
    errors = {}
    for engine in ("numpy", "numba"):
        ex = dp.examples.mazur()
        ex.net.fit(ex.x, ex.y, epochs=10_000, batch_size=1, optimizer=dp.SGD(lr=ex.lr), verbose=0, engine=engine)
        errors[engine] = ex.net.loss(ex.x, ex.y)
    assert errors["numba"] == pytest.approx(errors["numpy"], rel=1e-12)
    assert errors["numba"] == pytest.approx(3.51019e-05, rel=1e-4)      # docs/errata.md


# ---------------------------------------------------------------------------------------
# Choosing an engine

class _MySigmoid(activations.Sigmoid):
    pass


class _MyLoss(losses.Quadratic):
    pass


class _MyOptimizer(dp.SGD):
    pass


def test_auto_picks_numba_when_it_can_and_says_why_not_otherwise():
    net = dp.Network([3, 4, 2], seed=0)
    assert engines.select(None, net, dp.SGD()) is NumbaEngine
    assert engines.select("auto", net, dp.Adam(weight_decay=0.1)) is NumbaEngine
    assert engines.select("numpy", net, dp.SGD()) is NumpyEngine
    refusals = [
        (dp.Network([dp.Dense(3, 2, _MySigmoid())]), dp.SGD(), "layer 0 has a custom activation"),
        (dp.Network([3, 2], loss=_MyLoss()), dp.SGD(), "the loss .* is custom"),
        (net, _MyOptimizer(), "the optimizer _MyOptimizer is not dp.SGD or dp.Adam themselves"),
        (dp.Network([3, 4, 2], dropout=0.3), dp.SGD(), r"it has dropout \(its masks are drawn by the NumPy engine only\)"),
    ]
    for network, opt, reason in refusals:
        assert NumbaEngine.supports(network, opt) is not None
        assert engines.select(None, network, opt) is NumpyEngine
        with pytest.raises(dp.ValidationError, match=f'engine="numba" cannot train this network: {reason}.*'
                                                     'Use engine="numpy"'):
            engines.select("numba", network, opt)


def test_unknown_engines_are_named_with_a_hint():
    net = dp.Network([2, 1])
    with pytest.raises(dp.UnknownNameError, match="Unknown engine 'numbaa'. Did you mean 'numba'?"):
        engines.select("numbaa", net, dp.SGD())
    with pytest.raises(dp.DeltapropTypeError, match="'engine' argument must be 'numpy', 'numba', 'auto' or None. "
                                                    "Got int 3 instead"):
        engines.select(3, net, dp.SGD())


def test_a_numpy_without_a_findable_blas_falls_back_to_the_reference(monkeypatch):
    monkeypatch.setattr(_kernels, "_GEMM", {})
    net = dp.Network([2, 2])
    assert "BLAS NumPy uses" in NumbaEngine.supports(net, dp.SGD())
    assert engines.select(None, net, dp.SGD()) is NumpyEngine


def test_fit_reports_the_engine_it_used():
    ex = dp.examples.mazur()
    assert ex.net.fit(ex.x, ex.y, epochs=2, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0).engine == "numba"
    assert ex.net.fit(ex.x, ex.y, epochs=2, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0,
                      engine="numpy").engine == "numpy"


def test_without_numba_everything_works_on_the_reference():
    # A fresh interpreter in which numba cannot be imported.
    code = textwrap.dedent("""
        import sys
        sys.modules["numba"] = None          # import numba -> ImportError; find_spec -> None
        import deltaprop as dp
        ex = dp.examples.mazur()
        h = ex.net.fit(ex.x, ex.y, epochs=3, batch_size=1, optimizer=dp.SGD(lr=ex.lr), verbose=0)
        print(h.engine, dp.engines.numba_available(), dp.engines.NumbaEngine.supports(ex.net, dp.SGD()))
        try:
            ex.net.fit(ex.x, ex.y, epochs=1, engine="numba", verbose=0)
        except dp.ValidationError as e:
            print("ERROR", e)
        print("numba" in sys.modules and sys.modules["numba"] is not None)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == 'numpy False numba is not installed (pip install "deltaprop[fast]")'
    assert lines[1] == ('ERROR engine="numba" needs numba: pip install "deltaprop[fast]". '
                        'engine="numpy" (the reference) works without it.')
    assert lines[2] == "False"


KINDS = [  # (layers form, loss, optimizer, dtype): W1's, W2's and W3's kinds and a few more
    ([(6, 5, "sigmoid"), (5, 3, "sigmoid")], "quadratic", lambda: dp.SGD(lr=3.0), "float64"),
    ([(6, 8, "relu"), (8, 8, "relu"), (8, 3, "softmax")], "cross_entropy", lambda: dp.Adam(lr=1e-2), "float32"),
    ([(6, 4, "tanh"), (4, 1, "sigmoid")], "binary_cross_entropy", lambda: dp.SGD(lr=0.1, momentum=0.9), "float64"),
    ([(6, 4, "leaky_relu"), (4, 3, "identity")], "quadratic", lambda: dp.Adam(lr=1e-2), "float32"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_compiled_for_one_kind_give_the_general_bits(kind, monkeypatch):
    # The specialized kernels compile only this kind's branches: the same code, so the
    # same bits as the general form, and the spec names the kind.
    layers, loss, make, dtype = kind
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (23, 6))
    Y = rng.integers(0, layers[-1][1], 23) if loss == "cross_entropy" else rng.uniform(0, 1, (23, layers[-1][1]))
    Y = (Y > 0.5).astype(float) if loss == "binary_cross_entropy" else Y
    out = {}
    for kernels in ("general", "specialized"):
        monkeypatch.setenv("DELTAPROP_KERNELS", kernels)
        net = dp.Network([dp.Dense(a, b, act, dtype=dtype, seed=i) for i, (a, b, act) in enumerate(layers)], loss=loss)
        eng = NumbaEngine(net, make(), *net.check_XY(X, Y), 4)
        steps = _epochs(eng, np.stack([np.random.default_rng(e).permutation(23) for e in range(3)]))
        out[kernels] = (eng._spec, steps.costs, steps.correct, net.get_weights())
    (g_spec, *general), (s_spec, *special) = out["general"], out["specialized"]
    assert g_spec == _kernels.ANY and s_spec >= 0
    codes = {_kernels.ACTIVATION_CODES[act] for _, _, act in layers}
    assert {k for k in range(len(_kernels.ACTIVATION_CODES)) if s_spec >> k & 1} == codes
    assert s_spec >> 8 & 15 == _kernels.LOSS_CODES[loss]
    for g, s_ in zip(general[:2], special[:2]):
        assert np.array_equal(g, s_)
    assert all(np.array_equal(g, s_) for g, s_ in zip(general[2], special[2]))
    # each kind is one compiled form of train, keyed by its spec
    assert any(sig[0] == numba_literal(s_spec) for sig in _kernels.train.signatures)


def numba_literal(value):
    from numba import types
    return types.literal(value)


def test_a_wrong_kernels_setting_is_named(monkeypatch):
    monkeypatch.setenv("DELTAPROP_KERNELS", "fast")
    ex = dp.examples.mazur()
    with pytest.raises(dp.ValidationError, match="DELTAPROP_KERNELS.*'specialized' or 'general'.*'fast'"):
        ex.net.fit(ex.x, ex.y, epochs=2, batch_size=1, engine="numba", verbose=0)


def test_failures_compare_by_value():
    assert Failure(3, np.inf, False) == Failure(3, np.inf, False) != Failure(3, np.inf, True)


def test_many_tiny_epochs_make_no_python_object_per_epoch():
    # W3's fit(epochs=10000, batch_size=1) is one compiled call with arrays out: no Python
    # object per epoch to wake the garbage collector, whose passes cost milliseconds in
    # a process that has imported numba (it tripled W3's time per update).
    import gc
    ex = dp.examples.mazur()
    eng = NumbaEngine(ex.net, dp.SGD(lr=0.5), *ex.net.check_XY(ex.x, ex.y), 1)
    orders = np.zeros((5000, 1), np.int64)
    _epochs(eng, orders[:10])
    passes = []
    gc.collect()
    gc.callbacks.append(collected := lambda phase, info: passes.append(phase))
    try:
        steps = _epochs(eng, orders)
    finally:
        gc.callbacks.remove(collected)
    assert steps.done == 5000 and isinstance(steps.costs, np.ndarray)
    assert len(passes) <= 2, f"{len(passes) // 2} garbage collections during one run of 5000 epochs"


# ---------------------------------------------------------------------------------------
# The seam between BP3/BP4 and the optimizer's step, where ranks add their gradients

class _Loopback:
    rank, size = 0, 1

    def allreduce(self, a):
        pass


def _train_ranks(size, engine, dtype, epochs=3):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(203, 5)), rng.integers(0, 3, 203)       # a short last batch of 203 % 16

    def work(comm):
        net = dp.Network([5, 7, 3], activation="tanh", loss="cross_entropy", dtype=dtype, seed=1)
        dp.Trainer(net, X, y, epochs=epochs, batch_size=16, optimizer=dp.Adam(lr=0.01), seed=4, engine=engine,
                   comm=comm).run()
        return net

    nets, errors = run_ranks(size, work)
    assert errors == [None] * size
    alone = dp.Network([5, 7, 3], activation="tanh", loss="cross_entropy", dtype=dtype, seed=1)
    alone.fit(X, y, epochs=epochs, batch_size=16, optimizer=dp.Adam(lr=0.01), seed=4, engine=engine, verbose=0)
    return nets, alone


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_ranks_that_add_their_gradients_train_the_single_process_network(engine, dtype, rtol):
    nets, alone = _train_ranks(2, engine, dtype)
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
        np.testing.assert_array_equal(a, b)                            # every rank takes the same step
    for a, b in zip(nets[0].get_weights(), alone.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("make", [lambda: dp.SGD(lr=0.1, momentum=0.9), lambda: dp.SGD(lr=0.3), dp.Adam])
def test_a_communicator_of_one_changes_no_bit(engine, make):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    nets = [dp.Network([4, 6, 2], activation="relu", loss="cross_entropy", seed=2) for _ in range(2)]
    for net, comm in zip(nets, (None, _Loopback())):
        dp.Trainer(net, X, y, epochs=3, batch_size=8, optimizer=make(), seed=3, engine=engine, comm=comm).run()
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_activation_declared_in_its_class_alone_trains_in_the_compiled_engine(tmp_path):
    # A new activation: its NumPy form and its one-number forms, registered; nothing else
    # is written for the numba engine, which must agree with the reference.
    code = textwrap.dedent("""
        import math, numpy as np
        from deltaprop import activations

        class Softsign(activations.Activation):
            name = "softsign"
            def __call__(self, Z):
                return Z / (1.0 + np.abs(Z))
            def prime(self, Z, A):
                return 1.0 / (1.0 + np.abs(Z)) ** 2
            @staticmethod
            def scalar(z, p, one):
                return z / (one + abs(z))
            @staticmethod
            def scalar_delta(g, z, a, p, one):
                return g * (one / (one + abs(z)) ** 2)

        activations.ACTIVATIONS["softsign"] = Softsign
        import deltaprop as dp
        X = np.random.default_rng(0).normal(size=(40, 3)); y = np.arange(40) % 2
        runs = {}
        for engine in ("numpy", "numba"):
            net = dp.Network([3, 5, 2], activation="softsign", loss="cross_entropy", seed=0)
            h = net.fit(X, y, epochs=3, batch_size=8, optimizer=dp.Adam(lr=0.05), seed=1, engine=engine, verbose=0)
            runs[h.engine] = net.get_weights()
        print(max(float(np.max(np.abs(a - b) / (np.abs(a) + 1e-300))) for a, b in zip(runs["numpy"], runs["numba"])))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-9
