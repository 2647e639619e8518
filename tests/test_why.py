"""why: backprop against finite differences, timed (small sizes: the test stays fast)."""

import sys

import numpy as np
import pytest

from deltaprop.cli import main
from deltaprop.errors import DeltapropTypeError, ValidationError
from deltaprop.why import WhyReport, WhyRow, measure, widths


@pytest.fixture(scope="module")
def report():
    # 5 ms of finite differences per size: the 1,512-parameter network (3,024 forward passes) is
    # sampled on any machine; the complete case is checked with a generous budget below.
    return measure(max_weights=1500, sizes=4, batch=20, budget=0.005, seed=0)


def test_sizes_grow_and_both_methods_give_the_same_gradient(report):
    n = [r.n_params for r in report.rows]
    assert n == sorted(n) and n[0] == 12 and n[-1] == 2 * 27 ** 2 + 2 * 27
    assert [r.sizes for r in report.rows] == [[k, k, k] for k in widths(12, 1500, 4)]
    for r in report.rows:
        assert r.max_rel_error < 1e-6            # the central differences really are dC/dw
        assert r.fd_seconds > r.backprop_seconds > 0 and r.repeats >= 3


def test_a_tight_budget_samples_and_extrapolates(report):
    big = report.rows[-1]
    assert big.extrapolated and 0 < big.fd_sampled < big.n_params
    assert big.fd_seconds == pytest.approx(big.fd_measured_seconds * big.n_params / big.fd_sampled)
    assert "* extrapolated" in str(report)
    whole = measure(max_weights=12, sizes=1, budget=30.0).rows[0]
    assert not whole.extrapolated and whole.fd_sampled == 12 and whole.fd_seconds == whole.fd_measured_seconds


def _synthetic(bp_power, fd_power):
    n = np.array([12, 100, 1000, 10_000, 100_000])
    rows = [WhyRow(sizes=[1, 1, 1], n_params=int(k), backprop_seconds=1e-6 * k ** bp_power, repeats=3,
                   fd_seconds=1e-7 * k ** fd_power, fd_sampled=int(k), fd_measured_seconds=1e-7 * k ** fd_power,
                   max_rel_error=0.0) for k in n]
    return WhyReport(rows=rows, batch=1, seed=0, budget=1.0)


def test_growth_is_the_log_log_slope():
    rep = _synthetic(1.0, 2.0)
    assert rep.backprop_slope == pytest.approx(1.0) and rep.fd_slope == pytest.approx(2.0)
    text = str(rep)
    assert "t ~ n^1.00" in text and "t ~ n^2.00" in text and "the ratio grows like n^1.00" in text
    # only the largest decade is fitted: a flat, overhead-bound start does not count there
    rows = rep.rows
    rows[0].backprop_seconds = rows[1].backprop_seconds = rows[2].backprop_seconds = 1.0
    assert [r.n_params for r in rep.fit_rows] == [10_000, 100_000]
    assert rep.backprop_slope == pytest.approx(1.0)
    assert "(n^" in str(rep) and "over the largest decade, 10,000 to 100,000 parameters" in str(rep)


def test_report_table(report):
    text = str(report)
    assert "central" in text and "two forward passes per parameter" in text
    assert f"{report.rows[-1].n_params:,}" in text and "BLAS threads: 1" in text
    assert text.count("\n") > len(report.rows) + 5


def test_plot_writes_a_png(report, tmp_path):
    path = tmp_path / "why.png"
    fig = report.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes[0].lines) == 3           # backprop, finite differences, the extrapolated points
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]    # no temporary file left
    with pytest.raises(ValidationError, match="folder that does not exist"):
        report.plot(tmp_path / "no" / "why.png")
    with pytest.raises(ValidationError, match=r"Cannot write a figure as '.xyz'"):
        report.plot(tmp_path / "why.xyz")
    with pytest.raises(DeltapropTypeError, match="'path' argument must be a str"):
        report.plot(3.5)


def test_missing_matplotlib_names_the_extra(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "deltaprop\[plot\]"'):
        report.plot()


def test_missing_threadpoolctl_is_said(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    rep = measure(max_weights=12, sizes=1, budget=0.01)
    assert any('not limited (threadpoolctl is not installed: pip install "deltaprop[why]")' in n for n in rep.notes)
    assert "as configured" in measure(max_weights=12, sizes=1, budget=0.01, threads=None).notes[0]


@pytest.mark.parametrize("kwargs,match", [
    ({"max_weights": 5}, "'max_weights' argument must be from 12"),
    ({"max_weights": 100, "min_weights": 500}, "must not exceed"),
    ({"budget": 0}, "'budget' argument must be a finite number in"),
    ({"sizes": 0}, "'sizes' argument must be a positive integer"),
    ({"threads": 0}, "'threads' argument must be a positive integer"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        measure(**kwargs)


def test_cli(tmp_path, capsys):
    path = tmp_path / "w.png"
    assert main(["why", "--max-weights", "200", "--sizes", "2", "--budget", "0.02", "--batch", "5",
                 "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert "finite differences" in out and f"wrote {path}" in out and path.exists()
    assert main(["why", "--max-weights", "3"]) == 2
    assert "deltaprop why: error: argument --max-weights: must be a whole number >= 10; got '3'" in capsys.readouterr().err
