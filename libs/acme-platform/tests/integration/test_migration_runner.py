"""The migration runner against a real Postgres, with a small test domain installed on sys.path."""
import os
import subprocess
import sys

import psycopg
import pytest

from acme_platform.migrations import MigrationError, MigrationRunner, domain_status

from ..conftest import revision

REV1 = revision("td0001", None, """
    op.execute("CREATE TABLE testdom.widgets (id int PRIMARY KEY, name text NOT NULL)")
    op.execute("CREATE TABLE testdom.applied_log (rev text)")
    op.execute("INSERT INTO testdom.applied_log VALUES ('td0001')")
""")
REV2 = revision("td0002", "td0001", """
    op.execute("ALTER TABLE testdom.widgets ADD COLUMN colour text")
    op.execute("INSERT INTO testdom.applied_log VALUES ('td0002')")
""")
# Holds the first runner inside its migration until a second runner is polling for the lock (its
# last query shows in pg_stat_activity), however slowly that second interpreter starts; at most 60 s.
WAITING_REV2 = revision("td0002", "td0001", """
    op.execute(\"\"\"
        DO $$
        BEGIN
          FOR i IN 1..600 LOOP
            PERFORM pg_stat_clear_snapshot();  -- activity is otherwise read once per transaction
            EXIT WHEN (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                       AND query LIKE 'SELECT pg_try_advisory_lock%%') >= 2;
            PERFORM pg_sleep(0.1);
          END LOOP;
        END $$
    \"\"\")
    op.execute("ALTER TABLE testdom.widgets ADD COLUMN colour text")
    op.execute("INSERT INTO testdom.applied_log VALUES ('td0002')")
""")
BROKEN_REV2 = revision("td0002", "td0001", """
    op.execute("CREATE TABLE testdom.half_done (id int)")
    op.execute("ALTER TABLE testdom.widgets ADD COLUMN colour text")
    raise RuntimeError("boom in td0002")
""")


def query(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_fresh_database_is_migrated_then_second_run_is_a_noop(make_database, domain_on_path):
    domain_on_path(revisions={"td0001.py": REV1, "td0002.py": REV2})
    url = make_database()
    first = MigrationRunner(url, progress=lambda m: None).run()
    applied = {r.domain: r.applied for r in first}
    assert applied["testdom"] == ["td0001", "td0002"]
    assert applied["platform"] == ["p0001", "p0002", "p0003", "p0004"]
    assert query(url, "SELECT version_num FROM testdom.alembic_version") == [("td0002",)]

    second = MigrationRunner(url, progress=lambda m: None).run()
    assert all(r.applied == [] for r in second)
    assert query(url, "SELECT rev FROM testdom.applied_log ORDER BY rev") == [("td0001",), ("td0002",)]
    assert all(row["up_to_date"] for row in domain_status(url))


def test_failing_revision_leaves_the_domain_unchanged(make_database, domain_on_path):
    site = domain_on_path(revisions={"td0001.py": REV1})
    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    schema_before = query(url, "SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE table_schema = 'testdom' ORDER BY 1, 2")

    # The next version of the package ships a revision that fails half-way through.
    (site / "acme_testdom" / "migrations" / "versions" / "td0002.py").write_text(BROKEN_REV2)
    with pytest.raises(MigrationError, match="boom in td0002"):
        MigrationRunner(url, domains=["testdom"], progress=lambda m: None).run()

    assert query(url, "SELECT version_num FROM testdom.alembic_version") == [("td0001",)]
    assert query(url, "SELECT to_regclass('testdom.half_done')") == [(None,)]
    assert query(url, "SELECT table_name, column_name FROM information_schema.columns "
                      "WHERE table_schema = 'testdom' ORDER BY 1, 2") == schema_before


def test_two_runners_at_once_one_waits_both_succeed_applied_once(make_database, domain_on_path):
    site = domain_on_path(revisions={"td0001.py": REV1, "td0002.py": WAITING_REV2})
    url = make_database()
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=os.pathsep.join([str(site)] + sys.path))
    acmectl = [sys.executable, "-c", "from acme_platform.cli import main; main()", "migrate"]
    first = subprocess.Popen(acmectl, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Start the second runner once the first holds the lock; the first then waits inside its revision
    # until the second is polling, so the two really overlap however loaded the machine is.
    assert wait_for_lock_holder(url), "the first runner never took the migration lock"
    second = subprocess.Popen(acmectl, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    runners = [first, second]
    outputs = [r.communicate(timeout=120)[0] for r in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    # Exactly one of them applied the revisions; the other waited for the lock and found nothing to do.
    appliers = [o for o in outputs if "applied td0001, td0002" in o]
    waiters = [o for o in outputs if "waiting for" in o]
    assert len(appliers) == 1, outputs
    assert len(waiters) == 1, outputs
    assert query(url, "SELECT rev, count(*) FROM testdom.applied_log GROUP BY rev ORDER BY rev") == \
        [("td0001", 1), ("td0002", 1)]


def wait_for_lock_holder(url, timeout=30.0):
    import time

    from acme_platform.migrations.runner import ADVISORY_LOCK_KEY

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(url, f"SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                          f"AND objid = {ADVISORY_LOCK_KEY & 0xFFFFFFFF} "
                          "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        if rows:
            return True
        time.sleep(0.05)
    return False


def test_cli_reports_bad_database_url_in_one_line(tmp_path):
    env = dict(os.environ, DATABASE_URL="mysql://nope")
    proc = subprocess.run([sys.executable, "-c", "from acme_platform.cli import main; main()", "migrate"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DATABASE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
