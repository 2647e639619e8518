"""Compiled training kernels for the ``numba`` engine (the optional ``deltaprop[fast]`` extra).

This module is a *second* implementation of the step that :mod:`deltaprop.layers`
states once, readably: it exists only for speed, and every kernel here is tested
against that reference (``tests/test_engines.py``). Read ``layers.py`` to learn the
algorithm; read this file to see how the same equations run without Python overhead.

What makes it fast:

* One call trains many epochs: the loop over mini-batches (and over epochs, when
  nothing has to happen between them in Python) runs compiled, so the per-step
  Python overhead (~30 NumPy calls of ~1 us each) is gone. That is what matters at
  batch 10 (W1) and for the 2-2-2 example (W3).
* Parameters, gradients and optimizer state are flat vectors with per-layer views,
  every work buffer is allocated once per call, and each element-wise pass (bias +
  activation, BP1/BP2's Hadamard product, the optimizer update) is one fused loop.
* The matrix products stay with the BLAS (``np.dot`` with ``out=``), exactly the
  products of the reference: W a, delta a^T and W^T delta.

Codes: activations 0 sigmoid, 1 relu, 2 tanh, 3 identity, 4 leaky_relu, 5 softmax;
losses 0 quadratic, 1 binary_cross_entropy, 2 cross_entropy; optimizers 0 SGD, 1 Adam.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SIGMOID, RELU, TANH, IDENTITY, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
QUADRATIC, BCE, CE = 0, 1, 2
SGD, ADAM = 0, 1


@njit(cache=True)
def _bias_activation(code, alpha, Z, b, A):
    """Z += b (per row), then A = sigma(Z): the rest of z = W a + b and a = sigma(z)."""
    n, m = Z.shape
    for i in range(n):
        bi = b[i]
        for c in range(m):
            Z[i, c] += bi
    if code == SOFTMAX:
        for c in range(m):
            mx = Z[0, c]
            for i in range(1, n):
                if Z[i, c] > mx:
                    mx = Z[i, c]
            s = 0.0
            for i in range(n):
                e = math.exp(Z[i, c] - mx)
                A[i, c] = e
                s += e
            for i in range(n):
                A[i, c] = A[i, c] / s
        return
    for i in range(n):
        for c in range(m):
            z = Z[i, c]
            if code == SIGMOID:
                e = math.exp(-abs(z))
                A[i, c] = (1.0 if z >= 0 else e) / (1.0 + e)
            elif code == RELU:
                A[i, c] = z if z > 0 else 0.0
            elif code == TANH:
                A[i, c] = math.tanh(z)
            elif code == IDENTITY:
                A[i, c] = z
            else:
                A[i, c] = z if z > 0 else alpha * z


@njit(cache=True)
def _delta(code, alpha, dA, Z, A, D):
    """delta = dA (.) sigma'(z) (BP1/BP2); softmax: its Jacobian-transpose product. D may be dA."""
    n, m = Z.shape
    if code == SOFTMAX:
        for c in range(m):
            s = 0.0
            for i in range(n):
                s += dA[i, c] * A[i, c]
            for i in range(n):
                D[i, c] = A[i, c] * (dA[i, c] - s)
        return
    for i in range(n):
        for c in range(m):
            g = dA[i, c]
            if code == SIGMOID:
                D[i, c] = g * (A[i, c] * (1.0 - A[i, c]))
            elif code == RELU:
                D[i, c] = g if Z[i, c] > 0 else 0.0
            elif code == TANH:
                D[i, c] = g * (1.0 - A[i, c] * A[i, c])
            elif code == IDENTITY:
                D[i, c] = g
            else:
                D[i, c] = g if Z[i, c] > 0 else g * alpha


@njit(cache=True)
def _output_error(loss, fused, act, alpha, Z, A, Y, D):
    """delta^L into D (with the batch's 1/m); returns (sum_x C_x, examples classified right)."""
    n, m = A.shape
    tiny = np.finfo(A.dtype).tiny
    total = 0.0
    correct = 0
    for c in range(m):
        cost = 0.0
        for i in range(n):
            a, y = A[i, c], Y[c, i]
            if loss == QUADRATIC:
                cost += 0.5 * (a - y) * (a - y)
                D[i, c] = (a - y) / m
            elif loss == BCE:
                cost -= y * math.log(max(a, tiny)) + (1.0 - y) * math.log(max(1.0 - a, tiny))
                D[i, c] = (a - y) / m if fused else (a - y) / max(a * (1.0 - a), tiny) / m
            else:
                cost -= y * math.log(max(a, tiny))
                D[i, c] = (a - y) / m if fused else -y / max(a, tiny) / m
        total += cost
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
    if not fused:
        _delta(act, alpha, D, Z, A, D)
    return total, correct


@njit(cache=True)
def _update(opt, hyper, hyper64, t, P, G, S1, S2, start, stop, decay):
    """One optimizer step on P[start:stop] in place (see optimizers.py for the equations).

    ``hyper`` holds [lr, momentum, nesterov, weight_decay, beta1, beta2, eps, 1 - beta1,
    1 - beta2] in the parameters' dtype (as NumPy casts a Python float against a
    float32 array); ``hyper64`` the same in float64, for Adam's per-step scalars.
    """
    lr, mu, nesterov, wd = hyper[0], hyper[1], hyper[2], hyper[3]
    if opt == SGD:
        for k in range(start, stop):
            g = G[k]
            if decay and wd != 0:
                g = g + wd * P[k]
            if mu != 0:
                S1[k] = S1[k] * mu + g
                g = g + mu * S1[k] if nesterov != 0 else S1[k]
            P[k] -= lr * g
    else:
        b1, b2, one_b1, one_b2 = hyper[4], hyper[5], hyper[7], hyper[8]
        c2 = math.sqrt(1.0 - hyper64[5] ** t)
        step = P.dtype.type(hyper64[0] * c2 / (1.0 - hyper64[4] ** t))
        eps = P.dtype.type(hyper64[6] * c2)
        for k in range(start, stop):
            g = G[k]
            S1[k] = S1[k] * b1 + one_b1 * g
            S2[k] = S2[k] * b2 + one_b2 * (g * g)
            P[k] -= step * S1[k] / (math.sqrt(S2[k]) + eps)


@njit(cache=True)
def train_epochs(X, Y, orders, batch, P, G, S1, S2, sizes, acts, alphas, train_b,
                 loss, fused, opt, hyper, t, saved, out_loss, out_correct):
    """Train ``orders.shape[0]`` epochs of mini-batch gradient descent in place.

    X (n, n_in) and Y (n, n_out) are rows; ``orders[e]`` is epoch e's permutation.
    P/G/S1/S2 are the flat parameters, gradients and optimizer state, laid out layer
    by layer as [W^1 (row-major), b^1, W^2, b^2, ...]. Per epoch, ``out_loss`` gets
    sum_x C_x and ``out_correct`` the count classified right, both over the outputs
    seen during training. Returns (iterations done, -1) or, if epoch e's loss or
    weights became non-finite, (iterations, e) with P, S1, S2 and the iteration count
    put back to where they were at the start of epoch e.
    """
    L = sizes.shape[0] - 1
    n = X.shape[0]
    hyper_t = hyper.astype(P.dtype)
    w_off = np.empty(L, np.int64)
    b_off = np.empty(L, np.int64)
    u_off = np.zeros(L + 1, np.int64)         # offsets of each layer's unit buffers
    o = 0
    for l in range(L):
        w_off[l] = o
        o += sizes[l + 1] * sizes[l]
        b_off[l] = o
        o += sizes[l + 1]
        u_off[l + 1] = u_off[l] + sizes[l + 1] * batch
    widest = 0
    for l in range(L + 1):
        widest = max(widest, sizes[l])
    Zbuf = np.empty(u_off[L], P.dtype)
    Abuf = np.empty(u_off[L], P.dtype)
    Dbuf = np.empty(u_off[L], P.dtype)
    dAbuf = np.empty(widest * batch, P.dtype)
    xbuf = np.empty(batch * sizes[0], P.dtype)
    ybuf = np.empty(batch * sizes[L], P.dtype)
    saved_S1 = np.empty_like(S1)
    saved_S2 = np.empty_like(S2)

    for e in range(orders.shape[0]):
        saved[:] = P
        saved_S1[:] = S1
        saved_S2[:] = S2
        t_start = t
        total = 0.0
        correct = 0
        for s in range(0, n, batch):
            mb = min(batch, n - s)
            Xb = xbuf[:mb * sizes[0]].reshape((mb, sizes[0]))
            Yb = ybuf[:mb * sizes[L]].reshape((mb, sizes[L]))
            for r in range(mb):
                Xb[r, :] = X[orders[e, s + r], :]
                Yb[r, :] = Y[orders[e, s + r], :]
            # feed forward: z = W a_prev + b, a = sigma(z)
            for l in range(L):
                W = P[w_off[l]:b_off[l]].reshape((sizes[l + 1], sizes[l]))
                Z = Zbuf[u_off[l]:u_off[l] + sizes[l + 1] * mb].reshape((sizes[l + 1], mb))
                A = Abuf[u_off[l]:u_off[l] + sizes[l + 1] * mb].reshape((sizes[l + 1], mb))
                if l == 0:
                    np.dot(W, Xb.T, Z)
                else:
                    np.dot(W, Abuf[u_off[l - 1]:u_off[l - 1] + sizes[l] * mb].reshape((sizes[l], mb)), Z)
                _bias_activation(acts[l], alphas[l], Z, P[b_off[l]:b_off[l] + sizes[l + 1]], A)
            # BP1
            ZL = Zbuf[u_off[L - 1]:u_off[L - 1] + sizes[L] * mb].reshape((sizes[L], mb))
            AL = Abuf[u_off[L - 1]:u_off[L - 1] + sizes[L] * mb].reshape((sizes[L], mb))
            DL = Dbuf[u_off[L - 1]:u_off[L - 1] + sizes[L] * mb].reshape((sizes[L], mb))
            cost, right = _output_error(loss, fused, acts[L - 1], alphas[L - 1], ZL, AL, Yb, DL)
            total += cost
            correct += right
            # BP2-BP4, top layer down
            for l in range(L - 1, -1, -1):
                D = Dbuf[u_off[l]:u_off[l] + sizes[l + 1] * mb].reshape((sizes[l + 1], mb))
                dW = G[w_off[l]:b_off[l]].reshape((sizes[l + 1], sizes[l]))
                if l == 0:
                    np.dot(D, Xb, dW)                                    # BP4: delta a_prev^T
                else:
                    A_prev = Abuf[u_off[l - 1]:u_off[l - 1] + sizes[l] * mb].reshape((sizes[l], mb))
                    np.dot(D, A_prev.T, dW)
                for i in range(sizes[l + 1]):                            # BP3: sum of delta
                    acc = D[i, 0]
                    for c in range(1, mb):
                        acc += D[i, c]
                    G[b_off[l] + i] = acc
                if l > 0:                                                # BP2 for the layer below
                    W = P[w_off[l]:b_off[l]].reshape((sizes[l + 1], sizes[l]))
                    dA = dAbuf[:sizes[l] * mb].reshape((sizes[l], mb))
                    np.dot(W.T, D, dA)
                    Zp = Zbuf[u_off[l - 1]:u_off[l - 1] + sizes[l] * mb].reshape((sizes[l], mb))
                    Ap = Abuf[u_off[l - 1]:u_off[l - 1] + sizes[l] * mb].reshape((sizes[l], mb))
                    Dp = Dbuf[u_off[l - 1]:u_off[l - 1] + sizes[l] * mb].reshape((sizes[l], mb))
                    _delta(acts[l - 1], alphas[l - 1], dA, Zp, Ap, Dp)
            # gradient step
            t += 1
            for l in range(L):
                _update(opt, hyper_t, hyper, t, P, G, S1, S2, w_off[l], b_off[l], True)
                if train_b[l]:
                    _update(opt, hyper_t, hyper, t, P, G, S1, S2, b_off[l], b_off[l] + sizes[l + 1], False)
        out_loss[e] = total
        out_correct[e] = correct
        finite = math.isfinite(total)
        if finite:
            for k in range(P.shape[0]):
                if not math.isfinite(P[k]):
                    finite = False
                    break
        if not finite:
            P[:] = saved
            S1[:] = saved_S1
            S2[:] = saved_S2
            return t_start, e
    return t, -1
