"""Compiled training kernels for the ``numba`` engine (the optional ``deltaprop[fast]`` extra).

This module is a *second* implementation of the step that :mod:`deltaprop.layers`
states once, readably: it exists only for speed, and every kernel here is tested
against that reference (``tests/test_kernels.py``, ``tests/test_engines.py``). Read
``layers.py`` to learn the algorithm; read this file to see how the same equations run
without Python in between.

What makes it fast:

* One call trains a whole range of mini-batches, or many epochs (the loop over batches
  and epochs runs compiled), so the ~30 NumPy calls of ~1 us each that the reference
  spends per step are gone. That is what matters at batch 10 (W1) and for the 2-2-2
  example (W3).
* Parameters, gradients and optimizer state are flat vectors with per-layer views;
  every work buffer is allocated once per call; each element-wise pass (bias +
  activation, BP1/BP2's Hadamard product, the optimizer update) is one loop; and each
  layer's update runs as soon as BP2 no longer needs its W (while its gradient is
  still in cache).
* The matrix products go to the very BLAS NumPy uses (its ``cblas_?gemm``, called
  with the arguments ``np.matmul`` passes for the reference's own products), so they
  are the reference's products, bit for bit, and share its thread pool. (numba's own
  ``np.dot`` would call scipy's BLAS: a second thread pool, and twice as slow at W2's
  first layer here.)
* With plain SGD in float64, the update W -= lr dW is folded into BP4's product
  (alpha = -lr, beta = 1), which this BLAS rounds exactly as the reference's two steps.

What each of these bought, measured with ``make bench``: the README's "Speed" section
and the runs it quotes in benchmarks/results/.

Agreement with the reference (what the tests check): the order of every operation is
the reference's - sums in NumPy's pairwise order, constants in the network's dtype,
no fused multiply-adds - so with exact element-wise functions (relu, leaky_relu,
identity; the quadratic loss; every optimizer) a step gives the reference's bits
whenever no layer has width 1 (for a batch of one example the kernel makes NumPy's
gemv calls and its plain loop for an outer product, as ``np.matmul`` does).
exp, tanh and log come from the C library here and from NumPy's own SIMD code there,
which may differ in the last bit (at most 4 ulps seen; float64 exp is the C library's
in both on a CPU without AVX-512, so W1 trains to the same bits): then one step agrees
to within a few ulps.

Codes: activations 0 sigmoid, 1 relu, 2 tanh, 3 identity, 4 leaky_relu, 5 softmax;
losses 0 quadratic, 1 binary_cross_entropy, 2 cross_entropy; optimizers 0 SGD, 1 Adam.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

SIGMOID, RELU, TANH, IDENTITY, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
QUADRATIC, BCE, CE = 0, 1, 2
SGD, ADAM = 0, 1
ACTIVATION_CODES = {"sigmoid": SIGMOID, "relu": RELU, "tanh": TANH, "identity": IDENTITY,
                    "leaky_relu": LEAKY_RELU, "softmax": SOFTMAX}
LOSS_CODES = {"quadratic": QUADRATIC, "binary_cross_entropy": BCE, "cross_entropy": CE}

# CBLAS enums (cblas.h)
ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112


# ---------------------------------------------------------------------------------------
# NumPy's BLAS

_GEMM: dict | None = None


def _blas_candidates() -> list[str]:
    """Shared libraries that may hold the BLAS NumPy was built with, loaded ones first."""
    found = []
    try:                                    # Linux: what this process has actually loaded
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if line.count("/") else ""
                if "blas" in os.path.basename(path).lower() and path not in found:
                    found.append(path)
    except OSError:
        pass
    root = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*blas*", ".dylibs/*blas*", "../numpy.libs/*blas*.dll"):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            if path not in found:
                found.append(path)
    return found


def gemm_functions() -> dict | None:
    """Where NumPy's own ``cblas_sgemm``/``cblas_dgemm`` are, or None if they cannot be found
    (the engine then declines). ``{"float32": address, "float64": address, "ilp64": bool, ...}``:
    the kernels receive plain addresses, so that their compiled code can be cached."""
    global _GEMM
    if _GEMM is not None:
        return _GEMM or None
    for path in _blas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                try:
                    fs = [getattr(lib, f"{prefix}cblas_{name}{suffix}") for name in ("sgemm", "dgemm", "sgemv", "dgemv")]
                except AttributeError:
                    continue
                a = [ctypes.cast(fn, ctypes.c_void_p).value for fn in fs]
                _GEMM = {"float32": a[0], "float64": a[1], "gemv_float32": a[2], "gemv_float64": a[3],
                         "ilp64": suffix == "64_", "library": path, "symbol": f"{prefix}cblas_dgemm{suffix}"}
                return _GEMM
    _GEMM = {}
    return None


@intrinsic
def _call_c(typingctx, address, args):
    """Call the C function at ``address`` (an integer) with the values of the tuple ``args``,
    typed as they are typed here; it returns nothing."""
    def codegen(context, builder, signature, llargs):
        arg_types = signature.args[1].types
        values = [builder.extract_value(llargs[1], i) for i in range(len(arg_types))]
        fnty = ir.FunctionType(ir.VoidType(), [context.get_value_type(t) for t in arg_types])
        builder.call(builder.inttoptr(llargs[0], fnty.as_pointer()), values)
        return context.get_dummy_value()
    return types.void(address, args), codegen


# ---------------------------------------------------------------------------------------
# The pieces of one step (each mirrors one line of layers.py / activations.py / losses.py)

@njit(cache=True, error_model="numpy")
def _cast(like, value):
    """``value`` in ``like``'s dtype (as NumPy casts a Python scalar against an array)."""
    out = np.empty(1, like.dtype)
    out[0] = value
    return out[0]


@njit(cache=True, error_model="numpy")
def _block_sum(a, lo, n, zero):
    """pairwise_sum for n <= 128: one block, eight accumulators (or a plain loop below 8)."""
    if n < 8:
        res = zero
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, error_model="numpy")
def _half(n):
    n2 = n // 2
    return n2 - n2 % 8


@njit(cache=True, error_model="numpy")
def pairwise_sum(a, lo, n, zero):
    """sum(a[lo:lo + n]) in a's dtype, in exactly the order NumPy's ``add.reduce`` adds a
    contiguous run (numpy/_core/src/umath/loops_utils.h.src, ``pairwise_sum``): blocks of
    at most 128, halved recursively above that, left half + right half. The recursion
    runs on an explicit stack (numba's cache cannot hold self-recursive functions)."""
    if n <= 128:
        return _block_sum(a, lo, n, zero)
    los = np.empty(64, np.int64)       # frames: a range, and whether its left half is done
    ns = np.empty(64, np.int64)
    stage = np.empty(64, np.int64)
    left = np.empty(64, a.dtype)
    sp = 0
    los[0], ns[0], stage[0] = lo, n, 0
    ret = zero
    returning = False
    while sp >= 0:
        if returning:
            if stage[sp] == 1:          # the left half came back: now the right half
                left[sp] = ret
                stage[sp] = 2
                h = _half(ns[sp])
                sp += 1
                los[sp], ns[sp], stage[sp] = los[sp - 1] + h, ns[sp - 1] - h, 0
                returning = False
            else:                       # both halves: left + right, back to the caller
                ret = left[sp] + ret
                sp -= 1
            continue
        m = ns[sp]
        if m <= 128:
            ret = _block_sum(a, los[sp], m, zero)
            returning = True
            sp -= 1
            continue
        stage[sp] = 1
        sp += 1
        los[sp], ns[sp], stage[sp] = los[sp - 1], _half(m), 0
    return ret


@njit(cache=True, error_model="numpy")
def _column_sum(M, c, zero, times=None):
    """sum_i M[i, c] (times[i, c]), in the order NumPy's ``sum(axis=0)`` adds an (n, m) C array:
    row after row when m > 1, but pairwise (the axis is then contiguous) when m == 1."""
    n, m = M.shape
    if m == 1 and n >= 8 and times is None:
        return pairwise_sum(M.ravel(), 0, n, zero)
    s = zero
    for i in range(n):
        s += M[i, c] if times is None else M[i, c] * times[i, c]
    return s


@njit(cache=True, error_model="numpy")
def _rows_sum(terms, zero):
    """terms[0, 0] + terms[1, 0] + ..., one after the other."""
    s = zero
    for i in range(terms.shape[0]):
        s += terms[i, 0]
    return s


@njit(cache=True, error_model="numpy")
def gemm(f, ilp64, transa, transb, M, N, K, A, lda, B, ldb, C, ldc, alpha=1.0, beta=0.0):
    """C = alpha op(A) op(B) + beta C for C-ordered buffers, by the cblas_?gemm at address
    ``f``; with alpha = 1, beta = 0 it is the call ``np.matmul`` makes (RowMajor, the same
    transposes and leading dimensions)."""
    one, zero = _cast(C, alpha), _cast(C, beta)
    o, ta, tb = np.int32(ROW_MAJOR), np.int32(transa), np.int32(transb)
    if ilp64:
        _call_c(f, (o, ta, tb, np.int64(M), np.int64(N), np.int64(K), one, A.ctypes.data, np.int64(lda),
                    B.ctypes.data, np.int64(ldb), zero, C.ctypes.data, np.int64(ldc)))
    else:
        _call_c(f, (o, ta, tb, np.int32(M), np.int32(N), np.int32(K), one, A.ctypes.data, np.int32(lda),
                    B.ctypes.data, np.int32(ldb), zero, C.ctypes.data, np.int32(ldc)))


@njit(cache=True, error_model="numpy")
def gemv(f, ilp64, order, trans, M, N, A, lda, x, y):
    """y = op(A) x by the cblas_?gemv at address ``f`` (unit strides): the call ``np.matmul``
    makes instead of gemm when the batch is one example."""
    one, zero = _cast(y, 1.0), _cast(y, 0.0)
    o, t = np.int32(order), np.int32(trans)
    if ilp64:
        _call_c(f, (o, t, np.int64(M), np.int64(N), one, A.ctypes.data, np.int64(lda), x.ctypes.data, np.int64(1),
                    zero, y.ctypes.data, np.int64(1)))
    else:
        _call_c(f, (o, t, np.int32(M), np.int32(N), one, A.ctypes.data, np.int32(lda), x.ctypes.data, np.int32(1),
                    zero, y.ctypes.data, np.int32(1)))


@njit(cache=True, error_model="numpy")
def bias_activation(code, alpha, Z, b, A, one):
    """Z += b (per row), then A = sigma(Z): the rest of z = W a + b and a = sigma(z).

    Z, A: (n, m). ``alpha`` (leaky_relu) and ``one`` are in Z's dtype.
    """
    n, m = Z.shape
    for i in range(n):
        bi = b[i]
        for c in range(m):
            Z[i, c] += bi
    if code == SOFTMAX:                 # e^(z - max z) / sum e^(z - max z), per column
        for c in range(m):
            mx = Z[0, c]
            for i in range(1, n):
                z = Z[i, c]
                if z > mx or z != z:    # NaN propagates, as in np.max
                    mx = z
            for i in range(n):
                A[i, c] = math.exp(Z[i, c] - mx)
            s = _column_sum(A, c, one - one)
            for i in range(n):
                A[i, c] = A[i, c] / s
        return
    for i in range(n):
        for c in range(m):
            z = Z[i, c]
            if code == SIGMOID:         # overflow-free: e = exp(-|z|) <= 1
                e = math.exp(-abs(z))
                A[i, c] = (one if z >= 0 else e) / (one + e)
            elif code == RELU:
                A[i, c] = z if (z > 0 or z != z) else one - one   # max(z, 0), NaN kept
            elif code == TANH:
                A[i, c] = math.tanh(z)
            elif code == IDENTITY:
                A[i, c] = z
            else:
                A[i, c] = z if z > 0 else alpha * z


@njit(cache=True, error_model="numpy")
def delta(code, alpha, dA, Z, A, D, one):
    """delta = dA (.) sigma'(z) (BP1/BP2); softmax: its Jacobian-transpose product. D may be dA."""
    n, m = Z.shape
    if code == SOFTMAX:                 # a (.) (dA - sum_k dA_k a_k)
        terms = np.empty((n, 1), A.dtype)
        for c in range(m):
            for i in range(n):
                terms[i, 0] = dA[i, c] * A[i, c]
            s = _column_sum(terms, 0, one - one) if m == 1 else _column_sum(dA, c, one - one, A)
            for i in range(n):
                D[i, c] = A[i, c] * (dA[i, c] - s)
        return
    for i in range(n):
        for c in range(m):
            g = dA[i, c]
            if code == SIGMOID:
                D[i, c] = g * (A[i, c] * (one - A[i, c]))
            elif code == RELU:
                D[i, c] = g if Z[i, c] > 0 else one - one
            elif code == TANH:
                D[i, c] = g * (one - A[i, c] * A[i, c])
            elif code == IDENTITY:
                D[i, c] = g
            else:
                D[i, c] = g if Z[i, c] > 0 else g * alpha


@njit(cache=True, error_model="numpy")
def _floor(a, tiny):
    """np.maximum(a, tiny): NaN stays NaN."""
    return tiny if a < tiny else a


@njit(cache=True, error_model="numpy")
def output_error(loss, fused, act, alpha, Z, A, Y, D, cx, one, tiny, classify):
    """BP1: delta^L into D (with the batch's 1/m) and C_x of each example into cx.

    A, Z, D: (n, m) columns; Y: (m, n) rows. Returns the number of examples
    classified right (0 unless ``classify``).
    """
    n, m = A.shape
    mm = _cast(A, m)                    # the reference divides by A.shape[1], cast to the dtype
    half = _cast(A, 0.5)
    zero = one - one
    terms = np.empty((n, 1), A.dtype)       # C_x's terms, summed as NumPy's sum(axis=0) sums them
    for c in range(m):
        for i in range(n):
            a, y = A[i, c], Y[c, i]
            if loss == QUADRATIC:       # C_x = 1/2 sum (a - y)^2;  grad = (a - y)/m
                d = a - y
                terms[i, 0] = d * d
                D[i, c] = d / mm
            elif loss == BCE:
                terms[i, 0] = y * math.log(_floor(a, tiny)) + (one - y) * math.log(_floor(one - a, tiny))
                D[i, c] = (a - y) / mm if fused else (a - y) / _floor(a * (one - a), tiny) / mm
            else:
                terms[i, 0] = y * math.log(_floor(a, tiny))
                D[i, c] = (a - y) / mm if fused else -y / _floor(a, tiny) / mm
        s = _column_sum(terms, 0, zero) if m == 1 else _rows_sum(terms, zero)
        cx[c] = half * s if loss == QUADRATIC else -s
    if not fused:
        delta(act, alpha, D, Z, A, D, one)
    correct = 0
    if classify:
        for c in range(m):
            if n == 1:
                correct += (A[0, c] > 0.5) == (Y[c, 0] > 0.5)
            else:
                ia, iy = 0, 0
                for i in range(1, n):
                    if A[i, c] > A[ia, c]:
                        ia = i
                    if Y[c, i] > Y[c, iy]:
                        iy = i
                correct += ia == iy
    return correct


@njit(cache=True, error_model="numpy")
def sgd_update(p, g, s1, lr, mu, nesterov, wd):
    """SGD on the parameters p in place (optimizers.SGD.update); scalars in p's dtype, wd = 0
    for biases. p, g (the gradient) and s1 (the momentum buffer v) are one layer's views."""
    if mu == 0:
        if wd == 0:
            for k in range(p.shape[0]):
                p[k] -= lr * g[k]
        else:
            for k in range(p.shape[0]):
                p[k] -= lr * (g[k] + wd * p[k])
        return
    for k in range(p.shape[0]):
        gk = g[k]
        if wd != 0:
            gk = gk + wd * p[k]
        v = s1[k] * mu + gk
        s1[k] = v
        p[k] -= lr * (gk + mu * v if nesterov else v)


@njit(cache=True, error_model="numpy")
def adam_update(p, g, s1, s2, b1, b2, one_b1, one_b2, step, eps, wd):
    """Adam on the parameters p in place (optimizers.Adam.update, with step = lr sqrt(1 - b2^t)/(1 - b1^t)
    and eps = eps sqrt(1 - b2^t) already folded); scalars in p's dtype, wd = 0 for biases.
    s1, s2 are the moments m, v. (Loops from 0 over views, IEEE division: LLVM vectorizes them.)"""
    if wd == 0:
        for k in range(p.shape[0]):
            gk = g[k]
            m = s1[k] * b1 + one_b1 * gk
            v = s2[k] * b2 + one_b2 * (gk * gk)
            s1[k] = m
            s2[k] = v
            p[k] -= step * m / (math.sqrt(v) + eps)
        return
    for k in range(p.shape[0]):
        gk = g[k] + wd * p[k]
        m = s1[k] * b1 + one_b1 * gk
        v = s2[k] * b2 + one_b2 * (gk * gk)
        s1[k] = m
        s2[k] = v
        p[k] -= step * m / (math.sqrt(v) + eps)


# ---------------------------------------------------------------------------------------
# The loop over mini-batches

@njit(cache=True, error_model="numpy")
def _batches(X, Y, order, k0, k1, batch, P, G, S1, S2, sizes, acts, alphas, train_b,
             loss, fused, classify, opt, hyper, hyper64, t, fs, ilp64,
             Zbuf, Abuf, Dbuf, dAbuf, xbuf, ybuf, cx, scalars, batch_costs):
    """Train batches k0..k1-1 of one epoch (batch k = order[k*batch:(k+1)*batch]).

    Returns (sum_x C_x, correct, bad, bad_cost, t): ``bad`` is the first batch whose
    cost is not finite (its update not applied; the sums leave it out), else -1.
    ``batch_costs[k - k0]`` gets each trained batch's sum of C_x.
    """
    L = sizes.shape[0] - 1
    n = X.shape[0]
    n_in, n_out = sizes[0], sizes[L]
    f, fv = fs[0], fs[1]                # addresses of cblas_?gemm and cblas_?gemv
    one = hyper[9]
    zero = one - one
    tiny = hyper[10]
    total = 0.0
    correct = 0
    for k in range(k0, k1):
        s = k * batch
        mb = min(batch, n - s)
        Xb = xbuf[:mb * n_in].reshape((mb, n_in))          # X[idx]: rows, C order
        Yb = ybuf[:mb * n_out].reshape((mb, n_out))
        for r in range(mb):             # X[idx], Y[idx] (plain loops: faster than slice copies)
            src, dst = X[order[s + r]], Xb[r]
            for j in range(n_in):
                dst[j] = src[j]
            src, dst = Y[order[s + r]], Yb[r]
            for j in range(n_out):
                dst[j] = src[j]
        # feed forward: z = W a_prev + b, a = sigma(z)
        w = 0
        u = 0
        for l in range(L):
            no, ni = sizes[l + 1], sizes[l]
            W = P[w:w + no * ni].reshape((no, ni))
            b = P[w + no * ni:w + no * ni + no]
            Z = Zbuf[u:u + no * mb].reshape((no, mb))
            A = Abuf[u:u + no * mb].reshape((no, mb))
            # one example and no dimension 1: np.matmul calls gemv (see NumPy's matmul.c.src)
            vec = mb == 1 and no > 1 and ni > 1
            if vec:
                gemv(fv, ilp64, COL_MAJOR, TRANS, ni, no, W, ni, xbuf if l == 0 else Abuf[u - ni:u], Z)
            elif l == 0:    # W @ X[idx].T
                gemm(f, ilp64, NO_TRANS, TRANS, no, mb, ni, W, ni, Xb, ni, Z, mb)
            else:           # W @ A_prev
                gemm(f, ilp64, NO_TRANS, NO_TRANS, no, mb, ni, W, ni, Abuf[u - ni * mb:u], mb, Z, mb)
            bias_activation(acts[l], alphas[l], Z, b, A, one)
            w += no * ni + no
            u += no * mb
        # BP1 and the cost C_x of each example
        u -= n_out * mb
        ZL = Zbuf[u:u + n_out * mb].reshape((n_out, mb))
        AL = Abuf[u:u + n_out * mb].reshape((n_out, mb))
        DL = Dbuf[u:u + n_out * mb].reshape((n_out, mb))
        right = output_error(loss, fused, acts[L - 1], alphas[L - 1], ZL, AL, Yb, DL, cx, one, tiny, classify)
        cost = np.float64(pairwise_sum(cx, 0, mb, zero))
        if not math.isfinite(cost):
            return total, correct, k, cost, t
        total += cost
        batch_costs[k - k0] = cost
        correct += right
        # BP2-BP4 from the top layer down; each layer's update as soon as BP2 has used its W
        t += 1
        # t again, as a float counted in floats: LLVM turns pow(x, float(int)) into
        # repeated multiplication, which is not the C library's pow that Python calls
        hyper64[11] += hyper64[9]
        if opt == ADAM:           # the bias corrections, as Adam.update forms them in Python
            c2 = math.sqrt(1.0 - math.pow(hyper64[5], hyper64[11]))
            scalars[0] = hyper64[0] * c2 / (1.0 - math.pow(hyper64[4], hyper64[11]))
            scalars[1] = hyper64[6] * c2
        for l in range(L - 1, -1, -1):
            no, ni = sizes[l + 1], sizes[l]
            w -= no * ni + no
            D = Dbuf[u:u + no * mb].reshape((no, mb))
            vec = mb == 1 and no > 1 and ni > 1
            if l > 0:                                             # BP2, for the layer below
                dA = dAbuf[:ni * mb].reshape((ni, mb))
                if vec:
                    gemv(fv, ilp64, ROW_MAJOR, TRANS, no, ni, P[w:w + no * ni], ni, D, dA)
                else:
                    gemm(f, ilp64, TRANS, NO_TRANS, ni, mb, no, P[w:w + no * ni], ni, D, mb, dA, mb)
            # BP4, dW = delta a_prev^T (a_prev^T = X[idx] for the first layer). With plain
            # SGD in float64 the update W -= lr dW is folded into the product itself
            # (alpha = -lr, beta = 1: no dW written, no second pass over W; 19% of W1's
            # time), which this BLAS rounds exactly as the two steps of the reference.
            fold = opt == SGD and hyper[1] == 0 and hyper[3] == 0 and P.itemsize == 8 and not vec
            out = P[w:w + no * ni] if fold else G[w:w + no * ni]
            alpha, beta = (-hyper64[0], 1.0) if fold else (1.0, 0.0)
            if vec:         # np.matmul's plain loop for an inner dimension of 1: 0 + d a
                a_prev = xbuf if l == 0 else Abuf[u - ni:u]
                for i in range(no):
                    d = Dbuf[u + i]
                    for j in range(ni):
                        out[i * ni + j] = zero + d * a_prev[j]
            elif l == 0:
                gemm(f, ilp64, NO_TRANS, NO_TRANS, no, ni, mb, D, mb, Xb, ni, out, ni, alpha, beta)
            else:
                gemm(f, ilp64, NO_TRANS, TRANS, no, ni, mb, D, mb, Abuf[u - ni * mb:u], mb, out, ni, alpha, beta)
            for i in range(no):                                   # BP3: db = sum of delta
                G[w + no * ni + i] = pairwise_sum(Dbuf, u + i * mb, mb, zero)
            if l > 0:                                             # BP2's Hadamard product
                u -= ni * mb
                delta(acts[l - 1], alphas[l - 1], dA, Zbuf[u:u + ni * mb].reshape((ni, mb)),
                      Abuf[u:u + ni * mb].reshape((ni, mb)), Dbuf[u:u + ni * mb].reshape((ni, mb)), one)
            wb, bb, be = w + no * ni, w + no * ni, w + no * ni + (no if train_b[l] else 0)
            if opt == SGD:
                if not fold:
                    sgd_update(P[w:wb], G[w:wb], S1[w:wb], hyper[0], hyper[1], hyper[2] != 0, hyper[3])
                sgd_update(P[bb:be], G[bb:be], S1[bb:be], hyper[0], hyper[1], hyper[2] != 0, zero)
            else:
                adam_update(P[w:wb], G[w:wb], S1[w:wb], S2[w:wb], hyper[4], hyper[5], hyper[7], hyper[8],
                            scalars[0], scalars[1], hyper[3])
                adam_update(P[bb:be], G[bb:be], S1[bb:be], S2[bb:be], hyper[4], hyper[5], hyper[7], hyper[8],
                            scalars[0], scalars[1], zero)
    return total, correct, -1, 0.0, t


@njit(cache=True, error_model="numpy")
def _buffers(P, sizes, batch):
    L = sizes.shape[0] - 1
    units = 0
    widest = 0
    for l in range(L):
        units += sizes[l + 1] * batch
        widest = max(widest, sizes[l])
    return (np.empty(units, P.dtype), np.empty(units, P.dtype), np.empty(units, P.dtype),
            np.empty(widest * batch, P.dtype), np.empty(batch * sizes[0], P.dtype),
            np.empty(batch * sizes[L], P.dtype), np.empty(batch, P.dtype), np.empty(2, P.dtype))


@njit(cache=True, error_model="numpy")
def train(X, Y, orders, k0, k1, batch, P, G, S1, S2, sizes, acts, alphas, train_b,
          loss, fused, classify, opt, hyper, hyper64, t, fs, ilp64, out_cost, out_correct, out_batch_cost):
    """Batches k0..k1-1 of each epoch in ``orders`` (one row per epoch), stopping in the
    first bad one; the one entry point (so the step is compiled once).

    X (n, n_in) and Y (n, n_out) are rows; P/G/S1/S2 the flat parameters, gradients and
    optimizer state, layer by layer [W^1 (row-major), b^1, W^2, b^2, ...]. ``hyper``
    (in P's dtype) holds [lr, momentum, nesterov, weight_decay, beta1, beta2, eps,
    1 - beta1, 1 - beta2, 1, tiny, t]; ``hyper64`` the same in float64 (its t is kept
    current by the kernel). ``fs`` holds the addresses of NumPy's cblas_?gemm and
    cblas_?gemv. Fills
    out_cost[e] and out_correct[e] per epoch run (the bad epoch's: up to its bad batch), and
    out_batch_cost[e, k - k0] with each batch's sum of C_x.
    Returns (epochs completed, bad batch or -1, its cost, t).
    """
    Zb, Ab, Db, dAb, xb, yb, cx, sc = _buffers(P, sizes, batch)
    for e in range(orders.shape[0]):
        total, right, bad, bad_cost, t = _batches(
            X, Y, orders[e], k0, k1, batch, P, G, S1, S2, sizes, acts, alphas, train_b,
            loss, fused, classify, opt, hyper, hyper64, t, fs, ilp64, Zb, Ab, Db, dAb, xb, yb, cx, sc, out_batch_cost[e])
        out_cost[e] = total
        out_correct[e] = right
        if bad >= 0:
            return e, bad, bad_cost, t
    return orders.shape[0], -1, 0.0, t
