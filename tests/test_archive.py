"""deltaprop._archive: the ZIP of header.json + .npy members, written atomically, read
without ever unpickling, every size bounded, every malformed file a DataError.

Crafted files are built here byte by byte (zipfile, numpy.lib.format, struct), never
through the module under test, so a test cannot share the module's mistakes.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltaprop import _archive
from deltaprop._archive import is_temporary, read, read_header, remove_stale_temporaries, write
from deltaprop.errors import DataError, DeltapropTypeError, ValidationError

def npy(arr, **kwargs) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), **kwargs)
    return buf.getvalue()


def craft(path: Path, members, *, compression=zipfile.ZIP_STORED) -> Path:
    """A ZIP with exactly these (name, bytes) members, in order (duplicates allowed)."""
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def header_bytes(arrays: dict[str, np.ndarray], **extra) -> bytes:
    decl = {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}
    return json.dumps({**extra, "arrays": decl}).encode()


def valid_members(arrays):
    return {"header.json": header_bytes(arrays), **{f"{n}.npy": npy(a) for n, a in arrays.items()}}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: dtype, shape and every byte (NaN payloads included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def huge_npy_header() -> bytes:
    """A well-formed .npy header claiming 8 TB of float64, with no data behind it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    return buf.getvalue()


def patch_sizes(path: Path, member: str, *, file_size: int | None = None, flag_bits: int | None = None):
    """Overwrite a member's uncompressed size / flag bits in its local header and its
    central-directory entry (a lying ZIP, as a crafted file would be)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(member).header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    entries = [i for i in range(len(data) - 46) if data[i:i + 4] == b"PK\x01\x02"
               and data[i + 46:i + 46 + len(member)] == member.encode()]
    assert len(entries) == 1
    (cd,) = entries
    if file_size is not None:
        struct.pack_into("<I", data, local + 22, file_size)
        struct.pack_into("<I", data, cd + 24, file_size)
    if flag_bits is not None:
        struct.pack_into("<H", data, local + 6, flag_bits)
        struct.pack_into("<H", data, cd + 8, flag_bits)
    path.write_bytes(bytes(data))


SMALL = {"W1": np.arange(6.0).reshape(2, 3), "b1": np.array([0.5, -1.5]), "n": np.array([7], dtype=np.int64)}


# -- round trips --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
segments = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,6}", fullmatch=True)
names = st.lists(segments, min_size=1, max_size=3).map("/".join)
arrays = hnp.arrays(dtype=st.sampled_from(sorted(_archive.DTYPES)).map(np.dtype),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


@given(header=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "arrays"), json_values, max_size=5),
       content=st.dictionaries(names, arrays, max_size=5), compress=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_round_trip_is_bit_for_bit(tmp_path, header, content, compress):
    path = write(tmp_path / "a.dpz", header, content, compress=compress)
    got_header, got = read(path)
    assert {k: v for k, v in got_header.items() if k != "arrays"} == header
    assert got_header["arrays"] == {n: {"shape": list(a.shape), "dtype": a.dtype.str} for n, a in content.items()}
    assert list(got) == list(content)
    assert all(same(got[n], content[n]) for n in content)
    assert all(a.flags.c_contiguous and a.flags.writeable for a in got.values())


def test_big_endian_and_strided_arrays_keep_their_values(tmp_path):
    big = np.arange(12, dtype=">f8").reshape(3, 4)
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    strided = np.arange(20, dtype=np.int16)[::3]
    scalar = np.float32(2.5)
    _, got = read(write(tmp_path / "a", {}, {"big": big, "f": fortran, "s": strided, "z": scalar}))
    assert got["big"].dtype == np.dtype("<f8") and np.array_equal(got["big"], big)
    assert same(got["f"], np.ascontiguousarray(fortran)) and same(got["s"], strided.copy())
    assert got["z"].shape == () and got["z"].dtype == np.float32 and got["z"] == 2.5


def test_numpy_load_reads_the_arrays_without_pickle(tmp_path):
    path = write(tmp_path / "a.dpz", {"x": 1}, {**SMALL, "training/opt/0/m": np.ones(3, np.float32)})
    with np.load(path, allow_pickle=False) as npz:
        assert same(npz["W1"], SMALL["W1"]) and same(npz["training/opt/0/m"], np.ones(3, np.float32))
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[0] == "header.json"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with zipfile.ZipFile(write(tmp_path / "b.dpz", {}, SMALL, compress=True)) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())


# -- what write refuses -------------------------------------------------------------------

@pytest.mark.parametrize("value, error, message", [
    (np.array([object()], dtype=object), DeltapropTypeError, r"'a' has dtype object; a file holds only arrays of bool"),
    (np.array(["x"]), DeltapropTypeError, r"dtype <U1"),
    (np.zeros(2, dtype=[("f", "<f8")]), DeltapropTypeError, r"no objects, strings or structured"),
    (np.zeros(2, dtype="datetime64[s]"), DeltapropTypeError, r"dtype datetime64"),
    (np.zeros((1,) * 33), ValidationError, r"33 dimensions; a file allows at most 32"),
])
def test_write_refuses_arrays_it_could_not_read_back(tmp_path, value, error, message):
    with pytest.raises(error, match=message):
        write(tmp_path / "a", {}, {"a": value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../x", "a//b", "/abs", "a b", ".hidden", "a/./b", "-x", "é", 3, "x" * 201])
def test_write_refuses_bad_array_names(tmp_path, name):
    with pytest.raises(ValidationError, match=r"array name .* is not allowed: a name is up to 200 characters"):
        write(tmp_path / "a", {}, {name: np.zeros(1)})


@pytest.mark.parametrize("header, error, message", [
    ([1, 2], DeltapropTypeError, r"The 'header' argument must be a dict. Got list"),
    ({"arrays": {}}, ValidationError, r"must not have an 'arrays' key"),
    ({"a": np.float32(1)}, DeltapropTypeError, r"header\['a'\] is a float32.*\.tolist\(\)"),
    ({"a": [1, (2, 3)]}, DeltapropTypeError, r"header\['a'\]\[1\] is a tuple.*Use a list"),
    ({"a": {1: "x"}}, DeltapropTypeError, r"header\['a'\] has the key 1 of type int; JSON object keys must be str"),
    ({"a": float("nan")}, ValidationError, r"header\['a'\] is nan; JSON has no NaN"),
    ({"a": {"b"}}, DeltapropTypeError, r"header\['a'\] is a set"),
    ({"a": "x" * (17 * 2**20)}, ValidationError, r"more than the 16777216 a file may hold"),
])
def test_write_refuses_headers_json_would_change(tmp_path, header, error, message):
    with pytest.raises(error, match=message):
        write(tmp_path / "a", header, {})
    assert list(tmp_path.iterdir()) == []


def test_write_checks_paths(tmp_path):
    with pytest.raises(DataError, match=r"is a directory; give a file name inside it"):
        write(tmp_path, {}, {})
    with pytest.raises(DataError, match=r"the directory '.*nowhere' does not exist"):
        write(tmp_path / "nowhere" / "a.dpz", {}, {})
    with pytest.raises(ValidationError, match=r"reserved for the temporaries"):
        write(tmp_path / ".a.dpz.tmp-1-0123abcd", {}, {})
    with pytest.raises(DeltapropTypeError, match=r"'path' argument must be a str or os.PathLike. Got int"):
        write(3, {}, {})
    with pytest.raises(DeltapropTypeError, match=r"must be a str or os.PathLike. Got bytes"):
        write(b"a.dpz", {}, {})
    with pytest.raises(ValidationError, match=r"empty path"):
        write("", {}, {})
    with pytest.raises(DeltapropTypeError, match=r"'arrays' argument must be a dict"):
        write(tmp_path / "a", {}, [np.zeros(1)])


# -- atomicity --------------------------------------------------------------------------

def failing_write_array(monkeypatch, exc):
    """write_array fails on any array of shape (5,), after writing part of its member."""
    real = np.lib.format.write_array
    calls = []

    def write_array(fp, array, *args, **kwargs):
        calls.append(array.shape)
        if array.shape == (5,):
            fp.write(b"\x93NUMPY half an array")  # part of the member is already in the temporary
            raise exc
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array)
    return calls


@pytest.mark.parametrize("exc", [ValueError("cannot serialise"), KeyboardInterrupt(), OSError(28, "No space left")])
def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, exc):
    path = write(tmp_path / "a.dpz", {"v": "old"}, SMALL)
    before = path.read_bytes()
    calls = failing_write_array(monkeypatch, exc)
    with pytest.raises(type(exc)):
        write(path, {"v": "new"}, {"x": np.ones(4), "y": np.ones(5), "z": np.ones(6)})
    assert calls == [(4,), (5,)]
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]
    assert read(path)[0]["v"] == "old"
    with pytest.raises(type(exc)):                       # and with no old file: nothing at all
        write(tmp_path / "new.dpz", {}, {"x": np.ones(4), "y": np.ones(5)})
    assert sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_a_failure_to_sync_or_rename_leaves_the_old_file(tmp_path, monkeypatch, stage):
    path = write(tmp_path / "a.dpz", {"v": "old"}, SMALL)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(5, f"Input/output error in {stage}")

    monkeypatch.setattr(os, stage, fail)
    with pytest.raises(OSError, match=stage):
        write(path, {"v": "new"}, SMALL)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_data_is_synced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", is_temporary(a))), real_replace(a, b)))
    write(tmp_path / "a.dpz", {}, SMALL)
    assert events == [("fsync", False), ("replace", True), ("fsync", True)]


def test_permissions_of_a_replaced_file_are_kept(tmp_path):
    path = write(tmp_path / "a.dpz", {}, SMALL)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o600)
    write(path, {"v": 2}, SMALL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and read(path)[0]["v"] == 2


# -- temporaries ------------------------------------------------------------------------

def test_is_temporary():
    assert is_temporary(".model.dpz.tmp-123-0a1b2c3d") and is_temporary(Path("/x/.a.tmp-1-ffffffff"))
    for name in ["model.dpz", ".model.dpz", "model.dpz.tmp-1-0a1b2c3d", ".m.tmp-1-0A1B2C3D", ".m.tmp-x-0a1b2c3d",
                 ".m.tmp-1-0a1b2c3", ".m.tmp-1-0a1b2c3d.bak", "..tmp-1-0a1b2c3d"]:
        assert not is_temporary(name), name


def dead_pid() -> int:
    """The id of a process that has just exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_remove_stale_temporaries(tmp_path):
    me, dead = os.getpid(), dead_pid()
    old = [tmp_path / f".a.dpz.tmp-{me}-0000000a", tmp_path / ".b.dpz.tmp-1-0000000b"]
    fresh = tmp_path / f".a.dpz.tmp-{me}-0000000c"      # a save of ours, maybe in progress: kept
    alive = tmp_path / ".a.dpz.tmp-1-0000000f"           # pid 1 always runs: kept while fresh
    orphans = [tmp_path / f".a.dpz.tmp-{dead}-00000001",  # its writer is gone: removed at any age
               tmp_path / f".a.dpz.tmp-{2**80}-00000002"]  # no process can have that id
    keep = [tmp_path / "a.dpz", tmp_path / "notes.tmp-1-00000000"]
    for p in old + [fresh, alive] + orphans + keep:
        p.write_bytes(b"x")
    folder = tmp_path / f".c.tmp-{dead}-0000000d"
    folder.mkdir()
    link = tmp_path / f".d.tmp-{dead}-0000000e"
    link.symlink_to(keep[0])
    an_hour_ago = time.time() - 3601
    for p in old + [folder, keep[0]]:
        os.utime(p, (an_hour_ago, an_hour_ago))
    assert remove_stale_temporaries(tmp_path) == sorted(old + orphans)
    assert fresh.exists() and alive.exists() and folder.is_dir() and link.is_symlink()
    assert all(p.exists() for p in keep)
    assert remove_stale_temporaries(str(tmp_path), older_than_s=0) == sorted([fresh, alive])
    with pytest.raises(DataError, match=r"not a directory \(no such directory\)"):
        remove_stale_temporaries(tmp_path / "nope")
    with pytest.raises(ValidationError, match=r"'older_than_s' argument must be a finite number of seconds >= 0"):
        remove_stale_temporaries(tmp_path, older_than_s=-1)


def test_a_temporary_is_never_read(tmp_path):
    path = write(tmp_path / "a.dpz", {}, SMALL)
    tmp = tmp_path / ".a.dpz.tmp-99-0123abcd"
    tmp.write_bytes(path.read_bytes())  # even a complete one
    with pytest.raises(DataError, match=r"temporary of an unfinished save.*remove_stale_temporaries"):
        read(tmp)


# -- what read refuses ------------------------------------------------------------------

def test_files_that_are_not_ours(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "text").write_text("W1 = [[1, 2]]\n")
    np.savez(tmp_path / "plain.npz", W1=np.zeros(2))
    craft(tmp_path / "other.zip", {"readme.txt": b"hi"})
    cases = {
        tmp_path / "missing": r"Cannot read '.*missing': No such file or directory\.",
        tmp_path: r"it is a directory, not a file",
        tmp_path / "empty": r"the file is empty \(0 bytes\)",
        tmp_path / "text": r"it is not a deltaprop file: it is not a ZIP archive",
        tmp_path / "plain.npz": r"no 'header.json' member \(a NumPy .npz archive\?\). Members: W1.npy",
        tmp_path / "other.zip": r"no 'header.json' member. Members: readme.txt",
    }
    for path, message in cases.items():
        with pytest.raises(DataError, match=message):
            read(path)


class Boom:
    """A pickle payload: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_arrays_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    payload = npy(np.array([Boom(marker)], dtype=object), allow_pickle=True)
    np.lib.format.read_array(io.BytesIO(payload), allow_pickle=True).item().close()  # the payload is live:
    assert marker.exists()                                                             # it does run if unpickled
    marker.unlink()
    as_declared = craft(tmp_path / "a", {"header.json": json.dumps({"arrays": {"W1": {"shape": [1], "dtype": "|O"}}}),
                                         "W1.npy": payload})
    with pytest.raises(DataError, match=r"declared with dtype '\|O'; a deltaprop file holds only .* \(never objects\)"):
        read(as_declared)
    disguised = craft(tmp_path / "b", {"header.json": json.dumps({"arrays": {"W1": {"shape": [1], "dtype": "<f8"}}}),
                                       "W1.npy": payload})
    with pytest.raises(DataError, match=r"holds shape \(1,\) of \|O \(a pickled object array: refused, never loaded\)"):
        read(disguised)
    raw = craft(tmp_path / "c", {"header.json": json.dumps({"arrays": {"W1": {"shape": [1], "dtype": "<f8"}}}),
                                 "W1.npy": payload[payload.index(b"\n") + 1:]})  # the bare pickle, no .npy header
    with pytest.raises(DataError, match=r"does not start with a valid .npy header \(ValueError: the magic string"):
        read(raw)
    with pytest.raises(DataError):
        read(craft(tmp_path / "d", {"header.json": payload}))  # a pickle where the JSON belongs
    assert not marker.exists()


HEADER_CASES = [
    (b"\xff\xfe{}", r"its header is not UTF-8 text"),
    (b"{arrays: 1}", r"its header is not valid JSON"),
    (b"[1, 2]", r"its header must be a JSON object. Got a JSON list"),
    (b'{"arrays": {}, "arrays": {}}', r"not acceptable JSON \(duplicate key 'arrays'\)"),
    (b'{"arrays": {}, "x": NaN}', r"not acceptable JSON \(NaN is not a JSON number\)"),
    (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "arrays": {}}', r"nested too deeply"),
    (b'{"x": ' + b"9" * 5000 + b', "arrays": {}}', r"not acceptable JSON"),
    (b"{}", r"must declare the arrays as an object under 'arrays'. Got None"),
    (b'{"arrays": [1]}', r"must declare the arrays as an object under 'arrays'. Got \[1\]"),
    (b'{"arrays": {"../W": {"shape": [1], "dtype": "<f8"}}}', r"array with the name '../W', which is not allowed"),
    (b'{"arrays": {"W": {"shape": [1]}}}', r"declaration of array 'W' must be"),
    (b'{"arrays": {"W": {"shape": [1], "dtype": "<f8", "x": 1}}}', r"declaration of array 'W' must be"),
    (b'{"arrays": {"W": {"shape": [-1], "dtype": "<f8"}}}', r"declared with shape \[-1\]; a shape is a list of at most"),
    (b'{"arrays": {"W": {"shape": [true], "dtype": "<f8"}}}', r"declared with shape \[True\]"),
    (b'{"arrays": {"W": {"shape": [2.0], "dtype": "<f8"}}}', r"declared with shape \[2.0\]"),
    (b'{"arrays": {"W": {"shape": 3, "dtype": "<f8"}}}', r"declared with shape 3"),
    (b'{"arrays": {"W": {"shape": [1], "dtype": "<U3"}}}', r"declared with dtype '<U3'"),
    (b'{"arrays": {"W": {"shape": [1], "dtype": ">f8"}}}', r"declared with dtype '>f8'"),
    (b'{"arrays": {"W": {"shape": [1], "dtype": 8}}}', r"declared with dtype 8"),
    # absurd shapes: refused from the header alone, nothing allocated
    (b'{"arrays": {"W": {"shape": [1099511627776, 1099511627776], "dtype": "<f8"}}}',
     r"declares more than 4294967296 bytes of arrays \(array 'W' has shape \(1099511627776, 1099511627776\)"),
    (json.dumps({"arrays": {f"W{i}": {"shape": [2**27], "dtype": "<f8"} for i in range(5)}}).encode(),
     r"declares more than 4294967296 bytes of arrays \(array 'W4'"),
]


@pytest.mark.parametrize("header, message", HEADER_CASES)
def test_malformed_headers(tmp_path, header, message):
    with pytest.raises(DataError, match=r"Cannot read '.*a': .*" + message):
        read(craft(tmp_path / "a", {"header.json": header}))


def test_members_must_match_the_header(tmp_path):
    members = valid_members(SMALL)
    extra = craft(tmp_path / "extra", {**members, "evil.npy": npy(np.zeros(1)), "notes/": b""})
    with pytest.raises(DataError, match=r"members do not match its header \(not declared in the header: evil.npy, notes/\)"):
        read(extra)
    missing = craft(tmp_path / "missing", {k: v for k, v in members.items() if k != "b1.npy"})
    with pytest.raises(DataError, match=r"members do not match its header \(missing b1.npy\)"):
        read(missing)
    with pytest.warns(UserWarning, match="Duplicate name"):
        twice = craft(tmp_path / "twice", [*members.items(), ("W1.npy", npy(np.zeros((2, 3))))])
    with pytest.raises(DataError, match=r"the member 'W1.npy' appears twice"):
        read(twice)


@pytest.mark.parametrize("member, message", [
    (npy(np.zeros((3, 2))), r"array 'W1' is declared as shape \(2, 3\) of <f8 but member 'W1.npy' holds shape \(3, 2\) of <f8"),
    (npy(np.zeros((2, 3), np.float32)), r"declared as shape \(2, 3\) of <f8 but member 'W1.npy' holds shape \(2, 3\) of <f4"),
    (npy(np.zeros((2, 3), ">f8")), r"holds shape \(2, 3\) of >f8"),
    (npy(np.zeros((2, 3))) + b"junk", r"member 'W1.npy' has \d+ bytes; its .npy header and an array of shape"),
    (npy(np.zeros((2, 3)))[:-8], r"member 'W1.npy' has \d+ bytes; its .npy header and an array of shape"),
    (npy(np.zeros((2, 3)), version=(3, 0)), r"member 'W1.npy' is .npy format \(3, 0\); deltaprop writes 1.0 or 2.0"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 'os.system('rm')', }", r"does not start with a valid .npy header"),
    (huge_npy_header(), r"declared as shape \(2, 3\) of <f8 but member 'W1.npy' holds shape \(1000000000000,\) of <f8"),
    (b"PK" + b"\x00" * 200, r"'W1.npy' does not start with a valid .npy header \(ValueError: the magic string"),
    (npy(np.zeros((2, 3))) + b"\x00" * 20_000, r"claims \d+ bytes, but array 'W1' of shape \(2, 3\) and dtype <f8 needs 48"),
])
def test_array_members_must_be_what_the_header_declares(tmp_path, member, message):
    members = {**valid_members(SMALL), "W1.npy": member}
    with pytest.raises(DataError, match=message):
        read(craft(tmp_path / "a", members))


def test_a_fortran_ordered_member_reads_as_its_values(tmp_path):
    W = np.arange(6.0).reshape(2, 3)
    _, got = read(craft(tmp_path / "a", {**valid_members(SMALL), "W1.npy": npy(np.asfortranarray(W))}))
    assert same(got["W1"], W)


def test_zip_level_refusals(tmp_path):
    members = valid_members(SMALL)
    with pytest.raises(DataError, match=r"member 'header.json' uses ZIP compression method 12; .* stored or deflated"):
        read(craft(tmp_path / "bz", members, compression=zipfile.ZIP_BZIP2))
    enc = craft(tmp_path / "enc", members)
    patch_sizes(enc, "W1.npy", flag_bits=0x1)
    with pytest.raises(DataError, match=r"the member 'W1.npy' is encrypted"):
        read(enc)


def test_zip_bombs_and_lying_sizes_are_refused_before_inflating(tmp_path):
    zeros = b"\x00" * 2**20
    bomb = tmp_path / "bomb"  # W1 declared (2, 3) but its member inflates to 64 MiB
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("header.json", header_bytes(SMALL))
        for name in ("b1", "n"):
            zf.writestr(f"{name}.npy", npy(SMALL[name]))
        with zf.open("W1.npy", "w") as m:
            for _ in range(64):
                m.write(zeros)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(DataError, match=r"member 'W1.npy' claims 67108864 bytes, but array 'W1' of shape \(2, 3\)"):
        read(bomb)
    # The same bomb declared as what it is: an array of 64 MiB is over a max_bytes of 1 MiB.
    declared = {**SMALL, "W1": np.empty(2**23)}
    with zipfile.ZipFile(bomb) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != "header.json"}
    deflated = craft(tmp_path / "declared", {"header.json": header_bytes(declared), **members},
                     compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(DataError, match=r"declares more than 1048576 bytes of arrays.*pass max_bytes= to read larger"):
        read(deflated, max_bytes=2**20)
    # A size no deflate stream of that length can reach: refused from the directory alone.
    liar = write(tmp_path / "liar", {}, SMALL, compress=True)
    patch_sizes(liar, "W1.npy", file_size=2**32 - 1)
    with pytest.raises(DataError, match=r"member 'W1.npy' claims 4294967295 bytes from \d+ compressed bytes.*impossible"):
        read(liar)
    # A stream that inflates to more than its member claims: zipfile stops at the claimed
    # size, and the CRC (of the whole stream) then fails.
    small = craft(tmp_path / "small", {"header.json": header_bytes(SMALL), "b1.npy": npy(SMALL["b1"]),
                                       "n.npy": npy(SMALL["n"]), "W1.npy": npy(SMALL["W1"]) + zeros * 8},
                  compression=zipfile.ZIP_DEFLATED)
    patch_sizes(small, "W1.npy", file_size=len(npy(SMALL["W1"])))
    with pytest.raises(DataError, match=r"truncated or damaged \(BadZipFile: Bad CRC-32 for file 'W1.npy'\)"):
        read(small)


def test_read_header_reads_no_array_data(tmp_path):
    path = write(tmp_path / "a", {"v": 1}, SMALL)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(SMALL["W1"].tobytes())
    data[at] ^= 0xFF  # damage W1's values: only its CRC can tell
    path.write_bytes(bytes(data))
    assert read_header(path)["v"] == 1
    with pytest.raises(DataError, match=r"Bad CRC-32 for file 'W1.npy'"):
        read(path)


def test_check_runs_first_and_its_errors_name_the_file(tmp_path):
    path = craft(tmp_path / "a", {"header.json": b'{"format": "other"}'})  # no "arrays" either

    def check(header):
        raise DataError(f"format {header['format']!r} is not ours.")

    with pytest.raises(DataError, match=r"^Cannot read '.*a': format 'other' is not ours\.$"):
        read(path, check=check)


# -- truncation and damage: every prefix, every byte ----------------------------------------

def test_every_truncation_is_a_data_error(tmp_path):
    data = write(tmp_path / "a", {"v": 1}, SMALL).read_bytes()
    cut = tmp_path / "cut"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(DataError, match=r"^Cannot read '.*cut': (the file is empty|it is not a deltaprop file)"):
            read(cut)


def assert_intact_or_refused(path, header, arrays):
    try:
        got_header, got = read(path)
    except DataError:
        return False
    assert got_header == header and list(got) == list(arrays) and all(same(got[n], arrays[n]) for n in arrays)
    return True


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    original = write(tmp_path / "a", {"v": 1}, SMALL)
    data, (header, arrays) = original.read_bytes(), read(original)
    damaged, refused = tmp_path / "damaged", 0
    for i in range(len(data)):
        cut = bytearray(data)
        cut[i] ^= 0x01
        damaged.write_bytes(bytes(cut))
        refused += not assert_intact_or_refused(damaged, header, arrays)
    # Every byte of every member is under a CRC: only ZIP bookkeeping (timestamps,
    # "version made by", the local copies the reader does not use) may change unnoticed.
    contents = len(header_bytes(SMALL)) + sum(len(npy(a)) for a in SMALL.values())
    assert refused > contents


@given(position=st.floats(0, 1, exclude_max=True), xor=st.integers(1, 255), compress=st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_damage_is_refused_or_harmless(tmp_path, position, xor, compress):
    original = write(tmp_path / "a", {"v": [1, 2]}, SMALL, compress=compress)
    data, (header, arrays) = original.read_bytes(), read(original)
    cut = bytearray(data)
    cut[int(position * len(data))] ^= xor
    (tmp_path / "damaged").write_bytes(bytes(cut))
    assert_intact_or_refused(tmp_path / "damaged", header, arrays)


@given(header=st.binary(max_size=200) | json_values.map(lambda v: json.dumps({"arrays": v}).encode()),
       member=st.binary(max_size=300))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_headers_and_members_never_escape_as_other_errors(tmp_path, header, member):
    path = craft(tmp_path / "fuzz", {"header.json": header, "W.npy": member})
    try:
        got_header, got = read(path)
    except DataError:
        return
    assert set(got) == set(got_header["arrays"])
