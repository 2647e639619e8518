"""Data from files: MNIST and Fashion-MNIST from IDX files, tables from CSV.

:func:`read_idx` reads one IDX file (the format MNIST is distributed in), gzipped or
not. :func:`mnist` and :func:`fashion_mnist` find the four files of their data set,
check them and return arrays ready for :class:`~deltaprop.Network`::

    (X, y), (X_test, y_test) = mnist()   # X: (60000, 784) float64 in [0, 1]; y: (60000,) int64

Where they look, in order (the first place holding four good files wins):

1. ``path``, if given, and nowhere else (a wrong ``path`` is an error at once);
2. ``$DELTAPROP_DATA/<name>/``, then ``$DELTAPROP_DATA/`` itself;
3. ``data/<name>/`` of the source checkout deltaprop runs from, if it runs from one;
4. the user cache, ``$XDG_CACHE_HOME/deltaprop/<name>/`` (else ``~/.cache/deltaprop/<name>/``);
5. if ``download=True``: a download into that cache with pooch
   (``pip install "deltaprop[download]"``), trying each mirror in turn,

where ``<name>`` is ``mnist`` or ``fashion-mnist``. What "good" means depends on what
the publisher published. For MNIST every copy must match the SHA-256 of the
*decompressed* files, so a copy may be gzipped or not and recompressed at will. For
Fashion-MNIST only hashes of the ``.gz`` files exist, so a ``.gz`` copy is good when it
is byte for byte the published file; any other copy is checked by its structure
(see :func:`fashion_mnist`). Downloads are checked against the published ``.gz`` hashes.

The data sets are rows of :data:`DATASETS`: one more IDX data set of the same layout
is one more row and a three-line function.

:func:`load_csv` reads a table of numbers (and an optional column of class names)
from a CSV file; :func:`save_csv` writes one, e.g. a network's predictions.
"""

from __future__ import annotations

import array
import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import numbers
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ._array import as_dtype
from ._files import atomic_open, open_for_reading
from .errors import (DataError, DeltapropTypeError, InputError, MissingFileError, ShapeError, UnknownNameError,
                     ValidationError, did_you_mean)

__all__ = ["read_idx", "mnist", "fashion_mnist", "FASHION_MNIST_CLASSES", "load_csv", "save_csv", "CsvData",
           "DATASETS", "IdxFile", "IdxDataset"]

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

#: What mnist and fashion_mnist return: ``(X_train, y_train), (X_test, y_test)``.
Split: TypeAlias = "tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]"


def read_idx(source: str | os.PathLike[str] | IO[bytes]) -> np.ndarray:
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


def _read_source(source: object) -> tuple[bytes, str]:
    """The raw bytes of ``source`` and a name for it to put in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        # Bytes could be a path or the content itself; refuse to guess.
        raise DeltapropTypeError(
            "read_idx takes a path or a binary file object. Got "
            f"{type(source).__name__} instead; wrap bytes held in memory in io.BytesIO(...)."
        )
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        with open_for_reading(source, what="IDX file") as f:
            try:
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
        sha256: SHA-256 of the decompressed file, which every copy must match; None
            when no such hash is published (then a copy must be the published ``.gz``,
            or pass the structural checks of :class:`IdxDataset`).
        gz_sha256: SHA-256 of ``name.gz`` as the mirrors serve it (pooch checks the
            download with it). Recompressed copies differ here, not in ``sha256``.
        gz_md5: MD5 of ``name.gz``, where that is the hash its publisher lists; a
            ``.gz`` copy is the published file only if it matches this as well.
    """

    name: str
    sha256: str | None
    gz_sha256: str
    gz_md5: str | None = None


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
        class_names: the name of each label 0..k-1.
        train_counts, test_counts: the published number of images of each class in
            the training and test set; with ``image_shape``, the structure every copy
            is checked against (it is what vouches for a copy no hash can check).
        image_shape: ``(rows, cols)`` of every image.
    """

    name: str
    title: str
    files: tuple[IdxFile, IdxFile, IdxFile, IdxFile]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    image_shape: tuple[int, int] = (28, 28)


#: The data sets :func:`mnist` and :func:`fashion_mnist` load, by name.
DATASETS: dict[str, IdxDataset] = {
    # The decompressed hashes are those of data/mnist/SHA256SUMS. The .gz hashes are
    # those of the files as LeCun's site and the mirrors below serve them; the copies
    # shipped in data/mnist/ are recompressed (smaller, other bytes), so their .gz
    # hashes differ, and only the decompressed ones are checked for local copies.
    # The class counts are those of data/mnist/README.md (measured on those files).
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
        class_names=tuple("0123456789"),
        train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    ),
    # Fashion-MNIST (Xiao, Rasul & Vollgraf 2017). Its publisher lists only the MD5 of
    # each .gz: README.md of github.com/zalandoresearch/fashion-mnist, "Get the Data"
    # (read at commit 02cf0676df9403f820db28474248ba7d7d1060bb). The SHA-256 of the
    # same .gz files is the one torchvision pins (pytorch/vision,
    # torchvision/prototype/datasets/_builtin/mnist.py at 1ec2509e8715d5373b194b688ee0cc75262baec9,
    # whose MNIST hashes are exactly the ones above), and independent projects list the
    # same SHA-256 beside the same MD5. Nobody publishes a hash of the decompressed
    # files, and this machine has no copy to compute one from: sha256 is None.
    # The class names are the README's "Labels" table; the training set holds 6,000
    # images of each class and the test set 1,000 (as Keras' and torchvision's copies,
    # which are these files, show). Mirrors: the publisher's S3 site (its README's
    # download links, HTTP only), the repository itself, and Keras' copy.
    "fashion-mnist": IdxDataset(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files=(
            IdxFile("train-images-idx3-ubyte", None,
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            IdxFile("train-labels-idx1-ubyte", None,
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    "25c81989df183df01b3e8a0aad5dffbe"),
            IdxFile("t10k-images-idx3-ubyte", None,
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                    "bef4ecab320f06d8554ea6380940ec79"),
            IdxFile("t10k-labels-idx1-ubyte", None,
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                    "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        train_counts=(6000,) * 10,
        test_counts=(1000,) * 10,
    ),
}

#: The names of the Fashion-MNIST classes, by label: ``FASHION_MNIST_CLASSES[9] == "Ankle boot"``.
FASHION_MNIST_CLASSES: tuple[str, ...] = DATASETS["fashion-mnist"].class_names

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


def mnist(path: str | os.PathLike[str] | None = None, *, dtype: npt.DTypeLike = "float64", download: bool = True,
          mirrors: Sequence[str] | None = None) -> Split:
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


def fashion_mnist(path: str | os.PathLike[str] | None = None, *, dtype: npt.DTypeLike = "float64",
                  download: bool = True, mirrors: Sequence[str] | None = None) -> Split:
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28x28.

    A drop-in for :func:`mnist` (same files, shapes and search order, in a folder of
    its own): label k is the class :data:`FASHION_MNIST_CLASSES` ``[k]``
    (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot).

    What is checked. The publisher lists an MD5 for each of its four ``.gz`` files,
    and the SHA-256 of the same files is well attested (the sources are cited in
    :data:`DATASETS`); no hash of the decompressed files is published. Hence:

    - a downloaded file must match the SHA-256 (pooch checks it before the file
      enters the cache) and then the MD5;
    - a local ``.gz`` that matches both is the published file and is used as it is
      (the ``.gz`` is looked at before the decompressed file beside it);
    - any other copy (decompressed, or recompressed) cannot be checked by a hash.
      It is checked by its structure: a sound gzip stream (gzip's own CRC-32), IDX
      headers of unsigned bytes with shapes (60000, 28, 28), (60000,), (10000, 28, 28)
      and (10000,), labels 0-9, and exactly 6,000 images of each class in the
      training set and 1,000 in the test set. That catches a truncated or swapped
      file, or MNIST in its place (whose classes are unequal), but not an altered
      pixel; keep the ``.gz`` files if that matters.

    Args:
        path: a folder holding the four files (``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
            ``t10k-labels-idx1-ubyte``, each as ``<name>.gz`` or not). If given, only
            this folder is used. If None: ``$DELTAPROP_DATA/fashion-mnist/`` and
            ``$DELTAPROP_DATA/``; the source checkout's ``data/fashion-mnist/``; the user
            cache (``$XDG_CACHE_HOME/deltaprop/fashion-mnist/``, else
            ``~/.cache/deltaprop/fashion-mnist/``); then, if ``download``, a download into it.
        dtype: ``"float64"`` (default) or ``"float32"``, the dtype of the images.
        download: when no local copy is found, download the files into the user cache
            (needs pooch: ``pip install "deltaprop[download]"``).
        mirrors: base URLs to download from, tried in order for each file; by default
            ``DATASETS["fashion-mnist"].mirrors``: the publisher's site, its GitHub
            repository, and Keras' copy.

    Returns:
        ``(X_train, y_train), (X_test, y_test)`` as :func:`mnist` returns them: images
        ``(n, 784)`` of ``dtype`` scaled to [0, 1] as pixel/255, labels ``(n,)`` int64.

    Raises:
        DataError: ``path`` is wrong or its files are missing, corrupt or of the wrong
            structure; or no place searched holds good files (the message lists each
            place and why it failed).
        ValidationError: ``dtype`` is not float64 or float32.
        DeltapropTypeError: an argument of the wrong type.
    """
    return _load(DATASETS["fashion-mnist"], path, dtype=dtype, download=download, mirrors=mirrors)


def _load(ds: IdxDataset, path: str | os.PathLike[str] | None, *, dtype: npt.DTypeLike, download: bool,
          mirrors: Sequence[str] | None) -> Split:
    """Find, check and decode ``ds``; see :func:`mnist` and :func:`fashion_mnist`."""
    dt = as_dtype(dtype)
    raw: list[bytes] | None
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
            message = f"Cannot load {ds.title} from path={os.fspath(path)!r}: {e}{hint}"
            if isinstance(e, MissingFileError):
                raise MissingFileError(message, e.filename) from None
            raise DataError(message) from None
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
    raise MissingFileError(
        f"Cannot find the {ds.title} data set. Looked in these places, in this order:\n{places}\n"
        f"Pass path= a folder holding {', '.join(f.name for f in ds.files)} (gzipped or not), "
        f"or set ${DATA_ENV} to such a folder{'' if download else ', or allow download=True'}."
    )


def _check_mirrors(mirrors: object) -> tuple[str, ...]:
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
    """The decompressed, checked bytes of the four files of ``ds`` in ``folder``."""
    if not folder.exists():
        raise MissingFileError("no such folder", folder)
    if not folder.is_dir():
        raise DataError("not a folder")
    candidates = []
    for f in ds.files:
        names = (f.name, f.name + ".gz")
        if f.sha256 is None:
            # Only the published .gz can be checked by a hash: look at it first.
            names = names[::-1]
        # Otherwise raw first: it skips the decompression when both are there.
        found = [p for p in (folder / name for name in names) if p.is_file()]
        candidates.append(found)
    missing = [f.name for f, found in zip(ds.files, candidates) if not found]
    if missing:  # checked for all files before reading any: cheap, and says it all at once
        raise MissingFileError(f"missing {', '.join(m + '[.gz]' for m in missing)}", folder / missing[0])
    raw = [_checked_bytes(f, found) for f, found in zip(ds.files, candidates)]
    _check_structure(ds, raw)
    return raw


def _is_published_gz(f: IdxFile, data: bytes) -> bool:
    """Whether ``data`` is byte for byte the ``.gz`` file the publisher serves."""
    if hashlib.sha256(data).hexdigest() != f.gz_sha256:
        return False
    # The MD5 is the publisher's own word where it lists one; the SHA-256 the
    # stronger hash. A file must match both.
    return f.gz_md5 is None or hashlib.md5(data, usedforsecurity=False).hexdigest() == f.gz_md5


def _checked_bytes(f: IdxFile, paths: list[Path]) -> bytes:
    """The decompressed bytes of the first good one of ``paths``.

    Good: its decompressed SHA-256 is ``f.sha256``; or, where that is unknown, it is
    the published ``.gz`` or at least decompresses (then :func:`_check_structure`
    has the last word).
    """
    problems = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError as e:
            problems.append(f"cannot read {str(p)!r}: {e.strerror or e}")
            continue
        if f.sha256 is None and _is_published_gz(f, data):
            return gzip.decompress(data)
        try:
            data = _gunzip(data, repr(str(p)))
        except DataError as e:
            problems.append(str(e))
            continue
        if f.sha256 is None:
            return data
        actual = hashlib.sha256(data).hexdigest()
        if actual == f.sha256:
            return data
        problems.append(
            f"{str(p)!r} is corrupt or not the expected file: the SHA-256 of its decompressed "
            f"content is {actual}, expected {f.sha256}"
        )
    raise DataError("; ".join(problems))


def _check_structure(ds: IdxDataset, raw: list[bytes]) -> None:
    """Raise DataError unless the four decompressed files have the shapes and class counts of ``ds``.

    For a data set with decompressed hashes this guards the table itself (a row with
    its files in the wrong order, say); for one without, it is what vouches for a copy.
    """
    k = len(ds.class_names)
    parts = (("training", ds.train_counts, ds.files[0:2], raw[0:2]), ("test", ds.test_counts, ds.files[2:4], raw[2:4]))
    for part, counts, (ifile, lfile), (ibuf, lbuf) in parts:
        n = sum(counts)
        images = _parse_idx(ibuf, repr(ifile.name), copy=False)
        labels = _parse_idx(lbuf, repr(lfile.name), copy=False)
        for arr, f, what, shape in ((images, ifile, "images", (n, *ds.image_shape)), (labels, lfile, "labels", (n,))):
            if arr.dtype != np.uint8 or arr.shape != shape:
                raise DataError(
                    f"{f.name} is not the {ds.title} {part} {what}: expected unsigned bytes of shape {shape}, "
                    f"got {arr.dtype} of shape {arr.shape}"
                )
        found = np.bincount(labels, minlength=k)
        if len(found) > k:
            raise DataError(f"{lfile.name} holds label {int(labels.max())}; {ds.title} labels are 0..{k - 1}")
        if tuple(found.tolist()) != counts:
            raise DataError(
                f"{lfile.name} is not the {ds.title} {part} labels: it counts {found.tolist()} images per class, "
                f"{ds.title} has {list(counts)}"
            )


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
            if f.sha256 is None:
                # No content hash to fall back on: the download must be the published
                # .gz by every hash there is, or it does not stay in the cache.
                data = Path(local).read_bytes()
                if not _is_published_gz(f, data):
                    Path(local).unlink(missing_ok=True)
                    failures.append(f"{url}: the MD5 of the download is "
                                    f"{hashlib.md5(data, usedforsecurity=False).hexdigest()}, expected {f.gz_md5}")
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
    try:
        _check_structure(ds, raw)
    except DataError as e:
        tried.append(f"{place}: {e}")
        return None
    return raw


def _decode(ds: IdxDataset, raw: list[bytes], dt: np.dtype) -> Split:
    """Checked IDX bytes (see :func:`_check_structure`) -> ``(X_train, y_train), (X_test, y_test)``."""
    names = [f.name for f in ds.files]
    arrays = [_parse_idx(b, repr(n), copy=False) for b, n in zip(raw, names)]
    out = []
    for images, labels in (arrays[0:2], arrays[2:4]):
        # One pass from bytes to floats: the uint8 -> float conversion happens inside the
        # division (no float temporary), and p/255 is correctly rounded in either dtype.
        X = np.divide(images.reshape(images.shape[0], -1), dt.type(255), dtype=dt)
        out.append((X, labels.astype(np.int64)))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------
# CSV: tables of numbers, with an optional column of class names.


@dataclass(frozen=True, eq=False)
class CsvData:
    """What :func:`load_csv` read. Unpacks as ``X, y = load_csv(...)``.

    Attributes:
        X: the features, ``(n, d)`` of the requested dtype, all finite.
        y: the target column ``(n,)``, or None (``target=None``): int64 class labels
            0..k-1 when the column holds text (label i is ``class_names[i]``); int64
            when it holds whole numbers only; else the requested float dtype.
        feature_names: the name of each column of ``X``, from the header, or
            ``"x0"``, ``"x1"``, ... when the file has none.
        target_name: the target column's name (``"y"`` without a header), or None.
        class_names: the sorted distinct texts of a text target, else None.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: tuple[str, ...]
    target_name: str | None = None
    class_names: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[np.ndarray | None]:
        return iter((self.X, self.y))

    def __repr__(self) -> str:
        def names(seq: Iterable[str]) -> str:  # a wide table has hundreds of columns: show the ends
            seq = list(seq)
            shown: list[Any] = seq if len(seq) <= 8 else [*seq[:3], ..., *seq[-2:]]
            return "[" + ", ".join("..." if s is ... else repr(s) for s in shown) + "]"

        y = "None" if self.y is None else f"{self.y.dtype} {self.y.shape}"
        classes = "" if self.class_names is None else f", class_names={names(self.class_names)}"
        return (f"CsvData(X={self.X.dtype} {self.X.shape}, y={y}, feature_names={names(self.feature_names)}, "
                f"target_name={self.target_name!r}{classes})")


#: Rows converted to floats at a time: bounds the memory held as Python strings.
_CSV_CHUNK = 4096


def load_csv(path: str | os.PathLike[str] | IO[str], *, target: int | str | None = -1, header: bool | str = "auto",
             delimiter: str = ",", dtype: npt.DTypeLike = "float64", encoding: str = "utf-8",
             features: Sequence[str] | None = None) -> CsvData:
    """Read a CSV table into features ``X`` and a target column ``y``.

    Every column but the target must hold numbers (anything Python's ``float``
    reads, surrounded by any whitespace); the target may hold numbers or text
    (class names, which become labels 0..k-1 in sorted order). Quoting follows the
    ``csv`` module (RFC 4180: ``"a, b"``, ``""`` for a quote, line breaks inside
    quotes). A UTF-8 byte-order mark is ignored, and so are blank lines (also
    whitespace-only ones) and a missing final newline.

    Args:
        path: the file (``str`` or ``os.PathLike``), or a text file object (best
            opened with ``newline=""``, as the ``csv`` module asks).
        target: the target column, by index (negative counts from the end; default
            the last column) or by its name in the header; None for no target.
        header: True (the first row names the columns), False (it is data), or
            ``"auto"``: the first row is a header when, in some column, it holds
            something that is not a number while the second row holds a number
            there (so a header of numbers needs ``header=True``).
        delimiter: the one character between fields (``";"``, ``"\\t"``, ...).
        dtype: ``"float64"`` (default) or ``"float32"``, for ``X`` and a float ``y``.
        encoding: of the file, when ``path`` is one (a text object is decoded already).
        features: the names of the feature columns, in the order ``X`` gets them
            (default: every column but the target, in the file's order). The file must
            have a header holding each of them, and no column besides them and the
            target (a model's features come back in the order it was trained on,
            however a file orders them).

    Returns:
        A :class:`CsvData`: ``X`` ``(n, d)``, ``y`` ``(n,)`` or None,
        ``feature_names``, ``target_name`` and ``class_names``.

    Raises:
        MissingFileError: there is no file at ``path`` (also a ``FileNotFoundError``).
        DataError: the file cannot be opened, or is not a regular file.
        InputError: (a DataError) the file cannot be decoded, is empty or has no data
            rows, has a row with the wrong number of fields, an empty field, a token
            that is not a number, NaN or infinity, broken quoting, or a target column
            mixing numbers and text. The message names the file, the line (1-based,
            counting every line of the file) and, for a field, the column (1-based)
            and its name.
        UnknownNameError: ``target`` names no column (with the closest names).
        ValidationError, DeltapropTypeError: arguments that make no sense.

    >>> import io
    >>> data = load_csv(io.StringIO("height,weight,species\\n1.5,60,cat\\n2.0, 80 ,dog\\n"), target="species")
    >>> data.X, data.y, data.class_names
    (array([[ 1.5, 60. ],
           [ 2. , 80. ]]), array([0, 1]), ('cat', 'dog'))
    """
    dt = as_dtype(dtype)
    if not (header is True or header is False or (isinstance(header, str) and header == "auto")):
        raise ValidationError(f"The 'header' argument must be True, False or 'auto'. Got {header!r} instead.")
    if target is not None and not isinstance(target, str) and (
            isinstance(target, bool) or not isinstance(target, numbers.Integral)):
        raise DeltapropTypeError(
            "The 'target' argument must be a column index (int), a column name (str) or None. "
            f"Got {type(target).__name__} {target!r} instead."
        )
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValidationError(
            f"The 'delimiter' argument must be one character other than a quote or a line break. Got {delimiter!r} instead."
        )
    if features is not None and (isinstance(features, str) or not isinstance(features, Sequence)
                                 or not all(isinstance(name, str) for name in features) or not features):
        raise DeltapropTypeError(f"The 'features' argument must be a non-empty list of column names. "
                                 f"Got {features!r} instead.")
    with _open_text(path, encoding) as (f, where):
        return _read_csv(f, where, target=target, header=header, delimiter=delimiter, dt=dt,
                         features=None if features is None else list(features))


def read_csv_header(path: str | os.PathLike[str] | IO[str], *, header: bool | str = "auto", delimiter: str = ",",
                    encoding: str = "utf-8") -> tuple[tuple[str, ...] | None, int]:
    """``(column names or None, number of columns)`` of a CSV file, from its first rows
    alone, with :func:`load_csv`'s rules for ``header="auto"``.

    >>> import io
    >>> read_csv_header(io.StringIO("a,b\\n1,2\\n")), read_csv_header(io.StringIO("1,2\\n3,4\\n"))
    ((('a', 'b'), 2), (None, 2))
    """
    if not (header is True or header is False or (isinstance(header, str) and header == "auto")):
        raise ValidationError(f"The 'header' argument must be True, False or 'auto'. Got {header!r} instead.")
    with _open_text(path, encoding) as (f, where):
        rows = _csv_rows(f, where, delimiter)
        head = next(rows, None)
        if head is None:
            raise InputError(f"{where} is empty: it holds no rows (blank lines do not count).")
        first = head[1]
        if header == "auto":
            second = next(rows, None)
            header = _looks_like_header(first, None if second is None else second[1])
        return (tuple(t.strip() for t in first) if header else None), len(first)


@contextlib.contextmanager
def _open_text(path: Any, encoding: str) -> Iterator[tuple[IO[str], str]]:
    """``(text file, its name for messages)`` for a path (opened here) or a text file object."""
    if isinstance(path, (str, os.PathLike)):
        where = repr(os.fspath(path))
        if not isinstance(encoding, str):
            raise DeltapropTypeError(f"The 'encoding' argument must be a str. Got {encoding!r} instead.")
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise ValidationError(f"The 'encoding' argument names no known text encoding: {encoding!r}.") from None
        # utf-8-sig reads UTF-8 and drops a byte-order mark (spreadsheets write one).
        f = open_for_reading(path, what="CSV file", text=True, encoding="utf-8-sig" if name == "utf-8" else encoding)
        with f:
            yield f, where
        return
    if isinstance(path, (bytes, bytearray, memoryview)):
        raise DeltapropTypeError(
            "load_csv takes a path or a text file object. Got bytes; wrap text held in memory in io.StringIO(...)."
        )
    if not callable(getattr(path, "read", None)):
        raise DeltapropTypeError(
            f"load_csv takes a path or a text file object. Got {type(path).__name__} {path!r} instead."
        )
    mode = getattr(path, "mode", "")
    if isinstance(path, (io.RawIOBase, io.BufferedIOBase)) or (isinstance(mode, str) and "b" in mode):
        raise DeltapropTypeError("load_csv needs a file opened in text mode (open(path, newline='')), not 'rb'.")
    file_name = getattr(path, "name", None)
    where = repr(os.fspath(file_name)) if isinstance(file_name, (str, os.PathLike)) else f"<{type(path).__name__}>"
    yield path, where


def _without_bom(f: Iterable[str]) -> Iterator[str]:
    """The lines of ``f``, the first without a byte-order mark (a text object may still hold one)."""
    lines = iter(f)
    first = next(lines, None)
    if first is not None:
        yield first[1:] if first.startswith("\ufeff") else first
        yield from lines


def _csv_rows(f: IO[str], where: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, fields)`` of each non-blank row, errors as InputError."""
    # strict: broken quoting ("a"b, a quote left open at the end) is an error, not a guess.
    reader = csv.reader(_without_bom(f), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    end = 0  # the last line of the row before
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # The field size limit (128 KiB) is csv's bound on what one line may claim.
            raise InputError(f"{where}, line {reader.line_num}: malformed CSV: {e}.") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{where}: {_decode_error_place(f, e)} is not valid {e.encoding} text: {e.reason}.") from None
        except UnicodeError as e:  # a codec's own complaint, e.g. UTF-16 without its byte-order mark
            raise InputError(f"{where} cannot be decoded: {e}.") from None
        except OSError as e:
            raise DataError(f"Cannot read CSV file {where}: {e}.") from e
        start, end = end + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield start, row


def _decode_error_place(f: IO[str], e: UnicodeDecodeError) -> str:
    """"line N" of the undecodable byte, found by reading the file's bytes again."""
    name: Any = getattr(f, "name", None)        # a path, or anything (open then raises TypeError)
    try:
        with open(name, "rb") as raw:
            data = raw.read()
        data.decode(e.encoding)
    except UnicodeDecodeError as again:
        line = data.count(b"\n", 0, again.start) + 1
        return f"line {line} (byte {again.start})"
    except (OSError, TypeError):
        pass
    return "a line"


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """The "auto" rule: some column is text in the first row and a number in the second."""
    if second is None:
        return not all(_is_number(t) for t in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))


def _read_csv(f: IO[str], where: str, *, target: int | str | None, header: bool | str, delimiter: str,
              dt: np.dtype, features: list[str] | None = None) -> CsvData:
    """:func:`load_csv` on an open text file ``f`` (``where`` names it in messages)."""
    rows = _csv_rows(f, where, delimiter)
    head = next(rows, None)
    if head is None:
        raise InputError(f"{where} is empty: it holds no rows (blank lines do not count).")
    line1, row1 = head
    pending: list[tuple[int, list[str]]] = []
    if header == "auto":
        second = next(rows, None)
        has_header = _looks_like_header(row1, None if second is None else second[1])
        pending = [] if second is None else [second]
    else:
        has_header = bool(header)        # True or False (load_csv checked it)
    width = len(row1)
    names = [t.strip() for t in row1] if has_header else None

    t = _target_column(target, names, width, where, line1, header)
    if t is not None and width == 1:
        raise InputError(f"{where} has a single column (line {line1}); with it as the target no feature column is left.")

    if names is None:
        feature_names = tuple(f"x{j}" for j in range(width - (t is not None)))
        target_name = None if t is None else "y"
    else:
        feature_names = tuple(name for j, name in enumerate(names) if j != t)
        target_name = None if t is None else names[t]
    columns = [j for j in range(width) if j != t]  # file column of each feature
    if features is not None:
        columns = _feature_columns(features, names, t, where, line1)
        feature_names = tuple(features)

    def column(j: int) -> str:
        label = names[j] if names is not None and names[j] else None
        return f"column {j + 1}" + (f" ({label!r})" if label else "")

    def data_rows() -> Iterator[tuple[int, list[str]]]:
        if not has_header:
            yield line1, row1
        yield from pending
        yield from rows

    # The rows go to floats a chunk at a time, so at most _CSV_CHUNK rows are held as
    # Python strings; the target column stays text until the end (it may be names).
    chunks: list[np.ndarray] = []
    lines = array.array("q")  # the line of each data row, for messages
    targets: list[str] = []
    buf: list[list[str]] = []

    def convert() -> None:
        chunks.append(_floats(buf, lines[len(lines) - len(buf):], columns, column, where))
        buf.clear()

    for line, row in data_rows():
        if len(row) != width:
            first = f"the header (line {line1})" if has_header else f"line {line1}"
            raise InputError(f"{where}, line {line}: {len(row)} fields, expected {width} as in {first}.")
        if t is not None:
            targets.append(row[t])
        buf.append([row[j] for j in columns])
        lines.append(line)
        if len(buf) == _CSV_CHUNK:
            convert()
    if buf:
        convert()
    if not lines:
        hint = "; if that line is data, pass header=False" if header == "auto" else ""
        raise InputError(f"{where} has a header (line {line1}) but no data rows{hint}.")

    X = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if dt != np.float64:
        X = _narrow(X, dt, lambda i, j: f"{where}, line {lines[i]}, {column(columns[j])}")
    y = class_names = None
    if t is not None:
        y, class_names = _target(targets, lines, dt, where, column(t))
    return CsvData(X, y, feature_names, target_name, class_names)


def _feature_columns(features: list[str], names: list[str] | None, t: int | None, where: str,
                     line1: int) -> list[int]:
    """The file column of each name in ``features``: every one must be there, and every
    other column must be the target (a column nobody asked for may mean a mix-up)."""
    if names is None:
        raise InputError(f"{where} has no header (line {line1} is data), so its columns cannot be matched to the "
                         f"features by name ({', '.join(map(repr, features[:5]))}{', ...' if len(features) > 5 else ''}).")
    index: dict[str, int] = {}
    for j, name in enumerate(names):
        index.setdefault(name, j)
    missing = [f for f in features if f not in index]
    extra = [name for j, name in enumerate(names) if j != t and name not in set(features)]
    if missing or extra:
        parts = ([f"it lacks the column(s) {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"it has column(s) {', '.join(map(repr, extra))} that are not among them"] if extra else [])
        raise InputError(f"{where} does not hold the features asked for ({', '.join(map(repr, features))}): "
                         + "; ".join(parts) + ".")
    return [index[f] for f in features]


def _target_column(target: int | str | None, names: list[str] | None, width: int, where: str, line1: int,
                   header: bool | str) -> int | None:
    """The file column (0-based) ``target`` means, or None; a clear error if none fits."""
    if target is None:
        return None
    if isinstance(target, str):
        if names is None:
            how = "header=False" if header is False else "no header was detected"
            raise ValidationError(
                f"target={target!r} is a column name, but {where} has no header ({how}; line {line1} is data). "
                f"Pass header=True if line {line1} names the columns, or the target's index."
            )
        matches = [j for j, name in enumerate(names) if name == target.strip()]
        if not matches:
            raise UnknownNameError(f"target={target!r} is not a column of {where}. {did_you_mean(target, names)}")
        if len(matches) > 1:
            raise ValidationError(
                f"target={target!r} names {len(matches)} columns of {where} ({', '.join(str(j + 1) for j in matches)}); "
                "pass the index of the one you mean."
            )
        return matches[0]
    if not -width <= target < width:
        raise ValidationError(
            f"target={target} is out of range: {where} has {width} columns (line {line1}), "
            f"so the index must be in {-width}..{width - 1}."
        )
    return int(target) % width


def _floats(rows: list[list[str]], lines: Sequence[int], columns: list[int], column: Callable[[int], str],
            where: str) -> np.ndarray:
    """Number tokens ``rows`` -> finite float64 ``(len(rows), len(columns))``, or a DataError at the bad one."""
    try:
        X = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError:
        X = None
    if X is not None:
        finite = np.isfinite(X)
        if finite.all():
            return X
        i, j = np.argwhere(~finite)[0]
        raise InputError(
            f"{where}, line {lines[i]}, {column(columns[j])}: {rows[i][j].strip()!r} is not a finite number; "
            "NaN and infinity are not accepted (mark missing values some other way, or drop the row)."
        )
    for i, row in enumerate(rows):  # find the token NumPy refused (same parser: Python's float)
        for j, token in enumerate(row):
            if not _is_number(token):
                what = ("an empty field (a missing value; deltaprop does not fill those in)" if not token.strip()
                        else f"{token.strip()!r} is not a number")
                raise InputError(f"{where}, line {lines[i]}, {column(columns[j])}: {what}.")
    raise AssertionError("unreachable: NumPy refused a row that float() reads")  # pragma: no cover


def _narrow(X: np.ndarray, dt: np.dtype, place: Callable[[int, int], str]) -> np.ndarray:
    """``X`` rounded to ``dt``, or a DataError at the first value too large for it."""
    with np.errstate(over="ignore"):  # overflow becomes inf, found and reported just below
        Y = X.astype(dt)
    bad = ~np.isfinite(Y)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"{place(i, j)}: {float(X[i, j])!r} is too large for {dt} (at most {np.finfo(dt).max:.6g}).")
    return Y


def _target(tokens: list[str], lines: Sequence[int], dt: np.dtype, where: str,
            col: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The target column as ``(y, class_names)``: numbers as they are, text as labels 0..k-1."""
    tokens = [s.strip() for s in tokens]
    for i, s in enumerate(tokens):
        if not s:
            raise InputError(f"{where}, line {lines[i]}, target {col}: an empty field (a missing value).")
    numeric = [_is_number(s) for s in tokens]
    if all(numeric):
        y: np.ndarray = np.array(tokens, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            i = bad[0]
            raise InputError(f"{where}, line {lines[i]}, target {col}: {tokens[i]!r} is not a finite number; "
                            "NaN and infinity are not accepted.")
        # Whole numbers (class labels, counts) stay exact as int64; anything else is a
        # regression target in the requested dtype.
        if np.all(y == np.round(y)) and np.all(np.abs(y) <= 2.0 ** 53):
            return y.astype(np.int64), None
        if dt != np.float64:
            y = _narrow(y[:, None], dt, lambda i, j: f"{where}, line {lines[i]}, target {col}")[:, 0]
        return y, None
    if any(numeric):
        i = numeric.index(True)
        j = numeric.index(False)
        raise InputError(
            f"{where}, target {col} mixes numbers and text: line {lines[i]} holds {tokens[i]!r}, line {lines[j]} "
            f"holds {tokens[j]!r}. A target is all numbers or all class names."
        )
    classes, y = np.unique(np.array(tokens, dtype=str), return_inverse=True)
    return y.reshape(-1).astype(np.int64), tuple(classes.tolist())


def save_csv(path: str | os.PathLike[str] | IO[str], data: npt.ArrayLike | Mapping[Any, npt.ArrayLike], *,
             header: Sequence[str] | None = None, delimiter: str = ",") -> Path | IO[str]:
    """Write columns of numbers or text to a CSV file, atomically (or to a text stream).

    Floats are written in the shortest form that reads back to the same value
    (``repr``), so :func:`load_csv` returns exactly what was saved; integers and
    booleans (as 1/0) as integers; text quoted where the ``csv`` module must.

    Args:
        path: the file to write (replaced as a whole: a crash leaves the old file or
            the new one, never half of one); or a text file object such as
            ``sys.stdout``, written to as it is.
        data: a 2-D array ``(n, k)`` (k columns) or 1-D ``(n,)`` (one column); or a
            mapping from column name to a 1-D sequence ``(n,)``, written in its order
            under a header of its names (then ``header`` must be None).
        header: the k column names for an array, or None for no header row.
        delimiter: the one character between fields.

    Returns:
        The path written, as a ``Path`` (or the file object, as given).

    Raises:
        ShapeError: columns of unequal length, an array of more than 2 dimensions, or
            a header of the wrong length.
        DeltapropTypeError: a column that holds neither numbers nor text.
        DataError: the file cannot be written.

    >>> import io, tempfile, os
    >>> out = save_csv(os.path.join(tempfile.mkdtemp(), "p.csv"), {"label": ["cat", "dog"], "p": [0.25, 0.1]})
    >>> print(out.read_text(), end="")
    label,p
    cat,0.25
    dog,0.1
    """
    stream = not isinstance(path, (str, os.PathLike)) and callable(getattr(path, "write", None))
    if not stream and not isinstance(path, (str, os.PathLike)):
        raise DeltapropTypeError(
            f"The 'path' argument must be a file path or a text file object. Got {type(path).__name__} {path!r} instead."
        )
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValidationError(
            f"The 'delimiter' argument must be one character other than a quote or a line break. Got {delimiter!r} instead."
        )
    if isinstance(data, Mapping):
        if header is not None:
            raise ValidationError("save_csv takes column names from the mapping's keys; pass header=None with a mapping.")
        names = [str(k) for k in data]
        cols = [_as_column(f"column {k!r}", v) for k, v in data.items()]
    else:
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ShapeError(f"save_csv writes a 1-D or 2-D array. Got shape {arr.shape} instead.")
        cols = [_as_column(f"column {j}", arr[:, j]) for j in range(arr.shape[1])]
        names = None
        if header is not None:
            names = [str(h) for h in header]
            if len(names) != len(cols):
                raise ShapeError(f"save_csv: header has {len(names)} names for {len(cols)} columns.")
    lengths = {len(c) for c in cols}
    if len(lengths) > 1:
        raise ShapeError(f"save_csv: the columns differ in length ({sorted(lengths)}); each needs one value per row.")

    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
    if names is not None:
        writer.writerow(names)
    writer.writerows(zip(*cols))
    if not isinstance(path, (str, os.PathLike)):     # a text stream (as just checked)
        path.write(text.getvalue())
        return path
    out = Path(path)
    _atomic_write_text(out, text.getvalue())
    return out


def _as_column(name: str, values: npt.ArrayLike) -> list[Any]:
    """One column as a list of Python values ``csv`` writes as wanted."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ShapeError(f"save_csv: {name} must be 1-D. Got shape {a.shape} instead.")
    if a.dtype == bool:
        return a.astype(np.int64).tolist()
    if a.dtype.kind in "iu":
        return a.tolist()
    if a.dtype == np.float64:
        return a.tolist()  # Python floats: str() is the shortest repr that reads back
    if a.dtype.kind == "f":
        return [str(v) for v in a]  # NumPy's str of a float32 is its own shortest repr
    if a.dtype.kind == "U" or (a.dtype == object and all(isinstance(v, str) for v in a)):
        return [str(v) for v in a]
    raise DeltapropTypeError(f"save_csv: {name} must hold numbers or text. Got dtype {a.dtype} instead.")


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a whole (the one atomic writer, :mod:`deltaprop._files`)."""
    try:
        with atomic_open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise DataError(f"Cannot write {str(path)!r}: {e.strerror or e}.") from e
