"""A database named by a multi-host URL, and what survives connections dying under it (issue 13).

The standby drill itself (a real primary stopped, a standby promoted) is tests/test_failover_drill.py at the
root; here the platform's parts are checked one by one against a real PostgreSQL: a multi-host URL whose
first host is dead reaches the live one (pool, listener), and a consumer whose connections are killed again
and again resumes from its committed offset, handling every event exactly once.
"""
import socket
import sys
import threading
import time
import urllib.parse

import psycopg
import pytest

from acme_platform import ChangeListener, Consumer, Database, Settings, load_settings, publish
from acme_platform.migrations import MigrationRunner

from ..conftest import revision, write_test_domain

REV = revision("fo0001", None, """
    from acme_platform.migrations import create_outbox_table
    create_outbox_table("fodom")
    op.execute("CREATE TABLE fodom.handled (event_id text NOT NULL, handled_at timestamptz DEFAULT now())")
""")


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # closed again: nothing listens there


def with_dead_host_first(url: str) -> str:
    """The same database behind `127.0.0.1:<nothing>,<its host>`: what services see while a primary is down."""
    parts = urllib.parse.urlsplit(url)
    auth, _, hostport = parts.netloc.rpartition("@")
    query = "&".join(q for q in [parts.query, "target_session_attrs=read-write"] if q)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{dead_port()},{hostport}", query=query))


@pytest.fixture(scope="module")
def fo_db(tmp_path_factory, make_database):
    site = write_test_domain(tmp_path_factory.mktemp("fosite"), name="fodom", revisions={"fo0001.py": REV})
    sys.path.insert(0, str(site))
    import importlib
    importlib.invalidate_caches()
    url = make_database()
    MigrationRunner(url, domains=["fodom"], progress=lambda m: None).run()
    yield url
    sys.path.remove(str(site))


def test_the_pool_and_the_listener_reach_the_live_host_of_a_multi_host_url(fo_db):
    url = with_dead_host_first(fo_db)
    db = Database(load_settings({"DATABASE_URL": url, "ACME_SERVICE_NAME": "fotest"}))
    listener = ChangeListener(url).start()
    try:
        with db.unit_of_work() as uow:
            port = uow.connection.exec_driver_sql("SELECT current_setting('port')").scalar()
            publish(uow, "fodom.thing_happened", "k1")
        assert int(port) == urllib.parse.urlsplit(fo_db).port
        assert listener.wait_connected(10)
        seen = []
        listener.subscribe("fodom.thing_happened", seen.append)
        with db.unit_of_work() as uow:
            publish(uow, "fodom.thing_happened", "k2")
        deadline = time.monotonic() + 5
        while "k2" not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "k2" in seen
    finally:
        listener.stop()
        db.dispose()


def test_a_consumer_whose_connections_keep_dying_handles_every_event_exactly_once(fo_db, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="acme_platform.events.consumer")
    url = fo_db
    db = Database(Settings(database_url=url, service_name="fokill", pool_size=2))
    publisher = Database(Settings(database_url=url, service_name="fopublish", pool_size=1))   # never killed

    died_under_handler: set[str] = set()

    def handler(uow, event):
        if event.key.endswith("-7") and event.key not in died_under_handler:
            # The connection dies under the handler itself (what a failover does mid-batch), once per such key.
            died_under_handler.add(event.key)
            uow.connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        uow.connection.exec_driver_sql("INSERT INTO fodom.handled (event_id) VALUES (%(e)s)", {"e": event.event_id})

    consumer = Consumer(db, "fo-group", ["fodom.order_placed"], handler, poll_interval=0.5)
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    kills = 0
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            for batch in range(10):
                with publisher.unit_of_work() as uow:
                    for i in range(20):
                        publish(uow, "fodom.order_placed", f"b{batch}-{i}")
                time.sleep(0.05 * (batch % 3))
                # Every connection of the consumer's process dies, wherever it was (mid-batch or idle).
                kills += len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           "WHERE application_name LIKE 'fokill/%%'").fetchall())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                count = admin.execute("SELECT count(DISTINCT event_id) FROM fodom.handled").fetchone()[0]
                if count >= 200:
                    break
                time.sleep(0.1)
            total, distinct = admin.execute("SELECT count(*), count(DISTINCT event_id) FROM fodom.handled").fetchone()
    finally:
        consumer.stop()
        thread.join(10)
        db.dispose()
        publisher.dispose()
    assert kills > 0, "the test killed no connection of the consumer: it proved nothing"
    assert len(died_under_handler) == 10
    assert (distinct, total) == (200, 200)
    # A connection dying under the handler is the database's failure, not the event's: one warning line
    # per try, never a traceback, never a retry counted against the event (which would dead-letter it).
    records = [r for r in caplog.records if r.name == "acme_platform.events.consumer"]
    assert [r.getMessage() for r in records if r.levelno > logging.WARNING or r.exc_info] == []
    assert any("database unavailable" in r.getMessage() for r in records)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM acme_platform.dead_letters").fetchone()[0] == 0
