"""deltaprop.io: save/load round trips bit for bit, clear errors for every file that is not
what it claims, architecture checks that list every mismatch, checkpoints, and saves
that survive SIGKILL at any moment."""

from __future__ import annotations

import json
import os
import select
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import networks

import deltaprop as dp
from deltaprop import _archive, activations, io
from deltaprop.errors import DataError, DeltapropTypeError, ShapeError, ValidationError


def assert_same_network(a: dp.Network, b: dp.Network) -> None:
    """Equal in everything a file carries, weights bit for bit, and in what it predicts."""
    assert repr(a) == repr(b) and a.dtype == b.dtype and type(a.loss_fn) is type(b.loss_fn)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.activation == lb.activation and la.fixed_bias == lb.fixed_bias
        assert getattr(la, "dropout", 0.0) == getattr(lb, "dropout", 0.0)
        for pa, pb in ((la.W, lb.W), (la.b, lb.b)):
            assert pa.dtype == pb.dtype and pa.shape == pb.shape and pa.tobytes() == pb.tobytes()
            assert pa is not pb
    X = np.random.default_rng(0).uniform(-2, 2, (7, a.n_in))
    assert np.array_equal(a.predict(X), b.predict(X))


CONFIGS = [
    dict(sizes=[3, 4, 2], activation="sigmoid", loss="quadratic"),
    dict(sizes=[3, 4, 5, 3], activation="relu", loss="cross_entropy"),
    dict(sizes=[2, 3, 1], activation="tanh", output_activation="sigmoid", loss="binary_cross_entropy"),
    dict(sizes=[2, 3, 2], activation="identity", output_activation="softmax", loss="quadratic"),
    dict(sizes=[4, 1], activation="leaky_relu", loss="quadratic"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["activation"] + "-" + c["loss"])
def test_round_trip_every_activation_loss_and_dtype(tmp_path, config, dtype):
    config = dict(config)
    net = dp.Network(config.pop("sizes"), **config, dtype=dtype, seed=1)
    path = net.save(tmp_path / "net.dpz")
    assert path == tmp_path / "net.dpz" and isinstance(path, Path)
    loaded = dp.load(path)
    assert_same_network(net, loaded)
    assert all(p.dtype == np.dtype(dtype) for p in loaded.get_weights())


def test_round_trip_layer_parameters_fixed_biases_dropout_and_metadata(tmp_path):
    layers = [dp.Dense(3, 5, activations.LeakyReLU(alpha=0.2), fixed_bias=True, dropout=0.3, seed=0, dtype="float32"),
              dp.Dense(5, 2, "softmax", b=[0.25, -0.125], fixed_bias=True, seed=1, dtype="float32")]
    net = dp.Network(layers, loss="cross_entropy")
    metadata = {"classes": ["cat", "dog"], "standardise": {"mean": [0.1, 0.2, 0.3], "std": [1.0, 2.0, 3.0]},
                "epochs": 12, "note": None}
    path = dp.io.save(net, str(tmp_path / "net.dpz"), metadata=metadata)
    loaded = dp.load(os.fspath(path))
    assert_same_network(net, loaded)
    assert loaded.layers[0].activation.alpha == 0.2 and loaded.layers[0].dropout == 0.3
    assert [layer.fixed_bias for layer in loaded.layers] == [True, True]
    assert io.read_header(path)["metadata"] == metadata


@given(case=st.one_of(networks(logits=True), networks(dtype="float32", logits=True)), fixed=st.lists(st.booleans(), min_size=4, max_size=4),
       compress=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_round_trip_random_architectures(tmp_path, case, fixed, compress):
    net, X, _ = case
    for layer, f in zip(net.layers, fixed):
        layer.fixed_bias = f
    loaded = dp.load(io.save(net, tmp_path / "net.dpz", compress=compress))
    assert_same_network(net, loaded)
    assert np.array_equal(net.predict(X), loaded.predict(X))


def test_the_header(tmp_path):
    net = dp.Network([4, 3, 2], activation="leaky_relu", loss="cross_entropy", dtype="float32", seed=0)
    path = net.save(tmp_path / "net.dpz", metadata={"k": 1})
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["header.json", "W1.npy", "b1.npy", "W2.npy", "b2.npy"]
        header = json.loads(zf.read("header.json"))
    assert header == io.read_header(path)
    assert header["format"] == "deltaprop" and header["format_version"] == 1 and io.FORMAT_VERSION == 3
    assert header["library_version"] == dp.__version__ and header["kind"] == "model"
    created = time.mktime(time.strptime(header["created"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(created - time.time()) < 60
    assert header["network"] == {
        "dtype": "float32", "loss": "cross_entropy",
        "layers": [{"n_in": 4, "n_out": 3, "activation": {"name": "leaky_relu", "alpha": 0.01}, "fixed_bias": False,
                    "dropout": 0.0},
                   {"n_in": 3, "n_out": 2, "activation": {"name": "softmax"}, "fixed_bias": False, "dropout": 0.0}]}
    assert header["arrays"] == {"W1": {"shape": [3, 4], "dtype": "<f4"}, "b1": {"shape": [3], "dtype": "<f4"},
                                "W2": {"shape": [2, 3], "dtype": "<f4"}, "b2": {"shape": [2], "dtype": "<f4"}}
    assert header["metadata"] == {"k": 1} and "training" not in header
    assert io.network_header(net) == header["network"]
    assert list(io.network_arrays(net)) == ["W1", "b1", "W2", "b2"] and io.network_arrays(net)["W2"] is net.layers[1].W
    with np.load(path, allow_pickle=False) as npz:
        assert np.array_equal(npz["W2"], net.layers[1].W)


def test_network_from_takes_a_whole_header_or_its_network_part(tmp_path):
    net = dp.Network([2, 2, 2], seed=0)
    header, arrays = io.network_header(net), io.network_arrays(net)
    assert_same_network(net, io.network_from(header, arrays))
    assert_same_network(net, io.network_from({"network": header}, {**arrays, "training/x": np.zeros(1)}))


# -- what save refuses ----------------------------------------------------------------

class Swish(activations.Activation):
    name = "swish"

    def __call__(self, Z):
        return Z / (1 + np.exp(-Z))


class MyLoss(dp.losses.Quadratic):
    pass


def test_save_refuses_what_it_could_not_load_back(tmp_path):
    net = dp.Network([2, 3, 1], seed=0)
    with pytest.raises(DeltapropTypeError, match=r"The 'net' argument must be a deltaprop Network. Got list"):
        io.save([net], tmp_path / "a")
    for bad, error, message in [
        ([1], DeltapropTypeError, r"The 'metadata' argument must be a dict \(or None\). Got list"),
        ({"mean": np.zeros(2)}, DeltapropTypeError, r"metadata\['mean'\] is a ndarray.*\.tolist\(\)"),
        ({"x": float("inf")}, ValidationError, r"metadata\['x'\] is inf; JSON has no NaN or infinity"),
        ({3: "x"}, DeltapropTypeError, r"metadata has the key 3 of type int"),
    ]:
        with pytest.raises(error, match=message):
            net.save(tmp_path / "a", metadata=bad)
    net.layers[1].W[0, 2] = np.nan
    with pytest.raises(ValidationError, match=r"Cannot save the network: W2 \(net.layers\[1\].W\) contains NaN"):
        net.save(tmp_path / "a")
    custom = dp.Network([dp.Dense(2, 2, Swish()), dp.Dense(2, 1, "identity")])
    with pytest.raises(ValidationError, match=r"Layer 0's activation Swish\(\) cannot be saved.*Register it"):
        custom.save(tmp_path / "a")
    with pytest.raises(ValidationError, match=r"The loss MyLoss\(\) cannot be saved"):
        dp.Network([2, 1], loss=MyLoss()).save(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


# -- files that are not what they claim ---------------------------------------------------

def crafted(tmp_path, mutate=None, arrays=None, name="bad.dpz"):
    """A file written by the archive layer (so the container is sound) whose deltaprop
    header has been changed by ``mutate(header)``."""
    net = dp.Network([3, 4, 2], activation="relu", loss="cross_entropy", seed=0)
    header = {"format": "deltaprop", "format_version": 1, "library_version": "0.1.0", "kind": "model",
              "created": "2026-01-01T00:00:00Z", "network": io.network_header(net), "metadata": {}}
    if mutate:
        mutate(header)
    return _archive.write(tmp_path / name, header, io.network_arrays(net) if arrays is None else arrays)


def layer0(key, value):
    return lambda h: h["network"]["layers"][0].__setitem__(key, value)


def net_key(key, value):
    return lambda h: h["network"].__setitem__(key, value)


HEADER_CASES = [
    (lambda h: h.update(format="npz"), r"it is not a deltaprop file \(its header's 'format' is 'npz', not 'deltaprop'\)"),
    (lambda h: h.pop("format"), r"not a deltaprop file \(its header's 'format' is None"),
    (lambda h: h.update(format_version=4, library_version="9.0"),
     r"it is deltaprop file format version 4, but this deltaprop \(.*\) reads format version 3 and older\. "
     r"Upgrade deltaprop \(pip install --upgrade deltaprop\) to read it; the file was written by deltaprop 9.0"),
    (lambda h: h.update(format_version="1"), r"'format_version' must be a positive integer. Got '1'"),
    (lambda h: h.update(format_version=True), r"'format_version' must be a positive integer. Got True"),
    (lambda h: h.update(format_version=0), r"'format_version' must be a positive integer. Got 0"),
    (lambda h: h.update(kind="weights"), r"'kind' must be one of 'model', 'checkpoint'. Got 'weights'"),
    (lambda h: h.update(metadata=[1]), r"'metadata' must be an object. Got list"),
    (lambda h: h.pop("network"), r"its header has no 'network' object. Got None"),
    (lambda h: h["network"].pop("dtype"), r"header\['network'\] must have the keys .*; missing \['dtype'\]"),
    (net_key("optimizer", "adam"), r"unknown \['optimizer'\] \(written by a newer deltaprop\?\)"),
    (net_key("dtype", "float16"), r"header\['network'\]\['dtype'\] must be 'float64' or 'float32'. Got 'float16'"),
    (net_key("loss", "cross_entropi"), r"\['loss'\] is 'cross_entropi', which this deltaprop does not know. "
                                       r"Did you mean 'cross_entropy'\?"),
    (net_key("layers", []), r"\['layers'\] must be a non-empty list. Got \[\]"),
    (net_key("layers", [3, 4]), r"\['layers'\]\[0\] must be an object. Got int"),
    (layer0("n_in", 0), r"\['layers'\]\[0\]\['n_in'\] must be a positive integer. Got 0"),
    (layer0("n_out", 4.0), r"\['layers'\]\[0\]\['n_out'\] must be a positive integer. Got 4.0"),
    (layer0("fixed_bias", "no"), r"\['fixed_bias'\] must be true or false. Got 'no'"),
    (layer0("dropout", 1.5), r"\['dropout'\] must be a number in \[0, 1\). Got 1.5"),
    (layer0("init", "he_normal"), r"\['layers'\]\[0\] must have the keys .*; unknown \['init'\]"),
    (lambda h: h["network"]["layers"][1].pop("activation"), r"\['layers'\]\[1\] must have the keys .*; missing \['activation'\]"),
    (layer0("activation", "relu"), r"\['activation'\] must be an object with a 'name'. Got 'relu'"),
    (layer0("activation", {"name": "rleu"}), r"\['activation'\] is 'rleu', which this deltaprop does not know. "
                                             r"Did you mean 'relu'\?"),
    (layer0("activation", {"name": "leaky_relu", "alpha": "big"}), r"\['activation'\] .* does not build an activation: "
                                                                   r"The 'alpha' argument of leaky_relu"),
    (layer0("activation", {"name": "relu", "beta": 1}), r"does not build an activation: ReLU\(\) takes no arguments"),
    (layer0("n_out", 5), r"\['layers'\]\[1\]\['n_in'\] is 4, but the layer below has n_out 5"),
]


@pytest.mark.parametrize("mutate, message", HEADER_CASES)
def test_headers_that_are_not_right_are_data_errors(tmp_path, mutate, message):
    path = crafted(tmp_path, mutate)
    for reader in (dp.load, io.read_header, io.read_checkpoint):
        with pytest.raises(DataError, match=r"^Cannot read '.*bad.dpz': .*" + message):
            reader(path)


def test_arrays_that_do_not_fit_the_network_are_data_errors(tmp_path):
    good = io.network_arrays(dp.Network([3, 4, 2], activation="relu", loss="cross_entropy", seed=0))
    cases = [
        ({**good, "W1": np.zeros((3, 4))}, r"Array W1 has shape \(3, 4\) and dtype float64; layer 1 of the header "
                                           r"\(3 -> 4, float64\) needs \(4, 3\) of float64"),
        ({**good, "b2": np.zeros(2, np.float32)}, r"Array b2 has shape \(2,\) and dtype float32.*needs \(2,\) of float64"),
        ({**good, "W3": np.zeros((1, 2))}, r"arrays W3 that are not part of the 2-layer network"),
        ({k: v for k, v in good.items() if k != "b2"}, r"The file has no array b2 for layer 2 of 2"),
        ({**good, "W2": np.full((2, 4), np.nan)}, r"Array W2 contains NaN or infinity"),
    ]
    for arrays, message in cases:
        with pytest.raises(DataError, match=message):
            dp.load(crafted(tmp_path, arrays=arrays))


def test_a_newer_format_version_is_refused_before_its_arrays_are_looked_at(tmp_path):
    # A future version may lay out its arrays differently: the version check comes first.
    path = crafted(tmp_path, lambda h: h.update(format_version=7, network="something new"),
                   arrays={"weights/0": np.zeros(3)})
    with pytest.raises(DataError, match=r"format version 7, but this deltaprop .* reads format version 3 and older"):
        dp.load(path)


def test_files_that_are_not_deltaprop_files(tmp_path):
    np.savez(tmp_path / "plain.npz", W1=np.zeros((2, 2)), b1=np.zeros(2))
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "empty.dpz").write_bytes(b"")
    for name, message in [("plain.npz", r"no 'header.json' member \(a NumPy .npz archive\?\)"),
                          ("notes.txt", r"not a ZIP archive"), ("empty.dpz", r"empty \(0 bytes\)"),
                          ("missing.dpz", r"No such file or directory"), ("", r"it is a directory")]:
        with pytest.raises(DataError, match=message):
            dp.load(tmp_path / name)
    with pytest.raises(DataError, match=r"Cannot write '.*': the directory '.*nowhere' does not exist"):
        dp.Network([2, 1]).save(tmp_path / "nowhere" / "net.dpz")
    with pytest.raises(DataError, match=r"is a directory; give a file name inside it"):
        dp.Network([2, 1]).save(tmp_path)


def test_truncated_and_damaged_model_files(tmp_path):
    net = dp.Network([3, 2, 2], seed=0)
    data = net.save(tmp_path / "net.dpz").read_bytes()
    cut = tmp_path / "cut.dpz"
    for n in range(0, len(data), 7):
        cut.write_bytes(data[:n])
        with pytest.raises(DataError, match=r"Cannot read '.*cut.dpz'"):
            dp.load(cut)
    rng = np.random.default_rng(0)
    loaded = refused = 0
    for i in rng.choice(len(data), size=150, replace=False):
        damaged = bytearray(data)
        damaged[i] ^= int(rng.integers(1, 256))
        cut.write_bytes(bytes(damaged))
        try:
            assert_same_network(net, dp.load(cut))
            loaded += 1
        except DataError:
            refused += 1
    assert refused > 100


# -- architecture checks ----------------------------------------------------------------

def test_check_compatible_lists_every_mismatch(tmp_path):
    mine = dp.Network([4, 3, 2], activation="sigmoid", loss="quadratic", seed=0)
    theirs = dp.Network([dp.Dense(4, 5, activations.LeakyReLU(0.1), dtype="float32"),
                         dp.Dense(5, 2, "relu", fixed_bias=True, dtype="float32"),
                         dp.Dense(2, 2, "softmax", dtype="float32")], loss="cross_entropy")
    header = io.read_header(theirs.save(tmp_path / "theirs.dpz"))
    with pytest.raises(ShapeError) as caught:
        io.check_compatible(mine, header)
    lines = str(caught.value).splitlines()
    assert lines[0] == "The file's network does not match this one in 8 way(s):"
    assert lines[1:] == [
        "  - number of layers: file 3, network 2",
        "  - net.layers[0] (W1, b1) size (n_in, n_out): file (4, 5), network (4, 3)",
        "  - net.layers[0] (W1, b1) activation: file leaky_relu(alpha=0.1), network sigmoid",
        "  - net.layers[1] (W2, b2) size (n_in, n_out): file (5, 2), network (3, 2)",
        "  - net.layers[1] (W2, b2) activation: file relu, network sigmoid",
        "  - net.layers[1] (W2, b2) fixed_bias: file True, network False",
        "  - loss: file cross_entropy, network quadratic",
        "  - dtype: file float32, network float64",
    ]
    io.check_compatible(theirs, header["network"])       # itself: no complaint, either form of header
    io.check_compatible(theirs.copy(), header)
    with pytest.raises(ShapeError, match=r"in 1 way\(s\):\n  - net.layers\[0\] \(W1, b1\) activation: "
                                         r"file leaky_relu\(alpha=0.1\), network leaky_relu\(alpha=0.2\)"):
        theirs.layers[0].activation = activations.LeakyReLU(0.2)
        io.check_compatible(theirs, header)


def test_load_weights_in_place_or_not_at_all(tmp_path):
    trained = dp.Network([3, 4, 2], activation="tanh", seed=1)
    path = trained.save(tmp_path / "net.dpz")
    net = dp.Network([3, 4, 2], activation="tanh", seed=2)
    arrays = [p for layer in net.layers for p in (layer.W, layer.b)]
    io.load_weights(net, path)
    assert all(a is p for a, p in zip(arrays, [p for layer in net.layers for p in (layer.W, layer.b)]))
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), trained.get_weights()))
    other = dp.Network([3, 5, 2], activation="tanh", seed=3)
    before = other.get_weights()
    with pytest.raises(ShapeError, match=r"in 2 way\(s\):\n  - net.layers\[0\] .* file \(3, 4\), network \(3, 5\)"):
        io.load_weights(other, path)
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before))
    nan = crafted(tmp_path, arrays={**io.network_arrays(dp.Network([3, 4, 2], activation="relu", loss="cross_entropy")),
                                    "b2": np.array([0.0, np.nan])})
    target = dp.Network([3, 4, 2], activation="relu", loss="cross_entropy", seed=4)
    before = target.get_weights()
    with pytest.raises(DataError, match=r"Array b2 contains NaN"):
        io.load_weights(target, nan)
    assert all(np.array_equal(a, b) for a, b in zip(target.get_weights(), before))
    with pytest.raises(DeltapropTypeError, match=r"'net' argument must be a deltaprop Network"):
        io.load_weights("net", path)


# -- checkpoints ------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    net = dp.Network([3, 4, 2], activation="relu", loss="cross_entropy", dtype="float32", seed=0)
    rng = np.random.default_rng(42)
    rng.random(5)
    training = {"epoch": 3, "step": 1200, "optimizer": {"name": "Adam", "lr": 0.001, "iterations": 1200},
                "rng": rng.bit_generator.state, "history": {"loss": [0.9, 0.5, 0.25]}, "best": None}
    state = {"opt/0/m": np.full((4, 3), 0.5, np.float32), "opt/0/v": np.ones((4, 3), np.float32),
             "opt/1/m": np.zeros(4, np.float32), "counts": np.arange(3, dtype=np.uint64), "mask": np.array([True])}
    path = io.write_checkpoint(tmp_path / "ckpt.dpz", net, training, state, metadata={"run": "a"})
    loaded, got_training, got = io.read_checkpoint(path)
    assert_same_network(net, loaded)
    assert got_training == training and io.read_header(path)["metadata"] == {"run": "a"}
    assert list(got) == list(state)
    assert all(got[k].dtype == v.dtype and got[k].tobytes() == v.tobytes() for k, v in state.items())
    resumed = np.random.default_rng()
    resumed.bit_generator.state = got_training["rng"]
    assert np.array_equal(resumed.random(4), rng.random(4))         # the RNG continues exactly
    assert io.read_header(path)["kind"] == "checkpoint"
    assert_same_network(net, dp.load(path))                         # load() takes the network of a checkpoint
    with zipfile.ZipFile(path) as zf:
        assert "training/opt/0/m.npy" in zf.namelist()


def test_checkpoint_errors(tmp_path):
    net = dp.Network([2, 2], seed=0)
    model = net.save(tmp_path / "model.dpz")
    with pytest.raises(DataError, match=r"'.*model.dpz' is a model file \(kind 'model', written by save\(\)\): "
                                        r"it holds no training state to resume from"):
        io.read_checkpoint(model)
    with pytest.raises(DeltapropTypeError, match=r"The 'training' argument must be a dict. Got list"):
        io.write_checkpoint(tmp_path / "c", net, [1], {})
    with pytest.raises(DeltapropTypeError, match=r"training\['lr'\] is a float32"):
        io.write_checkpoint(tmp_path / "c", net, {"lr": np.float32(0.1)}, {})
    with pytest.raises(DeltapropTypeError, match=r"The 'arrays' argument must be a dict"):
        io.write_checkpoint(tmp_path / "c", net, {}, [np.zeros(1)])
    with pytest.raises(DeltapropTypeError, match=r"must have str names. Got 0"):
        io.write_checkpoint(tmp_path / "c", net, {}, {0: np.zeros(1)})
    with pytest.raises(ValidationError, match=r"array name 'training/opt m' is not allowed"):
        io.write_checkpoint(tmp_path / "c", net, {}, {"opt m": np.zeros(1)})
    with pytest.raises(DeltapropTypeError, match=r"'training/opt' has dtype object"):
        io.write_checkpoint(tmp_path / "c", net, {}, {"opt": np.array([None])})
    no_training = crafted(tmp_path, lambda h: h.update(kind="checkpoint"))
    with pytest.raises(DataError, match=r"is a checkpoint but its header has no 'training' object \(got NoneType\)"):
        io.read_checkpoint(no_training)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.dpz", "model.dpz"]


# -- atomic saves -----------------------------------------------------------------------

def test_a_save_that_fails_midway_leaves_the_previous_model(tmp_path, monkeypatch):
    old = dp.Network([3, 4, 2], seed=0)
    path = old.save(tmp_path / "net.dpz")
    real = np.lib.format.write_array

    def write_array(fp, array, *args, **kwargs):
        if array.shape == (2, 4):          # W2: W1 and b1 are already in the temporary
            raise MemoryError("simulated")
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array)
    with pytest.raises(MemoryError, match="simulated"):
        dp.Network([3, 4, 2], seed=1).save(path)
    monkeypatch.undo()
    assert sorted(tmp_path.iterdir()) == [path]
    assert_same_network(old, dp.load(path))


def saver(path: Path, nets, ready_fd: int) -> None:
    """Child process: save the nets over ``path`` in turn, forever (until SIGKILL)."""
    try:
        k = 0
        while True:
            nets[k % 2].save(path)
            if k == 0:
                os.write(ready_fd, b"x")
            k += 1
    finally:
        os._exit(1)


def test_sigkill_during_save_leaves_the_old_or_the_new_file(tmp_path):
    old = dp.Network([512, 512, 512, 10], seed=0)                       # 4.2 MB of float64 weights
    new = dp.Network([512, 512, 512, 10], seed=1)
    path = tmp_path / "net.dpz"
    started = time.perf_counter()
    old.save(path)
    one_save = time.perf_counter() - started
    rng = np.random.default_rng(0)
    seen, leftovers = set(), 0
    for _ in range(24):
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:                                                    # the child saves new, old, new, ...
            os.close(ready_r)
            saver(path, (new, old), ready_w)
        os.close(ready_w)
        if not select.select([ready_r], [], [], 60)[0]:                 # never hang the suite
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the saving child did not finish a first save within 60 s")
        assert os.read(ready_r, 1) == b"x"                              # a first save has completed
        os.close(ready_r)
        time.sleep(rng.uniform(0, 3 * one_save))                        # then kill it at a random moment
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = dp.load(path)
        match = [net for net in (old, new) if np.array_equal(loaded.layers[0].W, net.layers[0].W)]
        assert len(match) == 1
        assert_same_network(match[0], loaded)
        seen.add(id(match[0]))
        temporaries = [p for p in tmp_path.iterdir() if p != path]
        assert all(_archive.is_temporary(p) for p in temporaries)
        for tmp in temporaries:
            with pytest.raises(DataError, match=r"temporary of an unfinished save"):
                dp.load(tmp)
        leftovers += len(temporaries)
        # each child's first save removed what the child killed before it left behind
        assert len(temporaries) <= 1
    assert seen == {id(old), id(new)}   # both directions of replacement were interrupted
    assert leftovers >= 1               # and kills landed mid-write, leaving temporaries
    old.save(path)                      # the next save to that path removes the last one
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_small_file_that_unpacks_to_a_huge_network_is_refused_and_a_trusted_one_is_held_once(tmp_path):
    import tracemalloc
    net = dp.Network([2000, 4000, 1], output_activation="identity", seed=0)
    for layer in net.layers:
        layer.W[...] = 0.0                     # 64 MB of zeros deflate to ~60 KB
    path = net.save(tmp_path / "bomb.dpz", compress=True)
    del net
    size = path.stat().st_size
    assert size < 200_000
    with pytest.raises(DataError, match=r"its arrays would take 64\.\d MB in memory, \d+ times the file's own .* "
                                        r"inflate at most 100 times .*zip bomb.*dp\.load\(path, max_ratio=\d+\)"):
        dp.load(path)
    with pytest.raises(DataError, match=r"zip bomb"):
        io.read_header(path)
    tracemalloc.start()
    loaded = dp.load(path, max_ratio=2000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrays = sum(p.nbytes for p in loaded.get_weights())
    assert arrays > 64e6 and peak < 1.1 * arrays          # the arrays read are the network's: held once


def _paths(value, path=()):
    """Every key path into a JSON value (dict keys and list indexes)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k)
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _paths(v, (*path, i))


WRONG_TYPES = [[], {}, [1, 2], {"a": 1}, 1.5, -1, None, "x", True]


def test_every_wrongly_typed_header_value_is_a_data_error_naming_the_file_and_the_key(tmp_path):
    net = dp.Network([3, 4, 2], activation="leaky_relu", loss=dp.losses.CrossEntropy(from_logits=True), seed=0)
    header = io.read_header(net.save(tmp_path / "good.dpz"))
    del header["arrays"]
    checked = 0
    for path in _paths(header):
        if path[0] in ("library_version", "created", "metadata"):   # informational or the caller's
            continue
        for wrong in WRONG_TYPES:
            mutated = json.loads(json.dumps(header))
            target = mutated
            for key in path[:-1]:
                target = target[key]
            if target[path[-1]] == wrong:
                continue
            target[path[-1]] = wrong
            bad = _archive.write(tmp_path / "bad.dpz", mutated, io.network_arrays(net))
            try:
                loaded = dp.load(bad)
            except DataError as e:
                message = str(e)
                assert "bad.dpz" in message, (path, wrong, message)
                key = path[-1] if isinstance(path[-1], str) else path[-2]
                assert repr(key) in message or f"'{key}'" in message or key in message, (path, wrong, message)
                checked += 1
            else:   # a value of another type that is still valid (an int where a float may be)
                assert loaded.sizes == net.sizes, (path, wrong)
    assert checked > 100


def test_feature_names_travel_in_the_file_as_format_version_3(tmp_path):
    net = dp.Network([2, 3, 1], seed=0)
    net.save(tmp_path / "plain.dpz")
    assert io.read_header(tmp_path / "plain.dpz")["format_version"] == 1
    net.feature_names = ["height", "weight"]
    net.save(tmp_path / "named.dpz")
    header = io.read_header(tmp_path / "named.dpz")
    assert header["format_version"] == 3 and header["network"]["feature_names"] == ["height", "weight"]
    assert dp.load(tmp_path / "named.dpz").feature_names == ["height", "weight"]
    for bad in (["height"], ["a", "a"], [1, 2]):
        with pytest.raises(DataError, match=r"\['feature_names'\] must be a list of 2 distinct strings"):
            io.network_from({**header["network"], "feature_names": bad},
                            {"W1": net.layers[0].W, "b1": net.layers[0].b, "W2": net.layers[1].W,
                             "b2": net.layers[1].b})
