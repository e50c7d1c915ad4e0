"""A connection pool whose waiters are served in arrival order.

SQLAlchemy's QueuePool lets a newcomer take a connection that was just returned while older requests
are still waiting for one: `put` notifies a waiter, but until that waiter runs, any greenlet asking
`get` finds the connection free and takes it. Under gevent the notified greenlet runs only after the
ones already runnable, so in a busy worker (more requests in flight than pooled connections) some
requests lose that race over and over. Measured with the storefront at 32 keep-alive clients on 2
workers (16 in flight per worker, 5 + 5 connections): p99 1.4-2.7 s and a maximum near the 5 s pool
timeout, against a p99 of 0.16-0.26 s when the pool is large enough that nobody waits (bench/README.md
"The tail at c=32").

`FairQueuePool` puts a first-come-first-served gate with as many permits as the pool has connections
(pool_size + max_overflow) in front of QueuePool: a request takes a permit before it takes a
connection, a returned connection's permit is handed straight to the oldest waiter, and a newcomer
queues behind the waiters. A wait is bounded by the requests ahead of it, and the pool's timeout
still applies (same TimeoutError).

Overflow connections are kept while they are in use: QueuePool closes one as soon as it comes back to a
pool holding pool_size idle connections, so a worker whose demand hovers around pool_size (requests hold
a connection for part of their time only) opens and closes connections all the time, each a new
PostgreSQL backend, a SCRAM handshake and statements prepared again (37-56 new sessions per 5 s in the
run above). Here such a connection is parked as a spare and handed out again before a new one is
opened; a spare unused for SPARE_IDLE_SECONDS is closed, so an idle worker still shrinks to pool_size.
The connection budget is unchanged: never more than pool_size + max_overflow open.
Everything else (LIFO, recycle, reset, the checkout event's liveness check) is QueuePool's.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import exc
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.util.queue import Full


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = threading.Event()   # gevent's Event in a patched worker: waiting yields to the hub
        self.granted = False


class FifoGate:
    """A counting semaphore that grants permits in the order they were asked for (hand-off on release)."""

    def __init__(self, permits: int):
        self._free = permits
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()
        # What waited, for tests and for anyone sizing a pool: how many acquisitions had to queue and for
        # how long in total (seconds).
        self.waits = 0
        self.waited_seconds = 0.0

    def acquire(self, timeout: float | None) -> bool:
        with self._lock:
            if self._free > 0:   # free permits exist only while nobody waits (release hands them over)
                self._free -= 1
                return True
            waiter = _Waiter()
            self._waiters.append(waiter)
        started = time.monotonic()
        got = waiter.event.wait(timeout)
        with self._lock:
            self.waits += 1
            self.waited_seconds += time.monotonic() - started
            if got or waiter.granted:   # granted between the timeout and this lock: it is ours
                return True
            self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                waiter.event.set()
            else:
                self._free += 1

    @property
    def waiting(self) -> int:
        return len(self._waiters)


# How long an overflow connection may sit unused before it is closed.
SPARE_IDLE_SECONDS = 30.0


class FairQueuePool(QueuePool):
    """QueuePool with first-come-first-served checkouts and overflow connections kept while used
    (see the module doc)."""

    def __init__(self, creator: Any, pool_size: int = 5, max_overflow: int = 10, timeout: float = 30.0,
                 **kw: Any):
        super().__init__(creator, pool_size=pool_size, max_overflow=max_overflow, timeout=timeout, **kw)
        # pool_size 0 or max_overflow -1 mean "no limit" to QueuePool: nothing to queue for then.
        self.gate = FifoGate(pool_size + max_overflow) if pool_size > 0 and max_overflow >= 0 else None
        # QueuePool._do_get calls self._do_get again when it loses an overflow race: that retry must not
        # take a second permit. Per thread (per greenlet in a gevent worker).
        self._holding = threading.local()
        self._spares: deque[tuple[ConnectionPoolEntry, float]] = deque()   # (overflow record, parked at)
        self._spares_lock = threading.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        if self.gate is None or getattr(self._holding, "permit", False):
            return super()._do_get()
        if not self.gate.acquire(self._timeout):
            raise exc.TimeoutError(
                f"QueuePool limit of size {self.size()} overflow {self.overflow()} reached, "
                f"connection timed out, timeout {self._timeout:0.2f}", code="3o7r")
        self._holding.permit = True
        try:
            with self._spares_lock:
                spare = self._spares.pop()[0] if self._spares and not self._pool.qsize() else None
            return spare if spare is not None else super()._do_get()
        except BaseException:
            self.gate.release()
            raise
        finally:
            self._holding.permit = False

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        if self.gate is None:
            return super()._do_return_conn(record)
        try:
            try:
                self._pool.put(record, False)
            except Full:
                now = time.monotonic()
                with self._spares_lock:
                    self._spares.append((record, now))
            self._retire_idle_spares()
        finally:
            self.gate.release()

    def _retire_idle_spares(self) -> None:
        now = time.monotonic()
        while True:
            with self._spares_lock:
                if not self._spares or now - self._spares[0][1] < SPARE_IDLE_SECONDS:
                    return
                record = self._spares.popleft()[0]
            try:
                record.close()
            finally:
                self._dec_overflow()

    def spares(self) -> int:
        """Overflow connections open and idle (counted by overflow(), not in the queue)."""
        return len(self._spares)

    def checkedout(self) -> int:
        return super().checkedout() - len(self._spares)

    def dispose(self) -> None:
        while True:
            with self._spares_lock:
                if not self._spares:
                    break
                record = self._spares.popleft()[0]
            record.close()
            self._dec_overflow()
        super().dispose()
