"""Pictures of a network and of its training, drawn with matplotlib.

===============================  ===========================================================
function                         what it shows
===============================  ===========================================================
:func:`plot_learning_curves`     loss and accuracy per epoch, train and validation, from a
                                 :class:`~deltaprop.callbacks.History` or a CSV log
:func:`plot_network`             the layers as columns of neurons; edge colour is the sign of
                                 w^l_jk, width and opacity its size |w^l_jk|
:func:`plot_decision_boundary`   the class a 2-input classifier gives each point of the plane
:func:`plot_confusion_matrix`    counts of (true class, predicted class), with row fractions
:func:`plot_weights_and_gradients`  per-layer histograms of W^l and of dC/dW^l on a batch,
                                 and the gradient norm of each layer (vanishing/exploding)
:func:`save_all`                 every one of these that applies, as PNG files in a folder
===============================  ===========================================================

Each function returns the matplotlib ``Figure`` (a pyplot figure: ``plt.show()`` shows
it and ``plt.close(fig)`` frees it) and, given ``path=``, also writes it there
atomically: to a temporary name in the same folder, then renamed, so a crash never
leaves half a PNG. The format follows the suffix (``.png`` if there is none).

matplotlib is an optional extra (``pip install "deltaprop[plot]"``), imported only when
a plot is drawn; with no display (a server, CI) it draws with the Agg backend.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from ._array import check_positive_int
from ._files import atomic_open, open_for_reading
from .callbacks import Callback, History, TrainingStateLike
from .errors import DataError, DeltapropTypeError, ShapeError, ValidationError, did_you_mean
from .network import Network

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Sign colours of the network diagram (the two ends of ColorBrewer's RdBu).
POSITIVE, NEGATIVE = "#2166ac", "#b2182b"
#: Resolution of written files, dots per inch.
DPI = 100

_PLOT_HINT = 'Plotting needs matplotlib, an optional extra: pip install "deltaprop[plot]"'


# -- matplotlib, lazily ------------------------------------------------------------------

def _headless() -> bool:
    """No display to draw on: Linux/BSD without X11 or Wayland (macOS and Windows always have one)."""
    return (sys.platform.startswith(("linux", "freebsd", "openbsd"))
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def _pyplot() -> ModuleType:
    """``matplotlib.pyplot``, imported on first use; Agg when there is no display."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(_PLOT_HINT, name="matplotlib") from None
    # Choose Agg only if nobody chose before us: a user's MPLBACKEND (Jupyter sets one)
    # or an already imported pyplot keeps its backend.
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND") and _headless():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure(figsize: tuple[float, float], ax: Axes | None = None) -> tuple[Figure, Axes]:
    """``(fig, ax)``: the caller's axes and its figure, or a new figure with one axes."""
    if ax is not None:
        if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
            raise DeltapropTypeError(f"The 'ax' argument must be a matplotlib Axes. Got {type(ax).__name__} instead.")
        fig = ax.figure
        while getattr(fig, "figure", fig) is not fig:       # a SubFigure's root Figure is the one saved
            fig = fig.figure
        return cast("Figure", fig), ax                      # (the root: a Figure, not a SubFigure)
    plt = _pyplot()
    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def write_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` atomically and return the path.

    The image goes to a hidden temporary file in the same folder, is flushed to disk
    and then renamed over ``path`` (``os.replace``, atomic on POSIX and Windows), so a
    reader sees the old file or the whole new one, never half of one; on any error
    the temporary file is removed. The format is the suffix's (``.png`` when there is
    none); the folder must exist.
    """
    try:
        path = Path(path)
    except TypeError:
        raise DeltapropTypeError(f"The 'path' argument must be a str or os.PathLike. Got {type(path).__name__} "
                                 "instead.") from None
    if not path.parent.is_dir():
        raise ValidationError(f"The 'path' argument {str(path)!r} is in a folder that does not exist "
                              f"({str(path.parent)!r}); create it first.")
    fmt = path.suffix[1:].lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValidationError(f"Cannot write a figure as {path.suffix!r} ({str(path)!r}). "
                              f"{did_you_mean(fmt, supported)}")
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    return path


def _finish(fig: Figure, path: str | os.PathLike[str] | None, dpi: int) -> Figure:
    if path is not None:
        write_figure(fig, path, dpi=dpi)
    return fig


def _check_network(net: object, *, finite: bool = False) -> None:
    if not isinstance(net, Network):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network. Got {type(net).__name__} instead.")
    if finite:
        for l, layer in enumerate(net.layers, start=1):
            for name in ("W", "b"):
                if not np.all(np.isfinite(getattr(layer, name))):
                    raise ValidationError(f"Layer {l}'s {name} contains NaN or infinity; there is nothing to draw.")


# -- learning curves ---------------------------------------------------------------------

def read_csv_log(path: str | os.PathLike[str]) -> History:
    """The :class:`History` a CSV training log holds.

    The log has a header ``epoch,<key>,<key>,...`` (the keys of ``History.history``)
    and one row per epoch, as the ``CSVLogger`` callback writes it (with any of the
    separators ``,`` ``;`` tab ``|``: the one after ``epoch`` counts). An empty cell
    or ``NA`` is a missing value (NaN, drawn as a gap); anything else that is not a
    number is a :class:`~deltaprop.errors.DataError` naming the line and column.

    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = log.write_text("epoch,loss,val_loss\\n1,0.9,1.0\\n2,0.5,0.7\\n")
    >>> h = read_csv_log(log)
    >>> h.epoch, h.history
    ([1, 2], {'loss': [0.9, 0.5], 'val_loss': [1.0, 0.7]})
    """
    path = Path(path)
    try:
        with open_for_reading(path, what="the training log", text=True, encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"Cannot read the training log {str(path)!r}: {e}") from None
    # CSVLogger may use another separator: it is the character right after "epoch".
    first = text.lstrip()
    delimiter = first[5] if first.startswith("epoch") and len(first) > 5 and first[5] in ",;\t|" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    numbered = []
    try:
        for row in reader:
            if any(c.strip() for c in row):
                numbered.append((reader.line_num, [c.strip() for c in row]))
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: {e}") from None
    if not numbered:
        raise DataError(f"The training log {str(path)!r} is empty; expected a header 'epoch,loss,...'.")
    (_, header), body = numbered[0], numbered[1:]
    if header[0] != "epoch" or len(header) < 2 or any(not key for key in header):
        raise DataError(f"The training log {str(path)!r} must start with a header 'epoch,<key>,...' such as "
                        f"'epoch,loss,accuracy'. Got {','.join(header)!r} on line {numbered[0][0]}.")
    if len(set(header)) != len(header):
        raise DataError(f"The training log {str(path)!r} names a column twice in its header: {','.join(header)!r}.")
    if not body:
        raise DataError(f"The training log {str(path)!r} has a header but no epochs.")
    epochs: list[int] = []
    columns: dict[str, list[float]] = {key: [] for key in header[1:]}
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} fields where the header has {len(header)}.")
        try:
            epoch = int(row[0])
        except ValueError:
            raise DataError(f"{path}, line {line}, column 'epoch': expected an integer epoch, got {row[0]!r}.") \
                from None
        if epochs and epoch <= epochs[-1]:
            raise DataError(f"{path}, line {line}: epoch {epoch} comes after epoch {epochs[-1]}; epochs must "
                            "increase (were two runs appended to one log?).")
        epochs.append(epoch)
        for key, cell in zip(header[1:], row[1:]):
            try:
                columns[key].append(math.nan if cell in ("", "NA") else float(cell))
            except ValueError:
                raise DataError(f"{path}, line {line}, column {key!r}: expected a number, got {cell!r}.") from None
    history = History()
    history.extend(epochs, columns)
    return history


def _as_history(history: History | str | os.PathLike[str] | Mapping[str, Sequence[float]]) -> History:
    """A History from a History, a CSV log's path, or a Keras-style mapping key -> values."""
    if isinstance(history, (str, os.PathLike)):
        history = read_csv_log(history)
    elif isinstance(history, Mapping):
        try:
            columns = {str(key): [float(v) for v in values] for key, values in history.items()}
        except (TypeError, ValueError):
            raise DeltapropTypeError("The 'history' argument, a dict, must map each key to a list of numbers, "
                                     "one per epoch.") from None
        history = History()
        history.extend(range(1, max(map(len, columns.values()), default=0) + 1), columns)
    elif not isinstance(history, History):
        raise DeltapropTypeError("The 'history' argument must be a History (from net.fit), the path of a CSV "
                                 f"training log, or a dict of per-epoch lists. Got {type(history).__name__} instead.")
    if len(history) == 0:
        raise ValidationError("The 'history' argument holds no epochs; there is nothing to plot.")
    for key, values in history.history.items():
        if len(values) != len(history.epoch):
            raise ValidationError(f"The 'history' argument has {len(history.epoch)} epochs but {len(values)} "
                                  f"values of {key!r}; every key needs one value per epoch.")
    return history


def _metric_panels(history: History) -> list[str]:
    """The base metrics to draw, loss and accuracy first: each panel holds ``k`` and ``val_k``."""
    skip = {"seconds", "lr"}
    bases = []
    for key in history.history:
        base = key[4:] if key.startswith("val_") else key
        if base not in skip and base not in bases:
            bases.append(base)
    order = {"loss": 0, "accuracy": 1}
    return sorted(bases, key=lambda k: order.get(k, 2))   # a stable sort keeps the log's order otherwise


def plot_learning_curves(history: History | str | os.PathLike[str] | Mapping[str, Sequence[float]], *,
                         path: str | os.PathLike[str] | None = None, title: str | None = None,
                         dpi: int = DPI) -> Figure:
    """Loss and accuracy per epoch, training and validation, one panel per metric.

    Args:
        history: a :class:`~deltaprop.callbacks.History` (from ``net.fit``), the path of
            a CSV log (see :func:`read_csv_log`), or a dict mapping each key to one
            value per epoch (Keras' ``history.history``).
        path: also write the figure here (PNG unless the suffix says otherwise).
        title: figure title.

    Every key ``k`` of the history is drawn with its ``val_k`` in one panel ("seconds"
    is left out; a learning rate ``"lr"`` that changes gets a panel of its own). The
    best validation epoch (lowest loss, highest accuracy) is marked. A loss that
    spans more than two decades is drawn on a log scale.

    >>> import deltaprop as dp
    >>> fig = plot_learning_curves({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.8]})
    >>> [line.get_label() for line in fig.axes[0].lines][:2]
    ['train', 'validation']
    """
    history = _as_history(history)
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    bases = _metric_panels(history)
    lr = history.history.get("lr")
    show_lr = lr is not None and len(set(lr)) > 1
    n_panels = len(bases) + show_lr
    if n_panels == 0:
        raise ValidationError(f"The 'history' argument has no metric to plot (keys: {list(history.history)}).")
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 3.6), layout="constrained", squeeze=False)
    axes = list(axes[0])
    epochs = np.asarray(history.epoch)
    marker = "o" if len(epochs) <= 30 else None
    for ax, base in zip(axes, bases):
        for key, label, colour in ((base, "train", "C0"), (f"val_{base}", "validation", "C1")):
            if key not in history:
                continue
            values = np.asarray(history[key], dtype=float)
            ax.plot(epochs, values, color=colour, marker=marker, markersize=3, label=label)
            best = {"loss": np.nanargmin, "accuracy": np.nanargmax}.get(base)
            if key.startswith("val_") and best is not None and np.isfinite(values).any():
                i = best(values)
                shown = f"{values[i]:.2%}" if base == "accuracy" else f"{values[i]:.4g}"
                ax.plot(epochs[i], values[i], marker="*", markersize=12, color=colour, linestyle="none",
                        label=f"best: epoch {epochs[i]}, {shown}")
        finite = np.concatenate([np.asarray(history[k], dtype=float) for k in (base, f"val_{base}")
                                 if k in history])
        finite = finite[np.isfinite(finite)]
        if base == "loss" and finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            ax.set_yscale("log")
        if base == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(base.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(base + (" (log scale)" if ax.get_yscale() == "log" else ""))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if show_lr:
        ax = axes[-1]
        ax.plot(epochs, lr, color="C2", marker=marker, markersize=3)
        ax.set_title("learning rate")
        ax.set_xlabel("epoch")
        ax.set_ylabel("lr")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _finish(fig, path, dpi)


# -- learning curves as training runs, in a notebook ----------------------------------------

class LivePlot(Callback):
    """The learning curves (:func:`plot_learning_curves`) redrawn in place as training
    runs, in a Jupyter notebook; outside one (a script, a terminal) it does nothing.

    Args:
        every: redraw after every ``every``-th epoch (and once at the end).
        title: the figure's title.

    >>> import deltaprop as dp
    >>> net = dp.Network([2, 4, 2], loss="cross_entropy", seed=0)
    >>> X, y = dp.data.xor(60, seed=0)
    >>> _ = net.fit(X, y, epochs=3, verbose=0, callbacks=[dp.callbacks.LivePlot()])   # a no-op here
    """

    def __init__(self, every: int = 1, *, title: str | None = None) -> None:
        self.every = check_positive_int("every", every)
        self.title = title
        self._handle: Any = None           # IPython's DisplayHandle, once drawn
        self._active = False
        self.redraws = 0               # how many times the figure was drawn (for tests and the curious)

    def validate(self, state: TrainingStateLike) -> None:
        self._active = in_notebook() and state.writes_files     # (data-parallel: rank 0 draws)
        if self._active:
            _pyplot()                  # matplotlib missing: say so before training, not after

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        if self._active and state.epoch % self.every == 0:
            self._draw(state)

    def on_train_end(self, state: TrainingStateLike) -> None:
        if self._active and state.history.epoch and state.history.epoch[-1] % self.every:
            self._draw(state)

    def _draw(self, state: TrainingStateLike) -> None:
        from IPython.display import display
        fig = plot_learning_curves(state.history, title=self.title)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        _pyplot().close(fig)           # drawn once, by the handle (not again at the cell's end)
        self.redraws += 1


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where figures can be displayed."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


# -- the network as a graph --------------------------------------------------------------

def _shown_units(n: int, max_units: int) -> tuple[np.ndarray, bool]:
    """Indices of the units drawn for a layer of n: all, or the first and last halves of max_units."""
    if n <= max_units:
        return np.arange(n), False
    head = (max_units + 1) // 2
    return np.concatenate([np.arange(head), np.arange(n - (max_units - head), n)]), True


def _unit_heights(n_shown: int, summarised: bool) -> np.ndarray:
    """y of each drawn unit, centred on 0, one unit apart, with a gap for the ellipsis."""
    slots = n_shown + summarised
    y = (slots - 1) / 2 - np.arange(slots, dtype=float)
    if summarised:
        head = (n_shown + 1) // 2
        y = np.delete(y, head)
    return y


def plot_network(net: Network, *, max_units: int = 10, scale: str = "global",
                 path: str | os.PathLike[str] | None = None, ax: Axes | None = None,
                 title: str | None = None, dpi: int = DPI) -> Figure:
    """The network as a graph: a column of neurons per layer and an edge per weight.

    The edge from neuron k of layer l-1 to neuron j of layer l is w^l_jk
    (``net.layers[l-1].W[j, k]``): blue when positive, red when negative, its width and
    opacity proportional to |w^l_jk|. A neuron's fill is its bias b^l_j on the same
    colours. Layers wider than ``max_units`` show their first and last units around
    an ellipsis, and the figure says how many it leaves out.

    Args:
        net: a :class:`~deltaprop.network.Network`.
        max_units: most neurons drawn per layer.
        scale: ``"global"`` (default): widths relative to the largest |w| in the network,
            so layers compare; ``"layer"``: relative to each layer's own largest |w|.
        path, ax, title: write the figure there; draw into this Axes; a title.

    >>> import deltaprop as dp
    >>> fig = plot_network(dp.Network([2, 3, 1], seed=0))
    >>> sum(len(c.get_segments()) for c in fig.axes[0].collections if c.get_label() == "weights")
    9
    """
    _check_network(net, finite=True)
    max_units = check_positive_int("max_units", max_units)
    if max_units < 2:
        raise ValidationError(f"The 'max_units' argument must be at least 2. Got {max_units} instead.")
    if scale not in ("global", "layer"):
        raise ValidationError(f"The 'scale' argument must be 'global' or 'layer'. Got {scale!r} instead.")
    sizes = net.sizes
    shown = [_shown_units(n, max_units) for n in sizes]
    heights = [_unit_heights(len(idx), cut) for idx, cut in shown]
    tallest = max(len(h) + cut for h, (_, cut) in zip(heights, shown))
    fig, ax = _figure((max(5.0, 2.2 * len(sizes) + 1.5), max(3.5, 0.42 * tallest + 1.8)), ax)
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgb
    from matplotlib.lines import Line2D

    pos, neg = np.array(to_rgb(POSITIVE)), np.array(to_rgb(NEGATIVE))

    def rgba(values: np.ndarray, top: float) -> tuple[np.ndarray, np.ndarray]:
        """Sign colour with opacity 0.12 + 0.88 |v|/top (an edge of weight 0 stays faintly visible)."""
        strength = np.abs(values) / top if top > 0 else np.zeros_like(values)
        colours = np.where(values[:, None] >= 0, pos, neg)
        return np.column_stack([colours, 0.12 + 0.88 * strength]), strength

    W_shown = [layer.W[np.ix_(shown[l + 1][0], shown[l][0])] for l, layer in enumerate(net.layers)]
    b_shown = [layer.b[shown[l + 1][0]] for l, layer in enumerate(net.layers)]
    # Scales come from every weight, drawn or not, so "largest |w|" is the network's.
    layer_tops = [float(np.abs(layer.W).max()) for layer in net.layers]
    global_top = max(layer_tops)
    b_top = max(float(np.abs(layer.b).max()) for layer in net.layers)
    tops = []
    for l, W in enumerate(W_shown):
        top = global_top if scale == "global" else layer_tops[l]
        tops.append(top)
        # One segment per w^l_jk, from neuron k of layer l-1 (x = l) to neuron j of layer l (x = l + 1).
        j, k = np.meshgrid(np.arange(W.shape[0]), np.arange(W.shape[1]), indexing="ij")
        segments = np.stack([np.column_stack([np.full(W.size, l), heights[l][k.ravel()]]),
                             np.column_stack([np.full(W.size, l + 1), heights[l + 1][j.ravel()]])], axis=1)
        colours, strength = rgba(W.ravel(), top)
        order = np.argsort(strength, kind="stable")          # strong edges drawn last, on top
        # (ignore: matplotlib's stubs ask for a Sequence of lines; the (n, 2, 2) array it documents is one)
        ax.add_collection(LineCollection(segments[order], colors=colours[order],  # type: ignore[arg-type]
                                         linewidths=0.4 + 3.2 * strength[order], zorder=1, label="weights"))
    marker_size = float(np.clip(3000 / tallest, 60, 500))
    for l, ((idx, cut), y) in enumerate(zip(shown, heights)):
        if l == 0:
            face = np.tile([0.93, 0.93, 0.93, 1.0], (len(idx), 1))
        else:
            face, _ = rgba(b_shown[l - 1], b_top)
        ax.scatter(np.full(len(idx), l), y, s=marker_size, c=face, edgecolors="0.2", linewidths=1.0, zorder=2)
        if cut:
            gap = y[(len(idx) + 1) // 2 - 1] - 1
            ax.text(l, gap, "⋮", ha="center", va="center", fontsize=16, zorder=3)
        kind = "input" if l == 0 else ("output" if l == len(sizes) - 1 else f"hidden {l}")
        act = "" if l == 0 else f"\n{net.layers[l - 1].activation.name}"
        # Below the axes, a few points under its bottom edge: x in data, y in axes units.
        ax.annotate(f"{kind}\n{sizes[l]} unit{'s' * (sizes[l] != 1)}{act}", xy=(l, 0),
                    xycoords=ax.get_xaxis_transform(), xytext=(0, -2), textcoords="offset points",
                    ha="center", va="top", fontsize=9)
    for l in range(len(net.layers)):
        ax.text(l + 0.5, tallest / 2 + 0.1, f"$W^{{{l + 1}}}$  max |w| {tops[l]:.3g}" if scale == "layer"
                else f"$W^{{{l + 1}}}$", ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-tallest / 2, tallest / 2 + 0.6)
    ax.axis("off")
    handles = [Line2D([], [], color=POSITIVE, lw=2.5, label="positive"),
               Line2D([], [], color=NEGATIVE, lw=2.5, label="negative")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), fontsize=8, frameon=False)
    note = ("edge width and opacity ∝ |w| " + (f"(largest |w| = {global_top:.3g})" if scale == "global"
                                                 else "(scaled per layer)") + f"; node fill: bias (largest |b| = {b_top:.3g})")
    cut_layers = [f"{'input' if l == 0 else 'output' if l == len(net.layers) else f'hidden {l}'} "
                  f"({len(idx)} of {sizes[l]})" for l, (idx, cut) in enumerate(shown) if cut]
    if cut_layers:
        note += f"\nshowing at most {max_units} units per layer: layers " + ", ".join(cut_layers)
    ax.annotate(note, xy=(0.5, 0), xycoords="axes fraction", xytext=(0, -46), textcoords="offset points",
                ha="center", va="top", fontsize=8, color="0.3")    # under the three lines of layer labels
    ax.set_title(title or f"Network {'-'.join(map(str, sizes))}, {net.n_params} parameters")
    return _finish(fig, path, dpi)


# -- decision boundaries and confusion matrices --------------------------------------------

def _n_classes(net: Network) -> int:
    return 2 if net.n_out == 1 else net.n_out


def _labels_of(net: Network, y: npt.ArrayLike, *, name: str = "y") -> np.ndarray:
    """Class index per row from integer labels or target rows, as the network reads them."""
    return net.classes(net.loss_fn.targets(y, net.n_out, net.dtype, name=name))


def _class_colours(k: int) -> Sequence[Any]:
    import matplotlib

    # (Any: the registry types each colormap as the base Colormap; tab10 and tab20 are
    # ListedColormaps, whose colors are a tuple of RGB triples)
    colormaps: Any = matplotlib.colormaps
    if k <= 10:
        return colormaps["tab10"].colors[:k]
    if k <= 20:
        return colormaps["tab20"].colors[:k]
    return [colormaps["turbo"](i / (k - 1)) for i in range(k)]


def plot_decision_boundary(net: Network, X: npt.ArrayLike, y: npt.ArrayLike | None = None, *,
                           resolution: int = 200, path: str | os.PathLike[str] | None = None,
                           ax: Axes | None = None, title: str | None = None, dpi: int = DPI) -> Figure:
    """The class a 2-input classifier gives each point of the plane, with the data on top.

    The plane is the data's bounding box plus 5% on each side, sampled on a
    ``resolution`` x ``resolution`` grid; each grid point is coloured by
    ``net.classes(net.predict(point))`` (argmax, or a > 1/2 for a single output, whose
    boundary a = 1/2 is also drawn as a line). Points are coloured by their label
    ``y`` (integer labels or target rows); misclassified ones are ringed in black.

    >>> import deltaprop as dp
    >>> net = dp.Network([2, 3], activation="softmax", loss="cross_entropy", seed=0)
    >>> fig = plot_decision_boundary(net, [[0, 0], [1, 1], [0, 1]], [0, 1, 2])
    >>> fig.axes[0].images[0].get_array().shape
    (200, 200)
    """
    _check_network(net)
    if not net.is_classifier:
        raise ValidationError(f"Decision boundaries need a classifier; this network has {net.n_out} "
                              f"{net.layers[-1].activation.name} output(s) and the {net.loss_fn.name} loss "
                              "(a regressor). Use several outputs, or one sigmoid output.")
    if net.n_in != 2:
        raise ShapeError(f"Decision boundaries are drawn for networks of 2 inputs (the plane); this one has "
                         f"{net.n_in}.")
    X = net.check_X(X)
    resolution = check_positive_int("resolution", resolution)
    if resolution < 2:
        raise ValidationError(f"The 'resolution' argument must be at least 2. Got {resolution} instead.")
    labels = None if y is None else _labels_of(net, y)
    if labels is not None and len(labels) != len(X):
        raise ShapeError(f"X has {len(X)} samples but y has {len(labels)}; they must match.")
    k = _n_classes(net)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = np.where(high > low, 0.05 * (high - low), 0.5)
    low, high = low - pad, high + pad
    g0, g1 = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    G0, G1 = np.meshgrid(g0, g1)                             # row i is x_1 = g1[i]: the image's y axis
    A = net.forward_rows(np.column_stack([G0.ravel(), G1.ravel()]).astype(net.dtype))
    regions = net.classes(A).reshape(resolution, resolution)

    fig, ax = _figure((5.6, 5.4), ax)
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colours = _class_colours(k)
    ax.imshow(regions, origin="lower", extent=(low[0], high[0], low[1], high[1]), aspect="auto",
              interpolation="nearest", cmap=ListedColormap(colours), vmin=-0.5, vmax=k - 0.5, alpha=0.35)
    handles: list[Artist] = [Patch(color=c, alpha=0.6, label=f"class {i}")
                             for i, c in enumerate(colours)] if k <= 10 else []
    if net.n_out == 1:
        ax.contour(G0, G1, A[:, 0].reshape(resolution, resolution), levels=[0.5], colors="k", linewidths=1.2)
        handles.append(Line2D([], [], color="k", lw=1.2, label="$a = 1/2$"))
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=18, c="0.2", edgecolors="white", linewidths=0.5)
        heading = "decision regions"
    else:
        wrong = net.classes(net.forward_rows(X)) != labels
        ax.scatter(X[:, 0], X[:, 1], s=22, c=[colours[c] for c in labels], edgecolors="white", linewidths=0.5)
        if wrong.any():
            handles.append(ax.scatter(X[wrong, 0], X[wrong, 1], s=60, facecolors="none", edgecolors="k",
                                      linewidths=0.8, label=f"misclassified ({int(wrong.sum())})"))
        heading = f"decision regions; accuracy {np.mean(~wrong):.1%} on these {len(X)} points"
    if handles:   # below the axes, so it never hides a point
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncols=min(len(handles), 4),
                  fontsize="small", frameon=False)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or heading, fontsize="medium")
    return _finish(fig, path, dpi)


def _class_labels(name: str, y: npt.ArrayLike) -> np.ndarray:
    """A 1-D array of non-negative integer labels (integral floats accepted), or a clear error."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ShapeError(f"The '{name}' argument must be a 1-D array of class labels. Got shape {arr.shape} instead.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValidationError(f"The '{name}' argument must hold integer class labels; it holds non-integer "
                                  "values. For a network's outputs pass net.classes(net.predict(X)).")
    elif arr.dtype.kind not in "iub":
        raise DeltapropTypeError(f"The '{name}' argument must hold integer class labels. Got dtype {arr.dtype} "
                                 "instead.")
    if arr.size and arr.min() < 0:
        raise ValidationError(f"The '{name}' argument must hold class labels >= 0. Got {arr.min()} instead.")
    return arr.astype(np.intp)


def confusion_counts(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class i predicted as class j.

    >>> confusion_counts([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    t, p = _class_labels("y_true", y_true), _class_labels("y_pred", y_pred)
    if len(t) != len(p):
        raise ShapeError(f"y_true has {len(t)} labels but y_pred has {len(p)}; they must match.")
    if len(t) == 0:
        raise ValidationError("The 'y_true' and 'y_pred' arguments are empty; there is nothing to count.")
    k = int(max(t.max(), p.max())) + 1
    if n_classes is not None:
        n_classes = check_positive_int("n_classes", n_classes)
        if k > n_classes:
            raise ValidationError(f"The 'n_classes' argument is {n_classes} but the labels go up to {k - 1}.")
        k = n_classes
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(*args: Any, normalize: str | None = "true", class_names: Sequence[str] | None = None,
                          n_classes: int | None = None, path: str | os.PathLike[str] | None = None,
                          ax: Axes | None = None, title: str | None = None, dpi: int = DPI) -> Figure:
    """Counts of (true class, predicted class): ``plot_confusion_matrix(net, X, y)`` or
    ``plot_confusion_matrix(y_true, y_pred)``.

    Each cell shows its count and, with ``normalize``, its fraction, which also sets
    its colour: ``"true"`` (default) divides by the row (the share of class i
    predicted as j; the diagonal is each class's recall), ``"pred"`` by the column
    (precision), ``"all"`` by the total, and None colours by the counts.

    Args:
        net, X, y: a classifier, inputs, and integer labels or target rows; or
        y_true, y_pred: integer class labels.
        class_names: a name per class for the axes.
        n_classes: number of classes when some never occur (default: from the network,
            or the largest label + 1).

    >>> fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], normalize=None)
    >>> [t.get_text() for t in fig.axes[0].texts][:3]
    ['1', '0', '0']
    """
    if args and isinstance(args[0], Network):
        if len(args) != 3:
            raise DeltapropTypeError(f"plot_confusion_matrix(net, X, y) takes a network, inputs and labels; got "
                                     f"{len(args)} positional arguments.")
        net, X, y = args
        if not net.is_classifier:
            raise ValidationError(f"A confusion matrix needs a classifier; this network has {net.n_out} "
                                  f"{net.layers[-1].activation.name} output(s) and the {net.loss_fn.name} loss.")
        X, Y = net.check_XY(X, y, names=("X", "y"))
        y_true, y_pred = net.classes(Y), net.classes(net.forward_rows(X))
        n_classes = _n_classes(net) if n_classes is None else n_classes
    elif len(args) == 2:
        y_true, y_pred = args
    else:
        raise DeltapropTypeError("plot_confusion_matrix takes (net, X, y) or (y_true, y_pred). "
                                 f"Got {len(args)} positional arguments ({', '.join(type(a).__name__ for a in args)}).")
    if normalize not in (None, "true", "pred", "all"):
        raise ValidationError(f"The 'normalize' argument must be 'true', 'pred', 'all' or None. "
                              f"Got {normalize!r} instead.")
    counts = confusion_counts(y_true, y_pred, n_classes)
    k = len(counts)
    if class_names is None:
        names = [str(i) for i in range(k)]
    else:
        names = [str(c) for c in class_names]
        if isinstance(class_names, str) or len(names) != k:
            raise ValidationError(f"The 'class_names' argument must name all {k} classes. Got {class_names!r} "
                                  "instead.")
    with np.errstate(invalid="ignore", divide="ignore"):      # an empty row or column has no fractions
        fractions = {None: None, "all": counts / counts.sum(),
                     "true": counts / counts.sum(axis=1, keepdims=True),
                     "pred": counts / counts.sum(axis=0, keepdims=True)}[normalize]
    shade = counts.astype(float) if fractions is None else fractions

    side = float(np.clip(0.55 * k + 2.5, 4.0, 12.0))
    fig, ax = _figure((side + 1.0, side), ax)
    im = ax.imshow(shade, cmap="Blues", vmin=0, vmax=1 if fractions is not None else max(1, counts.max()))
    fig.colorbar(im, ax=ax, shrink=0.8,
                 label={None: "count", "true": "fraction of the true class", "pred": "fraction of the prediction",
                        "all": "fraction of all"}[normalize])
    if k <= 25:    # beyond that the digits would overlap; the colours still tell
        middle = np.nanmax(shade) / 2 if np.isfinite(shade).any() else 0
        for i in range(k):
            for j in range(k):
                text = str(counts[i, j])
                if fractions is not None and k <= 12 and counts[i, j]:
                    text += f"\n{fractions[i, j]:.0%}"
                dark = np.isfinite(shade[i, j]) and shade[i, j] > middle
                ax.text(j, i, text, ha="center", va="center", fontsize=9 if k <= 12 else 7,
                        color="white" if dark else "black" if counts[i, j] else "0.6")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    n = int(counts.sum())
    ax.set_title(title or f"confusion matrix: accuracy {np.trace(counts) / n:.1%} (n = {n})", fontsize="medium")
    return _finish(fig, path, dpi)


# -- weights and gradients ---------------------------------------------------------------

def plot_weights_and_gradients(net: Network, X: npt.ArrayLike | None = None, Y: npt.ArrayLike | None = None, *,
                               bins: int = 40, path: str | os.PathLike[str] | None = None,
                               title: str | None = None, dpi: int = DPI) -> Figure:
    """Per layer: a histogram of W^l and, on the batch ``(X, Y)``, one of dC/dW^l, and
    every layer's gradient norm ||dC/dW^l|| side by side.

    The gradient histograms are of log10 |dC/dW^l| on one shared axis, so a layer
    whose gradients are vanishing sits decades to the left of the others (exploding:
    to the right); entries exactly 0 (dead ReLUs) cannot be logged and are counted
    in the panel. The bottom panel draws the Frobenius norm of each layer's dW on a
    log scale, with the ratio of the largest to the smallest. Without a batch only
    the weights are drawn.

    Args:
        net: a :class:`~deltaprop.network.Network`.
        X, Y: a batch (inputs; targets or labels) for ``net.gradients(X, Y)``; keep it
            modest (a few hundred rows): the gradient is that of the mean cost on it.
        bins: histogram bins.

    >>> import deltaprop as dp
    >>> net = dp.Network([2, 3, 2], seed=0)
    >>> fig = plot_weights_and_gradients(net, [[0.0, 1.0], [1.0, 0.0]], [0, 1])
    >>> [ax.get_title() for ax in fig.axes][:2]
    ['$W^{1}$ (3×2) sigmoid', '$W^{2}$ (2×3) sigmoid']
    """
    _check_network(net, finite=True)
    bins = check_positive_int("bins", bins)
    if (X is None) != (Y is None):
        raise ValidationError("Gradients need a batch: pass both X and Y (or neither, for weights only).")
    grads = None
    n_batch = 0
    if X is not None and Y is not None:     # (both or neither, as just checked)
        X, Y = net.check_XY(X, Y)
        n_batch = len(X)
        grads = [dW for dW, _ in net.gradients(X, Y)]
        for l, dW in enumerate(grads, start=1):
            if not np.all(np.isfinite(dW)):
                raise ValidationError(f"The gradient dC/dW of layer {l} on this batch contains NaN or infinity "
                                      "(exploding gradients, or outputs outside the loss's domain).")
    L = len(net.layers)
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    rows = 1 if grads is None else 3
    fig = plt.figure(figsize=(min(24.0, max(6.0, 3.3 * L)), 2.9 * rows + 0.3), layout="constrained")
    grid = fig.add_gridspec(rows, L, height_ratios=[1] * min(rows, 2) + [0.9] * (rows == 3))
    w_axes = [fig.add_subplot(grid[0, l]) for l in range(L)]
    for l, (ax, layer) in enumerate(zip(w_axes, net.layers)):
        W = layer.W.ravel()
        # np.histogram + one StepPatch: one artist per histogram, not one per bin (fast to draw).
        ax.stairs(*np.histogram(W, bins=bins), fill=True, color=POSITIVE, alpha=0.8)
        ax.set_title(f"$W^{{{l + 1}}}$ ({layer.n_out}×{layer.n_in}) {layer.activation.name}", fontsize="medium")
        ax.set_xlabel(f"weight (mean {W.mean():.2g}, std {W.std():.2g})")
    w_axes[0].set_ylabel("count")
    if grads is not None:
        logs = [np.log10(np.abs(dW[dW != 0])) for dW in grads]
        nonzero = np.concatenate(logs)
        lo, hi = (np.floor(nonzero.min()), np.ceil(nonzero.max())) if nonzero.size else (-1.0, 1.0)
        edges = np.linspace(lo, max(hi, lo + 1), bins + 1)
        g_axes = [fig.add_subplot(grid[1, l]) for l in range(L)]
        for l, (ax, dW, log) in enumerate(zip(g_axes, grads, logs)):
            ax.stairs(*np.histogram(log, bins=edges), fill=True, color="C1", alpha=0.85)
            if log.size:
                ax.axvline(np.median(log), color="k", linewidth=1, linestyle="--")
            zeros = dW.size - log.size
            ax.set_title(f"$\\partial C/\\partial W^{{{l + 1}}}$: norm {np.linalg.norm(dW):.3g}", fontsize="medium")
            ax.set_xlabel("$\\log_{10} |\\partial C/\\partial w|$")
            ax.text(0.02, 0.97, f"median $10^{{{np.median(log):.1f}}}$" if log.size else "all zero",
                    transform=ax.transAxes, va="top", fontsize=8, color="0.25",
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
            if zeros:
                ax.text(0.98, 0.97, f"{zeros} exactly 0", transform=ax.transAxes, va="top", ha="right",
                        fontsize=8, color=NEGATIVE)
        g_axes[0].set_ylabel("count")
        norms = np.array([np.linalg.norm(dW) for dW in grads])
        ax = fig.add_subplot(grid[2, :])
        positive = norms[norms > 0]
        low, high = (positive.min() / 3, positive.max() * 3) if positive.size else (0.1, 10.0)
        ax.bar(np.arange(L), np.where(norms > 0, norms, np.nan), color="C1")
        ax.set_xticks(np.arange(L), [f"layer {l + 1}" for l in range(L)])
        ax.set_xlim(-0.5, L - 0.5)
        for l, v in enumerate(norms):      # a zero norm has no bar on a log axis: say so at the bottom
            ax.text(l, v if v > 0 else low, f"{v:.3g}" if v > 0 else "0: no gradient", ha="center",
                    va="bottom", fontsize=8, color="black" if v > 0 else NEGATIVE)
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ax.yaxis.set_minor_formatter(NullFormatter())    # decades only: minor labels crowd a short range
        ax.set_ylabel("$\\|\\partial C/\\partial W^l\\|$ (log scale)")
        heading = f"gradient norm per layer on a batch of {n_batch}"
        if positive.size:
            heading += f": largest / smallest = {positive.max() / positive.min():.3g}"
            heading += " (of the nonzero)" if positive.size < L else ""
        ax.set_title(heading if positive.size else heading + ": every gradient is zero", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return _finish(fig, path, dpi)


# -- everything at once ------------------------------------------------------------------

def save_all(directory: str | os.PathLike[str], net: Network,
             history: History | str | os.PathLike[str] | Mapping[str, Sequence[float]] | None = None,
             X: npt.ArrayLike | None = None, y: npt.ArrayLike | None = None, *, max_batch: int = 256,
             dpi: int = DPI) -> list[Path]:
    """Write every plot that applies as a PNG in ``directory`` (created if missing); return their paths.

    ==========================  =====================================================
    file                        written when
    ==========================  =====================================================
    ``learning_curves.png``     ``history`` is given (a History or a CSV log's path)
    ``network.png``             always
    ``weights_gradients.png``   always; with gradients when ``X`` and ``y`` are given,
                                on at most ``max_batch`` of their rows, evenly spaced
    ``confusion_matrix.png``    ``X``, ``y`` are given and the network is a classifier
    ``decision_boundary.png``   as above, and the network has 2 inputs
    ==========================  =====================================================

    Each file is written atomically and each figure closed once written.
    """
    _check_network(net)
    max_batch = check_positive_int("max_batch", max_batch)
    if (X is None) != (y is None):
        raise ValidationError("save_all needs both X and y (or neither).")
    try:
        directory = Path(directory)
    except TypeError:
        raise DeltapropTypeError(f"The 'directory' argument must be a str or os.PathLike. Got "
                                 f"{type(directory).__name__} instead.") from None
    if directory.exists() and not directory.is_dir():
        raise ValidationError(f"The 'directory' argument {str(directory)!r} is a file, not a folder.")
    batch: tuple[np.ndarray, np.ndarray] | None = None
    if X is not None and y is not None:     # (both or neither, as just checked)
        batch = net.check_XY(X, y, names=("X", "y"))
    history = None if history is None else _as_history(history)   # fail before anything is written
    directory.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()

    jobs: list[tuple[str, Callable[[], Figure]]] = []
    if history is not None:
        jobs.append(("learning_curves.png", lambda: plot_learning_curves(history)))
    jobs.append(("network.png", lambda: plot_network(net)))
    if batch is None:
        jobs.append(("weights_gradients.png", lambda: plot_weights_and_gradients(net)))
    else:
        Xc, Yc = batch
        step = -(-len(Xc) // max_batch)                           # ceil: evenly spaced rows, no randomness
        jobs.append(("weights_gradients.png", lambda: plot_weights_and_gradients(net, Xc[::step], Yc[::step])))
        if net.is_classifier:
            jobs.append(("confusion_matrix.png", lambda: plot_confusion_matrix(net, Xc, Yc)))
            if net.n_in == 2:
                jobs.append(("decision_boundary.png", lambda: plot_decision_boundary(net, Xc, Yc)))
    written = []
    for name, draw in jobs:
        fig = draw()
        try:
            written.append(write_figure(fig, directory / name, dpi=dpi))
        finally:
            plt.close(fig)
    return written


__all__ = ["confusion_counts", "plot_confusion_matrix", "plot_decision_boundary", "plot_learning_curves",
           "plot_network", "plot_weights_and_gradients", "read_csv_log", "save_all", "write_figure"]
