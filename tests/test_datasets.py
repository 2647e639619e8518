"""deltaprop.datasets: IDX reading, the MNIST loader's checks, search order and download.

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

from deltaprop import datasets
from deltaprop.datasets import mnist, read_idx
from deltaprop.errors import DataError, DeltapropTypeError, ValidationError

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
    with pytest.raises(DataError, match=r"Cannot read IDX file .*nowhere\.idx.*No such file"):
        read_idx(tmp_path / "nowhere.idx")
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
