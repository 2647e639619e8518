"""deltaprop.datasets: IDX reading; the MNIST and Fashion-MNIST loaders' checks, search order
and download; the CSV reader and writer.

No test needs the internet: downloads go through pooch to an HTTP server the tests
start on 127.0.0.1. The real MNIST shipped in data/mnist/ is decoded in float64 once
(module fixture); the other loads that must succeed use float32.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import re
import shutil
import struct
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltaprop import datasets
from deltaprop.datasets import CsvData, load_csv, mnist, read_idx, save_csv
from deltaprop.errors import (DataError, DeltapropError, DeltapropTypeError, ShapeError, UnknownNameError,
                              ValidationError)

REPO_DATA = Path(__file__).resolve().parents[1] / "data" / "mnist"
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

# The IDX data types, written out independently of the module's own table.
CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """``arr`` as an IDX file with data-type ``code`` (big-endian, as the format says)."""
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=CODES[code]).tobytes()


def header(code: int, *dims: int) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test sees the user's $DELTAPROP_DATA or cache; the cache is an empty tmp folder."""
    monkeypatch.delenv("DELTAPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "deltaprop" / "mnist"


@pytest.fixture
def no_repo(monkeypatch):
    """Switch off the lookup in the source checkout's data/ folder."""
    monkeypatch.setattr(datasets, "_REPO_DATA_ROOT", None)


def copy_mnist(folder: Path, *, raw: bool = False) -> Path:
    """Copies of the four shipped files in ``folder``, gzipped as shipped or decompressed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        if raw:
            (folder / name).write_bytes(gzip.decompress((REPO_DATA / (name + ".gz")).read_bytes()))
        else:
            shutil.copy(REPO_DATA / (name + ".gz"), folder / (name + ".gz"))
    return folder


# ---------------------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("code", sorted(CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (0, 4)])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("as_path", [True, False], ids=["path", "fileobj"])
def test_round_trip(tmp_path, code, shape, gz, as_path):
    rng = np.random.default_rng(code)
    want = np.dtype(CODES[code]).newbyteorder("=")
    if want.kind == "f":
        arr = rng.standard_normal(shape).astype(want)
    else:
        info = np.iinfo(want)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(want)
    data = idx_bytes(arr, code)
    if gz:
        data = gzip.compress(data)
    if as_path:
        f = tmp_path / "array.idx"
        f.write_bytes(data)
        out = read_idx(str(f)) if code % 2 else read_idx(f)  # str and Path both
    else:
        out = read_idx(io.BytesIO(data))
    assert out.shape == shape
    assert out.dtype == want and out.dtype.isnative
    assert out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out, arr)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "looks-raw.idx").write_bytes(gzip.compress(idx_bytes(arr, 0x08)))
    (tmp_path / "looks-gzipped.gz").write_bytes(idx_bytes(arr, 0x08))
    np.testing.assert_array_equal(read_idx(tmp_path / "looks-raw.idx"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "looks-gzipped.gz"), arr)


def test_big_endian_values_are_decoded():
    data = header(0x0C, 2) + bytes.fromhex("00000001 fffffffe")
    np.testing.assert_array_equal(read_idx(io.BytesIO(data)), np.array([1, -2], dtype=np.int32))
    data = header(0x0D, 1) + struct.pack(">f", 1.5)
    assert read_idx(io.BytesIO(data))[0] == np.float32(1.5)


@pytest.mark.parametrize("data, match", [
    (b"", r"is 0 bytes long"),
    (b"\x00\x00", r"is 2 bytes long"),
    (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", r"magic number: expected two zero bytes, got 01 00 08 01"),
    (b"\x00\x07\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", r"expected two zero bytes"),
    (header(0x0A, 1) + b"\x05", r"data-type code 0x0A .*expected one of 0x08 \(unsigned byte\)"),
    (header(0x07, 1) + b"\x05", r"data-type code 0x07"),
    (b"\x00\x00\x08\x00", r"declares 0 dimensions"),
    (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02", r"declares 3 dimensions, so its header is 16 bytes, but the file is only 8"),
    (header(0x08, 2, 3) + bytes(5), r"shape \(2, 3\) of unsigned byte \(6 items, 6 bytes\), but 5 bytes .*truncated"),
    (header(0x0B, 4) + bytes(7), r"\(4 items, 8 bytes\), but 7 bytes .*truncated"),
    (header(0x08, 2, 3) + bytes(7), r"followed by 1 trailing bytes"),
    (header(0x0E, 1) + bytes(8) + b"junk", r"followed by 4 trailing bytes"),
    (header(0x08, 0, 2**31, 2**31, 2**31), r"shape \(0, 2147483648, 2147483648, 2147483648\), which is too large"),
    (gzip.compress(header(0x08, 3) + bytes(3))[:-9], r"starts like gzip but does not decompress"),
    (b"\x1f\x8b" + bytes(30), r"starts like gzip but does not decompress"),
])
def test_malformed_files_raise_data_error(data, match):
    with pytest.raises(DataError, match=match):
        read_idx(io.BytesIO(data))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_huge_header_is_a_clear_error_not_a_memory_error(tmp_path, gz):
    # 65536 x 65536 = 2**32 items; and 2**31 x 2**31 doubles = 2**65 bytes. Reading must
    # compare the claim with the bytes present before allocating anything.
    for dims, code, claim in [((65536, 65536), 0x08, "4294967296 items"),
                              ((2**31, 2**31), 0x0E, "4611686018427387904 items")]:
        data = header(code, *dims) + bytes(16)
        f = tmp_path / "huge.idx"
        f.write_bytes(gzip.compress(data) if gz else data)
        with pytest.raises(DataError, match=rf"IDX file '{re.escape(str(f))}'.*{claim}.* but 16 bytes follow .*truncated"):
            read_idx(f)


def test_errors_name_the_file(tmp_path):
    f = tmp_path / "bad-magic.idx"
    f.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match=r"bad-magic\.idx"):
        read_idx(f)
    with open(f, "rb") as fobj:
        with pytest.raises(DataError, match=r"bad-magic\.idx"):
            read_idx(fobj)
    with pytest.raises(DataError, match=r"<BytesIO>"):
        read_idx(io.BytesIO(b"PK\x03\x04"))


def test_missing_file_and_wrong_arguments(tmp_path):
    with pytest.raises(DataError, match=r"Cannot read IDX file .*nowhere\.idx.*No such file") as e:
        read_idx(tmp_path / "nowhere.idx")
    assert isinstance(e.value, FileNotFoundError) and e.value.filename == str(tmp_path / "nowhere.idx")
    with pytest.raises(DeltapropTypeError, match=r"io\.BytesIO"):
        read_idx(header(0x08, 1) + b"\x00")
    with pytest.raises(DeltapropTypeError, match=r"path or a binary file object\. Got int 3"):
        read_idx(3)
    with pytest.raises(DeltapropTypeError, match=r"binary mode \('rb'\).*gave str"):
        read_idx(io.StringIO("\x00\x00\x08\x01"))


@st.composite
def idx_like(draw):
    """Bytes near the IDX format: a plausible header, dimensions and payload, maybe gzipped."""
    code = draw(st.sampled_from([*CODES, 0x00, 0x0A, 0xFF]))
    ndim = draw(st.integers(0, 4))
    dims = draw(st.lists(st.integers(0, 6) | st.integers(0, 2**32 - 1), min_size=ndim, max_size=ndim))
    data = header(code, *dims) + draw(st.binary(max_size=80))
    data = data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    if draw(st.booleans()):
        data = gzip.compress(data)
        data = data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | st.binary(max_size=60).map(lambda b: b"\x1f\x8b" + b) | idx_like())
def test_fuzz_read_idx_returns_an_array_or_raises_data_error(data):
    try:
        out = read_idx(io.BytesIO(data))
    except DataError:
        return
    assert isinstance(out, np.ndarray) and out.dtype.isnative


# ---------------------------------------------------------------------------------------
# The real MNIST shipped in data/mnist/


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """``mnist()`` with the default search, which must find data/mnist/ of this checkout."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DELTAPROP_DATA", raising=False)
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("empty-cache")))
        return mnist(download=False)


def test_repository_folder_is_this_checkout():
    assert datasets._REPO_DATA_ROOT == REPO_DATA.parent


def test_shipped_files_match_sha256sums_and_module_table():
    sums = dict(line.split()[::-1] for line in (REPO_DATA / "SHA256SUMS").read_text().splitlines() if line)
    table = {f.name: f.sha256 for f in datasets.DATASETS["mnist"].files}
    assert sums == table
    assert [f.name for f in datasets.DATASETS["mnist"].files] == NAMES


def test_mnist_shapes_values_labels(shipped):
    (X, y), (Xt, yt) = shipped
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert X.dtype == Xt.dtype == np.float64
    assert y.dtype == yt.dtype == np.int64
    for A in (X, Xt):
        assert A.flags.c_contiguous and A.flags.writeable
        assert A.min() == 0.0 and A.max() == 1.0
    # The scaling is exactly pixel/255: every value is k/255 for an integer k.
    k = X[:1000] * 255
    np.testing.assert_array_equal(k, np.round(k))
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(yt, minlength=10).tolist() == TEST_COUNTS


def test_mnist_explicit_absolute_path_float32(shipped):
    (X, y), (Xt, yt) = mnist(REPO_DATA.resolve(), dtype="float32", download=False)
    assert X.dtype == Xt.dtype == np.float32
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    (X64, y64), (Xt64, yt64) = shipped
    # pixel/255 rounded once to float32 equals the float64 value rounded to float32.
    np.testing.assert_array_equal(Xt, Xt64.astype(np.float32))
    np.testing.assert_array_equal(X[::50], X64[::50].astype(np.float32))
    np.testing.assert_array_equal(y, y64)
    np.testing.assert_array_equal(yt, yt64)


def test_mnist_argument_errors(tmp_path):
    with pytest.raises(ValidationError, match=r"'dtype' argument must be 'float64' or 'float32'. Got 'int32'"):
        mnist(dtype="int32")
    with pytest.raises(DeltapropTypeError, match=r"'download' argument must be True or False"):
        mnist(download="no")
    with pytest.raises(DeltapropTypeError, match=r"'path' argument must be a folder path"):
        mnist(path=42)
    with pytest.raises(DeltapropTypeError, match=r"'mirrors' argument must be a list of base URLs"):
        mnist(tmp_path, mirrors=[1, 2])


def test_corrupted_copy_is_a_hash_error_naming_file_and_hashes(tmp_path):
    folder = copy_mnist(tmp_path / "copy")
    name = "train-labels-idx1-ubyte"
    raw = bytearray(gzip.decompress((folder / (name + ".gz")).read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    (folder / (name + ".gz")).write_bytes(gzip.compress(bytes(raw)))
    expected = dict(line.split()[::-1] for line in (REPO_DATA / "SHA256SUMS").read_text().splitlines())[name]
    with pytest.raises(DataError, match=rf"{name}\.gz'.*content is {sha256(bytes(raw))}, expected {expected}"):
        mnist(folder, download=False)


def test_good_gzip_beside_corrupt_raw_copy_is_used(tmp_path):
    # The hash decides, not the file name: a corrupt decompressed copy is passed over
    # for the good .gz beside it. (Checked on the small train-labels file alone.)
    f = datasets.DATASETS["mnist"].files[1]
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(REPO_DATA / (f.name + ".gz"), folder)
    (folder / f.name).write_bytes(b"corrupt")
    assert len(datasets._checked_bytes(f, [folder / f.name, folder / (f.name + ".gz")])) == 60008
    with pytest.raises(DataError, match=r"'.*train-labels-idx1-ubyte' is corrupt .*content is [0-9a-f]{64}, expected"):
        datasets._checked_bytes(f, [folder / f.name])


# ---------------------------------------------------------------------------------------
# Where mnist() looks


@pytest.fixture
def spy_folders(monkeypatch):
    """Records each folder the loader looks in, in order."""
    seen: list[Path] = []
    real = datasets._raw_from_folder

    def spy(ds, folder):
        seen.append(folder)
        return real(ds, folder)

    monkeypatch.setattr(datasets, "_raw_from_folder", spy)
    return seen


@pytest.mark.parametrize("sub, raw", [("", False), ("mnist", True)], ids=["folder-gz", "subfolder-raw"])
def test_deltaprop_data_is_used_before_the_repository(tmp_path, monkeypatch, spy_folders, sub, raw):
    root = tmp_path / "data"
    folder = copy_mnist(root / sub if sub else root, raw=raw)
    monkeypatch.setenv("DELTAPROP_DATA", str(root))
    (X, y), (Xt, yt) = mnist(dtype="float32", download=False)
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert np.bincount(yt, minlength=10).tolist() == TEST_COUNTS
    assert spy_folders[-1] == folder  # found there ...
    assert datasets._REPO_DATA_ROOT / "mnist" not in spy_folders  # ... before the repository
    assert spy_folders[0] == root / "mnist"  # the data set's subfolder is looked in first


def test_cache_is_looked_in_after_the_repository(monkeypatch, isolated, spy_folders, tmp_path):
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(datasets, "_REPO_DATA_ROOT", tmp_path / "no-checkout")
    with pytest.raises(DataError):
        mnist(download=False)
    assert spy_folders == [tmp_path / "empty" / "mnist", tmp_path / "empty",
                           tmp_path / "no-checkout" / "mnist", isolated]


def test_xdg_cache_home_and_home_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets._cache_root() == tmp_path / "deltaprop"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in ("", "relative/cache"):  # unset or relative: ~/.cache, as XDG says
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert datasets._cache_root() == tmp_path / "home" / ".cache" / "deltaprop"


def test_explicit_wrong_path_errors_at_once(tmp_path, monkeypatch, spy_folders):
    copy_mnist(tmp_path / "good")
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "good"))  # would work, must not be used
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match=r"path='.*empty': missing train-images-idx3-ubyte\[\.gz\], "
                                        r"train-labels-idx1-ubyte\[\.gz\], t10k-images"):
        mnist(tmp_path / "empty")
    with pytest.raises(DataError, match=r"path='.*nowhere': no such folder"):
        mnist(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"path='.*file\.txt': not a folder"):
        mnist(tmp_path / "file.txt")
    assert spy_folders == [tmp_path / "empty", tmp_path / "nowhere", tmp_path / "file.txt"]


def test_explicit_path_to_the_parent_hints_at_the_subfolder(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataError, match=r"missing .*Did you mean '.*mnist'\?"):
        mnist(tmp_path)


def test_all_failed_lists_every_place(tmp_path, monkeypatch, no_repo, isolated):
    env = tmp_path / "env"
    env.mkdir()
    (env / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01")  # one file only
    monkeypatch.setenv("DELTAPROP_DATA", str(env))
    with pytest.raises(DataError) as info:
        mnist(download=False)
    msg = str(info.value)
    places = [f"$DELTAPROP_DATA folder '{env / 'mnist'}': no such folder",
              f"$DELTAPROP_DATA folder '{env}': missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
              "t10k-labels-idx1-ubyte[.gz]",
              "repository data folder: skipped, deltaprop is not running from a source checkout",
              f"user cache folder '{isolated}': no such folder",
              "download: skipped (download=False)"]
    for i, place in enumerate(places, 1):
        assert f"  {i}. {place}\n" in msg, msg
    assert msg.startswith("Cannot find the MNIST data set.")
    assert "set $DELTAPROP_DATA" in msg and "or allow download=True." in msg


def test_all_failed_without_env_and_without_pooch(monkeypatch, no_repo):
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch -> ImportError
    with pytest.raises(DataError) as info:
        mnist(download=True)
    msg = str(info.value)
    assert "1. $DELTAPROP_DATA: not set" in msg
    assert 'pooch is not installed (pip install "deltaprop[download]")' in msg
    assert "allow download=True" not in msg  # it was allowed; no such hint


# ---------------------------------------------------------------------------------------
# Download, for real through pooch, from a server on 127.0.0.1


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def log_request(self, code="-", size="-"):
        self.server.requests.append((self.path, int(code)))


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(root folder, base URL, request log): an HTTP server on 127.0.0.1 serving the folder."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # requests must not route it via a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", httpd.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def served_hashes(monkeypatch):
    """Make the table expect the .gz bytes of the shipped (recompressed) copies.

    The mirrors serve LeCun's original .gz files, whose hashes the table holds; the
    copies in data/mnist/ are recompressed, so the local server serves .gz files with
    other hashes. The decompressed hashes, checked after the download, stay as they are.
    """
    ds = datasets.DATASETS["mnist"]
    files = tuple(dataclasses.replace(f, gz_sha256=sha256((REPO_DATA / (f.name + ".gz")).read_bytes()))
                  for f in ds.files)
    monkeypatch.setitem(datasets.DATASETS, "mnist", dataclasses.replace(ds, files=files))


def test_download_falls_through_bad_mirrors(server, served_hashes, no_repo, isolated):
    root, url, requests = server
    copy_mnist(root / "good")
    bad = copy_mnist(root / "bad")
    for name in NAMES:  # one byte changed in each .gz
        data = bytearray((bad / (name + ".gz")).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (bad / (name + ".gz")).write_bytes(bytes(data))
    mirrors = [url + "missing", url + "bad/", url + "good/"]
    (X, y), (Xt, yt) = mnist(dtype="float32", mirrors=mirrors)
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784) and X.dtype == np.float32
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(yt, minlength=10).tolist() == TEST_COUNTS
    # Each file: 404 from the first mirror, the corrupt copy (rejected) from the second,
    # the good one from the third; and only the good ones land in the cache.
    for name in NAMES:
        got = [(path, code) for path, code in requests if path.endswith("/" + name + ".gz")]
        assert got == [(f"/missing/{name}.gz", 404), (f"/bad/{name}.gz", 200), (f"/good/{name}.gz", 200)]
        assert (isolated / (name + ".gz")).read_bytes() == (REPO_DATA / (name + ".gz")).read_bytes()
    assert sorted(p.name for p in isolated.iterdir()) == sorted(n + ".gz" for n in NAMES)


def test_download_with_every_mirror_bad_lists_each_failure(server, served_hashes, no_repo, isolated):
    root, url, requests = server
    bad = root / "bad"
    bad.mkdir()
    data = bytearray((REPO_DATA / "train-images-idx3-ubyte.gz").read_bytes())
    data[1000] ^= 0x01
    (bad / "train-images-idx3-ubyte.gz").write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        mnist(mirrors=(url + "missing/", url + "bad/"))
    msg = str(info.value)
    assert f"download into '{isolated}': no mirror gave a good train-images-idx3-ubyte.gz" in msg
    assert f"- {url}missing/train-images-idx3-ubyte.gz: HTTPError: 404" in msg
    assert f"- {url}bad/train-images-idx3-ubyte.gz: ValueError: SHA256 hash of downloaded file" in msg
    assert f"user cache folder '{isolated}': no such folder" in msg  # looked there first
    # It stopped at the first file no mirror had, and kept no corrupt file.
    assert all("train-images" in path for path, _ in requests)
    assert not (isolated / "train-images-idx3-ubyte.gz").exists()


def test_default_mirrors_and_gz_hashes_are_the_published_ones():
    ds = datasets.DATASETS["mnist"]
    assert ds.mirrors == ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                          "https://storage.googleapis.com/cvdf-datasets/mnist/")
    assert ds.files[0].gz_sha256 == "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    assert datasets._check_mirrors("https://example.org/m") == ("https://example.org/m/",)


# ---------------------------------------------------------------------------------------
# Fashion-MNIST: the table row, and the checks on small IDX files the tests write


FASHION = "fashion-mnist"


def test_fashion_row_holds_the_published_checksums_names_and_counts():
    ds = datasets.DATASETS[FASHION]
    # The MD5s of the publisher's README ("Get the Data"), the SHA-256 of the same files.
    assert [(f.name, f.gz_md5, f.gz_sha256, f.sha256) for f in ds.files] == [
        ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", None),
        ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", None),
        ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", None),
        ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", None),
    ]
    assert datasets.FASHION_MNIST_CLASSES == ds.class_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert ds.train_counts == (6000,) * 10 and ds.test_counts == (1000,) * 10
    assert ds.mirrors[0] == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert datasets.DATASETS["mnist"].train_counts == tuple(TRAIN_COUNTS)
    assert datasets.DATASETS["mnist"].test_counts == tuple(TEST_COUNTS)


def tiny_arrays(per_class=(3, 1), seed=0):
    """Images and labels of a tiny balanced data set: per_class images of each of 10 classes."""
    rng = np.random.default_rng(seed)
    out = []
    for m in per_class:
        labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), m))
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        out += [images, labels]
    return out


def tiny_files(folder: Path, arrays, *, gz=True) -> dict[str, bytes]:
    """The four IDX files of ``arrays`` in ``folder`` (gzipped with mtime 0, or raw); name -> bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, arr in zip(NAMES, arrays):
        data = idx_bytes(arr, 0x08)
        if gz:
            data, name = gzip.compress(data, mtime=0), name + ".gz"
        (folder / name).write_bytes(data)
        written[name] = data
    return written


@pytest.fixture
def tiny_fashion(monkeypatch):
    """Make the Fashion-MNIST row describe a tiny set (3 + 1 images per class) whose
    published .gz files are the ones the test passes in (every check stays the row's)."""
    def patch(published: dict[str, bytes] | None = None, **changes):
        ds = datasets.DATASETS[FASHION]
        files = ds.files
        if published is not None:
            files = tuple(dataclasses.replace(f, gz_sha256=sha256(published[f.name + ".gz"]),
                                              gz_md5=hashlib.md5(published[f.name + ".gz"]).hexdigest())
                          for f in ds.files)
        row = dataclasses.replace(ds, **{"files": files, "train_counts": (3,) * 10, "test_counts": (1,) * 10,
                                         **changes})
        monkeypatch.setitem(datasets.DATASETS, FASHION, row)
        return row
    return patch


def assert_loaded(out, arrays, dtype=np.float64):
    (X, y), (Xt, yt) = out
    images, labels, timages, tlabels = arrays
    assert X.dtype == Xt.dtype == dtype and y.dtype == yt.dtype == np.int64
    np.testing.assert_array_equal(X, (images.reshape(30, 784) / 255).astype(dtype))
    np.testing.assert_array_equal(Xt, (timages.reshape(10, 784) / 255).astype(dtype))
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(yt, tlabels)


def test_fashion_published_gz_is_used_before_the_raw_file_beside_it(tmp_path, tiny_fashion, no_repo):
    arrays = tiny_arrays()
    published = tiny_files(tmp_path / "f", arrays)
    tiny_fashion(published)
    for name in NAMES:  # corrupt decompressed copies beside: the verified .gz must win
        (tmp_path / "f" / name).write_bytes(b"junk")
    assert_loaded(datasets.fashion_mnist(tmp_path / "f", download=False), arrays)
    assert_loaded(datasets.fashion_mnist(tmp_path / "f", dtype="float32"), arrays, np.float32)


def test_fashion_copies_no_hash_can_check_are_checked_by_structure(tmp_path, tiny_fashion):
    arrays = tiny_arrays()
    tiny_fashion(tiny_files(tmp_path / "published", arrays))
    # Decompressed copies, and a recompressed one: accepted on their structure.
    tiny_files(tmp_path / "raw", arrays, gz=False)
    assert_loaded(datasets.fashion_mnist(tmp_path / "raw"), arrays)
    folder = tmp_path / "recompressed"
    tiny_files(folder, arrays)
    data = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
    assert_loaded(datasets.fashion_mnist(folder), arrays)


@pytest.mark.parametrize("change, match", [
    (lambda a: a.__setitem__(1, np.where(a[1] == 9, 0, a[1]).astype(np.uint8)),  # every 9 relabelled 0
     r"train-labels-idx1-ubyte is not the Fashion-MNIST training labels: it counts \[6, 3, 3, 3, 3, 3, 3, 3, 3, 0\] "
     r"images per class, Fashion-MNIST has \[3, 3, 3, 3, 3, 3, 3, 3, 3, 3\]"),
    (lambda a: a.__setitem__(3, np.where(a[3] == 9, 10, a[3]).astype(np.uint8)),
     r"t10k-labels-idx1-ubyte holds label 10; Fashion-MNIST labels are 0\.\.9"),
    (lambda a: a.__setitem__(2, a[2][:, :27]),
     r"t10k-images-idx3-ubyte is not the Fashion-MNIST test images: expected unsigned bytes of shape \(10, 28, 28\), "
     r"got uint8 of shape \(10, 27, 28\)"),
    (lambda a: a.__setitem__(0, a[0][:29]),
     r"train-images-idx3-ubyte is not the Fashion-MNIST training images: expected .*\(30, 28, 28\), got uint8 of "
     r"shape \(29, 28, 28\)"),
    (lambda a: a.__setitem__(1, a[1].astype(np.int16)),
     r"train-labels-idx1-ubyte is not the Fashion-MNIST training labels: expected unsigned bytes of shape \(30,\), "
     r"got int16"),
])
def test_fashion_wrong_structure_is_a_clear_error(tmp_path, tiny_fashion, change, match):
    arrays = tiny_arrays()
    tiny_fashion(tiny_files(tmp_path / "published", arrays))
    change(arrays)
    folder = tmp_path / "copy"
    folder.mkdir()
    for name, arr in zip(NAMES, arrays):
        code = 0x0B if arr.dtype == np.int16 else 0x08
        (folder / name).write_bytes(idx_bytes(arr, code))
    with pytest.raises(DataError, match=rf"Cannot load Fashion-MNIST from path='.*copy': {match}"):
        datasets.fashion_mnist(folder)


def test_fashion_corrupt_gz_fails_its_crc_and_a_good_raw_copy_beside_it_is_used(tmp_path, tiny_fashion):
    arrays = tiny_arrays()
    folder = tmp_path / "f"
    published = tiny_files(folder, arrays)
    tiny_fashion(published)
    name = "train-images-idx3-ubyte"
    data = bytearray(published[name + ".gz"])
    data[len(data) // 2] ^= 0x01  # neither the published file nor a sound gzip stream
    (folder / (name + ".gz")).write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{name}\.gz' starts like gzip but does not decompress"):
        datasets.fashion_mnist(folder)
    (folder / name).write_bytes(idx_bytes(arrays[0], 0x08))
    assert_loaded(datasets.fashion_mnist(folder), arrays)


def test_published_gz_means_both_hashes(tiny_fashion):
    data = gzip.compress(b"anything", mtime=0)
    f = datasets.IdxFile("x", None, sha256(data), hashlib.md5(data).hexdigest())
    assert datasets._is_published_gz(f, data)
    assert not datasets._is_published_gz(dataclasses.replace(f, gz_md5="0" * 32), data)
    assert not datasets._is_published_gz(dataclasses.replace(f, gz_sha256="0" * 64), data)
    assert datasets._is_published_gz(dataclasses.replace(f, gz_md5=None), data)


def test_real_fashion_row_rejects_mnist_and_checks_full_size_copies_by_structure(tmp_path):
    # MNIST's files in Fashion-MNIST's place: same names and shapes, unequal classes.
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte is not the Fashion-MNIST training labels: it counts "
                                        r"\[5923, 6742, .*\] images per class, Fashion-MNIST has \[6000, 6000, "):
        datasets.fashion_mnist(REPO_DATA, download=False)
    # A decompressed copy of the right structure passes: that is all a copy without a
    # published hash can be checked for (the docstring says so).
    folder = tmp_path / "f"
    folder.mkdir()
    for name, (n, m) in zip(NAMES, [(60000, 6000), (60000, 6000), (10000, 1000), (10000, 1000)]):
        if "images" in name:
            (folder / name).write_bytes(header(0x08, n, 28, 28) + bytes(n * 784))
        else:
            (folder / name).write_bytes(header(0x08, n) + np.repeat(np.arange(10, dtype=np.uint8), m).tobytes())
    (X, y), (Xt, yt) = datasets.fashion_mnist(folder, dtype="float32")
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784) and X.dtype == np.float32
    assert np.bincount(yt).tolist() == [1000] * 10


def test_fashion_search_order_uses_its_own_folders(tmp_path, monkeypatch, spy_folders):
    env = tmp_path / "env"
    monkeypatch.setenv("DELTAPROP_DATA", str(env))
    monkeypatch.setattr(datasets, "_REPO_DATA_ROOT", tmp_path / "checkout-data")
    with pytest.raises(DataError) as info:
        datasets.fashion_mnist(download=False)
    cache = tmp_path / "xdg-cache" / "deltaprop" / FASHION
    assert spy_folders == [env / FASHION, env, tmp_path / "checkout-data" / FASHION, cache]
    msg = str(info.value)
    assert msg.startswith("Cannot find the Fashion-MNIST data set.")
    assert f"user cache folder '{cache}': no such folder" in msg and "download: skipped (download=False)" in msg


def test_fashion_in_deltaprop_data_beside_mnist(tmp_path, monkeypatch, tiny_fashion):
    arrays = tiny_arrays()
    env = tmp_path / "env"
    tiny_fashion(tiny_files(env / FASHION, arrays))
    copy_mnist(env)  # MNIST's files loose in the same folder do not get in the way
    monkeypatch.setenv("DELTAPROP_DATA", str(env))
    assert_loaded(datasets.fashion_mnist(download=False), arrays)


def test_fashion_download_checks_sha256_then_md5(server, tiny_fashion, no_repo, tmp_path):
    root, url, requests = server
    arrays = tiny_arrays()
    published = tiny_files(root / "good", arrays)
    cache = tmp_path / "xdg-cache" / "deltaprop" / FASHION
    row = tiny_fashion(published)
    out = datasets.fashion_mnist(mirrors=[url + "missing/", url + "good/"])
    assert_loaded(out, arrays)
    assert sorted(p.name for p in cache.iterdir()) == sorted(published)
    n = len(requests)
    assert_loaded(datasets.fashion_mnist(download=False), arrays)  # from the cache now, no request
    assert len(requests) == n

    # A server file with the right SHA-256 but not the MD5 the table lists: rejected and
    # not kept (pooch alone would have let it into the cache).
    for p in cache.iterdir():
        p.unlink()
    files = list(row.files)
    files[3] = dataclasses.replace(files[3], gz_md5="0" * 32)
    tiny_fashion(None, files=tuple(files))
    with pytest.raises(DataError) as info:
        datasets.fashion_mnist(mirrors=[url + "good/"])
    want = hashlib.md5(published["t10k-labels-idx1-ubyte.gz"]).hexdigest()
    assert (f"no mirror gave a good t10k-labels-idx1-ubyte.gz:\n     - {url}good/t10k-labels-idx1-ubyte.gz: "
            f"the MD5 of the download is {want}, expected {'0' * 32}") in str(info.value)
    assert not (cache / "t10k-labels-idx1-ubyte.gz").exists()


def test_fashion_argument_errors():
    with pytest.raises(ValidationError, match=r"'dtype' argument must be 'float64' or 'float32'"):
        datasets.fashion_mnist(dtype="uint8")
    with pytest.raises(DeltapropTypeError, match=r"'download' argument must be True or False"):
        datasets.fashion_mnist(download=1)


# ---------------------------------------------------------------------------------------
# load_csv


def csv_text(text: str, **kwargs) -> CsvData:
    return load_csv(io.StringIO(text, newline=""), **kwargs)


def test_csv_header_names_target_by_name_and_class_names_sorted():
    data = csv_text("sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9,1.4,setosa\n",
                    target="species")
    np.testing.assert_array_equal(data.X, [[5.1, 1.4], [7.0, 4.7], [6.3, 6.0], [4.9, 1.4]])
    assert data.X.dtype == np.float64 and data.X.flags.c_contiguous
    assert data.y.tolist() == [0, 1, 2, 0] and data.y.dtype == np.int64
    assert data.class_names == ("setosa", "versicolor", "virginica")
    assert data.feature_names == ("sepal", "petal") and data.target_name == "species"
    X, y = data  # unpacks as (X, y)
    assert X is data.X and y is data.y
    assert repr(data) == ("CsvData(X=float64 (4, 2), y=int64 (4,), feature_names=['sepal', 'petal'], "
                          "target_name='species', class_names=['setosa', 'versicolor', 'virginica'])")


@pytest.mark.parametrize("target, X, y, names", [
    (-1, [[1, 2], [4, 5]], [3, 6], ("a", "b")),
    (0, [[2, 3], [5, 6]], [1, 4], ("b", "c")),
    (-3, [[2, 3], [5, 6]], [1, 4], ("b", "c")),
    (1, [[1, 3], [4, 6]], [2, 5], ("a", "c")),
    ("b", [[1, 3], [4, 6]], [2, 5], ("a", "c")),
    (None, [[1, 2, 3], [4, 5, 6]], None, ("a", "b", "c")),
])
def test_csv_target_by_index_name_or_none(target, X, y, names):
    data = csv_text("a,b,c\n1,2,3\n4,5,6\n", target=target)
    np.testing.assert_array_equal(data.X, X)
    assert (data.y is None) if y is None else data.y.tolist() == y
    assert data.feature_names == names
    assert data.target_name == (None if target is None else "abc"[target] if isinstance(target, int) else target)


@pytest.mark.parametrize("text, header, has_header", [
    ("a,b\n1,2\n", "auto", True),
    ("1,2\n3,4\n", "auto", False),
    ("1,2,cat\n3,4,dog\n", "auto", False),         # a text target is not a header
    ("x,y,label\n1,2,cat\n", "auto", True),
    (",a,b\n0,1,2\n", "auto", True),               # pandas' unnamed index column
    ("10,20\n1,2\n", True, True),                   # a header of numbers needs header=True
    ("a,b\n1,2\n", False, False),                   # ... and header=False keeps line 1 as data (then it fails)
])
def test_csv_header_detection(text, header, has_header):
    if has_header:
        data = csv_text(text, header=header)
        assert len(data.X) == text.count("\n") - 1
        assert data.feature_names[0] == text.split(",")[0]
    elif text.startswith("a"):
        with pytest.raises(DataError, match=r"line 1, column 1: 'a' is not a number"):
            csv_text(text, header=header)
    else:
        data = csv_text(text, header=header)
        assert len(data.X) == text.count("\n") and data.feature_names[0] == "x0" and data.target_name == "y"


def test_csv_what_practitioners_write():
    # A BOM, CRLF, blank and whitespace-only lines, spaces around numbers, quoted fields,
    # a quoted header with a comma, a quoted line break, and no final newline.
    text = '\ufeff"a, first",b ,label\r\n\r\n 1.5 ,"2",cat\r\n   \r\n-3e2,+.5, dog \r\n7,8,"a\r\nb"'
    data = csv_text(text)
    np.testing.assert_array_equal(data.X, [[1.5, 2.0], [-300.0, 0.5], [7.0, 8.0]])
    assert data.feature_names == ("a, first", "b") and data.class_names == ("a\r\nb", "cat", "dog")
    assert data.y.tolist() == [1, 2, 0]


def test_csv_from_a_file_with_bom_other_delimiter_and_encoding(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text("höhe;gewicht\n1,5;2\n", encoding="utf-8-sig")
    with pytest.raises(DataError, match=rf"'{re.escape(str(f))}', line 2, column 1 \('höhe'\): '1,5' is not a number"):
        load_csv(f, delimiter=";")  # decimal commas are not numbers: a clear error, not a guess
    f.write_text("höhe;gewicht\n1.5;2\n", encoding="latin-1")
    assert load_csv(f, delimiter=";", encoding="latin-1", target=None).feature_names == ("höhe", "gewicht")
    t = tmp_path / "tab.tsv"
    t.write_text("a\tb\n1\t2\n")
    assert load_csv(str(t), delimiter="\t").X.tolist() == [[1.0]]


def test_csv_target_types():
    ints = csv_text("x,y\n1,3\n2,-1\n")
    assert ints.y.dtype == np.int64 and ints.y.tolist() == [3, -1] and ints.class_names is None
    floats = csv_text("x,y\n1,0.5\n2,1e3\n")
    assert floats.y.dtype == np.float64 and floats.y.tolist() == [0.5, 1000.0]
    f32 = csv_text("x,y\n0.1,0.5\n2,1e3\n", dtype="float32")
    assert f32.X.dtype == f32.y.dtype == np.float32
    np.testing.assert_array_equal(f32.X, np.array([[0.1], [2]], dtype=np.float32))
    whole = csv_text("x,y\n1,2.0\n2,1e2\n")  # whole numbers written as floats are still whole
    assert whole.y.dtype == np.int64 and whole.y.tolist() == [2, 100]


def test_csv_many_rows_across_chunks(monkeypatch):
    monkeypatch.setattr(datasets, "_CSV_CHUNK", 3)
    rows = [f"{i},{i / 7!r},{i % 3}" for i in range(10)]
    data = csv_text("a,b,c\n" + "\n".join(rows) + "\n")
    np.testing.assert_array_equal(data.X, [[i, i / 7] for i in range(10)])
    assert data.y.tolist() == [i % 3 for i in range(10)]
    rows[8] = "8,bad,2"  # in the third chunk, on line 10
    with pytest.raises(DataError, match=r"line 10, column 2 \('b'\): 'bad' is not a number"):
        csv_text("a,b,c\n" + "\n".join(rows))


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b,c\n1,2,3\n4,five,6\n", {}, r"<StringIO>, line 3, column 2 \('b'\): 'five' is not a number\."),
    ("a,b,c\n1,,3\n", {}, r"line 2, column 2 \('b'\): an empty field \(a missing value; deltaprop does not fill"),
    ("1,2,3\n4,x,6\n", {}, r"line 2, column 2: 'x' is not a number"),  # no header: no name
    ("a,b,c\n1,nan,3\n", {}, r"line 2, column 2 \('b'\): 'nan' is not a finite number; NaN and infinity are not"),
    ("a,b,c\n1,-inf,3\n", {}, r"line 2, column 2 \('b'\): '-inf' is not a finite number"),
    ("a,b,c\n1,1e999,3\n", {}, r"line 2, column 2 \('b'\): '1e999' is not a finite number"),
    ("a,b\n1,1e39\n", {"dtype": "float32", "target": None},
     r"line 2, column 2 \('b'\): 1e\+39 is too large for float32 \(at most 3\.40282e\+38\)"),
    ("a,b\n1,1e39\n", {"dtype": "float32"}, r"line 2, target column 2 \('b'\): 1e\+39 is too large for float32"),
    ("a,b,c\n1,2,Infinity\n", {}, r"line 2, target column 3 \('c'\): 'Infinity' is not a finite number"),
    ("a,b,c\n1,2,\n", {}, r"line 2, target column 3 \('c'\): an empty field \(a missing value\)"),
    ("a,b,c\n1,2,3\n\n4,5\n", {}, r"line 4: 2 fields, expected 3 as in the header \(line 1\)\."),
    ("1,2,3\n4,5,6,7\n", {}, r"line 2: 4 fields, expected 3 as in line 1\."),
    ("a,b,c\n1,2,3,\n", {}, r"line 2: 4 fields, expected 3"),
    ("a,b,c\n1,2,3\n4,5,cat\n", {},
     r"target column 3 \('c'\) mixes numbers and text: line 2 holds '3', line 3 holds 'cat'"),
    ("", {}, r"<StringIO> is empty: it holds no rows"),
    ("\n \n\t\n", {}, r"is empty: it holds no rows \(blank lines do not count\)"),
    ("a,b,c\n", {}, r"has a header \(line 1\) but no data rows; if that line is data, pass header=False"),
    ("a,b,c\n", {"header": True}, r"has a header \(line 1\) but no data rows\.$"),
    ("a\n1\n", {}, r"has a single column \(line 1\); with it as the target no feature column is left"),
    ('a,b\n1,"2\n', {}, r"line 2: malformed CSV: unexpected end of data"),
    ('a,b\n1,"2"x\n', {}, r"line 2: malformed CSV: ',' expected after '\"'"),
    ("a,b\n1," + "9" * 200_000 + "\n", {}, r"line 2: malformed CSV: field larger than field limit"),
])
def test_csv_errors_name_line_and_column(text, kwargs, match):
    with pytest.raises(DataError, match=match):
        csv_text(text, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(target="lable"), UnknownNameError,
     r"target='lable' is not a column of <StringIO>\. Did you mean 'label'\? Known names: 'a', 'b', 'label'\."),
    (dict(target=3), ValidationError, r"target=3 is out of range: <StringIO> has 3 columns \(line 1\), so the index "
                                      r"must be in -3\.\.2"),
    (dict(target=-4), ValidationError, r"target=-4 is out of range"),
    (dict(target="a", header=False), ValidationError,
     r"target='a' is a column name, but <StringIO> has no header \(header=False; line 1 is data\)\. Pass header=True"),
    (dict(target=1.0), DeltapropTypeError, r"'target' argument must be a column index \(int\), a column name \(str\) "
                                           r"or None\. Got float 1\.0"),
    (dict(target=True), DeltapropTypeError, r"Got bool True"),
    (dict(header="yes"), ValidationError, r"'header' argument must be True, False or 'auto'\. Got 'yes'"),
    (dict(header=1), ValidationError, r"'header' argument must be True, False or 'auto'\. Got 1"),
    (dict(delimiter=",,"), ValidationError, r"'delimiter' argument must be one character other than a quote"),
    (dict(delimiter='"'), ValidationError, r"'delimiter' argument must be one character"),
    (dict(dtype="int64"), ValidationError, r"'dtype' argument must be 'float64' or 'float32'"),
])
def test_csv_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        csv_text("a,b,label\n1,2,x\n", **kwargs)


def test_csv_ambiguous_target_name():
    with pytest.raises(ValidationError, match=r"target='a' names 2 columns of <StringIO> \(1, 3\); pass the index"):
        csv_text("a,b,a\n1,2,3\n", target="a")
    assert csv_text("a,b,a\n1,2,3\n", target=-1).feature_names == ("a", "b")


def test_csv_source_errors(tmp_path):
    with pytest.raises(DataError, match=r"Cannot read CSV file '.*nowhere\.csv': No such file or directory") as e:
        load_csv(tmp_path / "nowhere.csv")
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(DataError, match=r"Cannot read CSV file .*: it is a directory, not a file"):
        load_csv(tmp_path)
    with pytest.raises(DeltapropTypeError, match=r"Got bytes; wrap text held in memory in io\.StringIO"):
        load_csv(b"a,b\n1,2\n")
    with pytest.raises(DeltapropTypeError, match=r"needs a file opened in text mode"):
        load_csv(io.BytesIO(b"a,b\n1,2\n"))
    with pytest.raises(DeltapropTypeError, match=r"takes a path or a text file object\. Got int 5"):
        load_csv(5)
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(ValidationError, match=r"'encoding' argument names no known text encoding: 'klingon'"):
        load_csv(f, encoding="klingon")
    with open(f, "rb") as fobj:
        with pytest.raises(DeltapropTypeError, match=r"text mode"):
            load_csv(fobj)
    with open(f, newline="") as fobj:
        assert load_csv(fobj).X.tolist() == [[1.0]]


def test_csv_undecodable_bytes_name_the_line(tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes(b"a,b\n1,2\n" + b"3,4\n" * 5000 + b"5,\xe9\n")
    with pytest.raises(DataError, match=rf"'{re.escape(str(f))}': line 5003 \(byte 20010\) is not valid utf-8 text: "
                                        r"invalid continuation byte"):
        load_csv(f)
    with pytest.raises(DataError, match=r"line 5003, column 2 \('b'\): 'é' is not a number"):  # read as latin-1
        load_csv(f, encoding="latin-1", target=None)
    f.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"latin\.csv' cannot be decoded: UTF-16 stream does not start with BOM"):
        load_csv(f, encoding="utf-16")
    f.write_text("a,b\n1,2\n", encoding="utf-16")
    assert load_csv(f, encoding="utf-16").X.tolist() == [[1.0]]


def test_csv_huge_claims_cost_nothing(tmp_path):
    # CSV has no header counting items; what a line can claim is its width. A header of
    # 100,000 columns over a short row is one ragged-row error, found without allocating
    # for the claim; a single 200 kB field is the csv module's field limit, an error.
    text = ",".join(f"c{j}" for j in range(100_000)) + "\n1,2\n"
    with pytest.raises(DataError, match=r"line 2: 2 fields, expected 100000 as in the header"):
        csv_text(text)
    with pytest.raises(DataError, match=r"field larger than field limit"):
        csv_text("a\n" + "1" * 10**6)


def test_csv_line_numbers_count_blank_lines_and_quoted_breaks():
    text = 'a,b,c\n\n1,2,"x\ny"\n\n\n3,oops,z\n'
    with pytest.raises(DataError, match=r"line 7, column 2 \('b'\): 'oops'"):
        csv_text(text)


@st.composite
def csv_like(draw):
    """Text near CSV: numbers, words, quotes, delimiters, blank lines, odd characters."""
    token = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(repr),
                      st.sampled_from(["", " ", "nan", "inf", "cat", "dog", '"', '""', '"a,b"', "\ufeff", "1e999",
                                       "\x00", "1_0", "-", "é"]),
                      st.text(max_size=5))
    rows = draw(st.lists(st.lists(token, min_size=1, max_size=4), max_size=6))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return end.join(sep.join(r) for r in rows) + draw(st.sampled_from(["", end]))


def check_csv_result(data: CsvData):
    assert data.X.ndim == 2 and data.X.dtype in (np.float64, np.float32) and np.all(np.isfinite(data.X))
    assert len(data.feature_names) == data.X.shape[1] >= 1
    if data.y is not None:
        assert data.y.shape == (len(data.X),)
        if data.class_names is not None:
            assert list(data.class_names) == sorted(set(data.class_names))
            assert data.y.min() >= 0 and data.y.max() < len(data.class_names)


@settings(max_examples=400, deadline=None)
@given(text=csv_like() | st.text(max_size=80),
       target=st.sampled_from([-1, 0, 1, -3, None, "a", "cat"]), header=st.sampled_from(["auto", True, False]),
       delimiter=st.sampled_from([",", ";", "\t"]), dtype=st.sampled_from(["float64", "float32"]))
def test_fuzz_load_csv_text_returns_valid_arrays_or_raises_a_library_error(text, target, header, delimiter, dtype):
    try:
        data = csv_text(text, target=target, header=header, delimiter=delimiter, dtype=dtype)
    except DeltapropError:
        return
    check_csv_result(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=120) | csv_like().map(lambda t: t.encode("utf-8", "surrogatepass")),
       encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_fuzz_load_csv_bytes_from_a_file(tmp_path, data, encoding):
    f = tmp_path / "fuzz.csv"
    f.write_bytes(data)
    try:
        out = load_csv(f, encoding=encoding)
    except DeltapropError:
        return
    check_csv_result(out)


# ---------------------------------------------------------------------------------------
# save_csv


def test_save_csv_predictions_with_names_and_classes(tmp_path):
    out = save_csv(tmp_path / "pred.csv", {"label": np.array(["cat", "dog, big"]), "p": np.array([0.1, 2 / 3]),
                                           "n": np.array([3, -4]), "ok": np.array([True, False])})
    assert out == tmp_path / "pred.csv"
    assert out.read_text() == 'label,p,n,ok\ncat,0.1,3,1\n"dog, big",0.6666666666666666,-4,0\n'
    back = load_csv(out, target="label")
    assert back.class_names == ("cat", "dog, big") and back.X.tolist() == [[0.1, 3, 1], [2 / 3, -4, 0]]
    stream = io.StringIO()
    assert save_csv(stream, {"p": np.array([0.5], dtype=np.float32)}) is stream  # e.g. sys.stdout
    assert stream.getvalue() == "p\n0.5\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(X=hnp.arrays(st.sampled_from([np.float64, np.float32]), hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                    elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
def test_property_save_then_load_is_exact(tmp_path, X):
    f = save_csv(tmp_path / "x.csv", X)
    if X.shape[0] == 0:
        with pytest.raises(DataError, match="is empty"):
            load_csv(f)
        return
    back = load_csv(f, target=None, header=False, dtype=X.dtype.name)
    assert back.X.dtype == X.dtype
    assert back.X.tobytes() == X.tobytes()  # bit for bit, -0.0 included
    names = [f"f{j}" for j in range(X.shape[1])]
    back = load_csv(save_csv(tmp_path / "h.csv", X, header=names), target=None, header=True, dtype=X.dtype.name)
    assert back.feature_names == tuple(names)
    np.testing.assert_array_equal(back.X, X)


def test_save_csv_is_atomic(tmp_path, monkeypatch):
    f = tmp_path / "keep.csv"
    f.write_text("old\n")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(datasets.os, "replace", crash)
    with pytest.raises(DataError, match=r"Cannot write '.*keep\.csv': No space left on device"):
        save_csv(f, np.zeros((3, 2)))
    assert f.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]  # no temporary file left
    monkeypatch.undo()
    save_csv(f, [1.5, 2.5])
    assert f.read_text() == "1.5\n2.5\n"


@pytest.mark.parametrize("call, error, match", [
    (lambda p: save_csv(p, {"a": [1, 2], "b": [1]}), ShapeError, r"the columns differ in length \(\[1, 2\]\)"),
    (lambda p: save_csv(p, np.zeros((2, 2, 2))), ShapeError, r"writes a 1-D or 2-D array\. Got shape \(2, 2, 2\)"),
    (lambda p: save_csv(p, np.zeros((2, 2)), header=["a"]), ShapeError, r"header has 1 names for 2 columns"),
    (lambda p: save_csv(p, {"a": [1]}, header=["a"]), ValidationError, r"takes column names from the mapping's keys"),
    (lambda p: save_csv(p, {"a": [[1, 2]]}), ShapeError, r"column 'a' must be 1-D\. Got shape \(1, 2\)"),
    (lambda p: save_csv(p, {"a": [None, 1]}), DeltapropTypeError, r"column 'a' must hold numbers or text\. Got dtype object"),
    (lambda p: save_csv(p, [1j]), DeltapropTypeError, r"column 0 must hold numbers or text\. Got dtype complex128"),
    (lambda p: save_csv(p, [1], delimiter="ab"), ValidationError, r"'delimiter' argument must be one character"),
    (lambda p: save_csv(3, [1]), DeltapropTypeError, r"'path' argument must be a file path or a text file object\. "
                                                      r"Got int 3"),
    (lambda p: save_csv(p.parent / "no-such-dir" / "x.csv", [1]), DataError,
     r"Cannot write '.*x\.csv': the directory '.*no-such-dir' does not exist"),
])
def test_save_csv_errors(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(tmp_path / "out.csv")
