"""Each compiled kernel of deltaprop._kernels against the NumPy code it re-implements.

Where the operations are the same, in the same order, the kernel must give the same
bits (asserted with array_equal); exp, tanh and log come from the C library in the
kernels and from NumPy's SIMD code in the reference, so the activations that use them
are held to a stated tolerance: at most 8 units in the last place.
"""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import _kernels as K
from deltaprop import activations, losses


DTYPES = [np.float32, np.float64]
MAX_ULP = 8                                    # exp / tanh / log: C library vs NumPy's SIMD
EXACT = {"relu", "identity", "leaky_relu"}     # no transcendental function inside

PROFILE = settings(deadline=None, max_examples=40)


def _arrays(draw, shape, dtype, scale=3.0):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


@PROFILE
@given(st.data(), st.sampled_from(DTYPES), st.integers(1, 700), st.integers(0, 5))
def test_pairwise_sum_adds_in_numpys_order(data, dtype, n, lo):
    a = _arrays(data.draw, lo + n, dtype, scale=1e3)
    assert K.pairwise_sum(a, lo, n, dtype(0)) == a[lo:].sum()            # bit for bit


def test_pairwise_sum_of_long_runs_and_non_finite_values():
    rng = np.random.default_rng(1)
    for dtype in DTYPES:
        for n in (128, 129, 1000, 4097, 100_003):
            a = (rng.standard_normal(n) * 1e4).astype(dtype)
            assert K.pairwise_sum(a, 0, n, dtype(0)) == a.sum()
        a = np.ones(300, dtype)
        a[200] = np.inf
        assert K.pairwise_sum(a, 0, 300, dtype(0)) == np.inf
        a[7] = np.nan
        assert np.isnan(K.pairwise_sum(a, 0, 300, dtype(0)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_is_numpys_matmul_bit_for_bit(dtype):
    # The four products of a step, laid out as the kernel lays them out (C-ordered
    # buffers; the input batch is gathered rows), against the reference's expressions.
    f = K.gemm_functions()
    assert f is not None and f["float64"] and f["float32"]
    fn, ilp64 = f[np.dtype(dtype).name], f["ilp64"]
    rng = np.random.default_rng(0)
    no, ni, m = 7, 13, 5
    W = rng.standard_normal((no, ni)).astype(dtype)
    Xb = rng.standard_normal((m, ni)).astype(dtype)           # X[idx]
    D = rng.standard_normal((no, m)).astype(dtype)
    A_prev = rng.standard_normal((ni, m)).astype(dtype)
    out = np.empty((no, m), dtype)
    K.gemm(fn, ilp64, K.NO_TRANS, K.TRANS, no, m, ni, W, ni, Xb, ni, out, m)
    assert np.array_equal(out, W @ Xb.T)                     # z = W a (first layer)
    K.gemm(fn, ilp64, K.NO_TRANS, K.NO_TRANS, no, m, ni, W, ni, A_prev, m, out, m)
    assert np.array_equal(out, W @ A_prev)                   # z = W a (other layers)
    dW = np.empty((no, ni), dtype)
    K.gemm(fn, ilp64, K.NO_TRANS, K.NO_TRANS, no, ni, m, D, m, Xb, ni, dW, ni)
    assert np.array_equal(dW, D @ Xb.T.T)                    # BP4, first layer
    K.gemm(fn, ilp64, K.NO_TRANS, K.TRANS, no, ni, m, D, m, A_prev, m, dW, ni)
    assert np.array_equal(dW, D @ A_prev.T)                  # BP4
    dA = np.empty((ni, m), dtype)
    K.gemm(fn, ilp64, K.TRANS, K.NO_TRANS, ni, m, no, W, ni, D, m, dA, m)
    assert np.array_equal(dA, W.T @ D)                       # BP2's W^T delta


def test_the_blas_found_is_the_one_numpy_loaded():
    info = K.gemm_functions()
    assert "blas" in info["library"].lower() and info["symbol"].endswith("cblas_dgemm" + ("64_" if info["ilp64"] else ""))


def test_the_blas_found_does_not_depend_on_what_was_imported_before():
    # SciPy's wheel loads an OpenBLAS of its own (numba imports it): found first, the
    # engine's float32 products differed from np.matmul's in the last bit on AVX-512
    show = "import deltaprop._kernels as K; print(K.gemm_functions()['library'])"
    first = "import numba, scipy.linalg; numba.njit(lambda: 1)(); "
    fresh, after = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                    .stdout.strip() for code in (show, first + show))
    assert fresh == after
    root = os.path.dirname(np.__file__)
    if glob.glob(os.path.join(root, "..", "numpy.libs", "*blas*")):      # a wheel: its own OpenBLAS
        assert os.path.dirname(after) == os.path.normpath(os.path.join(root, "..", "numpy.libs"))


@PROFILE
@given(st.data(), st.sampled_from(DTYPES), st.sampled_from(sorted(K.ACTIVATION_CODES)),
       st.integers(1, 9), st.integers(1, 12))
def test_bias_and_activation_match_the_reference(data, dtype, name, n, m):
    Z = _arrays(data.draw, (n, m), dtype, scale=data.draw(st.sampled_from([0.1, 3.0, 40.0])))
    b = _arrays(data.draw, n, dtype)
    act = activations.get(name)
    alpha = dtype(getattr(act, "alpha", 0.0))
    ref_Z = Z + b[:, None]
    ref_A = act(ref_Z)
    A = np.empty_like(Z)
    K.bias_activation(K.ANY, K.ACTIVATION_CODES[name], alpha, Z, b, A, dtype(1))
    assert np.array_equal(Z, ref_Z)                            # z = W a + b: the same addition
    assert A.dtype == ref_A.dtype
    if name in EXACT:
        assert np.array_equal(A, ref_A)
    else:
        np.testing.assert_array_max_ulp(A, ref_A, maxulp=MAX_ULP)


@PROFILE
@given(st.data(), st.sampled_from(DTYPES), st.sampled_from(sorted(K.ACTIVATION_CODES)),
       st.integers(1, 9), st.integers(1, 12))
def test_delta_is_the_reference_backward_bit_for_bit(data, dtype, name, n, m):
    # sigma' is formed from A and Z alone (no exp), so every activation must agree exactly.
    act = activations.get(name)
    Z = _arrays(data.draw, (n, m), dtype)
    Z[0, 0] = 0                                                # the kink of relu / leaky_relu
    A = act(Z)
    dA = _arrays(data.draw, (n, m), dtype)
    D = np.empty_like(Z)
    K.delta(K.ANY, K.ACTIVATION_CODES[name], dtype(getattr(act, "alpha", 0.0)), dA, Z, A, D, dtype(1))
    assert np.array_equal(D, act.backward(dA, Z, A))


CASES = [("quadratic", "sigmoid"), ("quadratic", "identity"), ("quadratic", "softmax"), ("quadratic", "relu"),
         ("binary_cross_entropy", "sigmoid"), ("binary_cross_entropy", "softmax"),
         ("cross_entropy", "softmax"), ("cross_entropy", "sigmoid")]


@PROFILE
@given(st.data(), st.sampled_from(DTYPES), st.sampled_from(CASES), st.integers(1, 6), st.integers(1, 12))
def test_output_error_and_costs_match_the_reference(data, dtype, case, n, m):
    loss_name, act_name = case
    loss, act = losses.get(loss_name), activations.get(act_name)
    if act_name == "softmax" or loss_name == "cross_entropy":
        n = max(n, 2)
    Z = _arrays(data.draw, (n, m), dtype)
    A = act(Z)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    Y = rng.uniform(0, 1, (n, m)).astype(dtype)
    if loss_name == "cross_entropy":
        Y = (Y / Y.sum(axis=0)).astype(dtype)
    fused = loss.fused_with == act_name
    D, cx = np.empty_like(Z), np.empty(m, dtype)
    correct = K.output_error(K.ANY, K.LOSS_CODES[loss_name], fused, K.ACTIVATION_CODES[act_name], dtype(0), Z, A,
                             np.ascontiguousarray(Y.T), D, cx, dtype(1), dtype(np.finfo(dtype).tiny), True)
    ref_D = loss.delta(A, Y) if fused else act.backward(loss.grad(A, Y), Z, A)
    assert np.array_equal(D, ref_D)                           # no log in delta^L: the same bits
    ref_cx = loss.per_example(A, Y)
    if loss_name == "quadratic":
        assert np.array_equal(cx, ref_cx)
    else:
        np.testing.assert_array_max_ulp(cx, ref_cx, maxulp=MAX_ULP * n)
    net_like = dp.Network([dp.Dense(1, n, act_name, dtype=dtype)], loss=loss_name)
    assert correct == int(np.sum(net_like.classes(A.T) == net_like.target_classes(Y.T)))


def test_output_error_keeps_nan_so_the_batch_is_caught():
    # np.maximum(a, tiny) keeps a NaN; a kernel that floored it to tiny would report a
    # finite cost for a diverged batch.
    for loss in ("binary_cross_entropy", "cross_entropy"):
        A = np.array([[np.nan], [0.5]])
        Y = np.array([[0.0, 1.0]])
        cx, D = np.empty(1), np.empty((2, 1))
        K.output_error(K.ANY, K.LOSS_CODES[loss], True, K.ACTIVATION_CODES["sigmoid"], 0.0, A, A, Y, D, cx, 1.0,
                       np.finfo(float).tiny, True)
        assert np.isnan(cx[0])


OPTIMIZERS = [lambda: dp.SGD(lr=0.3), lambda: dp.SGD(lr=0.1, momentum=0.9),
              lambda: dp.SGD(lr=0.1, momentum=0.8, nesterov=True), lambda: dp.SGD(lr=0.2, weight_decay=0.05),
              lambda: dp.SGD(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.01),
              lambda: dp.Adam(lr=1e-2), lambda: dp.Adam(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6),
              lambda: dp.Adam(lr=1e-2, weight_decay=0.1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", OPTIMIZERS)
def test_updates_are_the_optimizers_bit_for_bit(make, dtype):
    # Ten steps on a weight matrix and a bias with fresh gradients each step.
    rng = np.random.default_rng(3)
    ref, opt = make(), make()
    W = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    P = np.concatenate([W.ravel(), b])
    S1, S2 = np.zeros_like(P), np.zeros_like(P)
    sgd = isinstance(opt, dp.SGD)
    kind = K.OPTIMIZER_CODES[type(opt).__name__]
    hyper = K.Hyper(*np.array(opt.hyper(), dtype=np.float64).astype(dtype))   # as the engine casts them
    for t in range(1, 11):
        gW = (rng.standard_normal(W.shape) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
        gb = (rng.standard_normal(b.shape)).astype(dtype)
        ref.step([(W, gW), (b, gb)])
        G = np.concatenate([gW.ravel(), gb])
        k0, k1 = (np.array(k, dtype=dtype)[()] for k in type(opt).scalar_prepare(opt.hyper(), float(t)))
        for lo, hi, wd in ((0, 12, hyper.weight_decay), (12, 16, dtype(0))):
            K.apply_update(K.ANY, kind, P[lo:hi], G[lo:hi], S1[lo:hi], S2[lo:hi], hyper, k0, k1, wd)
    assert np.array_equal(P, np.concatenate([W.ravel(), b]))
    if sgd and ref.momentum:
        assert np.array_equal(S1, np.concatenate([ref.state[0]["v"].ravel(), ref.state[1]["v"].ravel()]))
    if not sgd:
        assert np.array_equal(S1, np.concatenate([ref.state[0]["m"].ravel(), ref.state[1]["m"].ravel()]))
        assert np.array_equal(S2, np.concatenate([ref.state[0]["v"].ravel(), ref.state[1]["v"].ravel()]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_products_are_the_blas_bits_where_the_probe_says_so(dtype):
    # One-example products of tiny layers are computed in the kernel only in an order
    # the probe found to give this BLAS's bits; fresh numbers (another seed) agree too,
    # and a product the probe could not match stays with gemv (mode 0).
    f = K.gemm_functions()
    blas = K.Blas(f[np.dtype(dtype).name], f["gemv_" + np.dtype(dtype).name], f["ilp64"])
    single = np.dtype(dtype) == np.float32
    rng = np.random.default_rng(12345)
    for shape in [(2, 2), (3, 5), (8, 8), (5, 3)]:
        small = K.small_products(blas, np.dtype(dtype), [shape])
        no, ni = shape
        for forward, mode in ((True, small & 15), (False, small >> 4)):
            if mode == 0:
                continue
            for _ in range(200):
                W = (rng.normal(size=no * ni) * 2.0 ** rng.integers(-20, 20, no * ni)).astype(dtype)
                v = (rng.normal(size=ni if forward else no)).astype(dtype)
                ref, mine = np.empty(no if forward else ni, dtype), np.empty(no if forward else ni, dtype)
                order = K.COL_MAJOR if forward else K.ROW_MAJOR
                m, n = (ni, no) if forward else (no, ni)
                K._gemv(blas.gemv, blas.ilp64, single, np.int32(order), np.int32(K.TRANS), m, n, W.ctypes.data, ni,
                        v.ctypes.data, ref.ctypes.data)
                (K.small_mv if forward else K.small_mtv)(mode, W, v, mine, no, ni)
                assert np.array_equal(ref, mine), (shape, forward, mode)
    # the worked example's 2-2-2 products are the kernel's own on this machine's BLAS or not: either way
    # the engine's bits are the reference's where the reference's are exact (test_engines)
    assert K.small_products(blas, np.dtype(dtype), [(2, 2), (100, 100)]) == K.small_products(blas, np.dtype(dtype), [(2, 2)])
