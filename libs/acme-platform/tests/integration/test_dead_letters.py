"""Poison events: retries with backoff, dead letters, replay, lag (metrics, /readyz, acmectl events).

Real Postgres; the consumer runs in this process so each step can be observed between runs.
"""
import json
import sys
import time

import psycopg
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from acme_platform import Consumer, Database, Settings, publish
from acme_platform.cli import main as acmectl
from acme_platform.events import dead_letters
from acme_platform.migrations import MigrationRunner
from acme_platform.web import create_app

from ..conftest import revision, write_test_domain

TOPIC = "dldom.thing_happened"
REV = revision("dl0001", None, """
    from acme_platform.migrations import create_outbox_table
    create_outbox_table("dldom")
""")


@pytest.fixture(scope="module")
def dl_db(tmp_path_factory, make_database):
    site = write_test_domain(tmp_path_factory.mktemp("dlsite"), name="dldom", revisions={"dl0001.py": REV})
    sys.path.insert(0, str(site))
    import importlib
    importlib.invalidate_caches()
    url = make_database()
    MigrationRunner(url, domains=["dldom"], progress=lambda m: None).run()
    db = Database(Settings(database_url=url, service_name="tests", pool_size=10))
    yield url, db
    db.dispose()
    sys.path.remove(str(site))


def run_until(consumer, predicate, timeout=10.0):
    """Run the consumer until predicate() holds (delivery waits for older transactions to finish)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer.run_once()
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def emit(db, *events):
    for key, payload in events:
        with db.unit_of_work() as uow:
            publish(uow, TOPIC, key, payload)


def emit_raw(url, key, payload):
    """A row publish() would never write (its payloads are objects): what a buggy producer leaves."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO dldom.outbox (txid, topic, key, payload) VALUES "
                     "(pg_current_xact_id()::text::bigint, %s, %s, %s::jsonb)", (TOPIC, key, json.dumps(payload)))


def fresh(db, url, group, handler, **kw):
    """A consumer of a new group that starts after every row already in the outbox."""
    consumer = Consumer(db, group, [TOPIC], lambda uow, e: None)
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM dldom.outbox").fetchone()[0]
    passed = lambda: _passed(url, group) >= total  # noqa: E731
    assert run_until(consumer, passed)
    return Consumer(db, group, [TOPIC], handler, **kw)


def _passed(url, group):
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM dldom.outbox o JOIN acme_platform.consumer_offsets c "
                           "ON c.consumer_group = %s AND c.domain = 'dldom' "
                           "WHERE (o.txid, o.id) <= (c.last_txid, c.last_id)", (group,)).fetchone()
    return row[0]


def letters(url, group):
    with psycopg.connect(url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute("SELECT * FROM acme_platform.dead_letters WHERE consumer_group = %s ORDER BY id",
                            (group,)).fetchall()


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def picky(calls):
    """A handler that refuses payloads that are not objects with "n" (a poison event) and records the rest."""
    def handler(uow, event):
        calls.append((event.key, event.payload))
        if not isinstance(event.payload, dict) or "n" not in event.payload:
            raise ValueError(f"cannot handle payload {event.payload!r}")
    return handler


def test_a_poison_event_is_retried_then_dead_lettered_and_later_events_flow(dl_db):
    url, db = dl_db
    calls = []
    consumer = fresh(db, url, "poisoned", picky(calls), max_attempts=3, retry_backoff=0.01)
    retries, dead = metric("acme_events_retries_total", group="poisoned"), \
        metric("acme_events_dead_letters_total", group="poisoned")
    # "k1" twice: ordering per key is NOT kept behind a dead letter (documented), so the good k1 flows.
    emit(db, ("a", {"n": 1}), ("k1", {"bad": True}), ("k1", {"n": 2}), ("b", {"n": 3}))
    assert run_until(consumer, lambda: [k for k, p in calls if p.get("n")] == ["a", "k1", "b"])
    assert [k for k, p in calls if "bad" in p] == ["k1"] * 3          # exactly max_attempts tries
    [letter] = letters(url, "poisoned")
    assert letter["status"] == "dead" and letter["attempts"] == 3 and letter["key"] == "k1"
    assert letter["payload"] == {"bad": True} and letter["topic"] == TOPIC
    assert letter["error"] == "ValueError: cannot handle payload {'bad': True}"
    assert metric("acme_events_retries_total", group="poisoned") - retries == 2
    assert metric("acme_events_dead_letters_total", group="poisoned") - dead == 1
    with psycopg.connect(url) as conn:   # the retry state is cleared once the group moved on
        row = conn.execute("SELECT failing_id, attempts, retry_after FROM acme_platform.consumer_offsets "
                           "WHERE consumer_group = 'poisoned'").fetchone()
    assert row == (None, None, None)


def test_the_backoff_holds_the_retry_back_in_every_process_of_the_group(dl_db):
    url, db = dl_db
    calls = []
    first = fresh(db, url, "patient", picky(calls), max_attempts=3, retry_backoff=30, retry_backoff_max=30)
    other = Consumer(db, "patient", [TOPIC], picky(calls), max_attempts=3, retry_backoff=30, retry_backoff_max=30)
    emit(db, ("p", {"bad": 1}))
    assert run_until(first, lambda: len(calls) == 1)
    with psycopg.connect(url) as conn:
        attempts, error, wait = conn.execute(
            "SELECT attempts, last_error, extract(epoch FROM retry_after - now()) FROM acme_platform.consumer_offsets "
            "WHERE consumer_group = 'patient'").fetchone()
    assert attempts == 1 and error.startswith("ValueError") and 20 < wait <= 30
    # Neither this process nor another one of the group tries again before the backoff is over.
    for consumer in (first, other, first, other):
        consumer.run_once()
    assert len(calls) == 1
    # Once it is over, the count goes on where it stood (shared in the offset row, not per process).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE acme_platform.consumer_offsets SET retry_after = now() WHERE consumer_group = 'patient'")
    other.run_once()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT attempts FROM acme_platform.consumer_offsets "
                            "WHERE consumer_group = 'patient'").fetchone()[0] == 2
    assert len(calls) == 2


def test_replay_after_fixing_the_payload_delivers_it_and_a_broken_replay_goes_back(dl_db):
    url, db = dl_db
    calls = []
    consumer = fresh(db, url, "replayer", picky(calls), max_attempts=1)
    emit_raw(url, "r", [])
    assert run_until(consumer, lambda: len(letters(url, "replayer")) == 1)
    [letter] = letters(url, "replayer")
    assert letter["payload"] == [] and letter["attempts"] == 1

    engine = db.engine
    # Replayed unchanged: still poison, back to dead with one more attempt.
    with engine.begin() as conn:
        assert dead_letters.request_replay(conn, letter["id"])["status"] == "replay"
    assert run_until(consumer, lambda: letters(url, "replayer")[0]["status"] == "dead")
    assert letters(url, "replayer")[0]["attempts"] == 2
    # Fixed on the way: handled, marked replayed, never handed over again.
    with engine.begin() as conn:
        dead_letters.request_replay(conn, letter["id"], {"n": 7})
    assert run_until(consumer, lambda: letters(url, "replayer")[0]["status"] == "replayed")
    assert calls[-1] == ("r", {"n": 7})
    consumer.run_once()
    assert calls.count(("r", {"n": 7})) == 1
    with engine.begin() as conn, pytest.raises(dead_letters.DeadLetterError, match="is replayed"):
        dead_letters.request_replay(conn, letter["id"])


def test_acmectl_events_lists_shows_replays_and_discards_with_one_line_errors(dl_db, monkeypatch):
    url, db = dl_db
    consumer = fresh(db, url, "operated", picky([]), max_attempts=1)
    emit_raw(url, "x", [])
    emit(db, ("y", {"oops": 1}))
    assert run_until(consumer, lambda: len(letters(url, "operated")) == 2)
    x, y = letters(url, "operated")
    monkeypatch.setenv("DATABASE_URL", url)
    cli = CliRunner()

    out = cli.invoke(acmectl, ["events"])
    assert out.exit_code == 0, out.output
    group_line = next(line for line in out.output.splitlines() if "operated" in line and "behind" in line)
    assert "2 open dead letter(s)" in group_line
    assert f"#{x['id']}" in out.output and "ValueError: cannot handle payload []" in out.output

    shown = cli.invoke(acmectl, ["events", "show", str(y["id"])])
    assert shown.exit_code == 0 and json.loads(shown.output)["payload"] == {"oops": 1}

    assert cli.invoke(acmectl, ["events", "replay", str(x["id"]), "--payload", '{"n": 1}']).exit_code == 0
    assert cli.invoke(acmectl, ["events", "discard", str(y["id"])]).exit_code == 0
    assert run_until(consumer, lambda: [d["status"] for d in letters(url, "operated")] == ["replayed", "discarded"])
    listed = cli.invoke(acmectl, ["events", "list", "--group", "operated"])
    assert listed.exit_code == 0 and "dead letters: 0" in listed.output
    assert f"#{x['id']}" in cli.invoke(acmectl, ["events", "list", "--all", "--group", "operated"]).output

    for args, message in [
        (["events", "show", "abc"], "dead letter id must be a positive integer (got 'abc')"),
        (["events", "show", "999999"], "no dead letter 999999"),
        (["events", "replay", str(x["id"])], f"dead letter {x['id']} is replayed; only a dead one can be replayed"),
        (["events", "replay", "1", "--payload", "[1]"], "--payload must be a JSON object (got list)"),
        (["events", "replay", "1", "--payload", "{nope"], "--payload is not JSON"),
        (["events", "discard", str(y["id"])], f"dead letter {y['id']} is discarded; nothing to discard"),
    ]:
        bad = cli.invoke(acmectl, args)
        assert bad.exit_code == 1, (args, bad.output)
        assert len(bad.output.strip().splitlines()) == 1 and message in bad.output, (args, bad.output)


def test_readyz_fails_while_a_watched_group_lags_and_names_it(dl_db):
    url, db = dl_db
    fresh(db, url, "watched", picky([]))
    app = create_app(__name__, service_name="lagtest", service_version="1.0.0", domains=["dldom"],
                     settings=Settings(database_url=url, service_name="lagtest", events_max_lag_seconds=30),
                     json_logs=False)
    app.extensions["acme"].watch_consumer("watched", [TOPIC])
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with psycopg.connect(url, autocommit=True) as conn:   # an event nobody handled for two minutes
        conn.execute("INSERT INTO dldom.outbox (txid, topic, key, payload, created_at) VALUES "
                     "(pg_current_xact_id()::text::bigint, %s, 'old', '{\"n\": 1}', now() - interval '120 s')",
                     (TOPIC,))
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 503 and body["code"] == "platform.consumer_lagging", body
    assert body["group"] == "watched" and body["domain"] == "dldom" and body["events_behind"] == 1
    assert 119 < body["seconds_behind"] < 200
    assert body["detail"].startswith("consumer group watched is 1 event(s) and 1") and "behind on dldom" in body["detail"]
    # The consumer's own lag gauges say the same (measured after its run; here the handler keeps failing).
    stuck = Consumer(db, "watched", [TOPIC], _always_fails, max_attempts=100,
                     retry_backoff=30, poll_interval=0)
    stuck.run_once()
    assert metric("acme_events_lag_events", group="watched", domain="dldom") == 1.0
    assert metric("acme_events_lag_seconds", group="watched", domain="dldom") > 119
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE acme_platform.consumer_offsets SET retry_after = now() WHERE consumer_group = 'watched'")
    # Caught up: ready again, and the gauges drop to zero.
    healthy = Consumer(db, "watched", [TOPIC], picky([]), poll_interval=0)
    assert run_until(healthy, lambda: client.get("/readyz").status_code == 200)
    assert metric("acme_events_lag_events", group="watched", domain="dldom") == 0.0
    assert metric("acme_events_lag_seconds", group="watched", domain="dldom") == 0.0


def _always_fails(uow, event):
    raise RuntimeError("still broken")
