"""The pool hands out live connections without paying a round trip per checkout."""
import time

import psycopg
import pytest

from acme_platform import Database, load_settings


def _database(url: str, **env) -> Database:
    return Database(load_settings({"DATABASE_URL": url, "ACME_DB_POOL_SIZE": "1", "ACME_DB_MAX_OVERFLOW": "0",
                                   **env}))


def _backend_pid(uow) -> int:
    # libpq knows the pid from the handshake: reading it sends nothing to the server.
    return uow.connection.connection.dbapi_connection.info.backend_pid


def _last_query(admin, pid: int) -> str:
    return admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]


@pytest.fixture
def admin(make_database):
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        yield url, conn


def test_a_checkout_sends_nothing_to_the_server(admin):
    url, conn = admin
    db = _database(url)
    try:
        with db.unit_of_work() as uow:
            uow.connection.exec_driver_sql("SELECT 'marker-checkout'")
            pid = _backend_pid(uow)
        with db.unit_of_work() as uow:
            assert _backend_pid(uow) == pid                 # the pooled connection came back
            # The previous unit of work's last word (a read: no COMMIT, see test_read_round_trips.py).
            assert _last_query(conn, pid) == "SELECT 'marker-checkout'"
    finally:
        db.dispose()


def test_pre_ping_can_be_turned_back_on_and_then_pings(admin):
    url, conn = admin
    db = _database(url, ACME_DB_PRE_PING="true")
    try:
        with db.unit_of_work() as uow:
            uow.connection.exec_driver_sql("SELECT 'marker-ping'")
            pid = _backend_pid(uow)
        with db.unit_of_work() as uow:
            assert _backend_pid(uow) == pid
            assert _last_query(conn, pid) != "SELECT 'marker-ping'"   # the ping came after it
    finally:
        db.dispose()


def test_a_terminated_pooled_connection_is_replaced_before_a_request_uses_it(admin):
    url, conn = admin
    db = _database(url)
    try:
        with db.unit_of_work() as uow:
            old_pid = _backend_pid(uow)
        conn.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
        _wait_gone(conn, old_pid)
        with db.unit_of_work() as uow:
            assert uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != old_pid
    finally:
        db.dispose()


def test_every_pooled_connection_killed_by_a_restart_is_replaced(admin):
    url, conn = admin
    db = Database(load_settings({"DATABASE_URL": url, "ACME_DB_POOL_SIZE": "3", "ACME_DB_MAX_OVERFLOW": "0"}))
    try:
        # Three connections in the pool at once, then every one of them terminated (what a restart does).
        from contextlib import ExitStack
        with ExitStack() as stack:
            uows = [stack.enter_context(db.unit_of_work()) for _ in range(3)]
            pids = {_backend_pid(u) for u in uows}
        assert len(pids) == 3
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _wait_gone(conn, pid)
        for _ in range(3):
            with db.unit_of_work() as uow:
                assert uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() not in pids
    finally:
        db.dispose()


def _wait_gone(conn, pid: int) -> None:
    deadline = time.monotonic() + 5
    while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} still alive"
        time.sleep(0.02)


def test_a_unit_of_work_that_sends_nothing_holds_no_connection(admin):
    url, _ = admin
    db = _database(url)
    ran = []
    try:
        with db.unit_of_work() as uow:
            uow.after_commit(lambda: ran.append("after"))
            assert db.engine.pool.checkedout() == 0
        assert ran == ["after"]
        with db.unit_of_work() as uow:
            uow.connection.exec_driver_sql("SELECT 1")
            assert db.engine.pool.checkedout() == 1
        assert db.engine.pool.checkedout() == 0
    finally:
        db.dispose()


def test_an_error_before_any_sql_rolls_back_nothing_and_skips_after_commit(admin):
    url, _ = admin
    db = _database(url)
    ran = []
    try:
        with pytest.raises(LookupError):
            with db.unit_of_work() as uow:
                uow.after_commit(lambda: ran.append("after"))
                raise LookupError("cache says no")
        assert ran == [] and db.engine.pool.checkedout() == 0
    finally:
        db.dispose()


def test_a_before_commit_hook_may_be_the_first_to_use_the_connection(admin):
    url, conn = admin
    conn.execute("CREATE TABLE hooked (v text)")
    db = _database(url)
    try:
        with db.unit_of_work() as uow:
            uow.before_commit(lambda: uow.connection.exec_driver_sql("INSERT INTO hooked VALUES ('late')"))
        assert conn.execute("SELECT v FROM hooked").fetchall() == [("late",)]
        assert db.engine.pool.checkedout() == 0
    finally:
        db.dispose()


def test_a_finished_unit_of_work_cannot_be_reused(admin):
    url, _ = admin
    db = _database(url)
    try:
        with db.unit_of_work() as uow:
            pass
        with pytest.raises(RuntimeError, match="finished"):
            _ = uow.connection
        assert db.engine.pool.checkedout() == 0
    finally:
        db.dispose()
