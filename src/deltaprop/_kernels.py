"""Compiled training kernels for the ``numba`` engine (the optional ``deltaprop[fast]`` extra).

This module is a *second* implementation of the step that :mod:`deltaprop.layers`
states once, readably: it exists only for speed, and every kernel here is tested
against that reference (``tests/test_kernels.py``, ``tests/test_engines.py``). Read
``layers.py`` to learn the algorithm; read this file to see how the same equations run
without Python in between.

What it computes comes from the declarations, not from this file: each element-wise
activation's ``scalar``/``scalar_delta``, each loss's ``scalar_term``/``scalar_cost``/
``scalar_grad`` and each optimizer's ``scalar_prepare``/``scalar_update`` (plain Python
beside their NumPy forms), compiled here and chosen by the position of the class in its
registry. Adding an activation, a loss or an optimizer there is all the engine needs.
Softmax is the one exception, written here: its column sums must follow NumPy's order.

What makes it fast:

* One call trains many mini-batches, across epochs (the loop over batches runs
  compiled), so the ~30 NumPy calls that the reference spends per step
  are gone. That is what matters at batch 10 (W1) and for the 2-2-2 example (W3).
* Parameters, gradients and optimizer state are flat vectors with per-layer views;
  every work buffer is allocated once per call; each element-wise pass (bias +
  activation, BP1/BP2's Hadamard product, the optimizer update) is one loop; and each
  layer's update runs as soon as BP2 no longer needs its W (while its gradient is
  still in cache).
* The matrix products go to the very BLAS NumPy uses (its ``cblas_?gemm``, called
  with the arguments ``np.matmul`` passes for the reference's own products), so they
  are the reference's products, bit for bit, and share its thread pool.
* With a plain gradient step in float64, the update W -= lr dW is folded into BP4's
  product (alpha = -lr, beta = 1) where this BLAS rounds that exactly as the
  reference's two steps: :func:`fold_is_exact` tries the network's own shapes first,
  since some of OpenBLAS's kernels (SkylakeX's) add alpha AB to C in one fused
  multiply-add, one rounding fewer.

Agreement with the reference (what the tests check): the order of every operation is
the reference's - sums in NumPy's pairwise order, constants in the network's dtype,
no fused multiply-adds - so with exact element-wise functions (relu, leaky_relu,
identity; the quadratic loss; every optimizer) a step gives the reference's bits
whenever no layer has width 1 (for a batch of one example the kernel makes NumPy's
gemv calls and its plain loop for an outer product, as ``np.matmul`` does; for layers of
at most SMALL weights it computes the gemv products itself, in the order of additions
and fused multiply-adds that :func:`small_products` found this BLAS to use, where one
was found: a BLAS call costs more than such a product).
exp, tanh and log come from the C library here and from NumPy's own SIMD code there,
which may differ in the last bit: then one step agrees to within a few ulps.

The entry points take named groups (:class:`Batches`, :class:`Arch`, :class:`Flat`,
:class:`Opt`, :class:`Blas`): :func:`train` runs many steps; :func:`gradients` and
:func:`update` are one step cut in two, with the place between them (after BP3/BP4,
before the optimizer) where a communicator adds the ranks' gradients.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from llvmlite import ir
from numba import literal_unroll, literally, njit, types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.extending import intrinsic, overload

from . import activations, losses, optimizers
from ._protocols import NetworkLike
from .optimizers import Hyper, Optimizer

# Tuples of compiled functions indexed in a loop are numba's "first-class functions",
# which it flags as experimental; the calls are resolved when compiling (literal_unroll).
warnings.filterwarnings("ignore", message="First-class function type feature is experimental",
                        category=NumbaExperimentalFeatureWarning)

# CBLAS enums (cblas.h)
ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112


# ---------------------------------------------------------------------------------------
# What the kernels learn from the declarations

#: Code of each activation, loss and optimizer: its position in its registry.
ACTIVATION_CODES = {name: i for i, name in enumerate(activations.ACTIVATIONS)}
LOSS_CODES = {name: i for i, name in enumerate(losses.LOSSES)}
OPTIMIZER_CODES = {cls.__name__: i for i, cls in enumerate(optimizers.OPTIMIZERS.values())}
SOFTMAX = ACTIVATION_CODES["softmax"]


def _compiled(fn: Callable[..., Any] | None) -> Callable[..., Any]:
    return njit(inline="always", error_model="numpy")(fn)


def _never(*args: float) -> float:      # the element-wise slot of softmax, which has its own column form
    return args[0]


_FORWARD = tuple(_compiled(cls.scalar or _never) for cls in activations.ACTIVATIONS.values())
_DELTA = tuple(_compiled(cls.scalar_delta or _never) for cls in activations.ACTIVATIONS.values())
_LOSS = tuple((_compiled(cls.scalar_term), _compiled(cls.scalar_cost), _compiled(cls.scalar_grad))
              for cls in losses.LOSSES.values())
_PREPARE = tuple(_compiled(cls.scalar_prepare) for cls in optimizers.OPTIMIZERS.values())
_UPDATE = tuple(_compiled(cls.scalar_update) for cls in optimizers.OPTIMIZERS.values())

#: A ``spec`` that compiles every activation, loss and optimizer (see :func:`spec_of`).
ANY = -1


def spec_of(act_codes: Sequence[int], loss: int, optimizer: int, one_example: bool = True) -> int:
    """What a run uses, as one integer the kernels are compiled for: a bit per
    activation code, then the loss's and the optimizer's codes, and whether a batch (or
    this process's part of one) may hold a single example (its products are gemv's). The engine passes it as a
    compile-time constant, so each piece compiles the branches of these choices only
    (compiling every activation, loss and optimizer in each took most of the first
    run's time); from Python (an int, not a constant) or as ANY, every branch is there."""
    mask = 0
    for code in act_codes:
        mask |= 1 << int(code)
    return mask | int(loss) << 8 | int(optimizer) << 12 | int(bool(one_example)) << 16


_ENTRIES: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _shape_of(value: Any) -> Any:
    """What numba's type of an argument depends on, quickly: an array's dtype, dimensions,
    layout and flags; a tuple's members; another value's Python type."""
    if isinstance(value, np.ndarray):
        f = value.flags
        return value.dtype.char, value.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned
    if isinstance(value, tuple):
        return type(value), tuple(_shape_of(v) for v in value)
    return type(value)


def call(kernel: Any, spec: int, *args: Any) -> Any:
    """``kernel(spec, *args)``, compiled (or loaded from numba's cache) for this ``spec``
    as a constant. (Called as ``kernel(spec, ...)``, numba would type spec as an int,
    fail, and compile the constant form again: an exception and a lookup per call.)"""
    key = (kernel, spec, _shape_of(args))
    entry = _ENTRIES.get(key)
    if entry is None:
        sig = (types.literal(spec),) + tuple(kernel.typeof_pyval(a) for a in args)
        kernel.compile(sig)
        entry = _ENTRIES[key] = kernel.overloads[sig].entry_point
    return entry(spec, *args)


def _compiled_choice(decide: Callable[[Any], Any]) -> Callable[[int], Any]:
    """A function of ``spec`` for compiled code that returns ``decide(spec)``, decided when
    compiling from numba's type of spec: what is not chosen is never compiled."""
    def choose(spec: int) -> Any:
        raise NotImplementedError("compiled code only")

    @overload(choose, prefer_literal=True, inline="always", jit_options={"error_model": "numpy"})
    def _choose(spec: Any) -> Callable[[Any], Any]:
        value = decide(spec)

        def pick(spec: Any) -> Any:
            return value
        return pick
    return choose


def _asks(spec: Any, wanted: Callable[[int], bool]) -> bool:
    """Whether a spec (numba's type of it, when compiling) asks for something: a spec that
    is not a constant (from Python), or ANY, asks for everything."""
    return not isinstance(spec, types.IntegerLiteral) or spec.literal_value < 0 or bool(wanted(spec.literal_value))


def _chooser(table: tuple[Any, ...], chosen: Callable[[int, int], bool]) -> Callable[[int], Any]:
    """A function of ``spec`` that returns ((code, table[code]), ...) for the codes the
    spec uses: only those are looped over (literal_unroll)."""
    return _compiled_choice(lambda spec: tuple((k, f) for k, f in enumerate(table)
                                                if _asks(spec, lambda value: chosen(value, k))))


def _forms_if(wanted: Callable[[int], bool], forms: tuple[Any, ...]) -> Callable[[int], Any]:
    """A function of ``spec`` that returns ``forms`` if the spec asks for them, else as
    many stand-ins that do nothing (so the forms are compiled only where used)."""
    return _compiled_choice(lambda spec: forms if _asks(spec, wanted) else (_unused,) * len(forms))


@njit(inline="always")
def _unused(*args: Any) -> None:
    """Stands in for forms a spec does not use (:func:`_forms_if`); never reached."""


_forward_of = _chooser(_FORWARD, lambda spec, k: bool(spec >> k & 1))
_delta_of = _chooser(_DELTA, lambda spec, k: bool(spec >> k & 1))
_loss_of = _chooser(_LOSS, lambda spec, k: spec >> 8 & 15 == k)
_prepare_of = _chooser(_PREPARE, lambda spec, k: spec >> 12 & 15 == k)
_update_of = _chooser(_UPDATE, lambda spec, k: spec >> 12 & 15 == k)


def compiled_supports(net: NetworkLike, optimizer: Optimizer) -> str | None:
    """None if every part of ``net`` and ``optimizer`` has its compiled form, else why not."""
    for i, layer in enumerate(net.layers):
        act = layer.activation
        if type(act) is not activations.ACTIVATIONS.get(act.name):
            return f"layer {i} has a custom activation {act!r}"
        if act.scalar is None and act.name != "softmax":
            return f"layer {i}'s activation {act.name} has no compiled form"
    loss = net.loss_fn
    if type(loss) is not losses.LOSSES.get(loss.name):
        return f"the loss {loss!r} is custom"
    if loss.from_logits:
        return "its loss takes logits (from_logits=True), which only the NumPy engine computes"
    if type(optimizer).__name__ not in OPTIMIZER_CODES or type(optimizer) is not \
            optimizers.OPTIMIZERS.get(type(optimizer).__name__.lower()):
        return f"the optimizer {type(optimizer).__name__} is not dp.SGD or dp.Adam themselves"
    return None


def _declarations_fingerprint() -> str:
    """What the compiled code was built from: every registered class, in registry order,
    with the code of its compiled forms."""
    h = hashlib.sha256()
    for registry, names in ((activations.ACTIVATIONS, ("scalar", "scalar_delta")),
                            (losses.LOSSES, ("scalar_term", "scalar_cost", "scalar_grad")),
                            (optimizers.OPTIMIZERS, ("scalar_prepare", "scalar_update"))):
        for key, cls in registry.items():
            h.update(f"{key}:{cls.__module__}.{cls.__qualname__}".encode())
            for name in names:
                code = getattr(getattr(cls, name), "__code__", None)
                h.update(b"-" if code is None else code.co_code + repr((code.co_consts, code.co_names)).encode())
    return h.hexdigest()


def _invalidate_stale_cache() -> None:
    """numba's cache of this module does not notice a change to the declarations it
    compiles in (it stamps this file only): drop it when they changed, by a fingerprint
    kept beside it."""
    from numba.core import config
    fingerprint = _declarations_fingerprint()
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [os.path.join(here, "__pycache__")]
    if config.CACHE_DIR:
        folders += [root for root, _, files in os.walk(config.CACHE_DIR) if any(f.startswith("_kernels.") for f in files)]
    stamp = os.path.join(folders[0], "_kernels.declarations")
    try:
        with open(stamp) as f:
            if f.read() == fingerprint:
                return
    except OSError:
        pass
    for folder in folders:
        for path in glob.glob(os.path.join(folder, "_kernels.*.nb[ic]")):
            try:
                os.unlink(path)
            except OSError:
                pass
    try:
        os.makedirs(folders[0], exist_ok=True)
        with open(stamp, "w") as f:
            f.write(fingerprint)
    except OSError:          # a read-only install: its cache was filled from the same declarations
        pass


_invalidate_stale_cache()


# ---------------------------------------------------------------------------------------
# The named groups the entry points take

class Batches(NamedTuple):
    """What to train: batches ``start .. start + count - 1`` counted over the rows of
    ``orders`` (batch j of the run is batch (start + j) % n_batches of epoch
    (start + j) // n_batches; batch k of an epoch is ``order[k * size:(k + 1) * size]``,
    the last one possibly short). ``orders`` count the ``n`` rows of the whole data set;
    this process holds rows ``lo .. lo + len(X) - 1`` of them (all: ``lo`` 0, ``n`` -1)
    and trains the examples of each batch that are among them, its part (data-parallel
    ranks: the parts add up to the batch), with the whole batch's 1/m. With
    ``weighted``, example x weighs ``w[x]`` (``w`` over all n rows) and m is the batch's
    total weight (sum_x w_x; a batch of weight 0 has a zero gradient)."""

    X: np.ndarray          # (n, n_in) rows
    Y: np.ndarray          # (n, n_out) rows
    w: np.ndarray          # (n,) example weights in the dtype (empty unless weighted)
    weighted: bool
    orders: np.ndarray     # (epochs, n) int64
    start: int
    # (ignore: the field shadows tuple.count(), a method the kernels never call; they read the field)
    count: int  # type: ignore[assignment]
    size: int              # m, the batch size
    lo: int = 0            # the whole data set's index of X[0]
    n: int = -1            # the whole data set's rows (-1: len(X), X holds them all)


class Arch(NamedTuple):
    """The network, as the kernels read it."""

    sizes: np.ndarray      # (L + 1,) int64: n_0 .. n_L
    acts: np.ndarray       # (L,) int64: activation codes
    params: np.ndarray     # (L,) in the dtype: each activation's parameter (leaky_relu's alpha)
    train_b: np.ndarray    # (L,) bool: the bias is trained
    loss: int              # loss code
    fused: bool            # delta^L = (a - y)/m directly
    classify: bool         # count the examples classified right
    tiny: np.floating      # the dtype's smallest normal number: where logs and divisions are floored


class Flat(NamedTuple):
    """Parameters, gradients and the optimizer's two state buffers, each one vector laid
    out layer by layer: [W^1 (row-major), b^1, W^2, b^2, ...]."""

    P: np.ndarray
    G: np.ndarray
    S1: np.ndarray
    S2: np.ndarray


class Opt(NamedTuple):
    """The optimizer: its code, its hyperparameters in the dtype and in float64, and its
    step count as a float (counted in floats: LLVM would turn pow(x, float(int)) into
    repeated multiplication, which is not the C library's pow that Python calls)."""

    kind: int
    plain: bool            # the update is w - lr g: fold it into BP4's product (float64)
    hyper: Hyper
    hyper64: Hyper
    t: np.ndarray          # (1,) float64, advanced by each step


class Blas(NamedTuple):
    """Addresses of NumPy's own cblas_?gemm and cblas_?gemv, and whether they take 64-bit
    ints; ``small``: how this BLAS rounds the one-example products of layers of at most
    SMALL weights, W a (low 4 bits) and W^T delta (next 4), as :func:`small_products`
    found it (0: not found, the kernel calls gemv), which the kernel then computes itself."""

    gemm: int
    gemv: int
    ilp64: bool
    small: int = 0


# ---------------------------------------------------------------------------------------
# NumPy's BLAS

_GEMM: dict[str, Any] | None = None


def _blas_candidates() -> list[str]:
    """Shared libraries that may hold the BLAS NumPy was built with: the one its wheel
    bundles first, then those this process has loaded, but not from other packages'
    folders (SciPy's wheel loads an OpenBLAS of its own, which numba imports: its
    products round differently, so finding it first would make the engine's depend
    on what was imported before)."""
    root = os.path.dirname(np.__file__)
    site = os.path.dirname(root)
    found = []
    for pattern in ("../numpy.libs/*blas*", ".dylibs/*blas*", "../numpy.libs/*blas*.dll"):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            if path not in found:
                found.append(os.path.normpath(path))
    try:                                    # Linux: a system BLAS NumPy was linked against
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if line.count("/") else ""
                theirs = path.startswith(site + os.sep) and not path.startswith((root + os.sep, root + ".libs"))
                if "blas" in os.path.basename(path).lower() and not theirs and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def gemm_functions() -> dict[str, Any] | None:
    """Where NumPy's own ``cblas_sgemm``/``cblas_dgemm`` are, or None if they cannot be found
    (the engine then declines). ``{"float32": address, "float64": address, "ilp64": bool, ...}``:
    the kernels receive plain addresses, so that their compiled code can be cached."""
    global _GEMM
    if _GEMM is not None:
        return _GEMM or None
    for path in _blas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                try:
                    fs = [getattr(lib, f"{prefix}cblas_{name}{suffix}") for name in ("sgemm", "dgemm", "sgemv", "dgemv")]
                except AttributeError:
                    continue
                a = [ctypes.cast(fn, ctypes.c_void_p).value for fn in fs]
                _GEMM = {"float32": a[0], "float64": a[1], "gemv_float32": a[2], "gemv_float64": a[3],
                         "ilp64": suffix == "64_", "library": path, "symbol": f"{prefix}cblas_dgemm{suffix}"}
                return _GEMM
    _GEMM = {}
    return None


@intrinsic
def _call_c(typingctx: Any, address: Any, args: Any) -> tuple[Any, Callable[..., Any]]:
    """Call the C function at ``address`` (an integer) with the values of the tuple ``args``,
    typed as they are typed here; it returns nothing. (It types and generates code for
    numba: its arguments are numba's typing context and types, and LLVM's builder.)"""
    def codegen(context: Any, builder: Any, signature: Any, llargs: Any) -> Any:
        arg_types = signature.args[1].types
        values = [builder.extract_value(llargs[1], i) for i in range(len(arg_types))]
        fnty = ir.FunctionType(ir.VoidType(), [context.get_value_type(t) for t in arg_types])
        builder.call(builder.inttoptr(llargs[0], fnty.as_pointer()), values)
        return context.get_dummy_value()
    return types.void(address, args), codegen


def _unowned(context: Any, builder: Any, array_type: Any, data: Any, shape: Any, strides: Any, itemsize: Any) -> Any:
    """Code for an array of ``array_type`` over ``data`` that owns nothing (a null meminfo,
    so numba's reference counts on it cost nothing): it must not outlive the array that
    owns ``data``."""
    from numba.np.arrayobj import make_array, populate_array
    out = make_array(array_type)(context, builder)
    populate_array(out, data=data, shape=shape, strides=strides, itemsize=itemsize, meminfo=None)
    return out._getvalue()


@intrinsic
def _view(typingctx: Any, flat: Any, start: Any, shape: Any) -> tuple[Any, Callable[..., Any]]:
    """``flat[start:start + prod(shape)].reshape(shape)`` for a contiguous 1-D ``flat``,
    made without numba's reshape helper and its reference count (:func:`_unowned`): it
    must not outlive ``flat`` (the step's buffers, which live for the whole call). One
    step makes about twenty views and slices of its buffers: as reshapes and slices
    handed to other functions they cost more than the arithmetic of a 2-2-2 network."""
    view = types.Array(flat.dtype, len(shape), "C")

    def codegen(context: Any, builder: Any, signature: Any, llargs: Any) -> Any:
        from numba.core import cgutils
        from numba.np.arrayobj import make_array
        src = make_array(signature.args[0])(context, builder, llargs[0])
        intp = context.get_value_type(types.intp)
        itemsize = ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(flat.dtype)))
        first = context.cast(builder, llargs[1], signature.args[1], types.intp)
        dims = [context.cast(builder, builder.extract_value(llargs[2], i), t, types.intp)
                for i, t in enumerate(signature.args[2].types)]
        strides = [itemsize]                             # C order: the last axis is contiguous
        for d in reversed(dims[1:]):
            strides.insert(0, builder.mul(d, strides[0]))
        return _unowned(context, builder, signature.return_type, builder.gep(src.data, [first]),
                        cgutils.pack_array(builder, dims), cgutils.pack_array(builder, strides), itemsize)
    return view(flat, start, shape), codegen


@intrinsic
def _borrow(typingctx: Any, group: Any) -> tuple[Any, Callable[..., Any]]:
    """``group`` (a named tuple) with each array in it replaced by one that owns nothing
    (:func:`_unowned`), for use while the caller holds ``group``: a step reads its
    buffers across many loops, where numba counts a reference in and out of each array
    it takes from a tuple, an atomic add each time."""
    def codegen(context: Any, builder: Any, signature: Any, llargs: Any) -> Any:
        from numba.np.arrayobj import make_array
        values = []
        for i, member in enumerate(signature.args[0].types):
            value = builder.extract_value(llargs[0], i)
            if isinstance(member, types.Array):
                src = make_array(member)(context, builder, value)
                value = _unowned(context, builder, member, src.data, src.shape, src.strides, src.itemsize)
            values.append(value)
        return context.make_tuple(builder, signature.return_type, values)
    return group(group), codegen


# ---------------------------------------------------------------------------------------
# The pieces of one step (each mirrors one line of layers.py / activations.py / losses.py)

def _cast(like: np.ndarray, value: float) -> float:
    """``value`` in ``like``'s dtype (as NumPy casts a Python scalar against an array)."""
    return like.dtype.type(value)


@overload(_cast, inline="always", jit_options={"error_model": "numpy"})
def _cast_compiled(like: Any, value: Any) -> Callable[[Any, Any], Any]:
    # in compiled code: a cast to the array's dtype, decided when compiling (no array made;
    # ``like`` and ``value`` are numba's types of the arguments). numba requires the two
    # signatures to be equal, annotations included: both say Any.
    dtype = like.dtype

    def cast(like: Any, value: Any) -> Any:
        return dtype(value)
    return cast


# numba compiles one more copy of a function for each call whose constants (a 0, a
# transpose flag) it types as literals (gemm had 11 copies, each sum 4): the tiny helpers
# below are inlined where they are used, and the sums take int64 arguments.

@njit(inline="always", error_model="numpy")
def _block_sum(a: np.ndarray, lo: int, n: int, zero: float) -> float:
    """pairwise_sum for n <= 128: one block, eight accumulators (or a plain loop below 8)."""
    if n < 8:
        res = zero
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(inline="always", error_model="numpy")
def _half(n: int) -> int:
    n2 = n // 2
    return n2 - n2 % 8


@njit(inline="always", error_model="numpy")
def pairwise_sum(a: np.ndarray, lo: int, n: int, zero: float) -> float:
    """sum(a[lo:lo + n]) in a's dtype, in NumPy's order (:func:`_pairwise_sum`)."""
    return _pairwise_sum(a, np.int64(lo), np.int64(n), zero)     # (int64: one compiled form per dtype)


@njit(cache=True, error_model="numpy")
def _pairwise_sum(a: np.ndarray, lo: int, n: int, zero: float) -> float:
    """sum(a[lo:lo + n]) in a's dtype, in exactly the order NumPy's ``add.reduce`` adds a
    contiguous run (numpy/_core/src/umath/loops_utils.h.src, ``pairwise_sum``): blocks of
    at most 128, halved recursively above that, left half + right half. The recursion
    runs on an explicit stack (numba's cache cannot hold self-recursive functions)."""
    if n <= 128:
        return _block_sum(a, lo, n, zero)
    los = np.empty(64, np.int64)       # frames: a range, and whether its left half is done
    ns = np.empty(64, np.int64)
    stage = np.empty(64, np.int64)
    left = np.empty(64, a.dtype)
    sp = 0
    los[0], ns[0], stage[0] = lo, n, 0
    ret = zero
    returning = False
    while sp >= 0:
        if returning:
            if stage[sp] == 1:          # the left half came back: now the right half
                left[sp] = ret
                stage[sp] = 2
                h = _half(ns[sp])
                sp += 1
                los[sp], ns[sp], stage[sp] = los[sp - 1] + h, ns[sp - 1] - h, 0
                returning = False
            else:                       # both halves: left + right, back to the caller
                ret = left[sp] + ret
                sp -= 1
            continue
        m = ns[sp]
        if m <= 128:
            ret = _block_sum(a, los[sp], m, zero)
            returning = True
            sp -= 1
            continue
        stage[sp] = 1
        sp += 1
        los[sp], ns[sp], stage[sp] = los[sp - 1], _half(m), 0
    return ret


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _column_sum(M: np.ndarray, c: int, zero: float) -> float:
    """sum_i M[i, c], in the order NumPy's ``sum(axis=0)`` adds an (n, m) C array: row
    after row when m > 1, but pairwise (the axis is then contiguous) when m == 1."""
    n, m = M.shape
    if m == 1 and n >= 8:
        return pairwise_sum(M.ravel(), 0, n, zero)
    s = zero
    for i in range(n):
        s += M[i, c]
    return s


@njit(inline="always", error_model="numpy")
def _column_dot(M: np.ndarray, T: np.ndarray, c: int, zero: float) -> float:
    """sum_i M[i, c] T[i, c], row after row (NumPy's ``sum(axis=0)`` of an (n, m > 1) product)."""
    s = zero
    for i in range(M.shape[0]):
        s += M[i, c] * T[i, c]
    return s


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _rows_sum(terms: np.ndarray, zero: float) -> float:
    """terms[0, 0] + terms[1, 0] + ..., one after the other."""
    s = zero
    for i in range(terms.shape[0]):
        s += terms[i, 0]
    return s


# The two C calls are compiled once, for the signatures they declare (no copy per dtype
# or per call site's constants).

@njit("void(int64, boolean, boolean, int32, int32, int64, int64, int64, float64, intp, int64, intp, int64, "
      "float64, intp, int64)", cache=True, error_model="numpy")
def _gemm(f: int, ilp64: bool, single: bool, transa: int, transb: int, M: int, N: int, K: int, alpha: float, A: int,
          lda: int, B: int, ldb: int, beta: float, C: int, ldc: int) -> None:
    """cblas_?gemm(RowMajor, ...) at address ``f`` on the buffers at addresses A, B, C,
    in float32 (``single``) or float64, with 64-bit (``ilp64``) or 32-bit integers."""
    o = np.int32(ROW_MAJOR)
    if single:
        a, b = np.float32(alpha), np.float32(beta)
        if ilp64:
            _call_c(f, (o, transa, transb, M, N, K, a, A, lda, B, ldb, b, C, ldc))
        else:
            _call_c(f, (o, transa, transb, np.int32(M), np.int32(N), np.int32(K), a, A, np.int32(lda), B,
                        np.int32(ldb), b, C, np.int32(ldc)))
    elif ilp64:
        _call_c(f, (o, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    else:
        _call_c(f, (o, transa, transb, np.int32(M), np.int32(N), np.int32(K), alpha, A, np.int32(lda), B,
                    np.int32(ldb), beta, C, np.int32(ldc)))


@njit(inline="always", error_model="numpy")
def gemm(f: int, ilp64: bool, transa: int, transb: int, M: int, N: int, K: int, A: np.ndarray, lda: int,
         B: np.ndarray, ldb: int, C: np.ndarray, ldc: int, alpha: float = 1.0, beta: float = 0.0) -> None:
    """C = alpha op(A) op(B) + beta C for C-ordered buffers, by the cblas_?gemm at address
    ``f``; with alpha = 1, beta = 0 it is the call ``np.matmul`` makes (RowMajor, the same
    transposes and leading dimensions)."""
    _gemm(f, ilp64, C.itemsize == 4, np.int32(transa), np.int32(transb), M, N, K, alpha, A.ctypes.data, lda,
          B.ctypes.data, ldb, beta, C.ctypes.data, ldc)


_FOLDS: dict[tuple[int, float, tuple[tuple[int, int, int, bool], ...]], bool] = {}


def fold_is_exact(blas: Blas, shapes: Sequence[tuple[int, int, int, bool]], lr: float) -> bool:
    """Whether ``W + (-lr) dW`` as one gemm (alpha = -lr, beta = 1) gives the bits of
    ``dW`` first and then ``W - lr dW``, for BP4's products of every ``(n_out, n_in, m,
    first)`` in ``shapes`` (the first layer's with X's rows, the others' with A_prev^T),
    in float64.

    Tried on random numbers (remembered per BLAS, lr and shapes), with ``lr`` and with
    0.3 (an lr so large that every product overflows would show nothing): a kernel that
    fuses the update rounds once where the reference rounds twice, which shows in most
    elements of any such product.
    """
    key = (blas.gemm, float(lr), tuple(shapes))
    if key not in _FOLDS:
        _FOLDS[key] = all(_folds_exactly(blas, shapes, rate) for rate in (float(lr), 0.3))
    return _FOLDS[key]


def _folds_exactly(blas: Blas, shapes: Sequence[tuple[int, int, int, bool]], lr: float) -> bool:
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        for no, ni, mb, first in shapes:
            for _ in range(-(-4096 // (no * ni))):      # (at least 4096 elements of each shape)
                D = rng.normal(size=no * mb)
                B = rng.normal(size=ni * mb)
                W = rng.normal(size=no * ni)
                G = np.zeros(no * ni)
                folded = W.copy()
                transb = NO_TRANS if first else TRANS
                ldb = ni if first else mb
                # (_gemm itself, compiled when this module loads: gemm from Python would compile a form of its own)
                for out, alpha, beta in ((G, 1.0, 0.0), (folded, -lr, 1.0)):
                    _gemm(blas.gemm, blas.ilp64, False, NO_TRANS, transb, no, ni, mb, alpha, D.ctypes.data, mb,
                          B.ctypes.data, ldb, beta, out.ctypes.data, ni)
                if not np.array_equal(folded, W - lr * G, equal_nan=True):
                    return False
    return True


@njit("void(int64, boolean, boolean, int32, int32, int64, int64, intp, int64, intp, intp)", cache=True,
      error_model="numpy")
def _gemv(f: int, ilp64: bool, single: bool, order: int, trans: int, M: int, N: int, A: int, lda: int, x: int,
          y: int) -> None:
    """y = op(A) x by cblas_?gemv at address ``f`` (unit strides), on the buffers at A, x, y."""
    if single:
        one, zero = np.float32(1.0), np.float32(0.0)
        if ilp64:
            _call_c(f, (order, trans, M, N, one, A, lda, x, np.int64(1), zero, y, np.int64(1)))
        else:
            _call_c(f, (order, trans, np.int32(M), np.int32(N), one, A, np.int32(lda), x, np.int32(1), zero, y,
                        np.int32(1)))
    elif ilp64:
        _call_c(f, (order, trans, M, N, 1.0, A, lda, x, np.int64(1), 0.0, y, np.int64(1)))
    else:
        _call_c(f, (order, trans, np.int32(M), np.int32(N), 1.0, A, np.int32(lda), x, np.int32(1), 0.0, y,
                    np.int32(1)))


@njit(inline="always", error_model="numpy")
def gemv(f: int, ilp64: bool, order: int, trans: int, M: int, N: int, A: np.ndarray, lda: int, x: np.ndarray,
         y: np.ndarray) -> None:
    """y = op(A) x by the cblas_?gemv at address ``f`` (unit strides): the call ``np.matmul``
    makes instead of gemm when the batch is one example."""
    _gemv(f, ilp64, y.itemsize == 4, np.int32(order), np.int32(trans), M, N, A.ctypes.data, lda, x.ctypes.data,
          y.ctypes.data)


#: Most weights (n_out x n_in) of a layer whose one-example products the kernel computes
#: itself where it rounds them as the BLAS does: a gemv call costs more than such a product.
SMALL = 64


@intrinsic
def _fma(typingctx: Any, a: Any, b: Any, c: Any) -> tuple[Any, Callable[..., Any]]:
    """a * b + c rounded once (LLVM's llvm.fma), in a's type."""
    def codegen(context: Any, builder: Any, signature: Any, llargs: Any) -> Any:
        ty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, llargs)
    return a(a, a, a), codegen


@njit(inline="always", error_model="numpy")
def _dot(mode: int, W: np.ndarray, lo: int, stride: int, v: np.ndarray, n: int, zero: float) -> float:
    """sum_k W[lo + k * stride] v[k] over k < n, rounded as ``mode`` says: terms taken from
    k = 0 up (modes 1, 2) or from k = n - 1 down (3, 4), each added after its product is
    rounded (1, 3) or fused with it in one multiply-add (2, 4)."""
    acc = zero
    for j in range(n):
        k = j if mode <= 2 else n - 1 - j
        if mode == 2 or mode == 4:
            acc = _fma(W[lo + k * stride], v[k], acc)
        else:
            acc = acc + W[lo + k * stride] * v[k]
    return acc


@njit(cache=True, error_model="numpy")
def small_mv(mode: int, W: np.ndarray, x: np.ndarray, y: np.ndarray, no: int, ni: int) -> None:
    """y = W x for W (no, ni) row-major flat, x (ni,), y (no,), rounded as ``mode`` (:func:`_dot`)."""
    zero = _cast(y, 0.0)
    for i in range(no):
        y[i] = _dot(mode, W, i * ni, 1, x, ni, zero)


@njit(cache=True, error_model="numpy")
def small_mtv(mode: int, W: np.ndarray, d: np.ndarray, y: np.ndarray, no: int, ni: int) -> None:
    """y = W^T d for W (no, ni) row-major flat, d (no,), y (ni,) (BP2's (W^l)^T delta for one
    example), rounded as ``mode`` (:func:`_dot`)."""
    zero = _cast(y, 0.0)
    for q in range(ni):
        y[q] = _dot(mode, W, q, ni, d, no, zero)


_SMALL: dict[tuple[Any, ...], int] = {}


def small_products(blas: Blas, dtype: np.dtype, shapes: Sequence[tuple[int, int]]) -> int:
    """How the BLAS at ``blas`` rounds the one-example products y = W x and y = W^T d of
    each (n_out, n_in) in ``shapes`` (those of at most SMALL weights), as Blas.small
    holds it: for each of the two, the first of :func:`_dot`'s four orders that gives the
    BLAS's bits on every trial (random numbers, zeros of both signs, mixed exponents),
    or 0 if none does (the kernel then calls gemv for that product). Remembered per BLAS,
    dtype and shapes."""
    shapes = tuple(sorted({(no, ni) for no, ni in shapes if no > 1 and ni > 1 and no * ni <= SMALL}))
    key = (blas.gemv, np.dtype(dtype).name, shapes)
    if key not in _SMALL:
        found = [next((mode for mode in (1, 2, 3, 4) if shapes and _rounds_as(blas, np.dtype(dtype), shapes, mode,
                                                                             forward)), 0)
                 for forward in (True, False)]
        _SMALL[key] = found[0] | found[1] << 4
    return _SMALL[key]


def _rounds_as(blas: Blas, dtype: np.dtype, shapes: tuple[tuple[int, int], ...], mode: int, forward: bool) -> bool:
    rng = np.random.default_rng(0)
    single = dtype == np.float32
    with np.errstate(all="ignore"):
        for no, ni in shapes:
            for _ in range(300):
                W = (rng.normal(size=no * ni) * 2.0 ** rng.integers(-8, 8, no * ni)).astype(dtype)
                x = (rng.normal(size=max(no, ni)) * 2.0 ** rng.integers(-8, 8, max(no, ni))).astype(dtype)
                W[rng.random(no * ni) < 0.1] = 0
                x[rng.random(x.size) < 0.1] = -0.0
                n_in, n_out = (ni, no) if forward else (no, ni)
                v, ref, mine = x[:n_in].copy(), np.empty(n_out, dtype), np.empty(n_out, dtype)
                if forward:     # the kernel's calls (see _step)
                    _gemv(blas.gemv, blas.ilp64, single, np.int32(COL_MAJOR), np.int32(TRANS), ni, no,
                          W.ctypes.data, ni, v.ctypes.data, ref.ctypes.data)
                    small_mv(mode, W, v, mine, no, ni)
                else:
                    _gemv(blas.gemv, blas.ilp64, single, np.int32(ROW_MAJOR), np.int32(TRANS), no, ni,
                          W.ctypes.data, ni, v.ctypes.data, ref.ctypes.data)
                    small_mtv(mode, W, v, mine, no, ni)
                if not np.array_equal(ref.view(np.uint8), mine.view(np.uint8)):   # -0.0 and +0.0 differ
                    return False
    return True


# ---------------------------------------------------------------------------------------
# The pieces of one step (each the compiled form of one line of layers.py)

@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _softmax(Z: np.ndarray, A: np.ndarray, one: float) -> None:
    """A = e^(z - max z) / sum e^(z - max z), per column of Z (n, m)."""
    n, m = Z.shape
    for c in range(m):
        mx = Z[0, c]
        for i in range(1, n):
            z = Z[i, c]
            if z > mx or z != z:    # NaN propagates, as in np.max
                mx = z
        for i in range(n):
            A[i, c] = math.exp(Z[i, c] - mx)
        s = _column_sum(A, c, one - one)
        for i in range(n):
            A[i, c] = A[i, c] / s


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _softmax_backward(dA: np.ndarray, A: np.ndarray, D: np.ndarray, one: float) -> None:
    """D = a (.) (dA - sum_k dA_k a_k), per column: softmax's Jacobian-transpose product."""
    n, m = A.shape
    terms = np.empty((n, 1), A.dtype)
    for c in range(m):
        for i in range(n):
            terms[i, 0] = dA[i, c] * A[i, c]
        s = _column_sum(terms, np.int64(0), one - one) if m == 1 else _column_dot(dA, A, c, one - one)
        for i in range(n):
            D[i, c] = A[i, c] * (dA[i, c] - s)


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _one_forward(blas: Blas, W: np.ndarray, x: np.ndarray, z: np.ndarray, no: int, ni: int) -> None:
    """z = W x for one example (W (no, ni) row-major flat): the kernel's own product where
    it rounds as the BLAS (Blas.small), else the gemv np.matmul calls."""
    if blas.small & 15 > 0 and no * ni <= SMALL:
        small_mv(blas.small & 15, W, x, z, no, ni)
    else:
        gemv(blas.gemv, blas.ilp64, COL_MAJOR, TRANS, ni, no, W, ni, x, z)


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _one_backward(blas: Blas, W: np.ndarray, d: np.ndarray, da: np.ndarray, no: int, ni: int) -> None:
    """da = W^T d for one example (BP2's product), as :func:`_one_forward` chooses."""
    if blas.small >> 4 > 0 and no * ni <= SMALL:
        small_mtv(blas.small >> 4, W, d, da, no, ni)
    else:
        gemv(blas.gemv, blas.ilp64, ROW_MAJOR, TRANS, no, ni, W, ni, d, da)


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _one_outer(d: np.ndarray, a: np.ndarray, out: np.ndarray, no: int, ni: int) -> None:
    """out = d a^T for one example (BP4): np.matmul's plain loop for an inner dimension of 1, 0 + d a."""
    zero = _cast(out, 0.0)
    for i in range(no):
        di = d[i]
        for q in range(ni):
            out[i * ni + q] = zero + di * a[q]


# the one-example forms where a batch may hold one example; softmax's column forms where it is used
_one_of = _forms_if(lambda spec: bool(spec >> 16 & 1), (_one_forward, _one_backward, _one_outer))
_softmax_of = _forms_if(lambda spec: bool(spec >> SOFTMAX & 1), (_softmax, _softmax_backward))


@njit(cache=True, error_model="numpy")
def bias_activation(spec: int, code: int, p: float, Z: np.ndarray, b: np.ndarray, A: np.ndarray, one: float) -> None:
    """Z += b (per row), then A = sigma(Z): the rest of z = W a + b and a = sigma(z).

    Z, A: (n, m). ``p`` (the activation's parameter) and ``one`` are in Z's dtype.
    """
    n, m = Z.shape
    for i in range(n):
        bi = b[i]
        for c in range(m):
            Z[i, c] += bi
    if code == SOFTMAX:
        _softmax_of(spec)[0](Z, A, one)
        return
    for k_sigma in literal_unroll(_forward_of(spec)):
        k, sigma = k_sigma
        if k == code:
            for i in range(n):
                for c in range(m):
                    A[i, c] = sigma(Z[i, c], p, one)


@njit(cache=True, error_model="numpy")
def delta(spec: int, code: int, p: float, dA: np.ndarray, Z: np.ndarray, A: np.ndarray, D: np.ndarray, one: float) -> None:
    """delta = dA (.) sigma'(z) (BP1/BP2); softmax: its Jacobian-transpose product. D may be dA."""
    n, m = Z.shape
    if code == SOFTMAX:
        _softmax_of(spec)[1](dA, A, D, one)
        return
    for k_backward in literal_unroll(_delta_of(spec)):
        k, backward = k_backward
        if k == code:
            for i in range(n):
                for c in range(m):
                    D[i, c] = backward(dA[i, c], Z[i, c], A[i, c], p, one)


@njit(cache=True, no_cpython_wrapper=True)
def _or(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """a, or b where a is None (decided when compiling)."""
    return b if a is None else a


@njit(cache=True, error_model="numpy")
def output_error(spec: int, loss: int, fused: bool, act: int, p: float, Z: np.ndarray, A: np.ndarray, Y: np.ndarray,
                 D: np.ndarray, cx: np.ndarray, one: float, tiny: float, classify: bool, m: float = 0,
                 w: np.ndarray | None = None, scratch: np.ndarray | None = None) -> int:
    """BP1: delta^L into D (with the batch's 1/m) and C_x of each example into cx.

    A, Z, D: (n, b) columns; Y: (b, n) rows; ``m`` the whole batch's size (default b).
    With example weights ``w`` (b,): delta^L's column x times w_x, cx[x] = w_x C_x, and
    ``m`` is the whole batch's total weight (in the dtype), as losses.batch_mean has it.
    ``scratch`` (n, 1), if given, holds one example's terms of C_x (else it is made here).
    An empty ``w`` is no weights (the engine's calls, one compiled form for both).
    Returns the number of examples classified right (0 unless ``classify``).
    """
    n, b = A.shape
    weighted = w is not None and w.shape[0] > 0
    ws = _or(w, cx)                     # (read only when weighted)
    if not weighted:
        mm = _cast(A, b if m == 0 else m)   # the reference divides by A.shape[1], cast to the dtype
    else:
        mm = _cast(A, m) if m > 0 else one
    half = _cast(A, 0.5)
    zero = one - one
    # C_x's terms, summed as NumPy's sum(axis=0) sums them
    terms = np.empty((n, 1), A.dtype) if scratch is None else scratch
    for k_fs in literal_unroll(_loss_of(spec)):
        k, (term, cost, grad) = k_fs
        if k == loss:
            for c in range(b):
                for i in range(n):
                    a, y = A[i, c], Y[c, i]
                    terms[i, 0] = term(a, y, tiny, one)
                    g = (a - y) if fused else grad(a, y, tiny, one)
                    D[i, c] = g * ws[c] / mm if weighted else g / mm
                s = _column_sum(terms, np.int64(0), zero) if b == 1 else _rows_sum(terms, zero)
                cx[c] = cost(s, half) * ws[c] if weighted else cost(s, half)
    if not fused:
        delta(spec, act, p, D, Z, A, D, one)
    correct = 0
    if classify:
        for c in range(b):
            if n == 1:
                correct += (A[0, c] > 0.5) == (Y[c, 0] > 0.5)
            else:
                ia, iy = 0, 0
                for i in range(1, n):
                    if A[i, c] > A[ia, c]:
                        ia = i
                    if Y[c, i] > Y[c, iy]:
                        iy = i
                correct += ia == iy
    return correct


@njit(cache=True, error_model="numpy")
def apply_update(spec: int, kind: int, p: np.ndarray, g: np.ndarray, s1: np.ndarray, s2: np.ndarray, h: Hyper, k0: float,
                 k1: float, wd: float) -> None:
    """The optimizer's update of one parameter array, in place: its declared
    scalar_update for each entry. (Loops from 0 over views: LLVM vectorizes them.)"""
    for k_step in literal_unroll(_update_of(spec)):
        k, step = k_step
        if k == kind:
            for j in range(p.shape[0]):
                p[j], s1[j], s2[j] = step(p[j], g[j], s1[j], s2[j], h, k0, k1, wd)


@njit(inline="always", error_model="numpy")
def _prepare(spec: int, opt: Opt, like: np.ndarray) -> tuple[float, float]:
    """Advance the step count; the optimizer's per-step factors, in ``like``'s dtype."""
    opt.t[0] += 1.0
    k0, k1 = 0.0, 0.0
    for k_prepare in literal_unroll(_prepare_of(spec)):
        k, prepare = k_prepare
        if k == opt.kind:
            k0, k1 = prepare(opt.hyper64, opt.t[0])
    return _cast(like, k0), _cast(like, k1)


# ---------------------------------------------------------------------------------------
# One step, and the loop over steps

class _Work(NamedTuple):
    Z: np.ndarray          # z^l of every layer, one after the other
    A: np.ndarray          # a^l
    D: np.ndarray          # delta^l
    dA: np.ndarray         # dC/da^l of the layer below, for BP2
    x: np.ndarray          # the batch's rows X[idx]
    y: np.ndarray          # and Y[idx]
    cx: np.ndarray         # C_x of each example
    w: np.ndarray          # the whole batch's weights w[idx] (weighted runs)


@njit(inline="always", error_model="numpy")
def _work(P: np.ndarray, sizes: np.ndarray, size: int) -> _Work:
    L = sizes.shape[0] - 1
    units = 0
    widest = 0
    for l in range(L):
        units += sizes[l + 1] * size
        widest = max(widest, sizes[l])
    widest = max(widest, sizes[L])      # (dA's buffer also holds one example's terms of C_x)
    return _Work(np.empty(units, P.dtype), np.empty(units, P.dtype), np.empty(units, P.dtype),
                 np.empty(widest * size, P.dtype), np.empty(size * sizes[0], P.dtype),
                 np.empty(size * sizes[L], P.dtype), np.empty(size, P.dtype), np.empty(size, P.dtype))


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _step(spec: int, b: Batches, j: int, arch: Arch, flat: Flat, opt: Opt, blas: Blas, work: _Work,
          interleave: bool) -> tuple[float, int]:
    """Batch j of the run (see Batches): feed forward, BP1 and the cost; if it is finite,
    BP2-BP4 into G, each layer's update as soon as BP2 has used its W (``interleave``),
    or no update at all (the optimizer then runs in :func:`update`). Returns (the
    batch's sum of C_x over this part, the examples classified right)."""
    X, Y, P, G = b.X, b.Y, flat.P, flat.G
    sizes, acts, params = arch.sizes, arch.acts, arch.params
    L = sizes.shape[0] - 1
    held = X.shape[0]
    n = held if b.n < 0 else b.n
    n_in, n_out = sizes[0], sizes[L]
    nb = -(-n // b.size)
    e, kb = (b.start + j) // nb, (b.start + j) % nb
    order = b.orders[e]
    f, ilp64 = blas.gemm, blas.ilp64
    one_forward, one_backward, one_outer = _one_of(spec)     # (compiled where a batch may hold one example)
    one = _cast(P, 1.0)
    zero = one - one
    tiny = arch.tiny
    s = kb * b.size
    mbatch = min(b.size, n - s)
    Zbuf, Abuf, Dbuf, dAbuf, xbuf, ybuf, cx, wbuf = work
    mb = 0                              # X[idx], Y[idx] of this part (plain loops: faster than slice copies)
    for r in range(mbatch):
        x = order[s + r] - b.lo
        if 0 <= x < held:
            src, dst = X[x], xbuf[mb * n_in:(mb + 1) * n_in]
            for i in range(n_in):
                dst[i] = src[i]
            src, dst = Y[x], ybuf[mb * n_out:(mb + 1) * n_out]
            for i in range(n_out):
                dst[i] = src[i]
            mb += 1
    if mb == 0:                         # this part of the batch holds no example
        G[:] = zero
        return 0.0, 0
    Xb = _view(xbuf, 0, (mb, n_in))          # X[idx]: rows, C order
    Yb = _view(ybuf, 0, (mb, n_out))
    # feed forward: z = W a_prev + b, a = sigma(z)
    w = 0
    u = 0
    for l in range(L):
        no, ni = sizes[l + 1], sizes[l]
        W = _view(P, w, (no, ni))
        bias = _view(P, w + no * ni, (no,))
        Z = _view(Zbuf, u, (no, mb))
        A = _view(Abuf, u, (no, mb))
        # one example and no dimension 1: np.matmul calls gemv (see NumPy's matmul.c.src)
        vec = mb == 1 and no > 1 and ni > 1
        if vec:
            one_forward(blas, _view(P, w, (no * ni,)), xbuf if l == 0 else _view(Abuf, u - ni, (ni,)),
                        _view(Zbuf, u, (no,)), no, ni)
        elif l == 0:    # W @ X[idx].T
            gemm(f, ilp64, NO_TRANS, TRANS, no, mb, ni, W, ni, Xb, ni, Z, mb)
        else:           # W @ A_prev
            gemm(f, ilp64, NO_TRANS, NO_TRANS, no, mb, ni, W, ni, _view(Abuf, u - ni * mb, (ni * mb,)), mb, Z, mb)
        bias_activation(spec, acts[l], params[l], Z, bias, A, one)
        w += no * ni + no
        u += no * mb
    # BP1 and the cost C_x of each example
    u -= n_out * mb
    ZL = _view(Zbuf, u, (n_out, mb))
    AL = _view(Abuf, u, (n_out, mb))
    DL = _view(Dbuf, u, (n_out, mb))
    m = np.float64(mbatch)
    if b.weighted:      # m = sum of w[idx] over the whole batch, summed as NumPy sums it
        for r in range(mbatch):
            wbuf[r] = b.w[order[s + r]]
        m = np.float64(pairwise_sum(wbuf, 0, mbatch, zero))
        k = 0
        for r in range(mbatch):         # then the part's own weights, in its order
            if 0 <= order[s + r] - b.lo < held:
                wbuf[k] = wbuf[r]
                k += 1
    # (an empty w: no weights; dA is free until BP2: it lends the cost's terms their buffer)
    right = output_error(spec, arch.loss, arch.fused, acts[L - 1], params[L - 1], ZL, AL, Yb, DL, cx, one, tiny,
                         arch.classify, m, _view(wbuf, 0, (mb if b.weighted else 0,)), _view(dAbuf, 0, (n_out, 1)))
    cost = np.float64(pairwise_sum(cx, 0, mb, zero))
    if not math.isfinite(cost):
        return cost, right
    if interleave:
        k0, k1 = _prepare(spec, opt, P)
    # BP2-BP4 from the top layer down (each layer's update as soon as BP2 has used its W)
    for l in range(L - 1, -1, -1):
        no, ni = sizes[l + 1], sizes[l]
        w -= no * ni + no
        D = _view(Dbuf, u, (no, mb))
        vec = mb == 1 and no > 1 and ni > 1
        if l > 0:                                             # BP2, for the layer below
            dA = _view(dAbuf, 0, (ni, mb))
            if vec:
                one_backward(blas, _view(P, w, (no * ni,)), _view(Dbuf, u, (no,)), _view(dAbuf, 0, (ni,)), no, ni)
            else:
                gemm(f, ilp64, TRANS, NO_TRANS, ni, mb, no, _view(P, w, (no * ni,)), ni, D, mb, dA, mb)
        # BP4, dW = delta a_prev^T (a_prev^T = X[idx] for the first layer). A plain step in
        # float64 folds W -= lr dW into the product itself (alpha = -lr, beta = 1: no dW
        # written, no second pass over W), which this BLAS rounds exactly as the
        # reference's two steps.
        fold = interleave and opt.plain and P.itemsize == 8 and not vec
        out = _view(P, w, (no * ni,)) if fold else _view(G, w, (no * ni,))
        alpha, beta = (-opt.hyper64.lr, 1.0) if fold else (1.0, 0.0)
        if vec:
            one_outer(_view(Dbuf, u, (no,)), xbuf if l == 0 else _view(Abuf, u - ni, (ni,)), out, no, ni)
        elif l == 0:
            gemm(f, ilp64, NO_TRANS, NO_TRANS, no, ni, mb, D, mb, Xb, ni, out, ni, alpha, beta)
        else:
            gemm(f, ilp64, NO_TRANS, TRANS, no, ni, mb, D, mb, _view(Abuf, u - ni * mb, (ni * mb,)), mb, out, ni,
                 alpha, beta)
        for i in range(no):                                   # BP3: db = sum of delta
            G[w + no * ni + i] = pairwise_sum(Dbuf, u + i * mb, mb, zero)
        if l > 0:                                             # BP2's Hadamard product
            u -= ni * mb
            delta(spec, acts[l - 1], params[l - 1], dA, _view(Zbuf, u, (ni, mb)),
                  _view(Abuf, u, (ni, mb)), _view(Dbuf, u, (ni, mb)), one)
        if interleave:
            _update_layer(spec, arch, flat, opt, l, w, no * ni, no, fold, k0, k1)
    return cost, right


@njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
def _update_layer(spec: int, arch: Arch, flat: Flat, opt: Opt, l: int, w: int, n_w: int, n_b: int, folded: bool, k0: float,
                  k1: float) -> None:
    """The optimizer's update of layer l's W (unless folded into BP4) and b (if trained)."""
    P, G, S1, S2 = flat
    wb, be = w + n_w, w + n_w + (n_b if arch.train_b[l] else 0)
    if not folded:
        apply_update(spec, opt.kind, _view(P, w, (n_w,)), _view(G, w, (n_w,)), _view(S1, w, (n_w,)), _view(S2, w, (n_w,)),
                     opt.hyper, k0, k1, opt.hyper.weight_decay)
    zero = _cast(P, 0.0)
    k = be - wb                         # the biases trained (none when fixed)
    apply_update(spec, opt.kind, _view(P, wb, (k,)), _view(G, wb, (k,)), _view(S1, wb, (k,)), _view(S2, wb, (k,)),
                 opt.hyper, k0, k1, zero)


@njit(cache=True, error_model="numpy")
def train(spec: int, batches: Batches, arch: Arch, flat: Flat, opt: Opt, blas: Blas, costs: np.ndarray,
          correct: np.ndarray) -> tuple[int, float]:
    """The batches of ``batches``, one step each (forward, backprop, update), stopping at
    the first whose cost is not finite (its update is not applied); the one entry point
    of a run without a communicator.

    Fills ``costs[j]`` (the batch's sum of C_x, float64) and ``correct[j]`` for each
    batch trained. Returns (batches trained, the cost of the one that stopped it or 0).
    ``spec`` (:func:`spec_of`) is compiled as a constant: one compiled form per kind of
    network.
    """
    literally(spec)     # (compiled once per value of spec)
    owned = _work(flat.P, arch.sizes, batches.size)
    # views owning nothing, of arrays the arguments and ``owned`` hold to the end
    batches, arch, flat, opt = _borrow(batches), _borrow(arch), _borrow(flat), _borrow(opt)
    work = _borrow(owned)
    for j in range(batches.count):
        cost, right = _step(spec, batches, j, arch, flat, opt, blas, work, True)
        if not math.isfinite(cost):
            _hold(owned)
            return j, cost
        costs[j] = cost
        correct[j] = right
    _hold(owned)
    return batches.count, 0.0


@njit(cache=True, no_cpython_wrapper=True)
def _hold(work: _Work) -> None:
    """Nothing: a use of the buffers after the loop, so that numba frees them only then
    (it frees a variable after its last use, and the loop reads them through views)."""


@njit(cache=True, error_model="numpy")
def gradients(spec: int, batches: Batches, j: int, arch: Arch, flat: Flat, opt: Opt,
              blas: Blas) -> tuple[float, int]:
    """Batch j of the run up to BP3/BP4: the gradients of this part into G, no update.
    Returns (this part's sum of C_x, examples classified right)."""
    literally(spec)     # (compiled once per value of spec)
    return _step(spec, batches, j, arch, flat, opt, blas, _work(flat.P, arch.sizes, batches.size), False)


@njit(cache=True, error_model="numpy")
def update(spec: int, arch: Arch, flat: Flat, opt: Opt) -> None:
    """The optimizer's step on every layer from G (after the gradients were added up)."""
    literally(spec)     # (compiled once per value of spec)
    k0, k1 = _prepare(spec, opt, flat.P)
    sizes = arch.sizes
    w = 0
    for l in range(sizes.shape[0] - 1):
        no, ni = sizes[l + 1], sizes[l]
        _update_layer(spec, arch, flat, opt, l, w, no * ni, no, False, k0, k1)
        w += no * ni + no
