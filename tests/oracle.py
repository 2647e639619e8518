"""An independent reference for backpropagation: scalar reverse-mode autodiff.

This module is a test oracle. It shares no code with deltaprop (it does not import
it) and does no arithmetic in NumPy: every number is a plain Python float held in a
:class:`Value`, every operation records its inputs and its local partial derivatives,
and :meth:`Value.backward` applies the chain rule over a topological order of the
graph, in the style of Karpathy's micrograd. NumPy appears only at the edges, to turn
the caller's arrays into lists of floats and the gradients back into arrays.

On top of the engine, :func:`mlp_loss_and_grads` builds the cost of a fully-connected
network straight from the definitions, one example and one neuron at a time::

    z_j = sum_k W[j][k] a_k + b_j,    a_j = sigma(z_j),    C = 1/n sum_x C_x

It deliberately does *not* use the matrix equations BP1-BP4 (nor the fused
delta^L = a - y of sigmoid + binary cross-entropy or softmax + cross-entropy): the
gradients come from differentiating the graph term by term, so agreement with
deltaprop is evidence that deltaprop's BP1-BP4 are right, not a restatement of them.

The oracle is meant for moderate values (those the tests draw): it computes sigmoid
and softmax literally, without the overflow guards a production library needs.
"""

from __future__ import annotations

import math

import numpy as np  # only to convert inputs and outputs, never for the math

__all__ = ["Value", "mlp_loss_and_grads", "mlp_loss", "ACTIVATIONS", "LOSSES"]


class Value:
    """A scalar in the computation graph: its value ``data`` and ``grad`` = d(output)/d(self).

    ``_children`` are the Values it was computed from and ``_local`` the partial
    derivatives of this node with respect to each of them, evaluated at the forward
    values. ``backward`` then needs only the chain rule:
    child.grad += local * self.grad.
    """

    __slots__ = ("data", "grad", "_children", "_local", "_op")

    def __init__(self, data, _children=(), _local=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._children = tuple(_children)
        self._local = tuple(float(d) for d in _local)
        self._op = _op

    @staticmethod
    def _lift(other) -> "Value":
        return other if isinstance(other, Value) else Value(other)

    # -- the primitives: value and local derivatives ---------------------------------

    def __add__(self, other):
        other = Value._lift(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = Value._lift(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, p):
        if isinstance(p, Value):
            raise TypeError("only constant exponents are supported")
        p = float(p)
        return Value(self.data ** p, (self,), (p * self.data ** (p - 1.0),), f"**{p}")

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self):
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def relu(self):
        """max(x, 0); the derivative at the kink x = 0 is taken as 0."""
        positive = self.data > 0.0
        return Value(self.data if positive else 0.0, (self,), (1.0 if positive else 0.0,), "relu")

    # -- everything else, composed from the primitives --------------------------------

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Value._lift(other))

    def __truediv__(self, other):
        return self * Value._lift(other) ** -1.0

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return Value._lift(other) - self

    def __rtruediv__(self, other):
        return Value._lift(other) / self

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # -- reverse mode -----------------------------------------------------------------

    def topological_order(self) -> list["Value"]:
        """Every node this one depends on, each after all of its children (iterative DFS)."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for child in node._children:
                if id(child) not in seen:
                    stack.append((child, False))
        return order

    def backward(self) -> None:
        """Set ``grad`` of every node of the graph to d(self)/d(node)."""
        order = self.topological_order()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):  # a node's grad is complete before it is passed down
            for child, local in zip(node._children, node._local):
                child.grad += local * node.grad


def vsum(values) -> Value:
    """Sum of Values (a chain of +, starting from the first term)."""
    values = list(values)
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


# -- activations: a layer's list of z_j -> list of a_j --------------------------------

def _sigmoid(zs):
    return [1.0 / (1.0 + (-z).exp()) for z in zs]


def _relu(zs):
    return [z.relu() for z in zs]


def _tanh(zs):
    return [z.tanh() for z in zs]


def _identity(zs):
    return list(zs)


def _leaky_relu(zs, alpha=0.01):
    # relu(z) + alpha (z - relu(z)): z for z > 0, alpha z for z <= 0 (slope alpha at 0).
    return [z.relu() + alpha * (z - z.relu()) for z in zs]


def _softmax(zs):
    # Shifting every z_j by the same constant leaves softmax (and its derivatives)
    # unchanged; the shift is a plain float, not part of the graph.
    shift = max(z.data for z in zs)
    es = [(z - shift).exp() for z in zs]
    total = vsum(es)
    return [e / total for e in es]


ACTIVATIONS = {
    "sigmoid": _sigmoid, "relu": _relu, "tanh": _tanh, "identity": _identity,
    "leaky_relu": _leaky_relu, "softmax": _softmax,
}


# -- per-example losses: (list of a_j, list of float y_j) -> C_x ----------------------

def _quadratic(a, y):
    return 0.5 * vsum((aj - yj) ** 2 for aj, yj in zip(a, y))


def _binary_cross_entropy(a, y):
    return -vsum(yj * aj.log() + (1.0 - yj) * (1.0 - aj).log() for aj, yj in zip(a, y))


def _cross_entropy(a, y):
    return -vsum(yj * aj.log() for aj, yj in zip(a, y))


LOSSES = {
    "quadratic": _quadratic, "binary_cross_entropy": _binary_cross_entropy,
    "cross_entropy": _cross_entropy,
}


# -- the network ----------------------------------------------------------------------

def _floats(array) -> list:
    """Nested lists of Python floats from an array-like (NumPy used only to convert)."""
    return np.asarray(array, dtype=float).tolist()


def _build(weights, biases, activations, loss, X, Y, sample_weight=None):
    """The cost graph: (C, W as lists of lists of Values, b as lists of Values)."""
    if not (len(weights) == len(biases) == len(activations)):
        raise ValueError("weights, biases and activations need one entry per layer")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}")
    for name in activations:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}")
    W = [[[Value(w) for w in row] for row in _floats(Wl)] for Wl in weights]
    b = [[Value(v) for v in _floats(bl)] for bl in biases]
    X, Y = _floats(X), _floats(Y)
    if len(X) != len(Y) or len(X) == 0:
        raise ValueError("X and Y need the same, positive, number of rows")
    for l, (Wl, bl) in enumerate(zip(W, b)):
        if len(Wl) != len(bl):
            raise ValueError(f"layer {l}: W has {len(Wl)} rows but b has {len(bl)} entries")

    costs = []
    for x, y in zip(X, Y):                        # one example at a time
        a = [Value(v) for v in x]                 # a^0 = x (constants: their grads are unused)
        for Wl, bl, act in zip(W, b, activations):
            if any(len(row) != len(a) for row in Wl):
                raise ValueError("consecutive layers do not chain")
            z = [vsum(wjk * ak for wjk, ak in zip(row, a)) + bj   # z_j = sum_k w_jk a_k + b_j
                 for row, bj in zip(Wl, bl)]
            a = ACTIVATIONS[act](z)               # a_j = sigma(z)_j
        if len(y) != len(a):
            raise ValueError("Y rows must have one entry per output")
        costs.append(LOSSES[loss](a, y))          # C_x
    if sample_weight is None:
        C = vsum(costs) / float(len(costs))       # C = 1/n sum_x C_x
    else:                                         # C = sum_x w_x C_x / sum_x w_x
        ws = [float(v) for v in np.asarray(sample_weight, dtype=float).tolist()]
        if len(ws) != len(costs):
            raise ValueError("sample_weight needs one weight per row")
        C = vsum(Value(w_x) * c for w_x, c in zip(ws, costs)) / math.fsum(ws)
    return C, W, b


def mlp_loss(weights, biases, activations, loss, X, Y, sample_weight=None) -> float:
    """The cost C alone (a forward pass through the same graph)."""
    return _build(weights, biases, activations, loss, X, Y, sample_weight)[0].data


def mlp_loss_and_grads(weights, biases, activations, loss, X, Y, sample_weight=None):
    """Cost and gradients of a fully-connected network, by scalar reverse-mode autodiff.

    Args:
        weights: per layer, ``W`` of shape ``(n_out, n_in)``; ``W[j][k]`` joins input k
            to neuron j.
        biases: per layer, ``b`` of shape ``(n_out,)``.
        activations: per layer, one of ``ACTIVATIONS``' names.
        loss: one of ``LOSSES``' names.
        X: inputs, ``(n, n_in)`` rows. Y: targets, ``(n, n_out)`` rows.
        sample_weight: optional ``(n,)`` weights: C = sum_x w_x C_x / sum_x w_x.

    Returns:
        ``(C, [(dW, db), ...])``: the float cost C = 1/n sum_x C_x and, per layer,
        dC/dW ``(n_out, n_in)`` and dC/db ``(n_out,)`` as float64 NumPy arrays.
    """
    C, W, b = _build(weights, biases, activations, loss, X, Y, sample_weight)
    C.backward()
    grads = [(np.array([[w.grad for w in row] for row in Wl], dtype=float).reshape(len(Wl), -1),
              np.array([v.grad for v in bl], dtype=float))
             for Wl, bl in zip(W, b)]
    return C.data, grads
