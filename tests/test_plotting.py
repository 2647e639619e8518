"""Plots: each one rendered headless, its PNG checked, and what it draws compared with
numbers computed here independently (edges, counts, classes, norms, points per epoch)."""

import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import plotting
from deltaprop.callbacks import History

plt = plotting._pyplot()                                     # pyplot, Agg on this headless machine
from matplotlib.colors import to_rgba  # noqa: E402  (after the backend is chosen)
from matplotlib.contour import ContourSet  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_png_of(fig, path, dpi=plotting.DPI):
    width, height = png_size(path)
    w_in, h_in = fig.get_size_inches()
    assert (width, height) == (round(w_in * dpi), round(h_in * dpi))
    assert width >= 300 and height >= 250


def history(n=12, *, val=True, lr=False):
    h = History()
    for e in range(1, n + 1):
        logs = {"loss": 1.0 / e, "accuracy": 1 - 0.5 / e}
        if val:
            logs.update(val_loss=1.0 / e + 0.02 * (e - 6) ** 2 / n, val_accuracy=0.9 - 0.01 * abs(e - 7))
        logs["seconds"] = 0.1
        if lr:
            logs["lr"] = 0.1 * 0.9 ** e
        h.append(e, logs)
    return h


def three_sectors():
    """A softmax layer whose weight rows point 120 degrees apart: three classes, one per sector."""
    angles = np.deg2rad([90, 210, 330])
    layer = dp.Dense(2, 3, "softmax", W=np.column_stack([np.cos(angles), np.sin(angles)]), b=0.0)
    return dp.Network([layer], loss="cross_entropy")


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    angles = np.deg2rad([90, 210, 330])[y]
    X = np.column_stack([np.cos(angles), np.sin(angles)]) * 2 + rng.normal(scale=0.7, size=(n, 2))
    return X, y


# -- learning curves -----------------------------------------------------------------------

def test_learning_curves_draw_one_point_per_epoch_for_train_and_validation(tmp_path):
    h = history(12)
    fig = plotting.plot_learning_curves(h, path=tmp_path / "curves.png", title="run 1")
    loss_ax, acc_ax = fig.axes
    for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        train, val = ax.lines[0], ax.lines[1]
        np.testing.assert_array_equal(train.get_xdata(), h.epoch)
        np.testing.assert_array_equal(train.get_ydata(), h[key])
        np.testing.assert_array_equal(val.get_ydata(), h["val_" + key])
    best = loss_ax.lines[2]                                    # the star on the best validation epoch
    assert best.get_xdata()[0] == h.epoch[int(np.argmin(h["val_loss"]))]
    assert acc_ax.lines[2].get_xdata()[0] == h.epoch[int(np.argmax(h["val_accuracy"]))]
    assert "seconds" not in {ax.get_title() for ax in fig.axes}
    assert_png_of(fig, tmp_path / "curves.png")


def test_learning_curves_without_validation_and_with_a_changing_learning_rate():
    h = history(5, val=False, lr=True)
    fig = plotting.plot_learning_curves(h)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    assert [len(ax.lines) for ax in fig.axes] == [1, 1, 1]
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), h["lr"])


def test_a_loss_spanning_decades_is_drawn_on_a_log_scale():
    fig = plotting.plot_learning_curves({"loss": [10.0, 1.0, 0.1, 0.01]})
    assert fig.axes[0].get_yscale() == "log"
    fig = plotting.plot_learning_curves({"loss": [1.0, 0.5, 0.4]})
    assert fig.axes[0].get_yscale() == "linear"


def write_log(path, h: History):
    """The log as the CSVLogger callback writes it: header, then one row per epoch."""
    keys = list(h.history)
    lines = [",".join(["epoch", *keys])]
    lines += [",".join([str(e), *(repr(h[k][i]) for k in keys)]) for i, e in enumerate(h.epoch)]
    Path(path).write_text("\n".join(lines) + "\n")


def test_a_csv_log_gives_the_same_curves_as_its_history(tmp_path):
    h = history(7)
    write_log(tmp_path / "log.csv", h)
    from_csv = plotting.plot_learning_curves(str(tmp_path / "log.csv"))
    from_history = plotting.plot_learning_curves(h)
    for a, b in zip(from_csv.axes, from_history.axes):
        assert len(a.lines) == len(b.lines)
        for la, lb in zip(a.lines, b.lines):
            np.testing.assert_array_equal(la.get_xydata(), lb.get_xydata())


@pytest.mark.parametrize("separator", [",", ";"])
def test_the_csv_loggers_log_plots_like_the_history_fit_returns(tmp_path, separator):
    X, y = blobs(30)
    net = dp.Network([2, 4, 3], activation="tanh", loss="cross_entropy", seed=0)
    h = net.fit(X, y, epochs=3, batch_size=10, validation_data=(X, y), verbose=0, seed=0, engine="numpy",
                callbacks=[dp.callbacks.CSVLogger(tmp_path / "log.csv", separator=separator)])
    back = plotting.read_csv_log(tmp_path / "log.csv")
    assert back.epoch == h.epoch == [1, 2, 3]
    assert back.history == h.history                           # repr(float) round-trips exactly


def test_csv_log_missing_values_are_gaps(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,loss,val_loss\n1,0.9,NA\n2,0.5,\n\n3,0.4,0.45\n")
    h = plotting.read_csv_log(tmp_path / "log.csv")
    assert h.epoch == [1, 2, 3]
    assert h["loss"] == [0.9, 0.5, 0.4]
    assert math.isnan(h["val_loss"][0]) and math.isnan(h["val_loss"][1]) and h["val_loss"][2] == 0.45


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("loss,accuracy\n0.5,0.9\n", "must start with a header 'epoch,<key>"),
    ("epoch,loss,loss\n1,0.5,0.5\n", "names a column twice"),
    ("epoch,loss\n", "has a header but no epochs"),
    ("epoch,loss\n1,0.5\n2,0.4,0.9\n", r"line 3: 3 fields where the header has 2"),
    ("epoch,loss\n1,0.5\n2,abc\n", r"line 3, column 'loss': expected a number, got 'abc'"),
    ("epoch,loss\n1.5,0.5\n", r"line 2, column 'epoch': expected an integer epoch, got '1.5'"),
    ("epoch,loss\n1,0.5\n2,0.4\n1,0.6\n", r"line 4: epoch 1 comes after epoch 2; epochs must increase"),
])
def test_bad_csv_logs_are_data_errors_naming_the_place(tmp_path, text, message):
    (tmp_path / "log.csv").write_text(text)
    with pytest.raises(dp.DataError, match=message):
        plotting.read_csv_log(tmp_path / "log.csv")


def test_a_missing_log_is_a_data_error(tmp_path):
    with pytest.raises(dp.DataError, match="No such file or directory"):
        plotting.plot_learning_curves(tmp_path / "nope.csv")


@pytest.fixture(scope="module")
def log_file(tmp_path_factory):
    """One file the property tests rewrite (hypothesis runs many examples per test call)."""
    return tmp_path_factory.mktemp("logs") / "fuzz.csv"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=120),
                 st.lists(st.lists(st.sampled_from(["epoch", "loss", "1", "2", "0.5", "NA", "", "x", "-3e2",
                                                    "inf", '"1"', " 2 "]), max_size=4), max_size=5)
                 .map(lambda rows: "\n".join(",".join(r) for r in rows))))
def test_csv_log_reader_raises_only_data_errors_on_any_text(log_file, text):
    log_file.write_bytes(text.encode("utf-8", errors="replace"))   # lone surrogates become '?'
    try:
        h = plotting.read_csv_log(log_file)
    except dp.DataError:
        return
    assert len(h) >= 1 and all(len(v) == len(h) for v in h.history.values())
    assert all(b > a for a, b in zip(h.epoch, h.epoch[1:]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20), st.lists(st.sampled_from(["loss", "accuracy", "val_loss", "lr", "my metric"]),
                                    min_size=1, max_size=5, unique=True), st.randoms(use_true_random=False))
def test_csv_log_round_trips_a_history(log_file, n, keys, rnd):
    h = History()
    for e in range(1, n + 1):
        h.append(e, {k: rnd.uniform(-1e6, 1e6) for k in keys})
    write_log(log_file, h)
    back = plotting.read_csv_log(log_file)
    assert back.epoch == h.epoch and back.history == h.history


@pytest.mark.parametrize("bad, error, message", [
    (42, dp.DeltapropTypeError, "must be a History .* Got int instead"),
    (History(), dp.ValidationError, "holds no epochs"),
    ({"loss": [1.0, 0.5], "val_loss": [1.0]}, dp.ValidationError, "2 epochs but 1 values of 'val_loss'"),
    ({"loss": ["a", "b"]}, dp.DeltapropTypeError, "list of numbers, one per epoch"),
    ({"seconds": [1.0]}, dp.ValidationError, "no metric to plot"),
])
def test_learning_curves_reject_what_is_not_a_history(bad, error, message):
    with pytest.raises(error, match=message):
        plotting.plot_learning_curves(bad)


# -- network diagram -----------------------------------------------------------------------

def weight_edges(fig):
    return [c for c in fig.axes[0].collections if c.get_label() == "weights"]


def test_network_diagram_draws_one_edge_per_weight_coloured_by_sign_and_sized_by_magnitude(tmp_path):
    net = dp.Network([3, 4, 2], activation="tanh", seed=1)
    net.layers[1].W[0, 0] = 0.0                                # a zero weight is still an edge, faint
    fig = plotting.plot_network(net, path=tmp_path / "net.png")
    edges = weight_edges(fig)
    assert [len(c.get_segments()) for c in edges] == [layer.W.size for layer in net.layers]
    for c, layer in zip(edges, net.layers):
        colours = c.get_colors()
        blue = np.all(np.isclose(colours[:, :3], to_rgba(plotting.POSITIVE)[:3]), axis=1)
        assert blue.sum() == (layer.W >= 0).sum()              # sign -> colour, edge for edge
        widths = np.asarray(c.get_linewidths())
        assert np.all(np.diff(widths) >= 0)                    # drawn weakest first, strongest on top
        np.testing.assert_allclose(np.sort(widths), 0.4 + 3.2 * np.sort(np.abs(layer.W).ravel())
                                   / max(np.abs(L.W).max() for L in net.layers))
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "input\n3 units" in texts and "output\n2 units\ntanh" in texts and "showing" not in texts
    assert_png_of(fig, tmp_path / "net.png")


def test_big_layers_are_summarised_and_the_figure_says_so():
    net = dp.Network([784, 30, 10], seed=0)
    fig = plotting.plot_network(net, max_units=10)
    assert [len(c.get_segments()) for c in weight_edges(fig)] == [10 * 10, 10 * 10]
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "input (10 of 784), hidden 1 (10 of 30)" in texts
    assert texts.count("⋮") == 2                               # the two cut layers, not the output


def test_network_diagram_per_layer_scale_and_bad_arguments():
    net = dp.Network([2, 2, 1], seed=0)
    net.layers[1].W *= 100
    fig = plotting.plot_network(net, scale="layer")
    first = np.asarray(weight_edges(fig)[0].get_linewidths())
    assert first.max() == pytest.approx(3.6)                   # each layer's largest |w| gets full width
    with pytest.raises(dp.ValidationError, match="'scale' argument must be 'global' or 'layer'. Got 'big'"):
        plotting.plot_network(net, scale="big")
    with pytest.raises(dp.ValidationError, match="'max_units' argument must be at least 2"):
        plotting.plot_network(net, max_units=1)
    with pytest.raises(dp.DeltapropTypeError, match="must be a deltaprop Network. Got list"):
        plotting.plot_network([2, 2, 1])
    net.layers[0].W[0, 0] = np.nan
    with pytest.raises(dp.ValidationError, match="Layer 1's W contains NaN"):
        plotting.plot_network(net)


# -- decision boundary ---------------------------------------------------------------------

def test_decision_regions_have_one_colour_per_class_and_match_predict(tmp_path):
    net = three_sectors()
    X, y = blobs()
    fig = plotting.plot_decision_boundary(net, X, y, resolution=60, path=tmp_path / "db.png")
    image = fig.axes[0].images[0]
    regions = np.asarray(image.get_array())
    assert set(np.unique(regions)) == {0, 1, 2}
    rgba = image.to_rgba(regions).reshape(-1, 4)
    assert len(np.unique(rgba, axis=0)) == 3                  # the colours really drawn: one per class
    x0, x1, y0, y1 = image.get_extent()                        # pixel (i, j) is the class of its grid point
    g0, g1 = np.linspace(x0, x1, 60), np.linspace(y0, y1, 60)
    for i, j in [(0, 0), (59, 59), (30, 5), (10, 45)]:
        assert regions[i, j] == net.classes(net.predict([[g0[j], g1[i]]]))[0]
    assert x0 < X[:, 0].min() and x1 > X[:, 0].max()           # the data lies inside the plane drawn
    wrong = (net.classes(net.predict(X)) != y).sum()
    title = fig.axes[0].get_title()
    assert f"accuracy {1 - wrong / len(X):.1%} on these {len(X)} points" in title
    assert_png_of(fig, tmp_path / "db.png")


def test_binary_single_output_regions_and_the_half_contour():
    net = dp.Network([dp.Dense(2, 1, "sigmoid", W=[[1.0, -1.0]], b=0.0)], loss="binary_cross_entropy")
    X, _ = blobs(30)
    y = (X[:, 0] > X[:, 1]).astype(int)
    fig = plotting.plot_decision_boundary(net, X, y, resolution=40)
    ax = fig.axes[0]
    image = ax.images[0]
    x0, x1, y0, y1 = image.get_extent()
    g0, g1 = np.linspace(x0, x1, 40), np.linspace(y0, y1, 40)
    np.testing.assert_array_equal(image.get_array(), g0[None, :] > g1[:, None])   # a > 1/2 iff x_1 > x_2
    assert len(np.unique(image.to_rgba(image.get_array()).reshape(-1, 4), axis=0)) == 2
    boundary, = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert list(boundary.levels) == [0.5]
    assert "$a = 1/2$" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "accuracy 100.0%" in fig.axes[0].get_title()


def test_decision_boundary_draws_into_given_axes_and_rejects_what_it_cannot_draw():
    fig, (a, b) = plt.subplots(1, 2)
    X, y = blobs(12)
    assert plotting.plot_decision_boundary(three_sectors(), X, y, resolution=10, ax=b) is fig
    assert len(b.images) == 1 and len(a.images) == 0
    with pytest.raises(dp.ShapeError, match="networks of 2 inputs .* this one has 3"):
        plotting.plot_decision_boundary(dp.Network([3, 2], seed=0), np.zeros((4, 3)))
    with pytest.raises(dp.ValidationError, match="need a classifier"):
        plotting.plot_decision_boundary(dp.Network([2, 1], activation="identity", seed=0), X)
    with pytest.raises(dp.ShapeError, match="expects 2 input features"):
        plotting.plot_decision_boundary(three_sectors(), np.zeros((4, 3)))
    with pytest.raises(dp.ValidationError, match="labels in 0..2"):
        plotting.plot_decision_boundary(three_sectors(), X, y + 1)
    with pytest.raises(dp.DeltapropTypeError, match="'ax' argument must be a matplotlib Axes"):
        plotting.plot_decision_boundary(three_sectors(), X, ax="left")


# -- confusion matrix ----------------------------------------------------------------------

def cell_counts(fig):
    k = len(fig.axes[0].get_xticks())
    counts = [int(t.get_text().split("\n")[0]) for t in fig.axes[0].texts]
    return np.array(counts).reshape(k, k)


def test_confusion_matrix_counts_in_the_figure_equal_numpys(tmp_path):
    net = three_sectors()
    X, y = blobs(90, seed=3)
    pred = net.predict(X).argmax(axis=1)
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (y, pred), 1)
    assert expected.trace() < len(y)                           # some mistakes, so off-diagonal cells count
    fig = plotting.plot_confusion_matrix(net, X, y, class_names=["up", "left", "right"],
                                         path=tmp_path / "cm.png")
    np.testing.assert_array_equal(cell_counts(fig), expected)
    texts = [t.get_text() for t in fig.axes[0].texts]
    row = expected[0] / expected[0].sum()
    assert texts[0] == f"{expected[0, 0]}\n{row[0]:.0%}"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["up", "left", "right"]
    assert f"accuracy {expected.trace() / 90:.1%} (n = 90)" in fig.axes[0].get_title()
    assert_png_of(fig, tmp_path / "cm.png")
    same = plotting.plot_confusion_matrix(y, pred)             # from labels: the same matrix
    np.testing.assert_array_equal(cell_counts(same), expected)


@pytest.mark.parametrize("normalize, axis", [("true", 1), ("pred", 0), ("all", None), (None, "counts")])
def test_confusion_matrix_colours_are_the_chosen_normalisation(normalize, axis):
    y_true, y_pred = [0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2]
    counts = plotting.confusion_counts(y_true, y_pred)
    fig = plotting.plot_confusion_matrix(y_true, y_pred, normalize=normalize)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    expected = counts if axis == "counts" else counts / counts.sum(axis=axis, keepdims=axis is not None)
    np.testing.assert_allclose(shown, expected)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60))))
def test_confusion_counts_match_a_loop(case):
    k, pairs = case
    t, p = map(np.array, zip(*pairs))
    expected = np.zeros((k, k), dtype=int)
    for i, j in pairs:
        expected[i, j] += 1
    np.testing.assert_array_equal(plotting.confusion_counts(t, p, n_classes=k), expected)


@pytest.mark.parametrize("args, kwargs, error, message", [
    (([0, 1], [0]), {}, dp.ShapeError, "y_true has 2 labels but y_pred has 1"),
    (([0, 1.5], [0, 1]), {}, dp.ValidationError, "integer class labels; it holds non-integer"),
    ((["a"], [0]), {}, dp.DeltapropTypeError, "integer class labels. Got dtype <U1"),
    (([0, -1], [0, 1]), {}, dp.ValidationError, "labels >= 0. Got -1"),
    (([0, 3], [0, 1]), {"n_classes": 2}, dp.ValidationError, "'n_classes' argument is 2 but the labels go up to 3"),
    (([0, 1], [0, 1]), {"normalize": "rows"}, dp.ValidationError, "'normalize' argument must be 'true', 'pred'"),
    (([0, 1], [0, 1]), {"class_names": ["a"]}, dp.ValidationError, "must name all 2 classes"),
    (([0, 1],), {}, dp.DeltapropTypeError, r"takes \(net, X, y\) or \(y_true, y_pred\)"),
])
def test_confusion_matrix_bad_labels(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        plotting.plot_confusion_matrix(*args, **kwargs)


def test_confusion_matrix_of_a_regressor_is_refused():
    with pytest.raises(dp.ValidationError, match="needs a classifier"):
        plotting.plot_confusion_matrix(dp.Network([2, 1], activation="identity", seed=0), np.zeros((3, 2)),
                                       np.zeros(3))


# -- weights and gradients -----------------------------------------------------------------

def test_histograms_count_every_weight_and_gradient_and_bars_are_the_layer_norms(tmp_path):
    rng = np.random.default_rng(0)
    net = dp.Network([6, 8, 8, 3], activation="relu", loss="cross_entropy", seed=2)
    X, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    fig = plotting.plot_weights_and_gradients(net, X, y, path=tmp_path / "wg.png")
    grads = [dW for dW, _ in net.gradients(X, y)]
    w_axes, g_axes, norm_ax = fig.axes[:3], fig.axes[3:6], fig.axes[6]
    for ax, layer in zip(w_axes, net.layers):
        counts, edges, _ = ax.patches[0].get_data()            # the histogram's StepPatch
        assert counts.sum() == layer.W.size and len(counts) == 40
        assert edges[0] == layer.W.min() and edges[-1] == layer.W.max()
    shared = g_axes[0].patches[0].get_data()[1]
    for ax, dW in zip(g_axes, grads):
        zeros = int((dW == 0).sum())
        counts, edges, _ = ax.patches[0].get_data()
        np.testing.assert_array_equal(edges, shared)           # one log axis for every layer
        assert counts.sum() == dW.size - zeros
        assert edges[0] <= np.log10(np.abs(dW[dW != 0])).min() and edges[-1] >= np.log10(np.abs(dW).max())
        assert ax.get_title().endswith(f"norm {np.linalg.norm(dW):.3g}")
        notes = [t.get_text() for t in ax.texts]
        assert (f"{zeros} exactly 0" in notes) == (zeros > 0)
    norms = [np.linalg.norm(dW) for dW in grads]
    np.testing.assert_allclose([p.get_height() for p in norm_ax.patches], norms)
    assert f"largest / smallest = {max(norms) / min(norms):.3g}" in norm_ax.get_title()
    assert_png_of(fig, tmp_path / "wg.png")


def test_vanishing_gradients_of_a_deep_sigmoid_net_are_visible():
    rng = np.random.default_rng(1)
    net = dp.Network([10] + [20] * 6 + [1], activation="sigmoid", seed=0)
    X = rng.normal(size=(64, 10))
    fig = plotting.plot_weights_and_gradients(net, X, (X[:, 0] > 0).astype(float))
    heights = [p.get_height() for p in fig.axes[-1].patches]
    assert heights[0] < heights[-1] / 100                      # layer 1 learns 100x slower than the output
    medians = [ax.lines[0].get_xdata()[0] for ax in fig.axes[7:14]]
    assert medians[0] < medians[-1] - 2                        # two decades to the left on the shared axis


def test_dead_relus_zero_gradients_are_counted_not_hidden():
    net = dp.Network([4, 6, 6, 2], activation="relu", loss="cross_entropy", seed=0)
    net.layers[1].b[:] = -100                                  # every unit of layer 2 dead: dW = 0 everywhere
    X = np.random.default_rng(0).normal(size=(20, 4))
    fig = plotting.plot_weights_and_gradients(net, X, np.arange(20) % 2)
    assert [t.get_text() for t in fig.axes[-1].texts] == ["0: no gradient"] * 3
    assert fig.axes[-1].get_title().endswith("every gradient is zero")
    assert [t.get_text() for t in fig.axes[3].texts] == ["all zero", "24 exactly 0"]


def test_weights_only_without_a_batch_and_bad_batches():
    net = dp.Network([2, 3, 2], seed=0)
    fig = plotting.plot_weights_and_gradients(net)
    assert len(fig.axes) == 2
    with pytest.raises(dp.ValidationError, match="pass both X and Y"):
        plotting.plot_weights_and_gradients(net, np.zeros((2, 2)))
    with pytest.raises(dp.ShapeError, match="expects 2 input features"):
        plotting.plot_weights_and_gradients(net, np.zeros((2, 5)), [0, 1])


# -- files ---------------------------------------------------------------------------------

def test_save_all_writes_every_plot_that_applies(tmp_path):
    net = three_sectors()
    X, y = blobs(30)
    out = tmp_path / "plots" / "run1"                          # created, parents too
    paths = plotting.save_all(out, net, history(4), X, y)
    assert [p.name for p in paths] == ["learning_curves.png", "network.png", "weights_gradients.png",
                                       "confusion_matrix.png", "decision_boundary.png"]
    for p in paths:
        assert p.parent == out and min(png_size(p)) >= 250
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)   # no temporary files left behind
    assert plt.get_fignums() == []                              # every figure closed once written


def test_save_all_for_a_regressor_without_data_writes_what_applies(tmp_path):
    net = dp.Network([3, 4, 1], activation="identity", seed=0)
    paths = plotting.save_all(tmp_path, net)
    assert [p.name for p in paths] == ["network.png", "weights_gradients.png"]
    with pytest.raises(dp.ValidationError, match="needs both X and y"):
        plotting.save_all(tmp_path, net, X=np.zeros((2, 3)))
    (tmp_path / "file").write_text("")
    with pytest.raises(dp.ValidationError, match="is a file, not a folder"):
        plotting.save_all(tmp_path / "file", net)


def test_writing_is_atomic_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    fig = plotting.plot_confusion_matrix([0, 1], [0, 1])
    target = tmp_path / "cm.png"
    target.write_bytes(b"old")

    def broken(f, **kwargs):
        f.write(b"\x89PNG half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plotting.write_figure(fig, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["cm.png"]


def test_write_figure_formats_and_folders(tmp_path):
    fig = plotting.plot_confusion_matrix([0, 1], [0, 1])
    assert plotting.write_figure(fig, tmp_path / "cm.svg").read_text().lstrip().startswith("<?xml")
    png_size(plotting.write_figure(fig, tmp_path / "noext"))     # no suffix: PNG
    (tmp_path / "plain").write_bytes(b"")                        # the umask's permissions, not mkstemp's 0600
    assert (tmp_path / "noext").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    with pytest.raises(dp.ValidationError, match=r"Cannot write a figure as '.pnf'.*Did you mean 'png'"):
        plotting.write_figure(fig, tmp_path / "cm.pnf")
    with pytest.raises(dp.ValidationError, match="folder that does not exist"):
        plotting.write_figure(fig, tmp_path / "missing" / "cm.png")


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "deltaprop\[plot\]"'):
        plotting.plot_network(dp.Network([2, 1], seed=0))


def test_matplotlib_is_imported_lazily_and_headless_means_agg():
    code = ("import sys, deltaprop, deltaprop.plotting as p\n"
            "assert 'matplotlib' not in sys.modules, 'imported at package import'\n"
            "p.plot_network(deltaprop.Network([2, 1], seed=0))\n"
            "import matplotlib; print(matplotlib.get_backend())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lower() == "agg"
