"""What fit prints: a tqdm bar on a terminal, one plain line per epoch elsewhere."""

import io

import numpy as np

import deltaprop as dp
from deltaprop.progress import EpochLogger, ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _fit(callback, epochs=2, engine="numpy"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    net = dp.Network([3, 4, 2], activation="tanh", loss="cross_entropy", seed=0)
    return net.fit(X, y, epochs=epochs, batch_size=8, callbacks=[callback], verbose=0, engine=engine)


def test_progress_bar_on_a_terminal_draws_a_bar_per_epoch():
    out = FakeTerminal()
    bar = ProgressBar(file=out)
    assert bar.wants_batches
    _fit(bar)
    text = out.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "8/8" in text and "batch" in text          # 64 examples / 8 per batch; tqdm's unit
    assert "\r" in text                               # redrawn in place, as a bar is
    assert "accuracy" in text


def test_progress_bar_elsewhere_prints_one_plain_line_per_epoch():
    out = io.StringIO()                               # not a terminal: a log file, CI
    bar = ProgressBar(file=out)
    assert not bar.wants_batches
    hist = _fit(bar, epochs=3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[2].startswith("epoch 3/3  loss ")
    assert "\r" not in out.getvalue()
    assert f"{hist['loss'][2]:.4f}" in lines[2]


def test_epoch_logger_and_verbose_levels(capsys):
    out = io.StringIO()
    _fit(EpochLogger(file=out), epochs=2, engine="numba")
    assert len(out.getvalue().splitlines()) == 2
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    for verbose, lines in ((0, 0), (1, 2), (2, 2)):      # pytest's capture is not a terminal
        dp.Network([3, 2], loss="cross_entropy", seed=0).fit(X, y, epochs=2, batch_size=5, verbose=verbose)
        assert len(capsys.readouterr().out.splitlines()) == lines


def test_verbose_must_be_0_1_or_2():
    import pytest
    with pytest.raises(dp.ValidationError, match=r"'verbose' argument must be 0, 1 or 2. Got 3"):
        dp.Network([1, 1], seed=0).fit([[0.0]], [[0.0]], verbose=3)
