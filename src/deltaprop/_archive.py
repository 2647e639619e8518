"""The container of a deltaprop file: a ZIP of one JSON header and NumPy arrays.

This room knows nothing of networks. It writes and reads a file of

=================  ==========================================================
member             content
=================  ==========================================================
``header.json``    a UTF-8 JSON object; its ``"arrays"`` entry declares every
                   array as ``{"shape": [...], "dtype": "<f8"}``
``<name>.npy``     one per declared array, written by
                   ``numpy.lib.format.write_array(..., allow_pickle=False)``
=================  ==========================================================

so ``numpy.load(path, allow_pickle=False)`` reads the arrays too. Nothing in it is
pickled, and reading never unpickles: arrays come back only through
``numpy.lib.format.read_array(f, allow_pickle=False)``, after the member's own .npy
header has been checked against the declaration (dtype from a short list of plain
numbers, shape, exact byte count). Every size is bounded before anything is
allocated, so a crafted file (a zip bomb, a header declaring absurd shapes) is a
:class:`~deltaprop.errors.DataError`, never a ``MemoryError``.

Writing is atomic: the archive is written to a temporary file beside the target
(``.<name>.tmp-<pid>-<8 hex digits>``), flushed and fsync'ed, then renamed over the
target with ``os.replace`` and the directory fsync'ed. A crash at any moment leaves
either the old file or the new one at ``path``, plus at worst a temporary that
:func:`is_temporary` recognises, :func:`read` refuses, and
:func:`remove_stale_temporaries` cleans up.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     path = write(pathlib.Path(d) / "a.dpz", {"note": "hello"}, {"x": np.arange(3.0)})
...     header, arrays = read(path)
>>> header["note"], header["arrays"], arrays["x"]
('hello', {'x': {'shape': [3], 'dtype': '<f8'}}, array([0., 1., 2.]))
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._files import as_path, atomic_open, is_temporary, open_for_reading, remove_stale_temporaries  # noqa: F401
from .errors import DataError, DeltapropTypeError, ValidationError, format_bytes

#: The member holding the JSON header.
HEADER = "header.json"
#: Largest header.json read (bytes).
MAX_HEADER_BYTES = 16 * 2**20
#: Default bound on the bytes of all arrays of one file together (``read(max_bytes=...)``).
MAX_BYTES = 4 * 2**30
#: Default bound on how far a file's arrays may inflate beyond the file's own size
#: (``read(max_ratio=...)``): deflate turns a few MB of zeros into GB. Stored files
#: are about 1:1; deflated weights shrink little. Files whose arrays take at most
#: RATIO_ALLOWANCE bytes are never refused by it.
MAX_RATIO = 100
RATIO_ALLOWANCE = 16 * 2**20
#: Largest .npy header read in front of an array's data (NumPy's own default bound).
MAX_NPY_HEADER = 10_000
#: Most arrays one file may hold, and most dimensions one array may have.
MAX_ARRAYS = 65_536
MAX_NDIM = 32
#: Deflate expands at most ~1032:1; a member claiming more than this is lying.
MAX_DEFLATE_RATIO = 1100

#: The dtypes an array may have, as written (always little-endian): bool, integers,
#: floats, complex. No objects (pickles), strings, structures or datetimes.
DTYPES = frozenset(
    np.dtype(t).newbyteorder("<").str
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
              np.float16, np.float32, np.float64, np.complex64, np.complex128)
)

_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
#: An array name: segments of letters, digits, ``_ . -`` joined by ``/`` (e.g. ``training/opt/0/m``).
NAME = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_TEMPORARY = re.compile(r"\..+\.tmp-[0-9]+-[0-9a-f]{8}")
# What a damaged ZIP can raise from inside zipfile, zlib, struct and NumPy's .npy parser.
# (DataError is a ValueError too: it is re-raised unchanged before these are caught.)
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, KeyError, NotImplementedError,
           OverflowError, RuntimeError, OSError, SyntaxError, tokenize.TokenError)


# -- writing ----------------------------------------------------------------------------

def write(path: str | os.PathLike, header: Mapping, arrays: Mapping[str, np.ndarray], *,
          compress: bool = False) -> Path:
    """Write ``header`` and ``arrays`` to ``path`` atomically; returns ``path`` as a Path.

    ``header`` is a JSON-able mapping (str keys; lists, str, int, finite float, bool,
    None) without an ``"arrays"`` key: the declaration of the arrays is added here.
    ``arrays`` maps names (see :data:`NAME`) to arrays of a dtype in :data:`DTYPES`;
    they are stored little-endian and C-ordered, values unchanged. ``compress``
    deflates the members (weights rarely shrink much; stored is the default).

    Everything is checked before the temporary is created. If anything fails after
    that (a full disk, an interrupt), the temporary is removed and the file that was
    at ``path`` is untouched.
    """
    path = as_path(path, "path")
    if not isinstance(header, Mapping):
        raise DeltapropTypeError(f"The 'header' argument must be a dict. Got {type(header).__name__} instead.")
    if "arrays" in header:
        raise ValidationError("The 'header' argument must not have an 'arrays' key: write() adds the "
                              "declaration of the arrays itself.")
    prepared = _prepare_arrays(arrays)
    full = dict(header)
    full["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in prepared.items()}
    check_json(full, "header")
    blob = json.dumps(full, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")
    if len(blob) > MAX_HEADER_BYTES:
        raise ValidationError(f"The header would take {len(blob)} bytes of JSON, more than the "
                              f"{MAX_HEADER_BYTES} a file may hold; store large data as arrays.")
    if path.is_dir():
        raise DataError(f"Cannot write '{path}': it is a directory; give a file name inside it.")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_open(path, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=method) as zf:
            zf.writestr(HEADER, blob)
            for name, arr in prepared.items():
                with zf.open(name + ".npy", "w", force_zip64=arr.nbytes > 2**30) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
    return path


def check_json(value: object, where: str) -> None:
    """Raise unless ``value`` survives a JSON round trip unchanged.

    That is: dicts with str keys, lists, str, int, finite float, bool and None, nested.
    Tuples, NumPy scalars, NaN and non-str keys are refused (JSON would silently turn
    them into something else), naming where in ``where`` the offending item is.

    >>> check_json({"classes": ("a", "b")}, "metadata")
    Traceback (most recent call last):
    ...
    deltaprop.errors.DeltapropTypeError: metadata['classes'] is a tuple; a file holds only JSON values (dict with str keys, list, str, int, float, bool, None). Use a list.
    """
    stack = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > 100:
            raise ValidationError(f"{at} is nested more than 100 levels deep.")
        if item is None or isinstance(item, (bool, str)) or type(item) is int:
            continue
        if type(item) is float:
            if not math.isfinite(item):
                raise ValidationError(f"{at} is {item!r}; JSON has no NaN or infinity.")
            continue
        if type(item) is dict:
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise DeltapropTypeError(f"{at} has the key {key!r} of type {type(key).__name__}; "
                                             "JSON object keys must be str.")
                stack.append((sub, f"{at}[{key!r}]", depth + 1))
            continue
        if type(item) is list:
            stack.extend((sub, f"{at}[{i}]", depth + 1) for i, sub in enumerate(item))
            continue
        hint = {"tuple": " Use a list."}.get(type(item).__name__, "")
        if isinstance(item, (np.generic, np.ndarray)):
            hint = " Convert it with .tolist() (or store arrays as arrays)."
        raise DeltapropTypeError(f"{at} is a {type(item).__name__}; a file holds only JSON values "
                                 f"(dict with str keys, list, str, int, float, bool, None).{hint}")


def _prepare_arrays(arrays: Mapping) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise DeltapropTypeError(f"The 'arrays' argument must be a dict of name -> array. "
                                 f"Got {type(arrays).__name__} instead.")
    if len(arrays) > MAX_ARRAYS:
        raise ValidationError(f"A file holds at most {MAX_ARRAYS} arrays. Got {len(arrays)}.")
    prepared = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or len(name) > 200 or not NAME.fullmatch(name):
            raise ValidationError(
                f"The array name {name!r} is not allowed: a name is up to 200 characters, segments of "
                "letters, digits, '_', '.', '-' (not starting with '.' or '-') joined by '/', e.g. 'training/opt/0/m'."
            )
        arr = np.asarray(value)
        little = arr.dtype.newbyteorder("<") if arr.dtype.byteorder not in "<|" else arr.dtype
        if arr.dtype.hasobject or little.str not in DTYPES:
            raise DeltapropTypeError(
                f"The array {name!r} has dtype {arr.dtype}; a file holds only arrays of bool, integers, floats "
                "or complex numbers (no objects, strings or structured dtypes)."
            )
        if arr.ndim > MAX_NDIM:
            raise ValidationError(f"The array {name!r} has {arr.ndim} dimensions; a file allows at most {MAX_NDIM}.")
        prepared[name] = arr.astype(little, order="C", copy=False)  # same values, C order, little-endian
    return prepared


# -- reading ----------------------------------------------------------------------------

def read(path: str | os.PathLike, *, check: Callable[[dict], None] | None = None,
         max_bytes: int = MAX_BYTES, max_ratio: float = MAX_RATIO) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and the arrays of the file at ``path``.

    ``check(header)`` runs on the parsed header before anything else is trusted (the
    format layer checks its name and version there); a :class:`DataError` it raises
    comes back naming the file. ``max_bytes`` bounds the arrays' total size, and
    ``max_ratio`` that size over the file's (beyond :data:`RATIO_ALLOWANCE`): a small
    deflated file that declares huge arrays is refused before they are allocated.

    Raises :class:`DataError`, naming the file, if it is missing, a directory, a
    temporary of an interrupted save, not a ZIP, truncated or damaged (every member
    is CRC-checked), or not what its header declares (members missing or extra, an
    array of another shape or dtype, an object array).
    """
    return _open(path, check, max_bytes, max_ratio, with_arrays=True)


def read_header(path: str | os.PathLike, *, check: Callable[[dict], None] | None = None,
                max_bytes: int = MAX_BYTES, max_ratio: float = MAX_RATIO) -> dict:
    """Only the header of the file at ``path``, after the checks of :func:`read` that
    need no array data (the arrays' own bytes are neither read nor CRC-checked)."""
    return _open(path, check, max_bytes, max_ratio, with_arrays=False)[0]


def _open(path: str | os.PathLike, check: Callable[[dict], None] | None, max_bytes: int, max_ratio: float, *,
          with_arrays: bool) -> tuple[dict, dict[str, np.ndarray]]:
    path = as_path(path, "path")
    if is_temporary(path):
        raise DataError(f"Cannot read '{path}': it is the temporary of an unfinished save (a process was "
                        f"stopped while writing), never a complete file. Read the file it was meant to "
                        f"replace instead; remove_stale_temporaries() deletes such leftovers.")
    fh = open_for_reading(path)
    try:
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise DataError("the file is empty (0 bytes).")
            start = fh.read(4)
            fh.seek(0)
            try:
                zf = zipfile.ZipFile(fh)
            except zipfile.BadZipFile:
                raise DataError("it is not a deltaprop file: " + (
                    "it starts like a ZIP archive but has no end record (a truncated file?)."
                    if start == b"PK\x03\x04" else "it is not a ZIP archive.")) from None
            with zf:
                infos = _members(zf, size)
                header = _read_json(zf, infos)
                if check is not None:
                    check(header)
                declared = _declarations(header, max_bytes)
                _check_ratio(declared, size, max_ratio)
                _match_members(infos, declared)
                arrays = {}
                if with_arrays:
                    for name, (shape, dtype) in declared.items():
                        arrays[name] = _read_array(zf, infos[name + ".npy"], name, shape, dtype)
                return header, arrays
    except DataError as e:
        raise DataError(f"Cannot read '{path}': {e}") from None
    except MemoryError:
        raise
    except _DAMAGE as e:
        raise DataError(f"Cannot read '{path}': the file is truncated or damaged "
                        f"({type(e).__name__}: {e}).") from None


def _members(zf: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if name in infos:
            raise DataError(f"the member {name!r} appears twice.")
        if info.flag_bits & 0x1:
            raise DataError(f"the member {name!r} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DataError(f"the member {name!r} uses ZIP compression method {info.compress_type}; "
                            "deltaprop files are stored or deflated.")
        stored = info.compress_type == zipfile.ZIP_STORED
        if info.compress_size > size or (stored and info.file_size != info.compress_size) \
                or info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 1024:
            raise DataError(f"the member {name!r} claims {info.file_size} bytes from {info.compress_size} "
                            f"compressed bytes in a file of {size}: impossible (damaged or crafted).")
        infos[name] = info
        if len(infos) > MAX_ARRAYS + 1:
            raise DataError(f"it has more than {MAX_ARRAYS + 1} members.")
    if HEADER not in infos:
        found = ", ".join(sorted(infos)[:5]) or "none"
        hint = " (a NumPy .npz archive?)" if infos and all(n.endswith(".npy") for n in infos) else ""
        raise DataError(f"it is not a deltaprop file: it has no '{HEADER}' member{hint}. Members: {found}.")
    return infos


def _read_json(zf: zipfile.ZipFile, infos: Mapping[str, zipfile.ZipInfo]) -> dict:
    info = infos[HEADER]
    if info.file_size > MAX_HEADER_BYTES:
        raise DataError(f"its header claims {info.file_size} bytes, more than the {MAX_HEADER_BYTES} allowed.")
    raw = zf.read(info)  # CRC-checked
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise DataError(f"its header is not UTF-8 text ({e}).") from None
    except json.JSONDecodeError as e:
        raise DataError(f"its header is not valid JSON ({e}).") from None
    except RecursionError:
        raise DataError("its header is JSON nested too deeply to read.") from None
    except ValueError as e:  # duplicate keys, NaN, an int of more than 4300 digits
        raise DataError(f"its header is not acceptable JSON ({e}).") from None
    if not isinstance(header, dict):
        raise DataError(f"its header must be a JSON object. Got a JSON {type(header).__name__} instead.")
    return header


def _no_duplicates(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _declarations(header: dict, max_bytes: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    table = header.get("arrays")
    if not isinstance(table, dict):
        raise DataError(f"its header must declare the arrays as an object under 'arrays'. Got {table!r:.80} instead.")
    declared, total = {}, 0
    for name, spec in table.items():
        if len(name) > 200 or not NAME.fullmatch(name):
            raise DataError(f"its header declares an array with the name {name!r:.80}, which is not allowed.")
        if not isinstance(spec, dict) or set(spec) != {"shape", "dtype"}:
            raise DataError(f"the declaration of array {name!r} must be {{\"shape\": [...], \"dtype\": ...}}. "
                            f"Got {spec!r:.80} instead.")
        shape, dtype = spec["shape"], spec["dtype"]
        if not isinstance(shape, list) or len(shape) > MAX_NDIM or \
                not all(type(n) is int and 0 <= n < 2**63 for n in shape):
            raise DataError(f"array {name!r} is declared with shape {shape!r:.80}; a shape is a list of at most "
                            f"{MAX_NDIM} non-negative integers.")
        if dtype not in DTYPES:
            raise DataError(f"array {name!r} is declared with dtype {dtype!r:.40}; a deltaprop file holds only "
                            f"{', '.join(sorted(DTYPES))} (never objects).")
        dt = np.dtype(dtype)
        total += math.prod(shape) * dt.itemsize
        if total > max_bytes:
            raise DataError(f"its header declares more than {max_bytes} bytes of arrays (array {name!r} has shape "
                            f"{tuple(shape)} of {dtype}); pass max_bytes= to read larger files.")
        declared[name] = (tuple(shape), dt)
    return declared


def _check_ratio(declared: Mapping[str, tuple[tuple[int, ...], np.dtype]], size: int, max_ratio: float) -> None:
    total = sum(math.prod(shape) * dt.itemsize for shape, dt in declared.values())
    if total > max_ratio * size + RATIO_ALLOWANCE:
        raise DataError(f"its arrays would take {format_bytes(total)} in memory, {total / size:.0f} times the file's own "
                        f"{format_bytes(size)}; deltaprop reads files whose arrays inflate at most {max_ratio:g} times "
                        f"(a small file that unpacks to gigabytes is how a zip bomb works). If you trust the file, "
                        f"pass a larger max_ratio, e.g. dp.load(path, max_ratio={math.ceil(total / size)}).")


def _match_members(infos: Mapping[str, zipfile.ZipInfo], declared: Mapping[str, object]) -> None:
    wanted = {HEADER} | {name + ".npy" for name in declared}
    missing, extra = sorted(wanted - set(infos)), sorted(set(infos) - wanted)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"not declared in the header: {', '.join(extra)}"] if extra else [])
        raise DataError(f"its members do not match its header ({'; '.join(parts)}).")


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size > nbytes + MAX_NPY_HEADER + 16:
        raise DataError(f"member {info.filename!r} claims {info.file_size} bytes, but array {name!r} of shape "
                        f"{shape} and dtype {dtype.str} needs {nbytes} plus a short .npy header.")
    with zf.open(info) as member:
        # Parse the .npy header first (literal_eval of a bounded string: nothing runs)
        # and hold it against the declaration before read_array allocates anything.
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(member, MAX_NPY_HEADER)
            elif version == (2, 0):
                got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(member, MAX_NPY_HEADER)
            else:
                raise DataError(f"member {info.filename!r} is .npy format {version}; deltaprop writes 1.0 or 2.0.")
        except (ValueError, SyntaxError, tokenize.TokenError, EOFError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"member {info.filename!r} does not start with a valid .npy header "
                            f"({type(e).__name__}: {e}).") from None
        if got_dtype.hasobject or got_dtype.str != dtype.str or got_shape != shape:
            raise DataError(f"array {name!r} is declared as shape {shape} of {dtype.str} but member "
                            f"{info.filename!r} holds shape {got_shape} of {got_dtype.str}"
                            f"{' (a pickled object array: refused, never loaded)' if got_dtype.hasobject else ''}.")
        if info.file_size != member.tell() + nbytes:
            raise DataError(f"member {info.filename!r} has {info.file_size} bytes; its .npy header and an array of "
                            f"shape {shape} of {dtype.str} take {member.tell() + nbytes}.")
        member.seek(0)
        arr = np.lib.format.read_array(member, allow_pickle=False)
        if member.read(1):  # unreachable given the size check; reading to the end also checks the CRC
            raise DataError(f"member {info.filename!r} has bytes after its array.")
    return arr if arr.flags.c_contiguous else arr.copy(order="C")
