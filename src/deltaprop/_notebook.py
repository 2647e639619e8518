"""How deltaprop's objects show themselves in a Jupyter notebook (``_repr_html_``).

:func:`network_html` draws a network as an SVG (its layers as columns of units, their
sizes and activations, the loss) above the table ``Network.summary`` prints;
:func:`isolated` wraps a whole HTML page (an explain trace) in an ``iframe`` so that its
style sheet stays inside it. Plain strings, no imports beyond the standard library:
a notebook shows them, and nothing here knows the network's class.
"""

from __future__ import annotations

import html
from typing import Any

#: Rows drawn per layer; a wider layer shows its first and last units around a gap (⋮).
MAX_DRAWN = 8


def network_html(net: Any) -> str:
    """An HTML fragment: the network ``net`` drawn (SVG), and its summary as a table.
    (``net`` is a Network, taken by its attributes: this floor is below the network's.)

    The drawing has one column per layer of units, input first: each column says how
    many units it has and the activation its layer applies; edges join the units drawn.
    """
    sizes = list(net.sizes)
    acts = [layer.activation.name for layer in net.layers]
    col_w, top, unit, height_units = 130, 46, 26, min(max(sizes), MAX_DRAWN)
    width = col_w * len(sizes)
    height = top + unit * height_units + 30
    xs = [col_w * i + col_w // 2 for i in range(len(sizes))]

    def rows(n: int) -> list[float]:
        shown = n if n <= MAX_DRAWN else MAX_DRAWN
        y0 = top + unit * (height_units - shown) / 2 + unit / 2
        return [y0 + unit * i for i in range(shown)]

    def units(n: int) -> list[float]:        # the rows that hold a unit (not the gap)
        ys = rows(n)
        return ys if n <= MAX_DRAWN else ys[:MAX_DRAWN // 2] + ys[MAX_DRAWN // 2 + 1:]

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="network {"-".join(map(str, sizes))}" '
             'style="font: 12px sans-serif">']
    for l in range(len(sizes) - 1):
        for ya in units(sizes[l]):
            for yb in units(sizes[l + 1]):
                parts.append(f'<line x1="{xs[l] + 9}" y1="{ya:.1f}" x2="{xs[l + 1] - 9}" y2="{yb:.1f}" '
                             'stroke="#9aa5b1" stroke-width="0.8" />')
    for l, (n, x) in enumerate(zip(sizes, xs)):
        ys = rows(n)
        fill = "#f3f4f6" if l == 0 else "#dbeafe" if l < len(sizes) - 1 else "#fde68a"
        for i, y in enumerate(ys):
            if n > MAX_DRAWN and i == MAX_DRAWN // 2:
                parts.append(f'<text x="{x}" y="{y + 4:.1f}" text-anchor="middle">⋮</text>')
                continue
            parts.append(f'<circle cx="{x}" cy="{y:.1f}" r="9" fill="{fill}" stroke="#334155" />')
        kind = "input" if l == 0 else "output" if l == len(sizes) - 1 else f"hidden {l}"
        parts.append(f'<text x="{x}" y="16" text-anchor="middle" font-weight="bold">{kind}: {n}</text>')
        if l:
            parts.append(f'<text x="{x}" y="32" text-anchor="middle">{html.escape(acts[l - 1])}</text>')
    loss = net.loss_fn.name + (" (from logits)" if net.loss_fn.from_logits else "")
    parts.append(f'<text x="{xs[-1]}" y="{height - 8}" text-anchor="middle">loss: {html.escape(loss)}</text>')
    parts.append("</svg>")
    head = "<tr><th>layer</th><th>W</th><th>activation</th><th>parameters</th></tr>"
    body = "".join(f"<tr><td>{i}</td><td>{layer.W.shape[0]} × {layer.W.shape[1]}</td>"
                   f"<td>{html.escape(layer.activation.name)}</td><td>{layer.n_params:,}</td></tr>"
                   for i, layer in enumerate(net.layers))
    names = getattr(net, "feature_names", None)
    inputs = (f"; inputs {html.escape(', '.join(names))}" if names else "")
    caption = f"{net.n_params:,} parameters, {net.dtype.name}, loss {html.escape(loss)}{inputs}"
    return (f'<div class="deltaprop-network">{"".join(parts)}'
            f'<table>{head}{body}<caption style="caption-side: bottom; white-space: nowrap; text-align: left">{caption}</caption></table></div>')


def isolated(page: str, height: int = 640) -> str:
    """A whole HTML page inside an iframe (its styles apply to it alone), ``height`` pixels tall."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width: 100%; height: {height}px; '
            'border: 1px solid #ddd" sandbox="allow-same-origin"></iframe>')
