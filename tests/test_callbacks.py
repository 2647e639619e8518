"""Callbacks: each one's behaviour in a real fit call, and what it keeps in a checkpoint."""

import csv
import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint,
                                 TerminateOnNaN)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return X, y


def _net(seed=1, **kw):
    return dp.Network([3, 6, 2], activation="tanh", loss="cross_entropy", seed=seed, **kw)


class Recorder(Callback):
    """Writes down every hook call, to check the order the loop promises."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, state):
        self.calls.append(("train_begin", state.epoch))

    def on_epoch_begin(self, state):
        self.calls.append(("epoch_begin", state.epoch))

    def on_batch_end(self, state):
        self.calls.append(("batch_end", state.batch))

    def on_epoch_end(self, state):
        self.calls.append(("epoch_end", state.epoch, sorted(state.logs)))

    def on_train_end(self, state):
        self.calls.append(("train_end", state.epoch))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_hooks_are_called_in_order_with_the_state(engine):
    X, y = _data(50)
    rec = Recorder()
    _net().fit(X, y, epochs=2, batch_size=20, callbacks=[rec], verbose=0, engine=engine)
    assert rec.calls[0] == ("train_begin", 0) and rec.calls[-1] == ("train_end", 2)
    epoch_calls = [c for c in rec.calls if c[0].startswith("epoch")]
    assert [c[:2] for c in epoch_calls] == [("epoch_begin", 1), ("epoch_end", 1), ("epoch_begin", 2), ("epoch_end", 2)]
    assert epoch_calls[1][2] == ["accuracy", "loss", "seconds"]
    batches = [c[1] for c in rec.calls if c[0] == "batch_end"]
    assert batches[-1] == 3 and batches == sorted(batches) or batches[:len(batches) // 2][-1] == 3
    assert max(batches) == 3                       # 50 examples in batches of 20: 3 batches per epoch


def test_callbacks_argument_is_checked():
    X, y = _data(20)
    with pytest.raises(dp.DeltapropTypeError, match=r"'callbacks' argument must be a list of callbacks"):
        _net().fit(X, y, callbacks=EarlyStopping(), verbose=0)
    with pytest.raises(dp.DeltapropTypeError, match=r"callbacks\[1\] must be a deltaprop Callback.*Got builtin_function_or_method"):
        _net().fit(X, y, callbacks=[EarlyStopping("loss"), print], verbose=0)
    with pytest.raises(dp.ValidationError, match=r"callbacks\[0\] is a History"):
        _net().fit(X, y, callbacks=[dp.History()], verbose=0)


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = _data()
    Xv, yv = _data(60, seed=9)
    # A learning rate large enough that the validation loss soon stops improving.
    net = _net()
    stopper = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    hist = net.fit(X, y, epochs=60, batch_size=4, optimizer=dp.SGD(lr=2.0), validation_data=(Xv, yv),
                   callbacks=[stopper], verbose=0, seed=0)
    assert len(hist) < 60 and "EarlyStopping: val_loss did not improve" in hist.stop_reason
    best = int(np.argmin(hist["val_loss"])) + 1
    assert stopper.best_epoch == best and len(hist) == best + 2       # patience 2: stops on the 2nd miss (Keras)
    assert stopper.best == pytest.approx(min(hist["val_loss"]))
    # The restored weights are those the network had at the end of its best epoch.
    again = _net()
    again.fit(X, y, epochs=best, batch_size=4, optimizer=dp.SGD(lr=2.0), verbose=0, seed=0)
    for a, b in zip(net.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert net.evaluate(Xv, yv)["loss"] == pytest.approx(stopper.best)


def test_early_stopping_min_delta_mode_and_checks():
    X, y = _data(40)
    # Any improvement smaller than a huge min_delta does not count: the first epoch sets the
    # best, the next one misses it, and with patience 1 that one miss stops training.
    hist = _net().fit(X, y, epochs=20, batch_size=8, callbacks=[EarlyStopping("loss", patience=1, min_delta=10.0)],
                      verbose=0)
    assert len(hist) == 2
    assert EarlyStopping("val_accuracy")._m.mode == "max" and EarlyStopping("loss")._m.mode == "min"
    with pytest.raises(dp.ValidationError, match=r"monitors 'val_loss', but this fit call has no validation data"):
        _net().fit(X, y, callbacks=[EarlyStopping()], verbose=0)
    reg = dp.Network([3, 1], activation="identity", seed=0)
    with pytest.raises(dp.ValidationError, match=r"not a classifier"):
        reg.fit(X, X[:, :1], callbacks=[EarlyStopping("accuracy")], verbose=0)
    with pytest.raises(dp.ValidationError, match=r"'patience' argument must be an integer >= 0. Got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(dp.ValidationError, match=r"'mode' argument must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")


def _diverging():
    """Identity network whose SGD steps grow without bound, full batches in order: the
    cost overflows after a few epochs at a batch we can compute."""
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0, 1.0]]) * 1e3
    Y = np.array([[1.0], [0.0], [2.0], [1.0]])
    net = dp.Network([dp.Dense(2, 1, "identity", W=[[0.1, 0.2]], b=[0.0])], loss="quadratic")
    return net, X, Y


def _manual_steps(net, X, Y, lr, batch, steps):
    """The seeds' rule written out: the weights after ``steps`` mini-batch updates, in order."""
    net = net.copy()
    k = 0
    while k < steps:
        for s in range(0, len(X), batch):
            if k == steps:
                break
            (dW, db), = net.gradients(X[s:s + batch], Y[s:s + batch])
            net.layers[0].W -= lr * dW
            net.layers[0].b -= lr * db
            k += 1
    return net.get_weights()


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_terminate_on_nan_names_epoch_and_batch_and_keeps_the_last_finite_weights(engine, capsys):
    net, X, Y = _diverging()
    start = net.copy()
    hist = net.fit(X, Y, epochs=50, batch_size=2, optimizer=dp.SGD(lr=1.0), shuffle=False, verbose=0,
                   callbacks=[TerminateOnNaN()], engine=engine)
    err = capsys.readouterr().err
    assert hist.stop_reason and err.strip() == hist.stop_reason
    epoch, batch = (int(v) for v in
                    __import__("re").search(r"in epoch (\d+), batch (\d+) of 2", hist.stop_reason).groups())
    assert len(hist) == epoch - 1                               # the broken epoch is not recorded
    steps = (epoch - 1) * 2 + (batch - 1)                       # updates applied before the bad batch
    expected = _manual_steps(start, X, Y, 1.0, 2, steps)
    for a, b in zip(net.get_weights(), expected):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # ... and that batch really is the first whose cost is not finite
    following = start.copy()
    following.set_weights(expected)
    s = (batch - 1) * 2
    with np.errstate(all="ignore"):
        assert not np.isfinite(following.loss(X[s:s + 2], Y[s:s + 2]))


def test_without_terminate_on_nan_the_same_run_raises_naming_epoch_and_batch():
    net, X, Y = _diverging()
    with pytest.raises(dp.NonFiniteError, match=r"diverged in epoch \d+, batch \d of 2: the cost became (inf|nan)\. "
                                                r"The weights were restored to the last finite ones"):
        net.fit(X, Y, epochs=50, batch_size=2, optimizer=dp.SGD(lr=1.0), shuffle=False, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in net.get_weights())


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("verbose", [0, 2])
def test_an_update_that_overflows_the_weights_is_caught_even_with_a_finite_cost(engine, verbose):
    # One update, whose cost (before it) is finite but which sends the weight to -inf.
    net = dp.Network([dp.Dense(1, 1, "identity", W=[[1.0]], b=[0.0])], loss="quadratic")
    before = net.get_weights()
    with pytest.raises(dp.NonFiniteError, match=r"epoch 1, batch 1 of 1: its update made a weight infinite or NaN"):
        net.fit([[1e100]], [[0.0]], epochs=1, batch_size=1, optimizer=dp.SGD(lr=1e200), verbose=verbose,
                engine=engine)
    for a, b in zip(net.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    X, y = _data(40)
    path = tmp_path / "logs" / "train.csv"
    hist = _net().fit(X, y, epochs=3, batch_size=10, validation_split=0.25, callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert [float(r["val_loss"]) for r in rows] == hist["val_loss"]       # repr() of floats round-trips
    _net().fit(X, y, epochs=2, batch_size=10, callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert [int(r["epoch"]) for r in csv.DictReader(path.open())] == [1, 2, 3, 1, 2]
    with pytest.raises(dp.DeltapropTypeError, match="must be a file path"):
        CSVLogger(3)


def test_learning_rate_scheduler_sets_and_logs_the_rate():
    X, y = _data(40)
    opt = dp.SGD(lr=0.8)
    hist = _net().fit(X, y, epochs=4, batch_size=10, optimizer=opt, verbose=0,
                      callbacks=[LearningRateScheduler(dp.schedules.StepDecay(drop=0.5, every=2))])
    assert hist["lr"] == [0.8, 0.8, 0.4, 0.4] and opt.lr == 0.4
    # The rate really is the one used: a manual run with lr 0.8 then 0.4 gives the same weights.
    a, b = _net(), _net()
    a.fit(X, y, epochs=4, batch_size=10, optimizer=dp.SGD(lr=0.8), seed=5, verbose=0,
          callbacks=[LearningRateScheduler(lambda e, lr0: lr0 if e <= 2 else lr0 / 2)])
    rng = np.random.default_rng(5)
    b.fit(X, y, epochs=2, batch_size=10, optimizer=dp.SGD(lr=0.8), seed=rng, verbose=0)
    b.fit(X, y, epochs=2, batch_size=10, optimizer=dp.SGD(lr=0.4), seed=rng, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(dp.ValidationError, match=r"gave -1.0 for epoch 1; it must give a finite number >= 0"):
        _net().fit(X, y, callbacks=[LearningRateScheduler(lambda e, lr0: -1.0)], verbose=0)
    with pytest.raises(dp.DeltapropTypeError, match="must be callable"):
        LearningRateScheduler(0.1)


def test_model_checkpoint_every_keep_and_best_only(tmp_path):
    X, y = _data(60)
    every = ModelCheckpoint(tmp_path / "every", every=2, keep=2)
    _net().fit(X, y, epochs=7, batch_size=20, callbacks=[every], verbose=0)
    # epochs 2, 4, 6 and the last (7) are written; only the last two are kept
    assert sorted(p.name for p in (tmp_path / "every").iterdir()) == ["epoch-0006.dpz", "epoch-0007.dpz"]
    net7 = dp.load(tmp_path / "every" / "epoch-0007.dpz")
    assert net7.sizes == [3, 6, 2]
    best = ModelCheckpoint(tmp_path / "best", save_best_only=True, monitor="val_loss")
    hist = _net().fit(X, y, epochs=6, batch_size=20, optimizer=dp.SGD(lr=3.0), validation_split=0.3,
                      callbacks=[best], verbose=0)
    written = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "best").iterdir())
    improving = [e + 1 for e, v in enumerate(hist["val_loss"]) if v == min(hist["val_loss"][:e + 1])]
    assert written == improving
    (tmp_path / "afile").write_text("x")
    with pytest.raises(dp.ValidationError, match="needs a folder"):
        _net().fit(X, y, callbacks=[ModelCheckpoint(tmp_path / "afile")], verbose=0)


def test_callback_state_round_trips():
    for cb in (EarlyStopping("loss", restore_best_weights=True), ModelCheckpoint("x"), LearningRateScheduler(
            lambda e, lr: lr)):
        meta, arrays = cb.get_state()
        cb.set_state(meta, arrays)
        assert cb.get_state()[0] == meta
    es = EarlyStopping("loss")
    assert es.get_state()[0]["best"] is None            # JSON has no infinity: "nothing seen yet"
    es.set_state(es.get_state()[0], {})
    assert es.best == math.inf


def test_a_callback_reused_for_a_new_fit_starts_afresh():
    X, y = _data(40)
    stopper = EarlyStopping("loss", patience=0)
    _net().fit(X, y, epochs=5, batch_size=8, optimizer=dp.SGD(lr=0.5), callbacks=[stopper], verbose=0)
    first_best = stopper.best
    worse = _net(seed=3)
    worse.fit(X, y, epochs=1, batch_size=8, optimizer=dp.SGD(lr=1e-6), callbacks=[stopper], verbose=0)
    assert stopper.best != first_best and stopper.best_epoch == 1       # not compared with the old fit's best
    sched = LearningRateScheduler(lambda e, lr0: lr0)
    _net().fit(X, y, epochs=1, optimizer=dp.SGD(lr=0.5), callbacks=[sched], verbose=0)
    _net().fit(X, y, epochs=1, optimizer=dp.SGD(lr=0.2), callbacks=[sched], verbose=0)
    assert sched.lr0 == 0.2


@pytest.mark.parametrize("make, match", [
    (lambda d: EarlyStopping("val_acc"), r"EarlyStopping monitors 'val_acc', which this fit call does not report\. "
                                         r"Did you mean 'val_accuracy'\? It reports: 'loss', 'accuracy', 'val_loss', "
                                         r"'val_accuracy'\."),
    (lambda d: ModelCheckpoint(d, save_best_only=True, monitor="val_los"), r"ModelCheckpoint monitors 'val_los'.*"
                                                                           r"Did you mean 'val_loss'\?"),
    (lambda d: EarlyStopping("seconds"), r"'seconds', which this fit call does not report"),
])
def test_a_misspelled_monitor_is_refused_before_any_weight_changes(tmp_path, make, match):
    X, y = _data(40)
    net = _net()
    before = net.get_weights()
    with pytest.raises(dp.ValidationError, match=match):
        net.fit(X, y, epochs=3, batch_size=8, validation_data=(X, y), callbacks=[make(tmp_path / "ck")], verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
    assert not (tmp_path / "ck").exists()


def test_a_callback_may_monitor_what_another_provides():
    X, y = _data(40)
    hist = _net().fit(X, y, epochs=3, batch_size=8, verbose=0,
                      callbacks=[LearningRateScheduler(lambda e, lr0: lr0 / e), EarlyStopping("lr", mode="max")])
    assert len(hist) == 2 and hist["lr"][:2] == [pytest.approx(hist["lr"][0]), pytest.approx(hist["lr"][0] / 2)]


class _EveryEpoch(dp.callbacks.Callback):
    def on_epoch_end(self, state):
        pass


def test_many_epochs_recorded_at_once_read_as_lists_of_floats():
    # W3's many tiny epochs go into History as arrays, made lists when first read
    ex = dp.examples.mazur()
    h = ex.net.fit(ex.x, ex.y, epochs=3000, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0)
    ex2 = dp.examples.mazur()
    h2 = ex2.net.fit(ex2.x, ex2.y, epochs=3000, batch_size=1, optimizer=dp.SGD(lr=0.5), verbose=0,
                     callbacks=[_EveryEpoch()])                                  # one epoch at a time
    assert len(h) == 3000 and h.epoch == list(range(1, 3001)) == h2.epoch
    assert all(type(v) is float for v in h["loss"]) and h["loss"] == h2["loss"]
    assert h.history is h.history and h.history.keys() == h2.history.keys()
    meta, _ = h.get_state()
    assert meta["history"]["loss"] == h2["loss"]
