"""_files: the one atomic writer and the one way files are opened for reading."""

import os
import signal
import threading

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import _files, io
from deltaprop.datasets import load_csv, read_idx
from deltaprop.errors import DataError, MissingFileError


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.dpz"
    os.mkfifo(fifo)
    # Opening a FIFO that has no writer blocks forever; an alarm turns a hang into a failure.
    previous = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("a reader blocked on a FIFO"))
    signal.alarm(10)
    try:
        for read in (dp.load, io.read_header, load_csv, read_idx, lambda p: io.load_weights(dp.Network([2, 1]), p)):
            with pytest.raises(DataError, match=r"it is a FIFO \(named pipe\), not a regular file"):
                read(fifo)
        with pytest.raises(DataError, match=r"it is a device, not a regular file"):
            load_csv("/dev/zero")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("read", [dp.load, io.read_header, load_csv, read_idx,
                                  lambda p: io.load_weights(dp.Network([2, 1]), p),
                                  lambda p: dp.datasets.mnist(p)])
def test_a_missing_file_is_also_a_file_not_found_error(tmp_path, read):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as e:
        read(missing)
    assert isinstance(e.value, MissingFileError) and isinstance(e.value, dp.DataError)
    assert e.value.errno == 2 and e.value.filename.startswith(str(missing))
    assert str(missing) in str(e.value) and "[Errno" not in str(e.value)


def test_resume_from_a_missing_folder_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'resume' argument names .*nowhere.*which does not exist"):
        dp.Network([2, 1]).fit(np.zeros((4, 2)), np.zeros(4), resume=tmp_path / "nowhere", verbose=0)


def test_atomic_open_writes_all_or_nothing(tmp_path):
    path = tmp_path / "a.txt"
    with _files.atomic_open(path, "w") as f:
        f.write("old")
    with pytest.raises(RuntimeError):
        with _files.atomic_open(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]


def test_the_next_write_removes_the_temporaries_of_dead_writers_of_that_path_only(tmp_path):
    path, other = tmp_path / "m.dpz", tmp_path / "n.dpz"
    dead = 2**22 + 12345                                    # beyond any pid this machine hands out
    stale = [tmp_path / f".m.dpz.tmp-{dead}-0123abcd", tmp_path / f".m.dpz.tmp-{dead}-89abcdef"]
    mine = tmp_path / f".m.dpz.tmp-{os.getpid()}-00000000"  # a save of this process, in progress
    foreign = tmp_path / f".n.dpz.tmp-{dead}-0123abcd"      # another path's: not this save's business
    for p in (*stale, mine, foreign):
        p.write_bytes(b"x" * 1000)
    dp.Network([2, 1], seed=0).save(path)
    assert sorted(tmp_path.iterdir()) == sorted([path, mine, foreign])
    assert other not in tmp_path.iterdir()


def test_concurrent_saves_to_one_path_never_remove_each_others_temporaries(tmp_path):
    path = tmp_path / "net.dpz"
    nets = [dp.Network([64, 64, 10], seed=s) for s in range(2)]
    errors = []

    def save(net):
        try:
            for _ in range(20):
                net.save(path)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=save, args=(n,)) for n in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(tmp_path.iterdir()) == [path]
