"""Why backpropagation - one full gradient, by backprop and by finite differences, timed.

Seeds 000 and 004 ask why we prefer backpropagation to the definition
dC/dw = lim_{h->0} (C(w + h) - C(w)) / h: the definition gives one derivative per
evaluation of C, so a network of n weights needs n more forward passes for one
gradient ("This is expensive! ... and this is **one** update"), while backprop gets
all n from one forward and one backward pass.

:func:`measure` times both on networks ``[k, k, k]`` (sigmoid, quadratic cost, a batch
of ``batch`` random examples) whose parameter count n = 2k^2 + 2k runs from about ten to
``max_weights``:

* backprop: ``net.gradients(X, Y)`` (one forward and one backward pass; the median of
  repeated calls);
* finite differences: the **central** difference (C(w + h) - C(w - h)) / 2h, so two
  forward passes per weight and bias, each through the network's own ``forward`` and
  loss on already validated columns (the cheapest honest C). When the n parameters
  would take longer than ``budget`` seconds, a random sample of them is timed and
  the total extrapolated as (time of the sample) x n / (sample size); the report says
  which sizes were extrapolated and from how many parameters.

Both are timed with the BLAS held to one thread (``threads=1``, through threadpoolctl,
``pip install "deltaprop[why]"``): on a small shared machine a multithreaded BLAS
waits on busy cores, which would distort both curves.

The growth of each is the slope of a least-squares line through (log n, log t) over
the largest decade of sizes (n from max/10 to max): below it, Python's per-call
overhead still flattens both curves. The fit over all sizes is reported beside it. Backprop's slope is about 1 (its work is proportional to n),
finite differences' about 2 (n passes of work proportional to n), so the ratio grows
in proportion to n.

>>> report = measure(max_weights=200, sizes=3, budget=0.05, seed=0)
>>> [row.n_params for row in report.rows]
[12, 40, 220]
>>> all(row.fd_seconds > row.backprop_seconds for row in report.rows)
True
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ._array import Seed, as_rng, check_positive_int, check_real
from .errors import ValidationError
from .network import Network

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PLOT_HINT = 'Plotting needs matplotlib, an optional extra: pip install "deltaprop[plot]"'
#: Step of the central differences.
H = 1e-5


@dataclass
class WhyRow:
    """One network size: both timings, in seconds for one full gradient."""

    sizes: list[int]
    n_params: int
    backprop_seconds: float          # median of ``repeats`` calls of net.gradients
    repeats: int
    fd_seconds: float                # all n parameters (measured, or extrapolated from the sample)
    fd_sampled: int                  # parameters actually differenced
    fd_measured_seconds: float       # time spent on those
    max_rel_error: float             # |fd - backprop| / max|backprop| over the sampled parameters

    @property
    def extrapolated(self) -> bool:
        return self.fd_sampled < self.n_params

    @property
    def ratio(self) -> float:
        return self.fd_seconds / self.backprop_seconds


@dataclass
class WhyReport:
    """The table of :func:`measure`, the fitted growth of each method, and a plot."""

    rows: list[WhyRow]
    batch: int
    seed: int
    budget: float
    notes: list[str] = field(default_factory=list)

    @property
    def fit_rows(self) -> list[WhyRow]:
        """The largest decade of sizes (all of them if fewer than two fall in it)."""
        top = max(r.n_params for r in self.rows)
        rows = [r for r in self.rows if r.n_params >= top / 10]
        return rows if len(rows) >= 2 else self.rows

    def _fit(self, attr: str, rows: list[WhyRow] | None = None) -> float:
        rows = self.fit_rows if rows is None else rows
        n = np.log([r.n_params for r in rows])
        t = np.log([getattr(r, attr) for r in rows])
        return float(np.polyfit(n, t, 1)[0]) if len(rows) >= 2 else float("nan")

    @property
    def backprop_slope(self) -> float:
        """Exponent p of t ~ n^p for backprop (about 1)."""
        return self._fit("backprop_seconds")

    @property
    def fd_slope(self) -> float:
        """Exponent p of t ~ n^p for finite differences (about 2)."""
        return self._fit("fd_seconds")

    def __str__(self) -> str:
        lines = [f"deltaprop why: one full gradient of C on a batch of {self.batch} examples, networks [k, k, k] "
                 "(sigmoid, quadratic cost)",
                 "backprop = net.gradients (one forward + one backward pass); finite differences = central, "
                 f"(C(w+h) - C(w-h))/2h with h = {H:g}: two forward passes per parameter",
                 "",
                 f"{'parameters':>10}  {'network':>15}  {'backprop':>11}  {'finite diff.':>13}  {'ratio':>9}  "
                 f"{'fd sampled':>17}  {'fd vs bp':>8}"]
        for r in self.rows:
            star = "*" if r.extrapolated else " "
            lines.append(f"{r.n_params:>10,}  {str(r.sizes):>15}  {_seconds(r.backprop_seconds):>11}  "
                         f"{_seconds(r.fd_seconds) + star:>13}  {r.ratio:>8,.0f}x  "
                         f"{f'{r.fd_sampled:,} of {r.n_params:,}':>17}  {r.max_rel_error:>8.1e}")
        if any(r.extrapolated for r in self.rows):
            lines.append(f"* extrapolated: {self.budget:g} s of finite differences on a random sample of the "
                         "parameters, scaled by n / (sample size)")
        lines.append("fd vs bp: largest |finite difference - backprop| / max |backprop| over the sampled parameters")
        lines.append("")
        fit = self.fit_rows
        lines.append(f"growth: least-squares slope of log t against log n over the largest decade, "
                     f"{fit[0].n_params:,} to {fit[-1].n_params:,} parameters (over all sizes, where per-call "
                     "overhead flattens the small end, in brackets):")
        lines.append(f"  backprop            t ~ n^{self.backprop_slope:.2f}  (n^{self._fit('backprop_seconds', self.rows):.2f})"
                     "   one forward and one backward pass: work proportional to n")
        lines.append(f"  finite differences  t ~ n^{self.fd_slope:.2f}  (n^{self._fit('fd_seconds', self.rows):.2f})"
                     "   2n forward passes, each proportional to n")
        big = self.rows[-1]
        lines.append(f"at {big.n_params:,} parameters finite differences take {_seconds(big.fd_seconds)} "
                     f"and backprop {_seconds(big.backprop_seconds)}: {big.ratio:,.0f} times as long "
                     f"(at {self.rows[0].n_params:,}: {self.rows[0].ratio:,.0f} times); the ratio grows like "
                     f"n^{self.fd_slope - self.backprop_slope:.2f}.")
        lines += self.notes
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Both times against the number of parameters, log-log; written to ``path`` if given
        (PNG, or the format of its suffix, e.g. ``.svg``).

        Returns the matplotlib ``Figure``. Needs ``pip install "deltaprop[plot]"``.
        """
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(_PLOT_HINT, name="matplotlib") from None
        fig = Figure(figsize=(7, 4.6), layout="constrained")
        ax = fig.add_subplot()
        n = [r.n_params for r in self.rows]
        ax.loglog(n, [r.backprop_seconds for r in self.rows], "o-", color="tab:blue",
                  label=f"backprop (net.gradients): t ~ n^{self.backprop_slope:.2f}")
        ax.loglog(n, [r.fd_seconds for r in self.rows], "s-", color="tab:red",
                  label=f"finite differences (central): t ~ n^{self.fd_slope:.2f}")
        ext = [r for r in self.rows if r.extrapolated]
        if ext:
            ax.loglog([r.n_params for r in ext], [r.fd_seconds for r in ext], "s", mfc="white", color="tab:red",
                      label="finite differences, extrapolated from a sample")
        ax.set_xlabel("parameters n (weights and biases)")
        ax.set_ylabel("seconds for one full gradient")
        ax.set_title(f"Why backpropagation: one gradient, batch of {self.batch}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
        if path is not None:
            from .plotting import write_figure   # atomic, and the same checks as every other plot
            write_figure(fig, path, dpi=120)
        return fig


def _seconds(t: float) -> str:
    if t >= 1:
        return f"{t:,.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} us"


def widths(min_weights: int, max_weights: int, count: int) -> list[int]:
    """k for networks [k, k, k] whose 2k^2 + 2k parameters are log-spaced from min to max.

    >>> widths(12, 100_000, 5)
    [2, 7, 23, 72, 223]
    """
    targets = np.geomspace(min_weights, max_weights, count)
    ks = [max(2, round((-2 + math.sqrt(4 + 8 * t)) / 4)) for t in targets]
    return sorted(set(ks))


def _time_backprop(net: Network, X: np.ndarray, Y: np.ndarray,
                   floor: float = 0.1) -> tuple[float, int, list[tuple[np.ndarray, np.ndarray]]]:
    grads = net.gradients(X, Y)                       # warm-up (and the reference values)
    times: list[float] = []
    total = 0.0
    while len(times) < 3 or (total < floor and len(times) < 1000):
        start = time.perf_counter()
        net.gradients(X, Y)
        t = time.perf_counter() - start
        times.append(t)
        total += t
    return float(np.median(times)), len(times), grads


def _time_fd(net: Network, X: np.ndarray, Y: np.ndarray, grads: list[tuple[np.ndarray, np.ndarray]], budget: float,
             rng: np.random.Generator) -> tuple[float, int, float]:
    """Central differences over a random order of all parameters until done or out of time."""
    Xc, Yc = X.T, Y.T
    flat = [(p.reshape(-1), g.reshape(-1)) for layer, (dW, db) in zip(net.layers, grads)
            for p, g in ((layer.W, dW), (layer.b, db))]
    index = [(a, i) for a, (p, _) in enumerate(flat) for i in range(p.size)]
    order = rng.permutation(len(index))
    cost = net.loss_fn
    worst = 0.0
    scale = max(float(np.max(np.abs(g))) for _, g in flat) or 1.0
    done = 0
    start = time.perf_counter()
    for n in order:
        a, i = index[n]
        p, g = flat[a]
        v = p[i]
        p[i] = v + H
        c_plus = cost(net.forward(Xc), Yc)
        p[i] = v - H
        c_minus = cost(net.forward(Xc), Yc)
        p[i] = v
        worst = max(worst, abs((c_plus - c_minus) / (2 * H) - g[i]) / scale)
        done += 1
        if time.perf_counter() - start > budget:
            break
    return time.perf_counter() - start, done, worst


def _blas_threads(threads: int | None) -> tuple[contextlib.AbstractContextManager[Any], str]:
    """A context that holds the BLAS to ``threads`` threads (None: leave it), and a word on what it did."""
    if threads is None:
        return contextlib.nullcontext(), "BLAS threads: as configured (not limited)."
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), ("BLAS threads: not limited (threadpoolctl is not installed: "
                                          'pip install "deltaprop[why]"); timings on a busy machine may be distorted.')
    return threadpool_limits(limits=threads, user_api="blas"), f"BLAS threads: {threads} (threadpoolctl)."


def measure(*, max_weights: int = 100_000, sizes: int = 9, min_weights: int = 12, batch: int = 100,
            budget: float = 2.0, seed: Seed = 0, threads: int | None = 1,
            progress: IO[str] | None = None) -> WhyReport:
    """Time one full gradient by backprop and by central differences on growing networks.

    Args:
        max_weights: parameters of the largest network (about; [k, k, k] has 2k^2 + 2k).
        sizes: how many sizes, log-spaced from ``min_weights`` to ``max_weights``.
        batch: examples the cost C is averaged over.
        budget: seconds of finite differences per size before sampling takes over.
        seed: for the weights, the data and the sampled parameters.
        threads: BLAS threads while timing (default 1); None leaves the BLAS as it is.
        progress: a file to report each size to as it is done (e.g. ``sys.stderr``).
    """
    max_weights = check_positive_int("max_weights", max_weights)
    min_weights = check_positive_int("min_weights", min_weights)
    sizes = check_positive_int("sizes", sizes)
    batch = check_positive_int("batch", batch)
    budget = check_real("budget", budget, low=0, low_open=True)
    if max_weights < 12 or max_weights > 10_000_000:
        raise ValidationError(f"The 'max_weights' argument must be from 12 to 10,000,000. Got {max_weights} instead.")
    if min_weights > max_weights:
        raise ValidationError(f"'min_weights' ({min_weights}) must not exceed 'max_weights' ({max_weights}).")
    if threads is not None:
        threads = check_positive_int("threads", threads)
    rng = as_rng(seed)
    rows = []
    limit, word = _blas_threads(threads)
    with limit, np.errstate(under="ignore"):
        for k in widths(min_weights, max_weights, sizes):
            net = Network([k, k, k], activation="sigmoid", loss="quadratic", seed=rng)
            X = rng.standard_normal((batch, k))
            Y = rng.random((batch, k))
            X, Y = net.check_XY(X, Y)
            bp, repeats, grads = _time_backprop(net, X, Y)
            spent, done, worst = _time_fd(net, X, Y, grads, budget, rng)
            row = WhyRow(sizes=net.sizes, n_params=net.n_params, backprop_seconds=bp, repeats=repeats,
                         fd_seconds=spent * net.n_params / done, fd_sampled=done, fd_measured_seconds=spent,
                         max_rel_error=worst)
            rows.append(row)
            if progress is not None:
                print(f"  {row.n_params:>9,} parameters: backprop {_seconds(bp)}, finite differences "
                      f"{_seconds(row.fd_seconds)}{' (extrapolated)' if row.extrapolated else ''}",
                      file=progress, flush=True)
    return WhyReport(rows=rows, batch=batch, seed=seed if isinstance(seed, int) else -1, budget=budget,
                     notes=[word])
