"""A unit of work reads outside a transaction until its first write: a read-only request is one round
trip per statement, with no BEGIN and no COMMIT; from the first write (or locking read) on, everything is
one transaction, as before. Counted on the wire with libpq's protocol trace (every Query or Sync message
the client sends ends a round trip)."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import pq

from acme_platform import Database, load_settings
from acme_platform.db import is_plain_read


def _database(url: str, **env) -> Database:
    return Database(load_settings({"DATABASE_URL": url, "ACME_DB_POOL_SIZE": "1", "ACME_DB_MAX_OVERFLOW": "0",
                                   **env}))


@contextmanager
def _wire(uow):
    """The messages the client sends on the unit of work's connection meanwhile, as (type, detail) pairs."""
    pgconn = _pgconn(uow)
    sent: list[tuple[str, str]] = []
    with tempfile.TemporaryFile("w+") as fh:
        pgconn.trace(fh.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield sent
        finally:
            pgconn.untrace()
            fh.seek(0)
            for line in fh.read().splitlines():
                parts = line.split("\t")
                if parts[0] == "F" and len(parts) > 2:
                    sent.append((parts[2], " ".join(parts[3:])))


def _pgconn(uow):
    return uow.connection.connection.dbapi_connection.pgconn


def _round_trips(sent) -> int:
    return sum(1 for kind, _ in sent if kind in ("Query", "Sync"))


def _begins(sent) -> list[str]:
    return [detail for kind, detail in sent if "BEGIN" in detail or "COMMIT" in detail]


@pytest.fixture
def db(make_database):
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'one')")
    database = _database(url)
    yield database, url
    database.dispose()


def test_a_read_only_unit_of_work_is_one_round_trip_per_statement(db):
    database, _ = db
    with database.unit_of_work() as uow:
        uow.connection  # noqa: B018 - checked out before tracing starts
        with _wire(uow) as sent:
            assert uow.connection.exec_driver_sql("SELECT body FROM notes WHERE id = %(id)s", {"id": 1}).scalar() == "one"
            uow.connection.exec_driver_sql("SELECT count(*) FROM notes").scalar()
    assert _round_trips(sent) == 2
    assert _begins(sent) == []


def test_the_commit_of_a_read_only_unit_of_work_sends_nothing(db):
    database, _ = db
    cm = database.unit_of_work()
    uow = cm.__enter__()
    uow.connection.exec_driver_sql("SELECT 1").scalar()
    with _wire(uow) as sent:
        cm.__exit__(None, None, None)     # commit, then the connection goes back to the pool
    assert sent == []


def test_the_first_write_starts_the_transaction_and_everything_after_is_in_it(db):
    database, url = db
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as uow:
            uow.connection  # noqa: B018
            with _wire(uow) as sent:
                uow.connection.exec_driver_sql("SELECT body FROM notes WHERE id = 1").scalar()
                uow.connection.exec_driver_sql("INSERT INTO notes VALUES (2, 'two')")
                uow.connection.exec_driver_sql("UPDATE notes SET body = 'uno' WHERE id = 1")
            raise RuntimeError("the request failed after its writes")
    assert _round_trips(sent) == 4        # SELECT; BEGIN; INSERT; UPDATE (ROLLBACK after the trace)
    assert _begins(sent) and "BEGIN" in _begins(sent)[0]
    with psycopg.connect(url) as conn:    # both writes rolled back together
        assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == [(1, "one")]


def test_a_locking_read_starts_the_transaction_and_holds_its_lock_to_the_end(db):
    database, url = db
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql("SELECT body FROM notes WHERE id = 1 FOR UPDATE").scalar()
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("UPDATE notes SET body = 'x' WHERE id = 1")


def test_a_write_commits_with_the_unit_of_work(db):
    database, url = db
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql("INSERT INTO notes VALUES (3, 'three')")
        with psycopg.connect(url) as conn:   # not visible before the commit: it is in a transaction
            assert conn.execute("SELECT count(*) FROM notes WHERE id = 3").fetchone()[0] == 0
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM notes WHERE id = 3").fetchone()[0] == 1


def test_the_pool_hands_other_users_a_connection_with_psycopgs_default(db):
    database, _ = db
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql("SELECT 1").scalar()
    with database.engine.connect() as conn:   # pool_size 1: the same connection
        assert conn.connection.dbapi_connection.autocommit is False


def test_a_savepoint_starts_the_transaction(db):
    database, url = db
    with database.unit_of_work() as uow:
        with uow.connection.begin_nested():
            uow.connection.exec_driver_sql("INSERT INTO notes VALUES (4, 'four')")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM notes WHERE id = 4").fetchone()[0] == 1


def test_behind_a_transaction_pooler_every_unit_of_work_begins_at_once(db):
    _, url = db
    # A direct URL other than DATABASE_URL is what marks DATABASE_URL as a pooler's (same database here).
    direct = url + ("&" if "?" in url else "?") + "application_name=direct"
    pooled = _database(url, DATABASE_DIRECT_URL=direct)
    assert pooled.settings.pooled
    try:
        with pooled.unit_of_work() as uow:
            uow.connection.exec_driver_sql("SELECT 1").scalar()
            assert uow.connection.connection.dbapi_connection.autocommit is False
            assert uow.connection.connection.dbapi_connection.info.transaction_status == pq.TransactionStatus.INTRANS
    finally:
        pooled.dispose()


@pytest.mark.parametrize("statement, read", [
    ("SELECT 1", True),
    ("  select a, b FROM t WHERE id = %(id)s", True),
    ("WITH x AS (SELECT 1) SELECT * FROM x", True),
    ("SELECT identity.password_matches(%(a)s, %(b)s)", True),
    ("SELECT * FROM t FOR UPDATE", False),
    ("SELECT * FROM t FOR NO KEY UPDATE", False),
    ("SELECT * FROM t FOR SHARE", False),
    ("SELECT * FROM t FOR KEY SHARE SKIP LOCKED", False),
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x", False),
    ("WITH d AS (DELETE FROM t RETURNING id) SELECT 1", False),
    ("SELECT nextval('s')", False),
    ("SELECT pg_notify('c', 'm')", False),
    ("SELECT pg_advisory_xact_lock(1)", False),
    ("SELECT set_config('x.y', '1', true)", False),
    ("SELECT pg_current_xact_id()", False),
    ("SELECT 1; DELETE FROM t", False),
    ("INSERT INTO t VALUES (1)", False),
    ("UPDATE t SET a = 1", False),
    ("SAVEPOINT sa_savepoint_1", False),
    ("SET LOCAL statement_timeout = 5", False),
    ("LOCK TABLE t", False),
])
def test_what_counts_as_a_plain_read(statement, read):
    assert is_plain_read(statement) is read
