"""Outbox, consumer groups, listener and invalidating cache against a real Postgres."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from acme_platform import (ChangeListener, Consumer, Database, InvalidatingCache, Settings, flush_events, publish,
                           publish_many)
from acme_platform.migrations import MigrationRunner

from ..conftest import revision, write_test_domain

OUTBOX_REV = revision("ev0001", None, """
    from acme_platform.migrations import create_outbox_table
    create_outbox_table("evdom")
    op.execute("CREATE SCHEMA evother")   # a second domain's outbox: one unit of work, two schemas
    create_outbox_table("evother")
    op.execute("CREATE TABLE evdom.handled (event_id text, handled_at timestamptz DEFAULT now())")
""")


@pytest.fixture(scope="module")
def event_db(tmp_path_factory, make_database):
    site = write_test_domain(tmp_path_factory.mktemp("evsite"), name="evdom", revisions={"ev0001.py": OUTBOX_REV})
    sys.path.insert(0, str(site))
    import importlib
    importlib.invalidate_caches()
    url = make_database()
    MigrationRunner(url, domains=["evdom"], progress=lambda m: None).run()
    db = Database(Settings(database_url=url, service_name="tests", pool_size=10))
    yield url, db, site
    db.dispose()
    sys.path.remove(str(site))


def wait_until(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def catch_up(consumer, url, timeout=10.0):
    """Run the consumer until it is past every row already in the outbox. One run_once is not enough:
    a transaction still open in this database (an earlier test's, finishing) holds the horizon back."""
    def caught_up():
        consumer.run_once()
        with psycopg.connect(url) as conn:
            return conn.execute(
                "SELECT count(*) = 0 FROM evdom.outbox o JOIN acme_platform.consumer_offsets c "
                "ON c.consumer_group = %s AND c.domain = 'evdom' WHERE (o.txid, o.id) > (c.last_txid, c.last_id)",
                (consumer.group,)).fetchone()[0]
    assert wait_until(caught_up, timeout=timeout, interval=0.05)


def drain_until(consumer, predicate, timeout=10.0):
    """Run the consumer until predicate() holds. Delivery waits for the cluster-wide xmin horizon, so
    a long transaction elsewhere on the server (another test suite) may delay it, never lose it."""
    return wait_until(lambda: (consumer.run_once(), predicate())[1], timeout=timeout, interval=0.05)


def collecting_consumer(db, group, topics=("evdom.thing_happened",)):
    seen = []
    consumer = Consumer(db, group, topics, lambda uow, event: seen.append((event.key, event.event_id)))
    return consumer, seen


def test_publish_is_part_of_the_transaction(event_db):
    url, db, _ = event_db
    with pytest.raises(RuntimeError):
        with db.unit_of_work() as uow:
            publish(uow, "evdom.thing_happened", "rolled-back", {"n": 1})
            raise RuntimeError("abort")
    with db.unit_of_work() as uow:
        publish(uow, "evdom.thing_happened", "kept", {"n": 2})
    with psycopg.connect(url) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM evdom.outbox")]
    assert "kept" in keys and "rolled-back" not in keys


def test_consumer_does_not_skip_an_event_that_commits_out_of_order(event_db):
    url, db, _ = event_db
    consumer, seen = collecting_consumer(db, "ooo")
    catch_up(consumer, url)  # start after what earlier tests wrote
    seen.clear()

    # T1 inserts first (smaller id) but commits last; T2 inserts later and commits first.
    t1 = psycopg.connect(url)
    t1.execute("INSERT INTO evdom.outbox (txid, topic, key, payload) VALUES "
               "(pg_current_xact_id()::text::bigint, 'evdom.thing_happened', 'early-id-late-commit', '{}')")
    with db.unit_of_work() as uow:
        publish(uow, "evdom.thing_happened", "late-id-early-commit")

    consumer.run_once()
    # The naive "id > last seen" consumer would deliver the later id now and skip the earlier one forever.
    assert [k for k, _ in seen] == []
    t1.commit()
    t1.close()
    assert drain_until(consumer, lambda: len(seen) >= 2)
    assert sorted(k for k, _ in seen) == ["early-id-late-commit", "late-id-early-commit"]
    consumer.run_once()
    assert len(seen) == 2  # nothing delivered twice


def test_failed_handler_is_retried_and_earlier_events_stay_done(event_db):
    url, db, _ = event_db
    calls = []
    fail_once = {"armed": True}

    def handler(uow, event):
        if event.key == "poison" and fail_once["armed"]:
            fail_once["armed"] = False
            uow.connection.exec_driver_sql("INSERT INTO evdom.handled (event_id) VALUES ('should-roll-back')")
            raise ValueError("transient")
        calls.append(event.key)

    # No pause between tries: this test is about what a retry keeps and redoes, not about the backoff.
    consumer = Consumer(db, "retry", ["evdom.thing_happened"], handler, retry_backoff=0)
    catch_up(consumer, url)
    calls.clear()
    for key in ["a", "poison", "b"]:
        with db.unit_of_work() as uow:
            publish(uow, "evdom.thing_happened", key)
    # The failure stops the batch at "poison" (recorded for a retry, not raised): "a" is done, "b" waits.
    assert drain_until(consumer, lambda: not fail_once["armed"])
    assert calls == ["a"]
    assert drain_until(consumer, lambda: len(calls) >= 3)
    assert calls == ["a", "poison", "b"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM evdom.handled WHERE event_id='should-roll-back'").fetchone()[0] == 0


CONSUMER_SCRIPT = textwrap.dedent("""
    import sys, time
    from acme_platform import Consumer, Database, Settings
    db = Database(Settings(database_url=sys.argv[1], service_name="killme"))
    def handler(uow, event):
        uow.connection.exec_driver_sql("INSERT INTO evdom.handled (event_id) VALUES (%(e)s)", {"e": event.event_id})
        time.sleep(0.01)
    c = Consumer(db, "killable", ["evdom.bulk_loaded"], handler, batch_size=5)
    while True:
        c.run_once()
        time.sleep(0.05)
""")


def test_consumer_killed_mid_stream_loses_nothing_and_replay_is_harmless(event_db, tmp_path):
    url, db, site = event_db
    with db.unit_of_work() as uow:
        for i in range(300):
            publish(uow, "evdom.bulk_loaded", f"k{i}")
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site)] + sys.path))

    def handled():
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*), count(DISTINCT event_id) FROM evdom.handled "
                                "WHERE event_id LIKE 'evdom:%'").fetchone()

    proc = subprocess.Popen([sys.executable, str(script), url], env=env)
    try:
        assert wait_until(lambda: handled()[0] >= 50, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = handled()
        assert 50 <= partial[0] < 300
        proc = subprocess.Popen([sys.executable, str(script), url], env=env)
        assert wait_until(lambda: handled()[1] >= 300, timeout=60)
    finally:
        proc.kill()
        proc.wait()
    total, distinct = handled()
    # Handler writes and offsets commit together: every event handled, none twice.
    assert distinct == 300
    assert total == 300


def test_listener_wakes_and_cache_invalidates_across_connections(event_db):
    url, db, _ = event_db
    listener = ChangeListener(url).start()
    try:
        assert listener.wait_connected(5)
        cache = InvalidatingCache(listener, ["evdom.thing_happened"])
        cache.put("sku-1", {"price": 1})
        cache.put("sku-2", {"price": 2})
        assert cache.get("sku-1") == {"price": 1}
        # Another process commits a change to sku-1 only.
        with psycopg.connect(url) as other:
            other.execute("SELECT 1")
        with db.unit_of_work() as uow:
            publish(uow, "evdom.thing_happened", "sku-1")
        assert wait_until(lambda: cache.get("sku-1") is None, timeout=1.0)
        assert cache.get("sku-2") == {"price": 2}
    finally:
        listener.stop()


def test_value_loaded_during_an_invalidation_is_not_stored(event_db):
    url, db, _ = event_db
    listener = ChangeListener(url).start()
    try:
        assert listener.wait_connected(5)
        cache = InvalidatingCache(listener, ["evdom.thing_happened"])

        def slow_loader():
            cache.invalidate("k")  # a change arrives while we are reading the old value
            return "stale"

        assert cache.get_or_load("k", slow_loader) == "stale"
        assert cache.get("k") is None
    finally:
        listener.stop()


def test_dropped_listener_flushes_cache_and_serves_nothing_until_back(event_db):
    url, db, _ = event_db
    listener = ChangeListener(url, reconnect_delay=0.5).start()
    try:
        assert listener.wait_connected(5)
        cache = InvalidatingCache(listener, ["evdom.thing_happened"])
        cache.put("k", "v")
        listener.drop_connection()
        assert wait_until(lambda: not listener.connected, timeout=5)
        assert cache.get("k") is None
        cache.put("k2", "v2")  # not stored while notifications could be missed
        assert wait_until(lambda: listener.connected, timeout=10)
        assert cache.get("k") is None and cache.get("k2") is None
        assert listener.reconnects >= 1
        cache.put("k3", "v3")
        assert cache.get("k3") == "v3"
    finally:
        listener.stop()


def test_one_notify_per_transaction(event_db):
    url, db, _ = event_db
    got = []
    with psycopg.connect(url, autocommit=True) as listen:
        listen.execute('LISTEN "acme_events"')
        with db.unit_of_work() as uow:
            for i in range(3):
                publish(uow, "evdom.thing_happened", f"multi-{i}")
        for note in listen.notifies(timeout=2.0, stop_after=5):
            got.append(json.loads(note.payload))
    assert len(got) == 1
    assert got[0]["events"] == [["evdom.thing_happened", f"multi-{i}"] for i in range(3)]


def test_consumer_group_offsets_are_independent(event_db):
    url, db, _ = event_db
    with db.unit_of_work() as uow:
        publish(uow, "evdom.other_happened", "x")
    c1, seen1 = collecting_consumer(db, "g1", ["evdom.other_happened"])
    c2, seen2 = collecting_consumer(db, "g2", ["evdom.other_happened"])
    assert drain_until(c1, lambda: len(seen1) >= 1)
    assert drain_until(c2, lambda: len(seen2) >= len(seen1))
    assert seen1 == seen2
    c1.run_once()
    assert len(seen1) == len(seen2)


def test_a_second_process_of_the_group_skips_while_the_first_holds_the_batch(event_db):
    url, db, _ = event_db
    with db.unit_of_work() as uow:
        publish(uow, "evdom.other_happened", "skip-locked")
    first, seen_first = collecting_consumer(db, "busy", ["evdom.other_happened"])
    second, seen_second = collecting_consumer(db, "busy", ["evdom.other_happened"])
    assert drain_until(first, lambda: len(seen_first) >= 1)
    with psycopg.connect(url) as holder:
        # Another process of the group is in the middle of a batch: it holds the offset row.
        holder.execute("SELECT 1 FROM acme_platform.consumer_offsets WHERE consumer_group = 'busy' FOR UPDATE")
        with db.unit_of_work() as uow:
            publish(uow, "evdom.other_happened", "while-busy")
        # Skipped, not queued: queueing behind the holder would end in a lock_timeout error here.
        assert second.run_once() == 0
    assert drain_until(second, lambda: len(seen_second) >= 1)
    assert [k for k, _ in seen_second] == ["while-busy"]


def test_a_long_transaction_in_another_database_does_not_hold_delivery(event_db, make_database):
    url, db, _ = event_db
    consumer, seen = collecting_consumer(db, "elsewhere", ["evdom.other_happened"])
    catch_up(consumer, url)
    seen.clear()
    other = psycopg.connect(make_database())
    try:
        # A transaction with an xid, open in another database of the same server (a report, a
        # CREATE DATABASE): server-wide xmin would hold every consumer here behind it.
        other.execute("SELECT pg_current_xact_id()")
        with db.unit_of_work() as uow:
            publish(uow, "evdom.other_happened", "not-held-back")
        consumer.run_once()
        assert [k for k, _ in seen] == ["not-held-back"]
    finally:
        other.rollback()
        other.close()


def test_a_transaction_open_in_this_database_still_holds_back_later_rows(event_db):
    url, db, _ = event_db
    consumer, seen = collecting_consumer(db, "here", ["evdom.other_happened"])
    catch_up(consumer, url)
    seen.clear()
    open_here = psycopg.connect(url)
    try:
        open_here.execute("SELECT pg_current_xact_id()")  # older xid, may still write an outbox row
        with db.unit_of_work() as uow:
            publish(uow, "evdom.other_happened", "after-the-open-one")
        consumer.run_once()
        assert seen == []
    finally:
        open_here.rollback()
        open_here.close()
    assert drain_until(consumer, lambda: len(seen) == 1)


def _count_statements(db):
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)
    from sqlalchemy import event
    event.listen(db.engine, "before_cursor_execute", record)
    return sent, lambda: event.remove(db.engine, "before_cursor_execute", record)


def test_every_event_of_a_unit_of_work_is_one_statement_in_publish_order(event_db):
    url, db, _ = event_db
    sent, stop = _count_statements(db)
    try:
        with db.unit_of_work() as uow:
            publish(uow, "evdom.thing_happened", "one-stmt-1", {"n": 1})
            publish(uow, "evother.thing_happened", "one-stmt-2", {"n": 2})
            publish_many(uow, "evdom.bulk_loaded", [("one-stmt-3", {"n": 3}), ("one-stmt-4", None)])
            assert sent == []                      # nothing sent while the work goes on
            txid = uow.connection.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint").scalar()
    finally:
        stop()
    assert len(sent) == 2 and "pg_notify" in sent[1]   # the txid probe, then events + wake-up in one
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT 'evdom', id, txid, topic, key, payload FROM evdom.outbox WHERE key LIKE 'one-stmt-%' "
            "UNION ALL SELECT 'evother', id, txid, topic, key, payload FROM evother.outbox "
            "WHERE key LIKE 'one-stmt-%' ORDER BY 1, 2").fetchall()
    assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
        ("evdom", "evdom.thing_happened", "one-stmt-1", {"n": 1}),
        ("evdom", "evdom.bulk_loaded", "one-stmt-3", {"n": 3}),
        ("evdom", "evdom.bulk_loaded", "one-stmt-4", {}),
        ("evother", "evother.thing_happened", "one-stmt-2", {"n": 2}),
    ]
    assert {r[2] for r in rows} == {txid}


def test_one_wake_up_names_every_event_of_the_transaction(event_db):
    url, db, _ = event_db
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute('LISTEN "acme_events"')
        with db.unit_of_work() as uow:
            publish(uow, "evdom.thing_happened", "wake-1")
            publish(uow, "evother.thing_happened", "wake-2")
        messages = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert messages == [{"events": [["evdom.thing_happened", "wake-1"], ["evother.thing_happened", "wake-2"]]}]


def test_flush_events_writes_now_and_later_events_still_land_at_commit(event_db):
    url, db, _ = event_db
    with db.unit_of_work() as uow:
        publish(uow, "evdom.thing_happened", "flush-1")
        flush_events(uow)
        seen = uow.connection.exec_driver_sql(
            "SELECT key FROM evdom.outbox WHERE key LIKE 'flush-%%'").scalars().all()
        publish(uow, "evdom.thing_happened", "flush-2")
    assert seen == ["flush-1"]
    with psycopg.connect(url) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM evdom.outbox WHERE key LIKE 'flush-%' ORDER BY id")]
    assert keys == ["flush-1", "flush-2"]


def test_an_event_published_by_a_late_before_commit_hook_is_not_lost(event_db):
    url, db, _ = event_db
    with db.unit_of_work() as uow:
        publish(uow, "evdom.thing_happened", "late-hook-1")
        # Registered after the outbox's own hook, so it runs after the first flush.
        uow.before_commit(lambda: publish(uow, "evdom.thing_happened", "late-hook-2"))
    with psycopg.connect(url) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM evdom.outbox WHERE key LIKE 'late-hook-%' ORDER BY id")]
    assert keys == ["late-hook-1", "late-hook-2"]


def test_a_failing_event_write_rolls_the_whole_unit_of_work_back(event_db):
    url, db, _ = event_db
    with pytest.raises(Exception, match="nosuchdomain"):
        with db.unit_of_work() as uow:
            uow.connection.exec_driver_sql("INSERT INTO evdom.handled (event_id) VALUES ('before-bad-event')")
            publish(uow, "nosuchdomain.thing_happened", "x")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM evdom.handled WHERE event_id = 'before-bad-event'").fetchone()[0] == 0


def test_an_event_published_in_a_rolled_back_savepoint_is_gone(event_db):
    """A Consumer runs each handler in a savepoint: a failing handler's events must go with its writes."""
    url, db, _ = event_db
    with db.unit_of_work() as uow:
        publish(uow, "evdom.thing_happened", "sp-before")
        with pytest.raises(RuntimeError):
            with uow.connection.begin_nested():
                publish(uow, "evdom.thing_happened", "sp-rolled-back")
                raise RuntimeError("handler failed")
        with uow.connection.begin_nested():
            publish_many(uow, "evdom.thing_happened", [("sp-released", None)])
        publish(uow, "evdom.thing_happened", "sp-after")
    with psycopg.connect(url) as conn:
        keys = {r[0] for r in conn.execute("SELECT key FROM evdom.outbox WHERE key LIKE 'sp-%'")}
    assert keys == {"sp-before", "sp-released", "sp-after"}
