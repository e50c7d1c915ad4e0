"""FairQueuePool: waiters are served in arrival order, and overflow connections are reused, not churned.

The pool logic is pure (SQLAlchemy's pool over a DB-API connection that only needs rollback and close);
the DB-API connections here are stand-ins that count what happened to them. The pool under real gunicorn
workers and PostgreSQL is exercised by every integration and e2e suite (it is the engine's pool).
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import exc
from sqlalchemy.pool import QueuePool

from acme_platform import fair_pool
from acme_platform.fair_pool import FairQueuePool, FifoGate


class _Conn:
    opened = 0

    def __init__(self):
        type(self).opened += 1
        self.closed = False

    def rollback(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def creator():
    class Conn(_Conn):
        opened = 0
    return Conn


def _holder(pool, order: list[str], name: str, hold: float, started: threading.Event | None = None):
    def run():
        if started is not None:
            started.set()
        conn = pool.connect()
        order.append(name)
        time.sleep(hold)
        conn.close()
    t = threading.Thread(target=run)
    t.start()
    return t


def _wait_for_waiters(pool, n: int) -> None:
    deadline = time.monotonic() + 5
    while pool.gate.waiting < n:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.005)


def test_waiters_are_served_in_arrival_order(creator):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=0, timeout=5)
    first = pool.connect()
    order: list[str] = []
    threads = []
    for name in ("a", "b", "c"):
        threads.append(_holder(pool, order, name, 0.01))
        _wait_for_waiters(pool, len(threads))
    first.close()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c"]
    assert pool.gate.waits == 3


def test_a_newcomer_queues_behind_a_waiter_instead_of_taking_the_returned_connection(creator):
    # The case QueuePool gets wrong: the connection comes back, the waiter is notified, and a request
    # arriving before the waiter runs takes it. Here the returned connection belongs to the waiter.
    pool = FairQueuePool(creator, pool_size=1, max_overflow=0, timeout=5)
    held = pool.connect()
    order: list[str] = []
    waiter = _holder(pool, order, "waiter", 0.05)
    _wait_for_waiters(pool, 1)
    held.close()
    newcomer = pool.connect()      # arrives right after the return, while the waiter may not have run yet
    order.append("newcomer")
    newcomer.close()
    waiter.join(5)
    assert order == ["waiter", "newcomer"]


def test_stock_queuepool_lets_the_newcomer_barge(creator):
    # The planted violation for the test above: the same sequence on SQLAlchemy's QueuePool. The
    # newcomer gets the connection back at once while the notified waiter still waits.
    pool = QueuePool(creator, pool_size=1, max_overflow=0, timeout=5)
    held = pool.connect()
    order: list[str] = []
    started = threading.Event()
    waiter = _holder(pool, order, "waiter", 0.0, started)
    started.wait(5)
    time.sleep(0.1)                # the waiter is inside the queue's wait by now
    held.close()
    newcomer = pool.connect()
    order.append("newcomer")
    time.sleep(0.05)
    newcomer.close()
    waiter.join(5)
    assert order[0] == "newcomer"


def test_a_wait_past_the_pool_timeout_raises_the_pools_timeout_error(creator):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=0, timeout=0.1)
    held = pool.connect()
    with pytest.raises(exc.TimeoutError):
        pool.connect()
    assert pool.gate.waiting == 0   # the timed-out waiter left the line
    held.close()
    pool.connect().close()          # and its permit was not lost


def test_overflow_connections_are_reused_not_reopened(creator):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=2, timeout=5)
    for _ in range(5):
        conns = [pool.connect() for _ in range(3)]
        for c in conns:
            c.close()
    assert creator.opened == 3      # QueuePool would open 2 new overflow connections per round: 11
    assert pool.spares() == 2 and pool.checkedout() == 0


def test_stock_queuepool_reopens_overflow_connections(creator):
    # The churn the spares remove (planted violation for the test above).
    pool = QueuePool(creator, pool_size=1, max_overflow=2, timeout=5)
    for _ in range(5):
        conns = [pool.connect() for _ in range(3)]
        for c in conns:
            c.close()
    assert creator.opened == 11


def test_idle_spares_are_closed_so_a_quiet_worker_shrinks_to_pool_size(creator, monkeypatch):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=2, timeout=5)
    conns = [pool.connect() for _ in range(3)]
    for c in conns:
        c.close()
    assert pool.spares() == 2
    monkeypatch.setattr(fair_pool, "SPARE_IDLE_SECONDS", 0.0)
    pool.connect().close()          # any return retires spares idle for longer than the limit
    assert pool.spares() == 0
    assert pool.overflow() == 0 and pool.checkedout() == 0   # one connection open: pool_size
    assert creator.opened == 3


def test_never_more_open_than_pool_size_plus_overflow(creator):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=2, timeout=0.05)
    for _ in range(3):
        conns = [pool.connect() for _ in range(3)]
        with pytest.raises(exc.TimeoutError):
            pool.connect()
        for c in conns:
            c.close()
    assert creator.opened == 3


def test_dispose_closes_spares(creator):
    pool = FairQueuePool(creator, pool_size=1, max_overflow=1, timeout=5)
    a, b = pool.connect(), pool.connect()
    raw = [a.dbapi_connection, b.dbapi_connection]
    a.close()
    b.close()
    pool.dispose()
    assert all(c.closed for c in raw)
    assert pool.spares() == 0


def test_gate_hands_a_permit_granted_at_the_timeout_to_the_waiter():
    gate = FifoGate(0)
    got = []
    t = threading.Thread(target=lambda: got.append(gate.acquire(0.2)))
    t.start()
    while gate.waiting < 1:
        time.sleep(0.001)
    gate.release()
    t.join(5)
    assert got == [True]
    assert not gate.acquire(0)      # the permit went to the waiter, not back to the gate
