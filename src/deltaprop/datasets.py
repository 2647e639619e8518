"""Floor 3: the MNIST digits, read from IDX files and checked by SHA-256.

:func:`read_idx` reads one IDX file (the format MNIST is distributed in), gzipped or
not. :func:`mnist` finds the four MNIST files, checks each against its published
SHA-256 and returns them as arrays ready for :class:`~deltaprop.Network`::

    (X, y), (X_test, y_test) = mnist()   # X: (60000, 784) float64 in [0, 1]; y: (60000,) int64

Where :func:`mnist` looks, in order (the first place holding four good files wins):

1. ``path``, if given, and nowhere else (a wrong ``path`` is an error at once);
2. ``$DELTAPROP_DATA/mnist/``, then ``$DELTAPROP_DATA/`` itself;
3. ``data/mnist/`` of the source checkout deltaprop runs from, if it runs from one;
4. the user cache, ``$XDG_CACHE_HOME/deltaprop/mnist/`` (else ``~/.cache/deltaprop/mnist/``);
5. if ``download=True``: a download into that cache with pooch
   (``pip install "deltaprop[download]"``), trying each mirror in turn.

Every copy, wherever it comes from, must match the SHA-256 of the *decompressed*
files, so a copy may be gzipped or not and recompressed at will; only the download
checks the ``.gz`` itself (against the hash of what the mirrors serve).

The data sets are rows of :data:`DATASETS`; a loader for another IDX data set of the
same layout (Fashion-MNIST, say) is one more row and a three-line function.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._array import as_dtype
from .errors import DataError, DeltapropTypeError

__all__ = ["read_idx", "mnist", "DATASETS", "IdxFile", "IdxDataset"]

# ---------------------------------------------------------------------------------------
# The IDX format: a 4-byte magic number (0, 0, data-type code, number of dimensions),
# one big-endian uint32 per dimension, then the items in C order, big-endian.

#: IDX data-type code -> (NumPy dtype as stored, readable name).
IDX_TYPES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype("u1"), "unsigned byte"),
    0x09: (np.dtype("i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short (int16)"),
    0x0C: (np.dtype(">i4"), "int (int32)"),
    0x0D: (np.dtype(">f4"), "float (float32)"),
    0x0E: (np.dtype(">f8"), "double (float64)"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(source) -> np.ndarray:
    """Read one IDX file into an array of the shape and type its header declares.

    Args:
        source: a path (``str`` or ``os.PathLike``) or a binary file object (opened
            with ``"rb"``, or ``io.BytesIO``). Gzip compression is detected from the
            content (its magic bytes ``1f 8b``), not from the file name.

    Returns:
        A new, writable array with the header's shape (1 to 255 dimensions) and dtype
        ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64`` (data-type
        codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E), in native byte order.

    Raises:
        DataError: the file is missing or unreadable, is not IDX (bad magic number,
            unknown data-type code, no dimensions), is a broken gzip stream, or holds
            fewer or more bytes than its header's dimensions say.
        DeltapropTypeError: ``source`` is neither a path nor a binary file object.

    >>> import io, struct
    >>> raw = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 2, 3) + struct.pack(">6h", *range(-3, 3))
    >>> read_idx(io.BytesIO(raw))
    array([[-3, -2, -1],
           [ 0,  1,  2]], dtype=int16)
    """
    data, where = _read_source(source)
    return _parse_idx(_gunzip(data, where), where, copy=True)


def _read_source(source) -> tuple[bytes, str]:
    """The raw bytes of ``source`` and a name for it to put in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        # Bytes could be a path or the content itself; refuse to guess.
        raise DeltapropTypeError(
            "read_idx takes a path or a binary file object. Got "
            f"{type(source).__name__} instead; wrap bytes held in memory in io.BytesIO(...)."
        )
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        try:
            with open(source, "rb") as f:
                return f.read(), repr(where)
        except OSError as e:
            raise DataError(f"Cannot read IDX file {where!r}: {e.strerror or e}.") from e
    read = getattr(source, "read", None)
    if not callable(read):
        raise DeltapropTypeError(
            "read_idx takes a path or a binary file object. "
            f"Got {type(source).__name__} {source!r} instead."
        )
    name = getattr(source, "name", None)
    where = repr(name) if isinstance(name, (str, os.PathLike)) else f"<{type(source).__name__}>"
    try:
        data = read()
    except OSError as e:
        raise DataError(f"Cannot read IDX file {where}: {e}.") from e
    if not isinstance(data, (bytes, bytearray)):
        raise DeltapropTypeError(
            f"read_idx needs a file opened in binary mode ('rb'); reading {where} gave "
            f"{type(data).__name__}, not bytes."
        )
    return bytes(data), where


def _gunzip(data: bytes, where: str) -> bytes:
    """``data`` decompressed if it is gzip (by its magic bytes), else unchanged."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"IDX file {where} starts like gzip but does not decompress: {e}.") from e


def _parse_idx(buf: bytes, where: str, *, copy: bool) -> np.ndarray:
    """Decode decompressed IDX bytes; ``copy=False`` may return a read-only view of ``buf``."""
    if len(buf) < 4:
        raise DataError(
            f"IDX file {where} is {len(buf)} bytes long; an IDX file starts with a 4-byte "
            "magic number. The file is empty or truncated."
        )
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 != 0 or zero1 != 0:
        raise DataError(
            f"IDX file {where} does not start with the IDX magic number: expected two zero "
            f"bytes, got {buf[:4].hex(' ')}. It is not an IDX file (or is compressed other than gzip)."
        )
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({name})" for c, (_, name) in IDX_TYPES.items())
        raise DataError(
            f"IDX file {where} has data-type code 0x{code:02X} in its magic number; "
            f"expected one of {known}."
        )
    if ndim == 0:
        raise DataError(f"IDX file {where} declares 0 dimensions; an IDX array has at least one.")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(
            f"IDX file {where} declares {ndim} dimensions, so its header is {header} bytes, "
            f"but the file is only {len(buf)} bytes long. The file is truncated."
        )
    shape = tuple(int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    stored, type_name = IDX_TYPES[code]
    # Python ints, so that a corrupt header cannot overflow; and checked against the
    # bytes actually present *before* NumPy allocates anything: a header claiming
    # 2**32 items is a clear error here, not a MemoryError (or a 32 GB allocation).
    count = 1
    for n in shape:
        count *= n
    expected = count * stored.itemsize
    present = len(buf) - header
    if present != expected:
        what = "truncated" if present < expected else f"followed by {present - expected} trailing bytes"
        raise DataError(
            f"IDX file {where}: its header declares shape {shape} of {type_name} "
            f"({count} items, {expected} bytes), but {present} bytes follow the {header}-byte "
            f"header. The file is {what}, or its header is corrupt."
        )
    # An empty array may still have a shape NumPy refuses, e.g. (0, 2**31, 2**31, 2**31):
    # NumPy bounds the product of the non-zero dimensions too.
    span = stored.itemsize
    for n in shape:
        span *= max(n, 1)
    if span > np.iinfo(np.intp).max:
        raise DataError(
            f"IDX file {where}: its header declares shape {shape}, which is too large for an "
            "array on this machine even though it holds no items. The header is corrupt."
        )
    arr = np.frombuffer(buf, dtype=stored, count=count, offset=header).reshape(shape)
    if not stored.isnative:
        return arr.astype(stored.newbyteorder("="))  # a new native-order array
    return arr.copy() if copy else arr


# ---------------------------------------------------------------------------------------
# The data sets: one table row each.


@dataclass(frozen=True)
class IdxFile:
    """One file of an IDX data set.

    Attributes:
        name: the file name without ``.gz`` (a folder may hold it as ``name`` or ``name.gz``).
        sha256: SHA-256 of the decompressed file: what every copy is checked against.
        gz_sha256: SHA-256 of ``name.gz`` as the mirrors serve it (pooch checks the
            download with it). Recompressed copies differ here, not in ``sha256``.
    """

    name: str
    sha256: str
    gz_sha256: str


@dataclass(frozen=True)
class IdxDataset:
    """An image-classification data set of four IDX files.

    Attributes:
        name: short name; also the folder searched under ``$DELTAPROP_DATA``, the
            repository's ``data/`` and the cache.
        title: the name in messages.
        files: train images, train labels, test images, test labels (in that order).
            Images are ``(n, rows, cols)`` unsigned bytes, labels ``(n,)`` unsigned bytes.
        mirrors: base URLs, tried in order; each file is ``mirror + name + ".gz"``.
    """

    name: str
    title: str
    files: tuple[IdxFile, IdxFile, IdxFile, IdxFile]
    mirrors: tuple[str, ...]


#: The data sets :func:`mnist` (and its future siblings) load, by name.
DATASETS: dict[str, IdxDataset] = {
    # The decompressed hashes are those of data/mnist/SHA256SUMS. The .gz hashes are
    # those of the files as LeCun's site and the mirrors below serve them; the copies
    # shipped in data/mnist/ are recompressed (smaller, other bytes), so their .gz
    # hashes differ, and only the decompressed ones are checked for local copies.
    "mnist": IdxDataset(
        name="mnist",
        title="MNIST",
        files=(
            IdxFile("train-images-idx3-ubyte",
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            IdxFile("train-labels-idx1-ubyte",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            IdxFile("t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            IdxFile("t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
}

#: Name of the environment variable naming a folder of data sets (or of one data set).
DATA_ENV = "DELTAPROP_DATA"


def _find_repo_data_root() -> Path | None:
    """``<checkout>/data`` when this module is ``<checkout>/src/deltaprop/datasets.py``."""
    here = Path(__file__).resolve()
    root = here.parents[2]
    # An installed copy lives in site-packages, whose grandparent is no project; the
    # src/ folder and pyproject.toml say this is the checkout the data ships in.
    if here.parent.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root / "data"
    return None


#: The source checkout's ``data/`` folder, or None when not running from a checkout.
#: Module-level so that tests can switch the repository lookup off (set it to None).
_REPO_DATA_ROOT: Path | None = _find_repo_data_root()


def _cache_root() -> Path:
    """``$XDG_CACHE_HOME/deltaprop``, else ``~/.cache/deltaprop``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "deltaprop"
    return Path.home() / ".cache" / "deltaprop"


# ---------------------------------------------------------------------------------------
# Loading.


def mnist(path=None, *, dtype="float64", download: bool = True,
          mirrors: Sequence[str] | None = None):
    """The MNIST digits: 60,000 training and 10,000 test images of 28x28 pixels.

    Args:
        path: a folder holding the four MNIST files (``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
            ``t10k-labels-idx1-ubyte``, each gzipped as ``<name>.gz`` or not). If
            given, only this folder is used. If None, these are searched in order:
            ``$DELTAPROP_DATA/mnist/`` and ``$DELTAPROP_DATA/``; the source checkout's
            ``data/mnist/``; the user cache (``$XDG_CACHE_HOME/deltaprop/mnist/``, else
            ``~/.cache/deltaprop/mnist/``); then, if ``download``, a download into it.
        dtype: ``"float64"`` (default) or ``"float32"``, the dtype of the images.
        download: when no local copy is found, download the files into the user cache
            (needs pooch: ``pip install "deltaprop[download]"``).
        mirrors: base URLs to download from, tried in order for each file; by default
            ``DATASETS["mnist"].mirrors``.

    Returns:
        ``(X_train, y_train), (X_test, y_test)``: ``X_train`` is ``(60000, 784)`` and
        ``X_test`` ``(10000, 784)``, of ``dtype``, one image per row (row-major pixels)
        scaled to [0, 1] as pixel/255; ``y_train`` ``(60000,)`` and ``y_test``
        ``(10000,)`` are int64 digits 0-9.

    Raises:
        DataError: ``path`` is wrong or its files are missing or corrupt; or no place
            searched holds good files (the message lists each place and why it failed).
            A file that does not match its SHA-256 is named with both hashes.
        ValidationError: ``dtype`` is not float64 or float32.
        DeltapropTypeError: an argument of the wrong type.
    """
    return _load(DATASETS["mnist"], path, dtype=dtype, download=download, mirrors=mirrors)


def _load(ds: IdxDataset, path, *, dtype, download, mirrors):
    """Find, check and decode ``ds``; see :func:`mnist`."""
    dt = as_dtype(dtype)
    if not isinstance(download, bool):
        raise DeltapropTypeError(
            f"The 'download' argument must be True or False. Got {type(download).__name__} {download!r} instead."
        )
    mirrors = ds.mirrors if mirrors is None else _check_mirrors(mirrors)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise DeltapropTypeError(
                f"The 'path' argument must be a folder path (str or os.PathLike) or None. "
                f"Got {type(path).__name__} {path!r} instead."
            )
        folder = Path(path).expanduser()
        try:
            raw = _raw_from_folder(ds, folder)
        except DataError as e:
            hint = ""
            if (folder / ds.name).is_dir():
                hint = f" (Did you mean {str(folder / ds.name)!r}?)"
            # An explicit path is what the user asked for: no silent fallback elsewhere.
            raise DataError(f"Cannot load {ds.title} from path={os.fspath(path)!r}: {e}{hint}") from None
        return _decode(ds, raw, dt)

    tried: list[str] = []  # "place: why it failed", in the order looked

    env = os.environ.get(DATA_ENV, "")
    if env:
        # The data set's own subfolder first: a folder with several data sets keeps
        # each in <name>/ (their file names clash), and a missing subfolder is cheap
        # to rule out, whereas a folder of another data set's files costs a hash check.
        for folder in (Path(env).expanduser() / ds.name, Path(env).expanduser()):
            place = f"${DATA_ENV} folder {str(folder)!r}"
            raw = _try(ds, folder, place, tried)
            if raw is not None:
                return _decode(ds, raw, dt)
    else:
        tried.append(f"${DATA_ENV}: not set")

    if _REPO_DATA_ROOT is not None:
        folder = _REPO_DATA_ROOT / ds.name
        raw = _try(ds, folder, f"repository folder {str(folder)!r}", tried)
        if raw is not None:
            return _decode(ds, raw, dt)
    else:
        tried.append("repository data folder: skipped, deltaprop is not running from a source checkout")

    try:
        cache = _cache_root() / ds.name
    except RuntimeError as e:  # Path.home() without a home folder
        tried.append(f"user cache folder: cannot be determined ({e})")
        cache = None
    if cache is not None:
        raw = _try(ds, cache, f"user cache folder {str(cache)!r}", tried)
        if raw is not None:
            return _decode(ds, raw, dt)

    if not download:
        tried.append("download: skipped (download=False)")
    elif cache is None:
        tried.append("download: skipped, no cache folder to download into")
    else:
        raw = _download(ds, cache, mirrors, tried)
        if raw is not None:
            return _decode(ds, raw, dt)

    places = "\n".join(f"  {i}. {why}" for i, why in enumerate(tried, 1))
    raise DataError(
        f"Cannot find the {ds.title} data set. Looked in these places, in this order:\n{places}\n"
        f"Pass path= a folder holding {', '.join(f.name for f in ds.files)} (gzipped or not), "
        f"or set ${DATA_ENV} to such a folder{'' if download else ', or allow download=True'}."
    )


def _check_mirrors(mirrors) -> tuple[str, ...]:
    """``mirrors`` as a tuple of base URLs, each ending in '/'."""
    if isinstance(mirrors, str):
        mirrors = (mirrors,)  # one URL, not a sequence of one-letter URLs
    if not isinstance(mirrors, Sequence) or not all(isinstance(m, str) and m for m in mirrors):
        raise DeltapropTypeError(
            "The 'mirrors' argument must be a list of base URLs such as "
            f"['https://example.org/mnist/']. Got {mirrors!r} instead."
        )
    return tuple(m if m.endswith("/") else m + "/" for m in mirrors)


def _try(ds: IdxDataset, folder: Path, place: str, tried: list[str]) -> list[bytes] | None:
    """The checked files of ``ds`` in ``folder``, or None after noting why in ``tried``."""
    try:
        return _raw_from_folder(ds, folder)
    except DataError as e:
        tried.append(f"{place}: {e}")
        return None


def _raw_from_folder(ds: IdxDataset, folder: Path) -> list[bytes]:
    """The decompressed, hash-checked bytes of the four files of ``ds`` in ``folder``."""
    if not folder.exists():
        raise DataError("no such folder")
    if not folder.is_dir():
        raise DataError("not a folder")
    candidates = []
    for f in ds.files:
        # Raw first: it skips the decompression when both are there.
        found = [p for p in (folder / f.name, folder / (f.name + ".gz")) if p.is_file()]
        candidates.append(found)
    missing = [f.name for f, found in zip(ds.files, candidates) if not found]
    if missing:  # checked for all files before reading any: cheap, and says it all at once
        raise DataError(f"missing {', '.join(m + '[.gz]' for m in missing)}")
    return [_checked_bytes(f, found) for f, found in zip(ds.files, candidates)]


def _checked_bytes(f: IdxFile, paths: list[Path]) -> bytes:
    """The decompressed bytes of the first of ``paths`` whose SHA-256 is ``f.sha256``."""
    problems = []
    for p in paths:
        try:
            data = _gunzip(p.read_bytes(), repr(str(p)))
        except OSError as e:
            problems.append(f"cannot read {str(p)!r}: {e.strerror or e}")
            continue
        except DataError as e:
            problems.append(str(e))
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual == f.sha256:
            return data
        problems.append(
            f"{str(p)!r} is corrupt or not the expected file: the SHA-256 of its decompressed "
            f"content is {actual}, expected {f.sha256}"
        )
    raise DataError("; ".join(problems))


def _download(ds: IdxDataset, cache: Path, mirrors: tuple[str, ...], tried: list[str]) -> list[bytes] | None:
    """Download the ``.gz`` files of ``ds`` into ``cache`` with pooch, trying each mirror."""
    place = f"download into {str(cache)!r}"
    try:
        import pooch  # optional: only this function needs it
    except ImportError:
        tried.append(f'{place}: pooch is not installed (pip install "deltaprop[download]")')
        return None
    if not mirrors:
        tried.append(f"{place}: no mirrors given")
        return None
    raw = []
    for f in ds.files:
        failures = []
        for mirror in mirrors:
            url = mirror + f.name + ".gz"
            try:
                # pooch downloads to a temporary file, checks the .gz hash, and only then
                # moves it into the cache (a good cached copy is not downloaded again).
                local = pooch.retrieve(url, known_hash=f"sha256:{f.gz_sha256}", fname=f.name + ".gz",
                                       path=cache, progressbar=False)
            except Exception as e:  # noqa: BLE001 - any failure (network, HTTP, hash, disk) means: next mirror
                failures.append(f"{url}: {type(e).__name__}: {e}")
                continue
            try:
                raw.append(_checked_bytes(f, [Path(local)]))
            except DataError as e:
                failures.append(f"{url}: {e}")
                continue
            break
        else:
            tried.append(f"{place}: no mirror gave a good {f.name}.gz:\n     - " + "\n     - ".join(failures))
            return None
    return raw


def _decode(ds: IdxDataset, raw: list[bytes], dt: np.dtype):
    """Checked IDX bytes -> ``(X_train, y_train), (X_test, y_test)``."""
    names = [f.name for f in ds.files]
    # The hashes already vouch for the content; these checks guard the table itself
    # (a future row with the files in the wrong order, say) with a clear message.
    arrays = [_parse_idx(b, repr(n), copy=False) for b, n in zip(raw, names)]
    out = []
    for (images, labels), (iname, lname) in zip((arrays[0:2], arrays[2:4]), (names[0:2], names[2:4])):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{ds.title}: expected {iname} of shape (n, rows, cols) and {lname} of shape (n,); "
                f"got {images.shape} and {labels.shape}."
            )
        # One pass from bytes to floats: the uint8 -> float conversion happens inside the
        # division (no float temporary), and p/255 is correctly rounded in either dtype.
        X = np.divide(images.reshape(images.shape[0], -1), dt.type(255), dtype=dt)
        out.append((X, labels.astype(np.int64)))
    return tuple(out)
