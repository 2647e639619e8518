"""Data-parallel training across processes: MPI (mpiexec, MPICH's wheel) and
torch.distributed (torchrun, gloo), against one process with the same global batch;
across network namespaces; checkpoints, resuming with other rank counts, a rank killed,
bad setups. The ranks run tests/ranks.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import distributed

sys.path.insert(0, str(Path(__file__).parent))
import ranks  # noqa: E402
import thread_ranks  # noqa: E402

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RANK_SCRIPT = str(HERE / "ranks.py")
MNIST = HERE.parent / "data" / "mnist"
LAUNCH_TIMEOUT = 300


def _env(**extra):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "PMI_RANK", "PMI_SIZE"):
        env.pop(k, None)
    env.update(extra)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, timeout=LAUNCH_TIMEOUT, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=kw.pop("env", _env()),
                       **kw)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def mpiexec(n, *args, **kw):
    return _run([BIN / "mpiexec", "-n", n, sys.executable, RANK_SCRIPT, *args, "--backend", "mpi"], **kw)


def torchrun(n, *args, **kw):
    return _run([BIN / "torchrun", "--nproc-per-node", n, "--master-port", _free_port(), RANK_SCRIPT, *args], **kw)


def gloo_ranks(n, *args, timeout=LAUNCH_TIMEOUT):
    """n ranks started with torch.distributed's environment (what torchrun sets), no agent
    in between: a rank that dies leaves the others to find out themselves."""
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, RANK_SCRIPT, *map(str, args), "--backend", "gloo"],
                              env=_env(RANK=str(r), WORLD_SIZE=str(n), LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=str(port), DP_TIMEOUT="30"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(n)]
    outs = [p.communicate(timeout=timeout)[0] for p in procs]
    return [p.returncode for p in procs], outs


def results(out, n=2):
    return ([json.loads((out / f"rank-{r}.json").read_text()) for r in range(n)],
            [dict(np.load(out / f"rank-{r}.npz")) for r in range(n)])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """5,000 MNIST test images and labels as .npy files (the ranks memory-map them)."""
    (_, _), (X, y) = dp.datasets.mnist(MNIST, download=False)
    d = tmp_path_factory.mktemp("mnist5000")
    np.save(d / "X.npy", X[:5000])
    np.save(d / "y.npy", y[:5000])
    return d


@pytest.fixture(scope="module")
def alone(data, tmp_path_factory):
    """Each of ranks.RUNS trained by one process (no communicator), in a process like the
    ranks' (one BLAS thread: OpenBLAS rounds float32 products differently with more)."""
    out = tmp_path_factory.mktemp("alone")
    _run([sys.executable, RANK_SCRIPT, "runs", data, out, "--runs", ",".join(ranks.RUNS)])
    found = json.loads((out / "rank-0.json").read_text())
    assert found["size"] == 1 and all(found[name]["again"] for name in ranks.RUNS)
    weights = dict(np.load(out / "rank-0.npz"))
    return {name: [weights[f"{name}/{i}"] for i in range(2 * (len(run["sizes"]) - 1))]
            for name, run in ranks.RUNS.items()}


def _check_runs(found, weights, alone, names):
    for name in names:
        steps = [f[name]["steps"] for f in found]
        assert len(steps[0]) == ranks.RUNS[name]["epochs"] * -(-5000 // ranks.RUNS[name]["batch_size"])
        assert steps[0] == steps[1], f"{name}: the ranks' weights differ after some step"
        assert found[0][name]["again"] and found[1][name]["again"], f"{name}: the same run twice gave other bits"
        worst = 0.0
        for i, w in enumerate(alone[name]):
            mine = weights[0][f"{name}/{i}"]
            np.testing.assert_array_equal(mine, weights[1][f"{name}/{i}"])
            worst = max(worst, float(np.max(np.abs(mine - w)) / np.max(np.abs(w))
                                     if ranks.RUNS[name]["dtype"] == "float64"
                                     else np.linalg.norm(mine - w) / np.linalg.norm(w)))
            if ranks.RUNS[name]["dtype"] == "float64":
                # every weight within 1e-12 of the largest (relative)
                assert np.max(np.abs(mine - w)) <= 1e-12 * np.max(np.abs(w)), name
            elif ranks.RUNS[name]["activation"] != "relu":
                # float32 Adam: the array within 1e-5 (relative, in norm; single weights of
                # pixels that are almost never lit carry Adam's amplified rounding)
                assert np.linalg.norm(mine - w) <= 1e-5 * np.linalg.norm(w), name
        print(f"{name}: ranks against one process, worst array: {worst:.1e}"
              f" ({'of the largest weight' if ranks.RUNS[name]['dtype'] == 'float64' else 'in norm'})")
        if ranks.RUNS[name]["activation"] == "relu":
            # float32 ReLU drifts from its rounding (ranks.RUNS): all weights together within
            # 1e-2, which a wrong sum or a lost shard exceeds by far (the SGD and tanh runs
            # catch a wrong divisor, which Adam's normalised step would hide)
            mine = np.concatenate([weights[0][f"{name}/{i}"].ravel() for i in range(len(alone[name]))])
            w = np.concatenate([a.ravel() for a in alone[name]])
            drift = np.linalg.norm(mine - w) / np.linalg.norm(w)
            print(f"{name}: float32 ReLU after {ranks.RUNS[name]['epochs']} epochs, |ranks - one process| / |w| = "
                  f"{drift:.1e}")
            assert drift <= 1e-2, name


def test_two_mpi_ranks_train_the_network_one_process_trains(data, alone, tmp_path):
    names = ["w1-numpy", "w1-numba", "w2-numba", "w2-relu"]
    mpiexec(2, "runs", data, tmp_path, "--runs", ",".join(names))
    found, weights = results(tmp_path)
    assert found[0]["backend"].startswith("MPI") and found[1]["rank"] == 1
    _check_runs(found, weights, alone, names)


def test_two_gloo_ranks_under_torchrun_train_the_network_one_process_trains(data, alone, tmp_path):
    names = ["w1-numba", "w2-numpy"]
    torchrun(2, "runs", data, tmp_path, "--runs", ",".join(names))      # the communicator: detect()
    found, weights = results(tmp_path)
    assert found[0]["backend"] == "torch.distributed (gloo)"
    _check_runs(found, weights, alone, names)


# ---------------------------------------------------------------------------------------
# Across hosts: each rank in its own network namespace, joined by a veth pair

class Namespaces:
    """Two network namespaces joined by a veth pair, 10.77.<k>.1 and .2 (made, then removed)."""

    def __init__(self):
        tag = f"{os.getpid() % 10000}"
        self.names = [f"dpt{tag}a", f"dpt{tag}b"]
        self.ips = [f"10.77.{os.getpid() % 250}.1", f"10.77.{os.getpid() % 250}.2"]
        self.veth = [f"dpv{tag}a", f"dpv{tag}b"]

    def __enter__(self):
        sh = lambda *c: subprocess.run(c, check=True, capture_output=True)     # noqa: E731
        for ns in self.names:
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1])
        for ns, dev, ip in zip(self.names, self.veth, self.ips):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc):
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _can_make_namespaces():
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.fixture
def hosts():
    if not _can_make_namespaces():
        print("\nnot root (or no iproute2): the two ranks talk over loopback, not across namespaces")
        yield None
        return
    with Namespaces() as ns:
        yield ns


def test_two_ranks_in_separate_network_namespaces_train_the_same_network(data, alone, tmp_path, hosts):
    names = ["w1-numba"]
    out_gloo, out_mpi = tmp_path / "gloo", tmp_path / "mpi"
    port = _free_port()
    base = [sys.executable, RANK_SCRIPT, "runs", data, out_gloo, "--runs", names[0], "--backend", "gloo"]
    procs = []
    for r in range(2):
        env = _env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK="0", MASTER_PORT=str(port), DP_TIMEOUT="60",
                   MASTER_ADDR=hosts.ips[0] if hosts else "127.0.0.1")
        cmd = [str(c) for c in base]
        if hosts:
            env["GLOO_SOCKET_IFNAME"] = hosts.veth[r]          # the veth, not loopback
            cmd = ["ip", "netns", "exec", hosts.names[r], *cmd]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=LAUNCH_TIMEOUT)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    found, weights = results(out_gloo)
    _check_runs(found, weights, alone, names)
    if hosts:
        # MPI too: mpiexec in the first namespace starts its proxy in each one through a
        # launcher that enters the namespace of the host it is given (as ssh would log in)
        nsexec = tmp_path / "nsexec"
        cases = " ".join(f'{ip}) ns={ns}; shift; break;;' for ip, ns in zip(hosts.ips, hosts.names))
        nsexec.write_text('#!/bin/sh\n# called as ssh would be: [options] HOST COMMAND\nns=""\n'
                          f'while [ $# -gt 0 ]; do case "$1" in {cases} *) shift;; esac; done\n'
                          'exec ip netns exec "$ns" sh -c "$*"\n')
        nsexec.chmod(0o755)
        _run(["ip", "netns", "exec", hosts.names[0], BIN / "mpiexec", "-launcher", "ssh", "-launcher-exec", nsexec,
              "-hosts", ",".join(hosts.ips), "-n", "2", "-ppn", "1", sys.executable, RANK_SCRIPT, "runs", data,
              out_mpi, "--runs", names[0], "--backend", "mpi"])
        found, weights = results(out_mpi)
        _check_runs(found, weights, alone, names)


# ---------------------------------------------------------------------------------------
# Checkpoints and faults

def _final(out, rank=0):
    return dict(np.load(out / f"rank-{rank}.npz"))


def test_a_killed_rank_stops_the_others_and_the_run_resumes_with_any_number_of_ranks(data, tmp_path):
    ck = tmp_path / "ck"
    began = time.perf_counter()
    codes, outs = gloo_ranks(2, "checkpoint", data, tmp_path / "killed", "--checkpoints", ck, "--die-at", 75)
    took = time.perf_counter() - began
    assert codes[1] == -9 and codes[0] == 0, outs
    error = json.loads((tmp_path / "killed" / "rank-0.json").read_text())["error"]
    assert "rank 1 is gone" in error and "cannot go on" in error and "resumes" in error
    assert took < 120                                  # no hang: the survivor stopped by itself
    written = sorted(p.name for p in ck.iterdir())
    assert written == ["epoch-0001.dpz"]               # the kill came in epoch 2
    assert dp.load(ck / "epoch-0001.dpz").sizes == [784, 30, 10]   # and the last checkpoint loads
    log = (tmp_path / "killed" / "log.csv").read_text().splitlines()
    assert len(log) == 2                               # one row: rank 0 alone writes the log

    # the uninterrupted run, with 2 ranks and with one process
    mpiexec(2, "checkpoint", data, tmp_path / "whole2", "--checkpoints", tmp_path / "ck-whole2")
    whole2 = _final(tmp_path / "whole2")
    whole_loss = json.loads((tmp_path / "whole2" / "rank-0.json").read_text())["loss"]
    _run([sys.executable, RANK_SCRIPT, "checkpoint", data, tmp_path / "whole1", "--checkpoints", tmp_path / "ck-w1"])
    whole1 = _final(tmp_path / "whole1")
    # resumed with the same number of ranks: the same bits as never interrupted
    for n, name in ((2, "again2"), (3, "again3"), (1, "again1")):
        copy = tmp_path / f"ck-{name}"
        shutil.copytree(ck, copy)
        if n == 1:
            _run([sys.executable, RANK_SCRIPT, "checkpoint", data, tmp_path / name, "--checkpoints", copy])
        else:
            mpiexec(n, "checkpoint", data, tmp_path / name, "--checkpoints", copy)
        resumed = _final(tmp_path / name)
        for k, w in whole2.items():
            if n == 2:
                np.testing.assert_array_equal(resumed[k], w)
            else:    # other partial sums: rounding only
                assert np.max(np.abs(resumed[k] - w)) <= 1e-12 * np.max(np.abs(w)), (n, k)
            assert np.max(np.abs(whole1[k] - w)) <= 1e-12 * np.max(np.abs(w))
        loss = json.loads((tmp_path / name / "rank-0.json").read_text())["loss"]
        np.testing.assert_allclose(loss, whole_loss, rtol=1e-12)     # the history carries on, too
        rows = (tmp_path / name / "log.csv").read_text().splitlines()
        assert [r.split(",")[0] for r in rows] == ["epoch", "2", "3"]    # trained: epochs 2 and 3


def test_under_mpiexec_a_killed_rank_ends_the_job_and_its_checkpoint_stays(data, tmp_path):
    ck = tmp_path / "ck"
    began = time.perf_counter()
    p = mpiexec(2, "checkpoint", data, tmp_path / "out", "--checkpoints", ck, "--die-at", 75, check=False)
    assert p.returncode != 0 and time.perf_counter() - began < 120
    # MPICH's launcher ends the other ranks itself and says which process died of what
    assert "Killed (signal 9)" in p.stdout + p.stderr
    assert dp.load(ck / "epoch-0001.dpz").sizes == [784, 30, 10]


def test_ranks_that_disagree_are_told_what_differs(data, tmp_path):
    mpiexec(2, "errors", data, tmp_path)
    found, _ = results(tmp_path)
    for f in found:
        assert f["network"]["type"] == "DistributedError" and "the network (rank 1 unlike rank 0)" in f["network"]["error"]
        assert "the weights" in f["weights"]["error"]
        assert "the data's length (rank 0: 5000, rank 1: 999)" in f["length"]["error"]
        assert "the batch size (rank 0: 16, rank 1: 32)" in f["batch"]["error"]
        assert f["tiny batch"]["type"] == "ValidationError" and "at least 2" in f["tiny batch"]["error"]
        assert f["fine"]["error"] is None             # and the communicator still works after all that
    # a rank that fails its own checks: its own error there, the others are told which rank and why
    assert found[1]["nan"]["type"] == "ValidationError" and "NaN" in found[1]["nan"]["error"]
    assert found[0]["nan"]["type"] == "DistributedError"
    assert "Rank 1 of 2 could not start training" in found[0]["nan"]["error"] and "NaN" in found[0]["nan"]["error"]


# ---------------------------------------------------------------------------------------
# The command line under each launcher

def test_deltaprop_train_under_mpiexec_and_torchrun_trains_what_one_process_trains(data, tmp_path):
    X, y = np.load(data / "X.npy")[:1200], np.load(data / "y.npy")[:1200]
    dp.datasets.save_csv(tmp_path / "d.csv", {"label": y, **{f"p{i}": X[:, i] for i in range(0, 784, 8)}})
    train = ["train", "--csv", tmp_path / "d.csv", "--target", "label", "--epochs", "2", "--seed", "1"]
    alone = _run([BIN / "deltaprop", *train, "--save", tmp_path / "m1.dpz"])
    p = _run([BIN / "mpiexec", "-n", "2", BIN / "deltaprop", *train, "--save", tmp_path / "m2.dpz",
              "--checkpoint-dir", tmp_path / "ck"])
    assert p.stdout.count("saved ") == 1 and p.stdout.count("epoch 2/2") == 1     # rank 0 alone prints
    assert "data-parallel over 2 ranks" in p.stdout
    final = [next(line for line in out.stdout.splitlines() if line.startswith("final:")).split("(")[0]
             for out in (alone, p)]
    assert final[0] == final[1]                       # the global figures, to the printed digits
    t = _run([BIN / "torchrun", "--nproc-per-node", "2", "--master-port", _free_port(), "-m", "deltaprop", *train,
              "--save", tmp_path / "mt.dpz"])
    assert t.stdout.count("saved ") == 1
    one, two, torch_two = (dp.load(tmp_path / f) for f in ("m1.dpz", "m2.dpz", "mt.dpz"))
    for a, b, c in zip(one.get_weights(), two.get_weights(), torch_two.get_weights()):
        assert np.max(np.abs(b - a)) <= 1e-12 * np.max(np.abs(a))
        np.testing.assert_array_equal(b, c)           # two ranks add their two parts alike on either backend
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["deltaprop-train.json", "epoch-0001.dpz",
                                                                   "epoch-0002.dpz"]


# ---------------------------------------------------------------------------------------
# In one process: the shard, the communicator argument

def test_each_rank_holds_only_its_shard_of_a_memory_mapped_file(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(101, 6)), rng.integers(0, 3, 101)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)

    def work(comm):
        net = dp.Network([6, 5, 3], loss="cross_entropy", seed=0)
        t = dp.Trainer(net, str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), epochs=2, batch_size=8, seed=1,
                       validation_split=0.2, comm=comm)
        t.run()
        return t.engine.X.shape[0], t.val[0].shape[0], t.history.history, net.get_weights()

    out, errors = thread_ranks.run(3, work)
    assert errors == [None] * 3
    assert [o[0] for o in out] == [27, 27, 27]            # 81 training rows, in three shards
    assert [o[1] for o in out] == [6, 7, 7]               # 20 validation rows
    net = dp.Network([6, 5, 3], loss="cross_entropy", seed=0)
    h = net.fit(X, y, epochs=2, batch_size=8, seed=1, validation_split=0.2, verbose=0)
    for o in out:
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):   # every rank logs the global figures
            np.testing.assert_allclose(o[2][k], h.history[k], rtol=1e-12)
        for a, b in zip(o[3], net.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_weighted_examples_train_data_parallel_as_in_one_process():
    rng = np.random.default_rng(2)
    X, y, w = rng.normal(size=(64, 4)), rng.integers(0, 2, 64), rng.uniform(0, 3, 64)
    for engine in ("numpy", "numba"):
        def work(comm):
            net = dp.Network([4, 6, 2], loss="cross_entropy", seed=0)
            net.fit(X, y, epochs=3, batch_size=10, seed=1, sample_weight=w, engine=engine, verbose=0, comm=comm)
            return net.get_weights()
        out, errors = thread_ranks.run(2, work)
        assert errors == [None, None]
        net = dp.Network([4, 6, 2], loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=3, batch_size=10, seed=1, sample_weight=w, engine=engine, verbose=0)
        for a, b in zip(out[0], net.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_communicator_that_is_not_one_is_refused():
    net = dp.Network([2, 2])
    X, y = np.zeros((4, 2)), np.zeros((4, 2))
    with pytest.raises(dp.errors.DeltapropTypeError, match="'comm' argument must be a communicator"):
        net.fit(X, y, comm="mpi", verbose=0)

    class Bad:
        rank, size = 2, 2

        def allreduce(self, a):
            pass
    with pytest.raises(dp.errors.ValidationError, match="rank 2 of size 2"):
        net.fit(X, y, comm=Bad(), verbose=0)


def test_a_path_that_is_not_a_npy_file_is_refused(tmp_path):
    net = dp.Network([2, 2])
    with pytest.raises(dp.errors.ValidationError, match="'X' argument is a path"):
        net.fit(str(tmp_path / "x.csv"), np.zeros((4, 2)), verbose=0)
    with pytest.raises(dp.errors.MissingFileError, match="does not exist"):
        net.fit(str(tmp_path / "x.npy"), np.zeros((4, 2)), verbose=0)


def test_shards_cover_the_rows_once():
    for n in (1, 7, 100):
        for size in (1, 2, 3, 8):
            parts = [distributed.shard(n, r, size) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


def test_a_launcher_is_recognised_from_its_environment(monkeypatch):
    for k in ("TORCHELASTIC_RUN_ID", "WORLD_SIZE", "MASTER_ADDR", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
              "PMIX_RANK", "MPI_LOCALRANKID"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.launcher() is None and distributed.detect() is None
    monkeypatch.setenv("PMI_RANK", "0")
    assert distributed.launcher() == "mpi"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert distributed.launcher() == "torch"
