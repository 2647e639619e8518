"""The training loop: the seeds' mini-batch SGD, reproducibility, History, divergence."""

import numpy as np
import pytest

import deltaprop as dp


def _data(n=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def test_one_epoch_equals_the_seeds_algorithm_written_out():
    # Shuffle from the seed, take mini-batches of m (short last one included) and apply
    # w -> w - (eta/m) sum_x dC_x/dw with the mean gradient of each batch.
    X, y = _data()
    net = dp.Network([4, 5, 3], activation="sigmoid", seed=1)
    ref = net.copy()
    net.fit(X, y, epochs=1, batch_size=5, optimizer=dp.SGD(lr=0.7), seed=42, verbose=0)
    order = np.random.default_rng(42).permutation(len(X))
    batches = [order[i:i + 5] for i in range(0, len(X), 5)]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]          # the short last batch is used
    for idx in batches:
        grads = ref.gradients(X[idx], y[idx])
        for layer, (dW, db) in zip(ref.layers, grads):
            layer.W -= 0.7 * dW
            layer.b -= 0.7 * db
    for a, b in zip(net.layers, ref.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", [lambda: dp.SGD(lr=0.5, momentum=0.9), lambda: dp.Adam(lr=0.01)])
def test_same_seed_gives_bit_identical_weights(dtype, optimizer):
    X, y = _data(50)

    def train():
        net = dp.Network([4, 6, 3], activation="relu", loss="cross_entropy", dtype=dtype, seed=3)
        net.fit(X, y, epochs=3, batch_size=8, optimizer=optimizer(), seed=11, verbose=0)
        return net.get_weights()

    for a, b in zip(train(), train()):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)


def test_network_seed_drives_shuffling_when_fit_has_none():
    X, y = _data(40)
    a = dp.Network([4, 3], seed=5)
    b = dp.Network([4, 3], seed=5)
    a.fit(X, y, epochs=2, batch_size=4, verbose=0)
    b.fit(X, y, epochs=2, batch_size=4, verbose=0)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
    c = dp.Network([4, 3], seed=5)
    c.fit(X, y, epochs=2, batch_size=4, seed=99, verbose=0)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)


def test_history_and_verbose(capsys):
    X, y = _data(60)
    net = dp.Network([4, 8, 3], activation="tanh", loss="cross_entropy", seed=0)
    history = net.fit(X, y, epochs=4, batch_size=10, optimizer=dp.SGD(lr=0.5), validation_data=(X[:20], y[:20]),
                      verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4") and "val_accuracy" in lines[-1]
    assert history.epoch == [1, 2, 3, 4]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] == pytest.approx(net.evaluate(X[:20], y[:20])["loss"])
    net.fit(X, y, epochs=2, batch_size=10, verbose=0)
    assert capsys.readouterr().out == ""


def test_training_loss_is_over_the_outputs_seen_during_the_epoch():
    # With full-batch training the one batch's output is the network before the update.
    X, y = _data(30)
    net = dp.Network([4, 3], loss="cross_entropy", seed=2)
    before = net.evaluate(X, y)
    history = net.fit(X, y, epochs=1, batch_size=30, shuffle=False, verbose=0)
    assert history["loss"][0] == pytest.approx(before["loss"], rel=1e-12)
    assert history["accuracy"][0] == pytest.approx(before["accuracy"])


def test_divergence_raises_and_restores_the_last_finite_weights():
    X, y = _data(40)
    net = dp.Network([4, 3], activation="identity", output_activation="identity", seed=0)
    net.fit(X, y, epochs=1, batch_size=40, optimizer=dp.SGD(lr=0.01), verbose=0)
    with pytest.raises(dp.NonFiniteError, match=r"diverged in epoch \d+.*restored.*smaller learning rate"):
        net.fit(X * 1e150, y, epochs=5, batch_size=4, optimizer=dp.SGD(lr=1e10), verbose=0)
    assert all(np.all(np.isfinite(w)) for w in net.get_weights())


def test_batch_larger_than_data_is_clipped_with_a_warning():
    X, y = _data(6)
    net = dp.Network([4, 3], seed=0)
    with pytest.warns(UserWarning, match="batch_size=10 is larger than the 6 training samples; using 6"):
        net.fit(X, y, epochs=1, batch_size=10, verbose=0)


def test_validation_data_is_checked():
    X, y = _data(6)
    net = dp.Network([4, 3], seed=0)
    with pytest.raises(dp.ShapeError, match=r"validation_data\[0\]"):
        net.fit(X, y, validation_data=(X[:, :2], y), verbose=0)
    with pytest.raises(dp.DeltapropTypeError, match="pair"):
        net.fit(X, y, validation_data=X, verbose=0)


def test_a_short_mnist_run_learns():
    (X, y), (X_test, y_test) = dp.datasets.mnist()
    net = dp.Network([784, 30, 10], activation="sigmoid", loss="quadratic", init="lecun_normal", seed=0)
    history = net.fit(X[:5000], y[:5000], epochs=2, batch_size=10, optimizer=dp.SGD(lr=3.0),
                      validation_data=(X_test[:2000], y_test[:2000]), verbose=0)
    assert history["val_accuracy"][-1] > 0.85          # chance is 0.10
    assert history["loss"][1] < history["loss"][0]


# ---------------------------------------------------------------------------------------
# validation_split, verbose, dropout

def test_validation_split_holds_out_the_last_rows():
    X, y = _data(40)
    a = dp.Network([4, 3], loss="cross_entropy", seed=0)
    b = a.copy()
    ha = a.fit(X, y, epochs=2, batch_size=8, validation_split=0.25, seed=1, verbose=0)
    hb = b.fit(X[:30], y[:30], epochs=2, batch_size=8, validation_data=(X[30:], y[30:]), seed=1, verbose=0)
    assert ha.history == hb.history | {"seconds": ha["seconds"]}
    with pytest.raises(dp.ValidationError, match="either 'validation_data' or 'validation_split'"):
        a.fit(X, y, validation_split=0.2, validation_data=(X, y), verbose=0)
    with pytest.raises(dp.ValidationError, match=r"'validation_split' argument must be a finite number in \[0, 1\)"):
        a.fit(X, y, validation_split=1.0, verbose=0)
    with pytest.raises(dp.ValidationError, match="leaves 0 for validation and 40 for training"):
        a.fit(X, y, validation_split=0.01, verbose=0)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_what_is_printed_or_called_between_batches_does_not_change_the_weights(engine, capsys):
    # verbose=0 lets the engine run many epochs at once, verbose=2 one at a time, and a
    # checkpoint folder makes it stop every few batches: the bits must not care.
    X, y = _data(90)
    results = []
    for kwargs in (dict(verbose=0), dict(verbose=2), dict(verbose=0, callbacks=[dp.callbacks.ModelCheckpoint(
            __import__("tempfile").mkdtemp())])):
        net = dp.Network([4, 7, 3], activation="sigmoid", loss="cross_entropy", seed=4)
        net.fit(X, y, epochs=3, batch_size=4, optimizer=dp.SGD(lr=0.3, momentum=0.9), seed=8, engine=engine, **kwargs)
        results.append(net.get_weights())
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_dropout_backprop_is_the_gradient_of_the_masked_network():
    # With the masks held fixed (same generator state), the cost is a smooth function of
    # the weights, and backprop through a^l (.) M must be its gradient.
    rng = np.random.default_rng(0)
    net = dp.Network([5, 6, 6, 2], activation="tanh", output_activation="identity", dropout=0.4, seed=2)
    X, Y = rng.normal(size=(4, 5)), rng.normal(size=(4, 2))

    def cost(seed=7):
        return net.loss_fn(net.forward(X.T, np.random.default_rng(seed)), Y.T)

    cost()
    masks = [layer.M for layer in net.layers[:-1]]
    assert all(set(np.unique(M)) <= {0.0, 1 / 0.6} for M in masks) and any((M == 0).any() for M in masks)
    net.backward(Y.T)
    dW = net.layers[1].dW.copy()
    h = 1e-6
    for j, k in [(0, 0), (3, 2), (5, 5)]:
        w = net.layers[1].W[j, k]
        net.layers[1].W[j, k] = w + h
        up = cost()
        net.layers[1].W[j, k] = w - h
        down = cost()
        net.layers[1].W[j, k] = w
        assert (up - down) / (2 * h) == pytest.approx(dW[j, k], rel=1e-6, abs=1e-10)


def test_dropout_is_off_at_predict_time_and_unbiased_in_training():
    net = dp.Network([3, 200, 1], activation="relu", output_activation="identity", dropout=0.5, seed=0)
    X = np.ones((1, 3))
    assert np.array_equal(net.predict(X), net.predict(X))          # no randomness outside training
    plain = net.layers[0].forward(X.T)
    rng = np.random.default_rng(0)
    dropped = np.mean([net.layers[0].forward(X.T, rng) for _ in range(2000)], axis=0)
    np.testing.assert_allclose(dropped, plain, rtol=0.1, atol=1e-3)   # inverted dropout: E[a M] = a
    with pytest.raises(dp.ValidationError, match="output layer cannot have dropout"):
        dp.Network([dp.Dense(2, 2, dropout=0.5)])
    with pytest.raises(dp.ValidationError, match=r"'dropout' argument must be a finite number in \[0, 1\)"):
        dp.Dense(2, 2, dropout=1.0)
    assert dp.engines.select(None, net, dp.SGD()) is dp.engines.NumpyEngine    # numba: no dropout


# ---------------------------------------------------------------------------------------
# Checkpoints and resume

def _resume_case(tmp_path, engine, optimizer, dropout=0.0):
    X, y = _data(70)

    def make():
        return dp.Network([4, 9, 3], activation="relu", loss="cross_entropy", dropout=dropout, seed=6)

    def callbacks(folder):
        return [dp.callbacks.ModelCheckpoint(folder),
                dp.callbacks.EarlyStopping("val_loss", patience=50, restore_best_weights=True),
                dp.callbacks.LearningRateScheduler(dp.schedules.CosineDecay(epochs=6))]

    full = make()
    hist = full.fit(X, y, epochs=6, batch_size=8, optimizer=optimizer(), validation_split=0.2, seed=3,
                    verbose=0, engine=engine, callbacks=callbacks(tmp_path / "full"))
    return X, y, make, callbacks, full, hist


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("optimizer", [lambda: dp.Adam(lr=0.02), lambda: dp.SGD(lr=0.2, momentum=0.9, nesterov=True)])
def test_resuming_from_any_epoch_is_bit_identical(tmp_path, engine, optimizer):
    X, y, make, callbacks, full, hist = _resume_case(tmp_path, engine, optimizer)
    for epoch in (1, 4):
        net = make()
        resumed = net.fit(X, y, epochs=6, batch_size=8, optimizer=optimizer(), validation_split=0.2, seed=3,
                          verbose=0, engine=engine, callbacks=callbacks(tmp_path / f"r{epoch}"),
                          resume=tmp_path / "full" / f"epoch-{epoch:04d}.dpz")
        for a, b in zip(full.get_weights(), net.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert resumed.epoch == hist.epoch
        assert {k: v for k, v in resumed.history.items() if k != "seconds"} == \
            {k: v for k, v in hist.history.items() if k != "seconds"}


def test_resuming_in_the_middle_of_an_epoch_with_dropout_is_bit_identical(tmp_path):
    X, y, make, callbacks, full, _ = _resume_case(tmp_path, "numpy", lambda: dp.Adam(lr=0.02), dropout=0.3)
    # A mid-epoch checkpoint, as SIGINT/SIGTERM write: stop after batch 3 of epoch 2.
    net = make()
    stopper = _StopAfter(epoch=2, batch=3, folder=tmp_path / "mid")
    with pytest.raises(_Stop):
        net.fit(X, y, epochs=6, batch_size=8, optimizer=dp.Adam(lr=0.02), validation_split=0.2, seed=3, verbose=0,
                engine="numpy", callbacks=[stopper, *callbacks(tmp_path / "mid")[1:]])
    path = tmp_path / "mid" / "epoch-0002-batch-00003.dpz"
    assert path.exists()
    again = make()
    with pytest.warns(UserWarning, match="no state for ModelCheckpoint; it starts afresh"):
        again.fit(X, y, epochs=6, batch_size=8, optimizer=dp.Adam(lr=0.02), validation_split=0.2, seed=3,
                  verbose=0, engine="numpy", callbacks=callbacks(tmp_path / "again"), resume=tmp_path / "mid")
    for a, b in zip(full.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


class _StopAfter(dp.callbacks.ModelCheckpoint):
    """Writes a mid-epoch checkpoint at (epoch, batch) the way an interrupt does, then stops."""

    def __init__(self, epoch, batch, folder):
        super().__init__(folder)
        self.at = (epoch, batch)

    def on_batch_end(self, state):
        if (state.epoch, state.batch) == self.at:
            self.on_interrupt(state)
            raise _Stop

    def on_epoch_end(self, state):
        pass


class _Stop(Exception):
    pass


def test_stop_exception_propagates(tmp_path):
    # (the helper above relies on exceptions from callbacks reaching the caller)
    X, y = _data(30)
    with pytest.raises(_Stop):
        dp.Network([4, 3], loss="cross_entropy", seed=0).fit(
            X, y, epochs=3, batch_size=5, verbose=0, callbacks=[_StopAfter(1, 2, tmp_path)], engine="numpy")


def test_resume_refuses_other_data_settings_or_networks_and_changes_nothing(tmp_path):
    X, y = _data(40)
    net = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[dp.callbacks.ModelCheckpoint(tmp_path)])
    ckpt = tmp_path / "epoch-0002.dpz"
    fresh = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    before = fresh.get_weights()
    cases = [
        (dict(X=X + 1), r"(?s)differs from the one that wrote it.*data: the training data \(X, Y and any sample_weight\) are not those"),
        (dict(batch_size=4), r"batch_size: checkpoint 8, this call 4"),
        (dict(optimizer=dp.SGD(lr=0.1, momentum=0.5)), r"momentum: checkpoint 0.0, given 0.5"),
        (dict(optimizer=dp.Adam()), r"saved optimizer state is for 'SGD'|name: checkpoint 'SGD', given 'Adam'"),
        (dict(epochs=1), r"is from epoch 2; epochs=1 asks for fewer"),
    ]
    for change, match in cases:
        kwargs = dict(X=X, batch_size=8, epochs=3) | change
        with pytest.raises(dp.ValidationError, match=match):
            fresh.fit(kwargs.pop("X"), y, verbose=0, resume=ckpt, **kwargs)
        for a, b in zip(before, fresh.get_weights()):
            np.testing.assert_array_equal(a, b)
    other = dp.Network([4, 6, 3], loss="cross_entropy", seed=0)
    with pytest.raises(dp.ShapeError, match=r"(?s)does not match this one in 2 way.*layers\[0\].*file \(4, 5\), network \(4, 6\)"):
        other.fit(X, y, epochs=3, batch_size=8, verbose=0, resume=ckpt)
    with pytest.raises(dp.DataError, match="does not exist"):
        fresh.fit(X, y, verbose=0, resume=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(dp.DataError, match="No readable checkpoint"):
        fresh.fit(X, y, verbose=0, resume=tmp_path / "empty")


def test_resume_without_an_optimizer_takes_the_checkpoints(tmp_path):
    X, y = _data(40)
    a = dp.Network([4, 3], loss="cross_entropy", seed=0)
    a.fit(X, y, epochs=4, batch_size=8, optimizer=dp.Adam(lr=0.05), verbose=0, seed=1, engine="numpy",
          callbacks=[dp.callbacks.ModelCheckpoint(tmp_path)])
    b = dp.Network([4, 3], loss="cross_entropy", seed=0)
    b.fit(X, y, epochs=4, batch_size=8, verbose=0, seed=1, engine="numpy", resume=tmp_path / "epoch-0002.dpz")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ---------------------------------------------------------------------------------------
# Killing the process: SIGKILL at random moments, SIGTERM and SIGINT

import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

SCRIPT = Path(__file__).with_name("train_script.py")
EPOCHS = 60


def _start(folder, out, log):
    return subprocess.Popen([sys.executable, "-u", str(SCRIPT), str(folder), str(out), str(EPOCHS), "numpy"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _epochs_printed(log) -> int:
    found = re.findall(r"^epoch\s+(\d+)/", Path(log).read_text(), flags=re.M)
    return max(map(int, found), default=0)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The run never interrupted: its final weights, its CSV log, and how long it takes
    to start (until the first epoch is announced) and to train one epoch."""
    tmp = tmp_path_factory.mktemp("reference")
    start = time.perf_counter()
    proc = _start(tmp / "ck", tmp / "out.dpz", tmp / "log")
    while proc.poll() is None and _epochs_printed(tmp / "log") < 1:
        time.sleep(0.002)
    first = time.perf_counter() - start
    assert proc.wait(timeout=300) == 0, (tmp / "log").read_text()
    per_epoch = (time.perf_counter() - start - first) / (EPOCHS - 1)
    return dp.load(tmp / "out.dpz").get_weights(), (tmp / "ck.csv").read_text(), first, per_epoch


def test_sigkill_at_random_moments_loses_no_epoch_and_ends_bit_identical(tmp_path, uninterrupted):
    # 20 or more SIGKILLs: a quarter at any moment from the start (imports, reading the
    # checkpoint, the first batches), the rest at a random point after the run has
    # finished one more epoch (inside batches or inside a checkpoint write).
    rng = np.random.default_rng(20261201)
    folder, out = tmp_path / "ck", tmp_path / "out.dpz"
    kills, runs, announced = 0, 0, 0
    _, _, first, per_epoch = uninterrupted       # so that 20 kills fit in the run, on a fast or a slow machine
    while True:
        log = tmp_path / f"log{runs}"
        proc = _start(folder, out, log)
        runs += 1
        if kills < 20:
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.0, first + per_epoch))
            else:
                while proc.poll() is None and _epochs_printed(log) <= announced:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 1.2 * per_epoch))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                announced = max(announced, _epochs_printed(log))
                if announced:       # every epoch it announced is in a checkpoint on disk
                    done = dp.io.read_checkpoint(
                        dp.training.find_checkpoint(folder))[1]["progress"]["epochs_done"]
                    assert done >= announced, (announced, done)
                continue
        assert proc.wait(timeout=300) == 0, log.read_text()
        break
    assert kills >= 20
    weights, csv_text, _, _ = uninterrupted
    for a, b in zip(weights, dp.load(out).get_weights()):
        np.testing.assert_array_equal(a, b)
    rows = [line.split(",")[0] for line in (tmp_path / "ck.csv").read_text().splitlines()[1:]]
    assert rows == [str(e) for e in range(1, EPOCHS + 1)]            # each epoch logged exactly once
    strip = [",".join(line.split(",")[:-1]) for line in csv_text.splitlines()]   # all but "seconds"
    assert [",".join(line.split(",")[:-1]) for line in (tmp_path / "ck.csv").read_text().splitlines()] == strip
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]            # no temporaries left behind


@pytest.mark.parametrize("sig, codes", [(signal.SIGTERM, (143,)), (signal.SIGINT, (130, -signal.SIGINT))])
def test_sigterm_and_sigint_flush_a_checkpoint_and_exit_conventionally(tmp_path, uninterrupted, sig, codes):
    folder, out, log = tmp_path / "ck", tmp_path / "out.dpz", tmp_path / "log"
    proc = _start(folder, out, log)
    deadline = time.time() + 120
    while _epochs_printed(log) < 2 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)                                   # somewhere inside epoch 3, most likely
    proc.send_signal(sig)
    assert proc.wait(timeout=60) in codes, log.read_text()
    written = sorted(p.name for p in folder.iterdir())
    assert any(re.fullmatch(r"epoch-\d{4}(-batch-\d{5})?\.dpz", name) for name in written)
    if sig == signal.SIGTERM:
        assert "stopped by signal 15" in log.read_text()
    proc = _start(folder, out, tmp_path / "log2")
    assert proc.wait(timeout=300) == 0
    for a, b in zip(uninterrupted[0], dp.load(out).get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("make_opt", [lambda lr: dp.SGD(lr=lr, momentum=0.5), lambda lr: dp.Adam(lr=lr)])
def test_resuming_with_a_new_learning_rate_applies_it_from_there_and_says_so(tmp_path, engine, make_opt):
    X, y = _data(40)

    class SwitchAt(dp.callbacks.Callback):          # the uninterrupted run that changes lr at epoch 3
        def on_epoch_begin(self, state):
            if state.epoch == 3:
                state.optimizer.lr = 0.05

    ref = dp.Network([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    ref.fit(X, y, epochs=4, batch_size=8, optimizer=make_opt(0.01), seed=1, verbose=0, engine=engine,
            callbacks=[SwitchAt()])
    first = dp.Network([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    first.fit(X, y, epochs=2, batch_size=8, optimizer=make_opt(0.01), seed=1, verbose=0, engine=engine,
              callbacks=[dp.callbacks.ModelCheckpoint(tmp_path)])
    again = dp.Network([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    mine = make_opt(0.05)
    with pytest.warns(dp.errors.ResumeWarning, match=r"resume: training continues from epoch 3 with the learning "
                                                     r"rate lr=0\.05; the run in .*epoch-0002\.dpz' used lr=0\.01"):
        again.fit(X, y, epochs=4, batch_size=8, optimizer=mine, seed=1, verbose=0, engine=engine,
                  resume=tmp_path / "epoch-0002.dpz")
    assert mine.lr == 0.05                          # the caller's object keeps what it was given
    for a, b in zip(ref.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_resuming_with_the_same_learning_rate_warns_nothing_and_a_schedule_takes_the_new_base(tmp_path, recwarn):
    X, y = _data(40)
    sched = lambda: dp.callbacks.LearningRateScheduler(dp.schedules.StepDecay(drop=0.5, every=1))  # noqa: E731
    net = dp.Network([4, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=8, optimizer=dp.SGD(lr=0.2), seed=1, verbose=0,
            callbacks=[sched(), dp.callbacks.ModelCheckpoint(tmp_path)])
    same = dp.Network([4, 3], loss="cross_entropy", seed=0)
    hist = same.fit(X, y, epochs=3, batch_size=8, optimizer=dp.SGD(lr=0.2), seed=1, verbose=0,
                    callbacks=[sched()], resume=tmp_path / "epoch-0002.dpz")
    assert not [w for w in recwarn if issubclass(w.category, dp.errors.ResumeWarning)]
    assert hist["lr"] == pytest.approx([0.2, 0.1, 0.05])
    new = dp.Network([4, 3], loss="cross_entropy", seed=0)
    with pytest.warns(dp.errors.ResumeWarning, match=r"schedule's base learning rate lr=0\.8; .* used lr=0\.2"):
        hist = new.fit(X, y, epochs=3, batch_size=8, optimizer=dp.SGD(lr=0.8), seed=1, verbose=0,
                       callbacks=[sched()], resume=tmp_path / "epoch-0002.dpz")
    assert hist["lr"] == pytest.approx([0.2, 0.1, 0.2])      # epoch 3 of a base of 0.8: 0.8 / 4


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_ctrl_c_without_checkpoints_keeps_the_weights_of_the_last_finished_batch(engine):
    import os as _os
    X, y = _data(400)
    seen = {}

    class CtrlC(dp.callbacks.Callback):             # Ctrl-C as epoch 2 runs, then record what each block left
        def on_batch_end(self, state):
            if state.epoch == 2 and "at" not in seen:
                seen["at"] = state.batch
                _os.kill(_os.getpid(), signal.SIGINT)
            seen["weights"] = state.net.get_weights()
            seen["batch"] = state.batch

    net = dp.Network([4, 16, 3], activation="relu", loss="cross_entropy", seed=0)
    with pytest.raises(KeyboardInterrupt, match=r"training interrupted in epoch 2 after batch \d+; the network "
                                                r"keeps the weights of that batch") as e:
        net.fit(X, y, epochs=5, batch_size=4, optimizer=dp.Adam(lr=0.01), seed=1, verbose=0, engine=engine,
                callbacks=[CtrlC()])
    assert f"after batch {seen['batch']};" in str(e.value)
    for a, b in zip(seen["weights"], net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # the handler is put back


def test_ctrl_c_reaches_a_fit_without_callbacks_between_blocks(monkeypatch):
    import os as _os
    import threading
    X, y = _data(3000)
    net = dp.Network([4, 64, 3], activation="relu", loss="cross_entropy", seed=0)
    timer = threading.Timer(0.5, lambda: _os.kill(_os.getpid(), signal.SIGINT))
    timer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt, match=r"training interrupted (in epoch \d+ after batch \d+|after epoch \d+)"):
        net.fit(X, y, epochs=10_000, batch_size=2, seed=1, verbose=0, validation_data=(X[:10], y[:10]))
    assert time.perf_counter() - started < 0.5 + 2.0       # answered within a block, not at the end
    assert all(np.isfinite(w).all() for w in net.get_weights())


def test_a_run_that_diverges_without_nan_warns_naming_the_learning_rate():
    X, y = dp.data.moons(500, noise=0.2, seed=0)
    for net, lr in [(dp.Network([2, 16, 2], activation="relu", loss="cross_entropy", seed=0), 1e3),
                    (dp.Network([2, 16, 2], activation="sigmoid", seed=0), 1e300),
                    (dp.Network([2, 16, 2], activation="relu", seed=0), 1e3)]:
        with pytest.warns(dp.errors.DivergenceWarning, match=rf"Training (diverged|did not learn): (the cost on 500 "
                                                             rf"of the training examples ended at .* the .* it began "
                                                             rf"at|the largest weight grew from .* to .*)\. The learning rate \(lr={re.escape(f'{lr:g}')}\) is probably too"):
            net.fit(X, y, epochs=20, batch_size=16, optimizer=dp.SGD(lr=lr), verbose=0)


def test_a_run_that_learns_gives_no_warning(recwarn):
    X, y = dp.data.moons(300, noise=0.2, seed=0)
    dp.Network([2, 16, 2], activation="tanh", loss="cross_entropy", seed=0).fit(
        X, y, epochs=20, batch_size=16, optimizer=dp.Adam(lr=0.01), verbose=0)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_raw_pixels_get_a_warning_that_names_the_fix():
    (X, y), _ = dp.datasets.mnist()
    with pytest.warns(dp.errors.InputRangeWarning, match=r"feature \d+ has a root mean square of 1\d\d\.?\d* over "
                                                         r"1000 of the training examples \(raw 0-255 pixels\? divide "
                                                         r"them by 255\)\. .*Standardizer"):
        dp.Network([784, 10, 10], seed=0).fit(X[:1000] * 255, y[:1000], epochs=1, batch_size=100, verbose=0)


# ---------------------------------------------------------------------------------------
# The loop driven from outside: Trainer

def _trainer_case(engine):
    X, y = _data(100)
    net = dp.Network([4, 6, 3], activation="tanh", loss="cross_entropy", seed=3)
    return net, X, y, dict(batch_size=8, optimizer=dp.Adam(lr=0.01), seed=2, engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("validation", [False, True])
def test_a_trainer_driven_batch_by_batch_gives_fits_bits(engine, validation):
    net, X, y, kw = _trainer_case(engine)
    val = dict(validation_data=(X[:20], y[:20])) if validation else {}
    ref = net.copy()
    history = ref.fit(X, y, epochs=4, verbose=0, **kw, **val)
    kw["optimizer"] = dp.Adam(lr=0.01)
    trainer = dp.Trainer(net, X, y, epochs=4, **kw, **val)
    rng = np.random.default_rng(0)
    losses = []
    while not trainer.state.finished:
        steps = trainer.train_batches(int(rng.integers(1, 20)))     # blocks across epoch ends
        assert steps.done >= 1 and len(steps.costs) == len(steps.correct)
        losses.extend(steps.costs)
    trainer.close()
    assert len(losses) == 4 * trainer.state.n_batches
    for a, b in zip(ref.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert trainer.history.history == {k: v for k, v in history.history.items()} | \
        {"seconds": trainer.history["seconds"]}
    assert trainer.train_batches(5).done == 0                         # finished: nothing more


def test_a_trainer_trains_whole_epochs_and_reports_the_costs_of_each_batch():
    net, X, y, kw = _trainer_case("numba")
    trainer = dp.Trainer(net, X, y, **kw)                              # no last epoch
    first = trainer.train_batches(3)
    rest = trainer.train_epochs(1)                                     # to the end of the running epoch
    assert first.done + rest.done == trainer.state.n_batches and trainer.state.epoch_done
    assert trainer.history["loss"][0] == pytest.approx((first.costs.sum() + rest.costs.sum()) / len(X), rel=1e-12)
    assert trainer.train_epochs(2).done == 2 * trainer.state.n_batches and len(trainer.history) == 3
    trainer.close()


def test_many_tiny_epochs_take_few_engine_calls(monkeypatch):
    # W3: fit(epochs=10000, batch_size=1) with nothing between epochs spans epochs per call.
    calls = []
    real = dp.engines.NumbaEngine.run

    def counting(self, orders, start, count, rng):
        calls.append(count)
        return real(self, orders, start, count, rng)

    monkeypatch.setattr(dp.engines.NumbaEngine, "run", counting)
    ex = dp.examples.mazur()
    history = ex.net.fit(ex.x, ex.y, epochs=10_000, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0)
    assert len(history) == 10_000 and sum(calls) == 10_000 and len(calls) <= 5


# ---------------------------------------------------------------------------------------
# Example weights: each batch's cost is sum_x w_x C_x / sum_x w_x

@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_a_weight_of_two_trains_as_the_example_twice(engine):
    # Full batches in a fixed order: the weighted mean over n rows is the plain mean over
    # the rows repeated by their weights, so both runs take the same steps (to rounding).
    X, y = _data(30)
    counts = np.random.default_rng(5).integers(1, 4, len(X))
    repeated = np.repeat(np.arange(len(X)), counts)
    nets = [dp.Network([4, 6, 3], activation="tanh", loss="cross_entropy", seed=2) for _ in range(2)]
    h_w = nets[0].fit(X, y, epochs=20, batch_size=len(X), optimizer=dp.SGD(lr=0.5, momentum=0.9), shuffle=False,
                      verbose=0, engine=engine, sample_weight=counts)
    h_r = nets[1].fit(X[repeated], y[repeated], epochs=20, batch_size=len(repeated),
                      optimizer=dp.SGD(lr=0.5, momentum=0.9), shuffle=False, verbose=0, engine=engine)
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(h_w["loss"], h_r["loss"], rtol=1e-11)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weights_of_one_change_no_bit(engine, dtype):
    X, y = _data(37)
    nets = [dp.Network([4, 5, 3], activation="relu", loss="cross_entropy", dtype=dtype, seed=1) for _ in range(2)]
    runs = [net.fit(X, y, epochs=3, batch_size=8, optimizer=dp.Adam(lr=0.01), seed=4, verbose=0, engine=engine,
                    sample_weight=w, validation_split=0.2) for net, w in zip(nets, (None, np.ones(len(X))))]
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert runs[0].history == runs[1].history | {"seconds": runs[0].history["seconds"]}


def test_the_history_holds_the_weighted_means():
    X, y = _data(40)
    w = np.random.default_rng(2).uniform(0, 3, 40)
    net = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    before = net.copy()
    X_val, y_val = _data(15, seed=9)
    w_val = np.linspace(0.1, 2, 15)
    hist = net.fit(X, y, epochs=1, batch_size=40, optimizer=dp.SGD(lr=0.1), verbose=0, sample_weight=w,
                   validation_data=(X_val, y_val, w_val))
    # one full batch: the epoch's loss is the cost at the weights before its step
    assert hist["loss"][0] == pytest.approx(before.loss(X, y, sample_weight=w), rel=1e-12)
    assert hist["loss"][0] != pytest.approx(before.loss(X, y), rel=1e-3)
    assert hist["val_loss"][0] == pytest.approx(net.evaluate(X_val, y_val, sample_weight=w_val)["loss"], rel=1e-12)
    assert hist["accuracy"][0] == pytest.approx(before.evaluate(X, y)["accuracy"])   # accuracy counts examples


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_a_batch_of_weight_zero_takes_no_step_and_makes_no_nan(engine):
    X, y = _data(8)
    w = np.array([0, 0, 0, 0, 1, 2, 1, 1.0])
    net = dp.Network([4, 3, 3], loss="cross_entropy", seed=0)
    start = net.get_weights()
    trainer = dp.Trainer(net, X, y, batch_size=4, optimizer=dp.SGD(lr=0.5), shuffle=False, engine=engine,
                         sample_weight=w)
    steps = trainer.train_batches(1)
    assert steps.costs.tolist() == [0.0]
    for a, b in zip(start, net.get_weights()):
        np.testing.assert_array_equal(a, b)          # the gradient of a batch without weight is 0
    steps = trainer.train_batches(1)
    assert steps.costs[0] > 0 and not np.array_equal(start[0], net.get_weights()[0])
    assert trainer.state.logs["loss"] == pytest.approx(steps.costs[0] / 5)


@pytest.mark.parametrize("weights, error, match", [
    (np.ones(5), dp.ShapeError, r"'sample_weight' argument must have shape \(40,\): one weight per example. "
                                r"Got shape \(5,\)"),
    (-np.ones(40), dp.ValidationError, r"'sample_weight' argument must be >= 0 for every example. Got -1 at 0"),
    (np.zeros(40), dp.ValidationError, r"is 0 for every example"),
    (np.r_[np.ones(39), np.nan], dp.ValidationError, r"contains NaN or infinity \(first at 39\)"),
    (np.array(["a"] * 40), dp.DeltapropTypeError, r"must hold real numbers, one per example"),
])
def test_bad_weights_are_refused_naming_the_argument(weights, error, match):
    X, y = _data(40)
    net = dp.Network([4, 3], loss="cross_entropy", seed=0)
    before = net.get_weights()
    with pytest.raises(error, match=match):
        net.fit(X, y, verbose=0, sample_weight=weights)
    with pytest.raises(error, match=match):
        net.gradients(X, y, sample_weight=weights)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
    with pytest.raises(dp.ValidationError, match=r"validation_data\[2\]"):
        net.fit(X, y, verbose=0, validation_data=(X, y, -np.ones(40)))


def test_resume_refuses_other_weights_and_resumes_with_the_same_bit_for_bit(tmp_path):
    X, y = _data(40)
    w = np.linspace(0.5, 1.5, 40)
    net = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=8, verbose=0, sample_weight=w,
            callbacks=[dp.callbacks.ModelCheckpoint(tmp_path)])
    fresh = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    for other in (None, w[::-1]):
        with pytest.raises(dp.ValidationError, match="X, Y and any sample_weight"):
            fresh.fit(X, y, epochs=3, batch_size=8, verbose=0, sample_weight=other,
                      resume=tmp_path / "epoch-0002.dpz")
    fresh.fit(X, y, epochs=3, batch_size=8, verbose=0, sample_weight=w, resume=tmp_path / "epoch-0002.dpz")
    straight = dp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    straight.fit(X, y, epochs=3, batch_size=8, verbose=0, sample_weight=w)
    for a, b in zip(straight.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
