""""Why": the numbers of one neuron (or one weight) in the last step, as chain-rule
products in the notation the page picked, read off a :class:`~deltaprop.explain.Trace`
(the real pass's caches) and printed as ``deltaprop explain`` prints them."""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING, Any

from .. import _render
from .._render import Der, fmt

if TYPE_CHECKING:
    from ..explain import Trace

PRECISION = 9


def neuron_story(trace: Trace, layer: int, j: int, notation: str, edge: int | None = None) -> dict[str, Any]:
    """HTML lines and the exact values for neuron ``j`` of Dense layer ``layer`` (and, with
    ``edge``, for its weight from neuron ``edge`` below), in the last step of ``trace``.

    ``values`` holds the floats themselves (as the trace holds them); ``printed`` the same
    numbers as the page shows them (``fmt`` at 9 decimals, as explain prints them).
    """
    nota = _render._NOTATION[notation](trace)
    ctx = _render.Ctx(PRECISION, 8)
    st = trace.steps[0]
    ly = st.layers[layer]
    L = len(trace.sizes) - 1
    m = trace.m
    h = lambda tok: tok.html(ctx)  # noqa: E731
    z, a, d = nota.z(layer, j), nota.a(layer, j), nota.delta(layer, j)
    below = (lambda k: _render.input_sym(nota, k)) if layer == 0 else (lambda k: nota.a(layer - 1, k))
    lines, values, printed = [], {}, {}

    def put(name, value):
        values[name] = [float(v) for v in value] if hasattr(value, "__len__") else float(value)
        printed[name] = [fmt(v, PRECISION) for v in value] if hasattr(value, "__len__") else fmt(value, PRECISION)
        return printed[name]

    # the notation's sigma for the sigmoid; any other activation by its name
    act = nota.act if ly.activation == "sigmoid" else _html.escape(ly.activation)
    cols = range(m)
    each = (lambda col: f" (example {col + 1})") if m > 1 else (lambda col: "")
    zs, as_, ds = ly.Z[j], ly.A[j], ly.D[j]
    put("z", zs)
    put("a", as_)
    put("delta", ds)
    n_in = ly.W.shape[1]
    shown = range(min(n_in, 4))
    more = " + …" if n_in > 4 else ""
    symbols = " + ".join(f"{h(nota.w(layer, j, k))} {h(below(k))}" for k in shown) + more
    for col in cols:
        numbers = " + ".join(f"{fmt(ly.W[j, k], PRECISION)} × {fmt(ly.A_prev[k, col], PRECISION)}" for k in shown)
        lines.append(f"{h(z)} = {symbols} + {h(nota.bias(layer, j))} = {numbers}{more} + "
                     f"{fmt(ly.b[j], PRECISION)} = {fmt(zs[col], PRECISION)}{each(col)}")
        lines.append(f"{h(a)} = {act}({h(z)}) = {fmt(as_[col], PRECISION)}{each(col)}")
    if layer == L - 1 and trace.fused:
        grad = st.loss_grad[j] if st.loss_grad is not None else None
        for col in cols:
            y = trace.Y[col, j]
            lines.append(f"{h(d)} = ({h(a)} − {h(nota.y(j))}){'/' + str(m) if m > 1 else ''} = "
                         f"({fmt(as_[col], PRECISION)} − {fmt(y, PRECISION)}){'/' + str(m) if m > 1 else ''} = "
                         f"{fmt(ds[col], PRECISION)}{each(col)} "
                         f"<span class='note'>(the {trace.loss} cost after a {ly.activation} output: "
                         f"σ′(z) cancels)</span>")
        if grad is not None:
            put("dC_da", grad)
    else:
        assert ly.dA is not None        # recorded for every layer but a fused output
        dA, prime = ly.dA[j], ly.prime[j]
        put("dC_da", dA)
        put("prime", prime)
        dCda, dadz = Der(nota.cost, a), Der(a, z)
        for col in cols:
            lines.append(f"{h(d)} = {h(dCda)} · {h(dadz)} = {fmt(dA[col], PRECISION)} × {fmt(prime[col], PRECISION)} "
                         f"= {fmt(ds[col], PRECISION)}{each(col)}")
        if layer < L - 1:
            up = st.layers[layer + 1]
            terms = " + ".join(f"{h(nota.w(layer + 1, i, j))} {h(nota.delta(layer + 1, i))}"
                               for i in range(min(up.W.shape[0], 4))) + (" + …" if up.W.shape[0] > 4 else "")
            lines.append(f"{h(dCda)} = {terms}: the error of the layer above, back through its weights (BP2)")
    db = ly.db[j]
    put("db", db)
    lines.append(f"{h(Der(nota.cost, nota.bias(layer, j)))} = {h(d)}{' summed over the batch' if m > 1 else ''} "
                 f"= {fmt(db, PRECISION)}")
    put("b", ly.b[j])
    put("b_new", ly.b_new[j])
    put("dW", ly.dW[j])
    put("W", ly.W[j])
    put("W_new", ly.W_new[j])
    ks = [edge] if edge is not None else range(ly.W.shape[1])
    for k in ks:
        w = nota.w(layer, j, k)
        a_k = ly.A_prev[k]
        rhs = " + ".join(f"{fmt(ds[c], PRECISION)} × {fmt(a_k[c], PRECISION)}" for c in range(min(m, 3)))
        lines.append(f"{h(Der(nota.cost, w))} = {h(d)} {h(below(k))} = {rhs}{' + …' if m > 3 else ''} "
                     f"= {fmt(ly.dW[j, k], PRECISION)}")
        lines.append(_update_line(trace, h(nota.w(layer, j, k, plus=True)), h(w), ly.W[j, k], ly.dW[j, k],
                                  ly.W_new[j, k], nota))
    if not ly.fixed_bias:
        lines.append(_update_line(trace, h(nota.bias(layer, j, plus=True)), h(nota.bias(layer, j)), ly.b[j], db,
                                  ly.b_new[j], nota))
    title = f"{_html.escape(nota.layer_title(layer))}: neuron {h(a)}"
    return {"title": title, "lines": lines, "values": values, "printed": printed}


def _update_line(trace: Trace, plus: str, sym: str, before: float, grad: float, after: float,
                 nota: _render.Notation) -> str:
    if trace.plain_sgd:
        lr = trace.optimizer["lr"]
        return (f"{plus} = {sym} − {nota.lr} ∂/∂{sym} = {fmt(before, PRECISION)} − {fmt(lr, PRECISION)} × "
                f"{fmt(grad, PRECISION)} = {fmt(after, PRECISION)}")
    return (f"{plus} = {fmt(after, PRECISION)} (from {fmt(before, PRECISION)} by "
            f"{_html.escape(trace.optimizer.get('repr', trace.optimizer.get('name', '')))}, whose step uses "
            f"∂C/∂{sym} = {fmt(grad, PRECISION)})")
