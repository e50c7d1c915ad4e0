"""The SQLAlchemy engine on psycopg 3, configured once per process."""
from __future__ import annotations

import contextlib
import functools
import re
import select
import sys
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from . import gevent_compat
from .config import Settings, tcp_liveness_params, to_sqlalchemy_url
from .fair_pool import FairQueuePool
from .uow import UnitOfWork


def create_engine(settings: Settings, *, pool_size: int | None = None, application_name: str | None = None,
                  direct: bool = False, **overrides) -> Engine:
    """The engine on DATABASE_URL, or with `direct` on DATABASE_DIRECT_URL (for what needs a session).

    Behind a transaction-mode pooler (settings.pooled) a server connection is ours for one transaction:
    the timeouts go with every transaction (SET LOCAL) instead of the startup `options`, which PgBouncer
    cannot hand to the server connection it picks, and psycopg's prepared statements are off, since
    the next transaction may run on a server connection that never saw the PREPARE.
    """
    pooled = settings.pooled and not direct
    timeouts = (("statement_timeout", settings.statement_timeout_ms), ("lock_timeout", settings.lock_timeout_ms),
                ("idle_in_transaction_session_timeout", settings.idle_in_transaction_timeout_ms))
    connect_args: dict = {
        "application_name": (application_name or settings.application_name)[:63],
        "connect_timeout": settings.connect_timeout,
        **tcp_liveness_params(settings),
    }
    if pooled:
        connect_args["prepare_threshold"] = None
    else:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in timeouts)
    kwargs = dict(
        # QueuePool, but a request that waits for a connection is served before later arrivals
        # (fair_pool.py: without it a busy gevent worker starves some requests for seconds).
        poolclass=FairQueuePool,
        pool_size=pool_size or settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        # Off by default: a Postgres restart or a terminated session is caught by the free socket
        # check below; the ping's round trip would be paid by every request.
        pool_pre_ping=settings.pool_pre_ping,
        pool_use_lifo=True,
        connect_args=connect_args,
    )
    kwargs.update(overrides)
    url = to_sqlalchemy_url(settings.direct_url) if direct else settings.sqlalchemy_url
    engine = sa.create_engine(url, **kwargs)

    if pooled:
        # One round trip, in the transaction's first: SET LOCAL ends with the transaction, so the
        # server connection goes back to PgBouncer as it came (nothing leaks to the next client).
        set_timeouts = "; ".join(f"SET LOCAL {name} = {int(value)}" for name, value in timeouts)

        @event.listens_for(engine, "begin")
        def _timeouts_per_transaction(conn):
            conn.connection.dbapi_connection.execute(set_timeouts)

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_the_first_write(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        # A unit of work reads without BEGIN/COMMIT until its first statement that is not a plain read
        # (see _PooledUnitOfWork); that statement and everything after run in one transaction.
        if cursor.connection.autocommit and conn.get_execution_options().get(READS_WITHOUT_TRANSACTION) \
                and not is_plain_read(statement):
            begin_transaction(cursor.connection)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # noqa: ARG001
        # Checked per new connection (cheap): covers engines created before a gevent worker patched.
        gevent_compat.ensure_cooperative_waits()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, connection_record, connection_proxy):  # noqa: ARG001
        if server_has_spoken(dbapi_connection):
            # SQLAlchemy discards this connection and hands out a freshly connected one.
            raise exc.DisconnectionError("the server closed this pooled connection while it was idle")

    return engine


def server_has_spoken(dbapi_connection) -> bool:
    """True if an idle connection has bytes waiting: a closed or dead connection, without a round trip.

    A pooled connection sits between transactions, where the server never sends anything unprompted
    except on its way out: a restart, `pg_terminate_backend`, an idle-session timeout all send a FATAL
    error and close the socket. A zero-timeout poll of the socket sees that for ~1 µs, where
    `pool_pre_ping` pays a round trip per checkout. A peer that vanishes without a word (a NAT or
    load balancer silently dropping idle flows) is not seen: that is what ACME_DB_PRE_PING is for.
    """
    if dbapi_connection.closed:
        return True
    try:
        fd = dbapi_connection.fileno()
    except Exception:   # noqa: BLE001 - psycopg raises OperationalError on a connection it already knows is broken
        return True
    poller = _real_poll()()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


_poll: Callable[[], "select.poll"] | None = None

# Execution option marking a unit of work's connection while it still reads outside a transaction.
READS_WITHOUT_TRANSACTION = "acme_reads_without_transaction"

# What may run outside a transaction: one SELECT (or WITH ... SELECT) that writes nothing, takes no row
# lock and has no side effect. Conservative by words: any of these anywhere (even as a column name)
# starts the transaction first, which is always correct, only one round trip dearer.
_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
_NOT_ONLY_A_READ = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|SHARE|LOCK|NEXTVAL|SETVAL|SET_CONFIG|PG_NOTIFY|PG_ADVISORY_\w*|"
    r"PG_TRY_ADVISORY_\w*|PG_CURRENT_XACT_ID|TXID_CURRENT|PG_SLEEP\w*|DBLINK\w*|LO_\w+)\b|;",
    re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def is_plain_read(statement: str) -> bool:
    """True if `statement` reads only: safe to run outside the unit of work's transaction. Domain SQL is a
    fixed set of texts, so the cache holds every one of them after warm-up."""
    return bool(_READ.match(statement)) and not _NOT_ONLY_A_READ.search(statement)


def begin_transaction(dbapi_connection) -> None:
    """Leave read-only autocommit: psycopg sends BEGIN before the next statement (nothing is sent now)."""
    dbapi_connection.autocommit = False


def _real_poll():
    # The OS poll, even in a gevent worker: with a zero timeout it never blocks, and gevent's
    # emulation would cost a hub round (watchers, a timer) for a check meant to be free.
    global _poll
    if _poll is None:
        monkey = sys.modules.get("gevent.monkey")
        _poll = monkey.get_original("select", "poll") if monkey is not None else select.poll
    return _poll


# SQLSTATEs that mean "this server cannot take the work now" rather than "the work is wrong": class 08
# (connection exception), 57P01-57P03 (shut down by an administrator, a crash, cannot connect now) and
# 25006 (a read-only transaction: the node reached is, or became, a standby).
_LOST_STATES = ("57P01", "57P02", "57P03", "25006")


def connection_lost(exc: BaseException) -> bool:
    """Whether a database error means the database (or this connection to it) went away: a failover or
    a restart, not a fault of the statement. Work that failed so is retried as it was, on a new connection;
    it is never counted against the work itself (a consumer does not dead-letter an event for it)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _LOST_STATES
    # psycopg raises OperationalError without a SQLSTATE only for client-side failures: the socket.
    import psycopg

    return isinstance(orig, (psycopg.OperationalError, psycopg.InterfaceError))


class Database:
    """One per process: the engine plus the unit-of-work factory that domain code receives."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or create_engine(settings)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Commit on success, roll back on any exception; after-commit hooks run only after a commit.

        The connection is checked out of the pool when domain code first uses it: a request answered
        from a cache holds no connection and sends nothing.
        """
        uow = _PooledUnitOfWork(self.engine, reads_without_transaction=not self.settings.pooled)
        try:
            yield uow
            uow._before_commit()       # may be the first use (events published on a cache hit)
            uow._commit()
        except BaseException:
            uow._rollback()
            raise
        finally:
            uow._release()
        uow._after_commit()

    def dispose(self) -> None:
        self.engine.dispose()


class _PooledUnitOfWork(UnitOfWork):
    """Checks its connection out on first use, and starts the transaction at the first statement that is
    not a plain read (`is_plain_read`).

    Reads before that run in autocommit: under READ COMMITTED (PostgreSQL's default, and ours) every
    statement takes its own snapshot inside a transaction too, so a SELECT sees the same data either way;
    what a transaction adds (atomic writes, row locks held to the end, one transaction id, SET LOCAL) only
    matters from the first write or locking read on, and that statement starts it. A request that only
    reads, e.g. GET /v1/orders/<id>, so sends one statement instead of BEGIN, SELECT, COMMIT: two
    round trips fewer. Behind a transaction-mode pooler (settings.pooled) every unit of work begins at
    once: the timeouts travel as SET LOCAL with each transaction, which an autocommit read would not get.
    """

    def __init__(self, engine: Engine, *, reads_without_transaction: bool = True):
        super().__init__(None)
        self._engine = engine
        self._transaction: sa.RootTransaction | None = None
        self._finished = False
        self._lazy = reads_without_transaction

    @property
    def connection(self) -> sa.Connection:
        if self._connection is None:
            if self._finished:
                # Checking out now would open a transaction nobody commits or returns.
                raise RuntimeError("this unit of work is finished; open a new one")
            connection = self._engine.connect()
            try:
                self._transaction = connection.begin()
                if self._lazy:
                    # psycopg sends nothing for this; begin_transaction() undoes it at the first write.
                    connection.connection.dbapi_connection.autocommit = True
                    connection.execution_options(**{READS_WITHOUT_TRANSACTION: True})
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _commit(self) -> None:
        if self._transaction is not None:
            self._transaction.commit()

    def _rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()

    def _release(self) -> None:
        self._finished = True
        if self._connection is not None:
            connection, self._connection, self._transaction = self._connection, None, None
            try:
                if self._lazy and not connection.invalidated:
                    # The pool's other users (heartbeats, /readyz, a consumer) expect psycopg's default.
                    dbapi = connection.connection.dbapi_connection
                    if dbapi is not None and not dbapi.closed and dbapi.autocommit:
                        dbapi.autocommit = False
            finally:
                connection.close()
