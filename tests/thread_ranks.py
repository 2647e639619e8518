"""Ranks as threads of one process, for the data-parallel tests that need no launcher
(tests/test_distributed.py, tests/test_engines.py)."""

import threading


class ThreadComm:
    """Rank ``rank`` of ``size`` threads sharing ``shared`` (see :func:`run`): allreduce
    adds the ranks' arrays in rank order, the same sum, bit for bit, on every rank."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def allreduce(self, a):
        slots, barrier = self.shared
        slots[self.rank] = a.copy()
        barrier.wait()
        total = slots[0].copy()
        for other in slots[1:]:
            total += other
        barrier.wait()
        a[...] = total


def run(size, work):
    """``work(comm)`` on ``size`` threads, one ThreadComm each: (their results, their
    exceptions), a list of ``size`` each (a rank that raises releases the others)."""
    shared = ([None] * size, threading.Barrier(size))
    out, errors = [None] * size, [None] * size

    def rank(r):
        try:
            out[r] = work(ThreadComm(r, size, shared))
        except Exception as e:         # noqa: BLE001 (handed to the test)
            errors[r] = e
            shared[1].abort()
    threads = [threading.Thread(target=rank, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, errors
