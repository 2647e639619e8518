"""More than one process: the communicators data-parallel ``fit`` adds gradients through.

Data-parallel training (``net.fit(..., comm=...)``, :class:`~deltaprop.training.Trainer`)
runs the same script in N processes, the *ranks*. Every rank holds the same network and
reads only its shard of the rows (:func:`shard`); each mini-batch of the global batch
size m is trained by all of them at once: each rank feeds forward and backpropagates
the batch's examples that are in its shard, the ranks add up their sums of BP3 and BP4
(an all-reduce), every rank divides by the global m and takes the same optimizer step.
So N ranks train the network one process would, with the same global batch, order and
seed (to the rounding of adding the ranks' partial sums: about 1e-16 relative per step).

A communicator is anything with ``rank``, ``size`` and ``allreduce(buffer)``: the sum
over the ranks of a NumPy array, in place, the same on every rank. Every collective
deltaprop needs (comparing the ranks' setups too) is made of that one. Two real ones:

* :func:`from_mpi`: MPI through ``mpi4py`` (``pip install "deltaprop[mpi]"``; the
  ``mpich`` wheel brings ``mpiexec``), passing the NumPy buffers without copies;
* :func:`from_torch`: ``torch.distributed`` (``pip install "deltaprop[torch]"``), gloo
  on CPUs, NCCL where the ranks have GPUs (tensors then travel to the device and back),
  as ``torchrun`` starts it.

:func:`detect` returns the one the process was launched under (``mpiexec``, ``srun``
with PMI, ``torchrun``), or None for a plain process.
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .errors import DeltapropError, DeltapropTypeError, ValidationError

if TYPE_CHECKING:
    from ._protocols import CommunicatorLike

#: Seconds a torch.distributed collective waits for the other ranks before it fails
#: (a lost host that closes no connection); a rank whose process ends fails it at once.
TIMEOUT_S = 120.0


class DistributedError(DeltapropError, RuntimeError):
    """The ranks cannot go on together: one was lost, or they disagree on the setup."""


class Communicator:
    """The interface: ``rank`` (0 .. size - 1), ``size``, and ``allreduce`` on NumPy arrays."""

    rank: int = 0
    size: int = 1
    backend: str = ""
    _peers: list[tuple[int, int]] | None = None

    def allreduce(self, buf: np.ndarray) -> None:
        """Sum ``buf`` over the ranks, in place: the same result on every rank."""
        raise NotImplementedError

    def meet(self) -> None:
        """Exchange (host, pid) once, so that a rank lost later can be named."""
        if self._peers is None:
            table = gather(self, [_host_id(), os.getpid()])
            self._peers = [(int(h), int(p)) for h, p in table]

    def lost(self) -> list[int]:
        """The ranks on this host whose process is gone (asked after a collective failed)."""
        gone = []
        for r, (host, pid) in enumerate(self._peers or []):
            if r != self.rank and host == _host_id():
                if not _alive(pid):
                    gone.append(r)
        return gone

    def failure(self, error: BaseException) -> DistributedError:
        """The error to raise when a collective failed, naming the lost rank when it can."""
        time.sleep(0.2)                          # a killed peer's process takes a moment to go
        gone = self.lost()
        if gone:
            who = f"rank {', '.join(map(str, gone))} is gone (its process ended)"
        else:           # on another host, or not known: of two ranks, it is the other one
            other = f"rank {1 - self.rank}" if self.size == 2 else "another rank"
            who = f"{other} stopped answering (its process ended, or its host is unreachable)"
        return DistributedError(f"Data-parallel training over {self.backend} with {self.size} ranks cannot go on: "
                                f"{who}. This is rank {self.rank}. The last checkpoint written, if any, resumes "
                                f"the run with any number of ranks. ({type(error).__name__}: {str(error)[:300]})")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet waited for, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _host_id() -> int:
    return int.from_bytes(hashlib.blake2b(socket.gethostname().encode(), digest_size=6).digest(), "big")


class MPIComm(Communicator):
    """An mpi4py communicator (default ``MPI.COMM_WORLD``): ``Allreduce`` in place on the
    arrays' own memory."""

    def __init__(self, comm: Any = None) -> None:
        from mpi4py import MPI
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)         # a failed collective raises, here
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.backend = "MPI (" + MPI.Get_library_version().splitlines()[0].strip() + ")"

    def allreduce(self, buf: np.ndarray) -> None:
        try:
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        except self._MPI.Exception as e:
            raise self.failure(e) from None


class TorchComm(Communicator):
    """A ``torch.distributed`` process group (the default one unless ``group`` is given):
    ``all_reduce`` on a tensor sharing the array's memory (gloo), or on a device copy
    (NCCL)."""

    def __init__(self, group: Any = None) -> None:
        import torch
        import torch.distributed as dist
        self._torch, self._dist, self.group = torch, dist, group
        self.rank, self.size = dist.get_rank(group), dist.get_world_size(group)
        kind = dist.get_backend(group)
        self.backend = f"torch.distributed ({kind})"
        self._device = torch.device("cuda", torch.cuda.current_device()) if kind == "nccl" else None

    def allreduce(self, buf: np.ndarray) -> None:
        tensor = self._torch.from_numpy(buf)         # the array's memory: no copy
        if self._device is not None:
            tensor = tensor.to(self._device)
        try:
            self._dist.all_reduce(tensor, group=self.group)
        except RuntimeError as e:                    # gloo: the peer closed the connection, or the timeout
            raise self.failure(e) from None
        if self._device is not None:
            buf[...] = tensor.cpu().numpy()


def from_mpi(comm: Any = None) -> MPIComm:
    """The MPI world (or ``comm``, an mpi4py communicator) as deltaprop's communicator."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise ImportError('MPI needs mpi4py, an optional extra: pip install "deltaprop[mpi]"', name="mpi4py") from None
    return MPIComm(comm)


def from_torch(group: Any = None, *, backend: str | None = None, timeout_s: float = TIMEOUT_S) -> TorchComm:
    """torch.distributed's default group (or ``group``), initialised from the environment
    ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) if it
    is not yet: gloo, or NCCL when every rank has a GPU. A collective waits up to
    ``timeout_s`` for the other ranks."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise ImportError('torch.distributed needs PyTorch, an optional extra: pip install "deltaprop[torch]"',
                          name="torch") from None
    if not dist.is_initialized():
        missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise ValidationError(f"torch.distributed is not initialised and {', '.join(missing)} are not set: "
                                  "start the ranks with torchrun (torchrun --nproc-per-node 2 script.py), or call "
                                  "torch.distributed.init_process_group first.")
        chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if chosen == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(chosen, timeout=datetime.timedelta(seconds=timeout_s))
        # the group this call made ends with the process: gloo's threads, still running at
        # the interpreter's exit, would abort it (SIGABRT) after its work is done
        atexit.register(_destroy, dist)
    return TorchComm(group)


def _destroy(dist: Any) -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def launcher() -> str | None:
    """``"mpi"``, ``"torch"`` or None: what started this process, from the environment."""
    if "TORCHELASTIC_RUN_ID" in os.environ or ("WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ):
        return "torch"
    if any(v in os.environ for v in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALRANKID")):
        return "mpi"
    return None


def detect() -> Communicator | None:
    """The communicator of the launcher that started this process, or None (one process).

    A launch of one rank (``mpiexec -n 1``) gives None as well: nothing to add up.
    """
    kind = launcher()
    comm: Communicator | None = from_mpi() if kind == "mpi" else from_torch() if kind == "torch" else None
    return comm if comm is not None and comm.size > 1 else None


def shard(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``n`` that rank ``rank`` of ``size`` holds: contiguous, as even as can be.

    >>> [shard(10, r, 3) for r in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return n * rank // size, n * (rank + 1) // size


# ---------------------------------------------------------------------------------------
# Collectives made of allreduce

def gather(comm: CommunicatorLike, values: Sequence[int]) -> np.ndarray:
    """Every rank's ``values`` (whole numbers, as many on each), as a (size, k) int64
    array on every rank: an allreduce of one row per rank, exact."""
    table = np.zeros((comm.size, len(values)), dtype=np.int64)
    table[comm.rank] = values
    comm.allreduce(table)
    return table


def settle(comm: CommunicatorLike, error: BaseException | None) -> None:
    """Called by every rank with the error its setup raised (or None): if any rank
    failed, every rank raises (a failed one its own error, the others a
    :class:`DistributedError` quoting the first failed rank's), so that none waits in
    a collective the others will never join."""
    failed = gather(comm, [error is not None])[:, 0]
    if not failed.any():
        return
    first = int(np.flatnonzero(failed)[0])
    text = np.zeros(_MESSAGE, dtype=np.int64)
    if comm.rank == first:
        assert error is not None
        raw = f"{type(error).__name__}: {error}".encode()[:_MESSAGE]
        text[:len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    comm.allreduce(text)
    if error is not None:
        raise error
    message = bytes(text[text > 0].astype(np.uint8).tolist()).decode(errors="replace")
    raise DistributedError(f"Rank {first} of {comm.size} could not start training, so no rank does: {message}")


_MESSAGE = 1000     # bytes of the first failed rank's error that settle() passes to the others


def agree(comm: CommunicatorLike, facts: dict[str, object]) -> None:
    """Raise :class:`DistributedError` on every rank, naming each fact the ranks do not
    share (every rank calls it with the same keys in the same order; a fact is a whole
    number, shown when it differs, or anything whose ``repr`` identifies it)."""
    keys = list(facts)
    table = gather(comm, [_as_int(facts[k]) for k in keys])
    shown = []
    for j, key in enumerate(keys):
        if (table[:, j] == table[0, j]).all():
            continue
        value = facts[key]
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            shown.append(f"{key} ({', '.join(f'rank {r}: {v}' for r, v in enumerate(table[:, j]))})")
        else:
            differ = [r for r in range(comm.size) if table[r, j] != table[0, j]]
            shown.append(f"{key} (rank {', '.join(map(str, differ))} unlike rank 0)")
    if shown:
        raise DistributedError(f"The {comm.size} ranks disagree on {'; '.join(shown)}. Every rank must build the "
                               "same network (the same seed) and pass the same data, batch size, epochs, "
                               f"optimizer and seed. (This is rank {comm.rank}.)")


def _as_int(value: object) -> int:
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int(value)
    digest = hashlib.blake2b(repr(value).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big")


def check(comm: object) -> CommunicatorLike | None:
    """The ``comm`` argument of fit, checked: None, or something with int ``rank`` in
    ``0 .. size - 1``, ``size`` and a callable ``allreduce``."""
    if comm is None:
        return None
    rank, size = getattr(comm, "rank", None), getattr(comm, "size", None)
    if not (isinstance(rank, (int, np.integer)) and isinstance(size, (int, np.integer))
            and callable(getattr(comm, "allreduce", None))):
        raise DeltapropTypeError("The 'comm' argument must be a communicator (dp.distributed.from_mpi(), "
                                 "dp.distributed.from_torch(), dp.distributed.detect(), or an object with int "
                                 f"'rank' and 'size' and an 'allreduce(array)' method). Got {type(comm).__name__} "
                                 "instead.")
    if not 0 <= rank < size:
        raise ValidationError(f"The 'comm' argument has rank {rank} of size {size}; a rank must be 0 .. size - 1.")
    return cast("CommunicatorLike", comm)
