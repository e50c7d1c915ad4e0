"""The instance registry under failure: heartbeats survive a starved request pool; a registering instance
and a contract migration exclude each other; an instance that could not check at start checks when it first
registers and stops serving if a contract it cannot work with was applied meanwhile."""
import os
import threading
import time

import psycopg
import pytest

from acme_platform import Database, Settings
from acme_platform.domains import installed_domains
from acme_platform.migrations import MigrationBlocked
from acme_platform.registry import COMPATIBILITY_LOCK_KEY, InstanceRegistration
from acme_platform.web import create_app

from .test_skew_guard import CONTRACT_3, EXPAND_1, EXPAND_2, fresh, live_instances_via, run


@pytest.fixture
def fast_heartbeats(monkeypatch):
    monkeypatch.setenv("ACME_HEARTBEAT_INTERVAL", "0.2")
    monkeypatch.setenv("ACME_INSTANCE_STALE_AFTER", "1")


def _testdom_spec():
    return next(s for s in installed_domains(["testdom"]) if s.name == "testdom")


def instance_rows(url) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM acme_platform.instances").fetchone()[0]


def poll(check, within: float, what: str):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"not within {within}s: {what}")


def test_a_starved_request_pool_does_not_make_a_live_instance_stale(domain_on_path, make_database, fast_heartbeats):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1}, version="1.0.0")
    run(url)
    db = Database(Settings(database_url=url, service_name="starved", pool_size=1, max_overflow=0, pool_timeout=0.1))
    reg = InstanceRegistration(db, service="starved", service_version="1", domains=[_testdom_spec()]).start()
    try:
        with db.engine.connect():        # every request connection is taken, for 4 stale windows
            time.sleep(4)
            live = live_instances_via(url)
        assert [i.instance_id for i in live] == [reg.instance_id], "a live instance went stale"
    finally:
        reg.deregister()
        db.dispose()


def lock_holders(url, mode: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                            "AND mode = %s AND granted", (COMPATIBILITY_LOCK_KEY & 0xFFFFFFFF, mode)).fetchone()[0]


def test_an_instance_registering_during_a_contract_migration_waits_then_refuses(domain_on_path, make_database):
    # The contract's upgrade takes 2 s: the runner holds the exclusive lock meanwhile.
    slow_contract = CONTRACT_3.replace("op.execute('ALTER", "op.execute('SELECT pg_sleep(2)')\n    op.execute('ALTER")
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.0.0")
    run(url)
    old_spec = _testdom_spec()                 # the registering instance runs 1.0.0; the contract needs 1.1.0
    fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": slow_contract},
          version="2.0.0")
    migrated: list = []
    runner = threading.Thread(target=lambda: migrated.append(run(url)))
    runner.start()
    poll(lambda: lock_holders(url, "ExclusiveLock") == 1, 10, "the runner holds the exclusive lock")
    refused: list = []
    db = Database(Settings(database_url=url, service_name="old"))
    reg = InstanceRegistration(db, service="old", service_version="1", domains=[old_spec],
                               on_incompatible=refused.append)
    reg.packages = {"acme-testdom": "1.0.0"}  # what that (other) process has installed
    reg.start()
    runner.join(30)
    try:
        assert migrated, "the contract migration did not complete"
        # It waited for the runner's lock; if that outlasted its lock_timeout it tries again on the next beat.
        poll(lambda: refused, 10, "the old instance refuses")
        assert refused and "acme-testdom 1.0.0" in refused[0][0], "the old instance must refuse to serve"
        assert instance_rows(url) == 0, "the old instance must not be registered under the contract"
    finally:
        reg.deregister()
        db.dispose()


def test_a_contract_migration_started_during_a_registration_is_blocked_by_it(domain_on_path, make_database,
                                                                              monkeypatch):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.0.0")
    run(url)
    old_spec = _testdom_spec()
    checked = threading.Event()
    original = InstanceRegistration._compatibility_problems

    def slow_check(self, conn):
        problems = original(self, conn)   # checked (compatible) under the shared lock...
        checked.set()
        time.sleep(1.5)                   # ...and slow to insert its row: the window a migration could use
        return problems

    monkeypatch.setattr(InstanceRegistration, "_compatibility_problems", slow_check)
    db = Database(Settings(database_url=url, service_name="old"))
    registering = threading.Thread(target=lambda: InstanceRegistration(
        db, service="old", service_version="1", domains=[old_spec])._upsert())
    registering.start()
    assert checked.wait(10)
    fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3}, version="2.0.0")
    try:
        with pytest.raises(MigrationBlocked):       # it waited for the registration, then saw it live
            run(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version_num FROM testdom.alembic_version").fetchone() == ("sk0002",)
    finally:
        registering.join(10)
        db.dispose()


def test_an_instance_that_could_not_check_at_start_stops_serving_once_it_finds_a_contract(
        domain_on_path, make_database, fast_heartbeats):
    import uuid

    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.0.0")
    run(url)
    # The service's login may not connect yet: to it, the database is down at start.
    role = f"late_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} SUPERUSER NOLOGIN PASSWORD 'late-pw'")
    scheme, rest = url.split("://", 1)
    service_url = f"{scheme}://{role}:late-pw@{rest.rsplit('@', 1)[1]}"
    app = create_app(__name__, service_name="latecheck", service_version="1", domains=["testdom"], json_logs=False,
                     settings=Settings(database_url=service_url, service_name="latecheck"))

    @app.get("/work")
    def work():
        return {"served": True}

    acme = app.extensions["acme"]
    acme.start_process()
    client = app.test_client()
    try:
        assert client.get("/work").status_code == 200
        fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3},
              version="2.0.0")
        run(url)                           # nothing registered: the contract goes through
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {role} LOGIN")      # the database is back for the service
        poll(lambda: client.get("/work").status_code == 503, 10, "the old instance stops serving")
        refused = client.get("/work")
        assert refused.json["code"] == "platform.incompatible_schema"
        assert "acme-testdom 1.0.0" in refused.json["detail"]
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        assert instance_rows(url) == 0
    finally:
        acme.stop_process()
        acme.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_registry_shows_the_bound_host_and_a_dead_instance_as_stale(domain_on_path, make_database,
                                                                         fast_heartbeats, monkeypatch):
    from acme_platform.status import collect_status, render_html, render_text

    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1}, version="1.0.0")
    run(url)
    monkeypatch.setenv("ACME_BIND_HOST", "10.61.7.11")     # what a service on another host binds to
    db = Database(Settings(database_url=url, service_name="onhost"))
    reg = InstanceRegistration(db, service="onhost", service_version="1", domains=[_testdom_spec()]).start()
    try:
        report = collect_status(url)
        assert [(i["service"], i["host"]) for i in report["instances"]] == [("onhost", "10.61.7.11")]
        assert report["stale_instances"] == []
        # It dies without deregistering (kill -9): its heartbeats stop, its row stays.
        reg._stop.set()
        poll(lambda: not collect_status(url)["instances"], 5, "the dead instance leaves the live ones")
        report = collect_status(url)
        assert [(i["service"], i["host"], i["state"]) for i in report["stale_instances"]] == [
            ("onhost", "10.61.7.11", "stale")]
        assert "STALE INSTANCES" in render_text(report)
        assert f"onhost       10.61.7.11:{os.getpid()}" in render_text(report)
        assert "<h2>Stale instances</h2>" in render_html(report)    # the backoffice's /status page
        assert f"<td>10.61.7.11:{os.getpid()}</td><td>stale," in render_html(report)
    finally:
        reg.deregister()
        db.dispose()
    assert collect_status(url)["stale_instances"] == [], "a deregistered instance is gone, not stale"
