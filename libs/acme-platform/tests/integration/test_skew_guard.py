"""Version-skew guard: phases, the ledger, live instances, the migration gate and the startup guard."""
import importlib
import os
import subprocess
import sys

import psycopg
import pytest

from acme_platform import Database, Settings
from acme_platform.domains import installed_domains
from acme_platform.migrations import MigrationBlocked, MigrationError, MigrationRunner
from acme_platform.registry import InstanceRegistration, live_instances
from acme_platform.web.app import IncompatibleSchemaError, create_app

from ..conftest import revision

EXPAND_1 = revision("sk0001", None, "op.execute('CREATE TABLE testdom.items (id int PRIMARY KEY, old_name text)')")
EXPAND_2 = revision("sk0002", "sk0001", "op.execute('ALTER TABLE testdom.items ADD COLUMN new_name text')")
CONTRACT_3 = revision("sk0003", "sk0002", "op.execute('ALTER TABLE testdom.items DROP COLUMN old_name')",
                      phase="contract").replace("phase = 'contract'", "phase = 'contract'\nmin_compatible_version = '1.1.0'")
CONTRACT_WITHOUT_MIN = revision("sk0003", "sk0002", "op.execute('SELECT 1')", phase="contract")
NO_PHASE = revision("sk0003", "sk0002", "op.execute('SELECT 1')").replace("phase = 'expand'\n", "")


def fresh(domain_on_path, make_database, revisions, version="1.0.0"):
    for mod in [m for m in sys.modules if m.startswith("acme_testdom")]:
        del sys.modules[mod]
    site = domain_on_path(revisions=revisions, version=version)
    importlib.invalidate_caches()
    return site, make_database()


def run(url, **kw):
    return MigrationRunner(url, progress=lambda m: None, **kw).run()


def register(url, version, service="storefront"):
    db = Database(Settings(database_url=url, service_name=service))
    spec = next(s for s in installed_domains(["testdom"]) if s.name == "testdom")
    reg = InstanceRegistration(db, service=service, service_version="1", domains=[spec])
    reg.packages = {"acme-testdom": version}  # what that (other) process has installed
    return reg.start(), db


def ledger(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT revision, phase, applied_by_version, min_compatible_version, forced "
                            "FROM testdom.acme_migration_ledger ORDER BY revision").fetchall()


def test_every_revision_must_declare_a_phase(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": NO_PHASE})
    with pytest.raises(MigrationError, match="must declare phase"):
        run(url)


def test_contract_must_declare_min_compatible_version(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_WITHOUT_MIN})
    with pytest.raises(MigrationError, match="min_compatible_version"):
        run(url)


def test_ledger_records_phase_version_and_minimum(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3},
                   version="1.1.0")
    run(url)
    assert ledger(url) == [("sk0001", "expand", "1.1.0", None, False), ("sk0002", "expand", "1.1.0", None, False),
                           ("sk0003", "contract", "1.1.0", "1.1.0", False)]


def test_contract_is_refused_while_an_old_version_is_live_then_allowed(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.1.0")
    run(url)
    old, db = register(url, "1.0.0", service="backoffice")
    new, db2 = register(url, "1.1.0", service="storefront")
    try:
        site, _ = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3},
                        version="2.0.0")
        with pytest.raises(MigrationBlocked) as blocked:
            run(url)
        message = str(blocked.value)
        assert "backoffice" in message and "acme-testdom 1.0.0" in message and "storefront" not in message
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version_num FROM testdom.alembic_version").fetchone() == ("sk0002",)
        old.deregister()
        run(url)
        assert ledger(url)[-1] == ("sk0003", "contract", "2.0.0", "1.1.0", False)
    finally:
        old.deregister()
        new.deregister()
        db.dispose()
        db2.dispose()


def test_a_dead_instance_stops_blocking_after_the_heartbeat_window(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.1.0")
    run(url)
    dead, db = register(url, "1.0.0")
    dead._stop.set()  # the process died: no more heartbeats, no deregistration
    try:
        assert len(live_instances_via(url)) == 1
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE acme_platform.instances SET heartbeat_at = now() - interval '1 hour'")
        assert live_instances_via(url) == []
        fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3}, version="2.0.0")
        run(url)
    finally:
        db.dispose()


def live_instances_via(url):
    import sqlalchemy as sa
    from acme_platform.config import to_sqlalchemy_url
    engine = sa.create_engine(to_sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    with engine.connect() as c:
        return live_instances(c)


def test_force_applies_and_is_recorded(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.1.0")
    run(url)
    old, db = register(url, "1.0.0", service="backoffice")
    try:
        fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3}, version="2.0.0")
        run(url, force_revisions={"sk0003"})
        row = ledger(url)[-1]
        assert row[0] == "sk0003" and row[4] is True
        with psycopg.connect(url) as conn:
            blockers = conn.execute("SELECT forced_blockers FROM testdom.acme_migration_ledger "
                                    "WHERE revision = 'sk0003'").fetchone()[0]
        assert blockers[0]["service"] == "backoffice" and blockers[0]["version"] == "1.0.0"
    finally:
        old.deregister()
        db.dispose()


def test_cli_force_requires_typing_the_revision_back(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.1.0")
    run(url)
    old, db = register(url, "1.0.0", service="backoffice")
    site, _ = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3},
                    version="2.0.0")
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=os.pathsep.join([str(site)] + sys.path))
    cmd = [sys.executable, "-c", "from acme_platform.cli import main; main()", "migrate"]
    try:
        refused = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert refused.returncode != 0 and "backoffice" in refused.stderr and "--force" in refused.stderr
        wrong = subprocess.run(cmd + ["--force"], env=env, input="nope\n", capture_output=True, text=True)
        assert wrong.returncode != 0 and "did not match" in wrong.stderr
        assert ledger(url)[-1][0] == "sk0002"
        right = subprocess.run(cmd + ["--force"], env=env, input="sk0003\n", capture_output=True, text=True)
        assert right.returncode == 0, right.stderr
        assert ledger(url)[-1][:1] == ("sk0003",) and ledger(url)[-1][4] is True
    finally:
        old.deregister()
        db.dispose()


def test_service_with_a_too_old_library_refuses_to_start(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2, "c.py": CONTRACT_3},
                   version="2.0.0")
    run(url)
    fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.0.0")
    with pytest.raises(IncompatibleSchemaError) as refused:
        create_app(__name__, service_name="oldsvc", service_version="1", domains=["testdom"], json_logs=False,
                   settings=Settings(database_url=url, service_name="oldsvc"))
    message = str(refused.value)
    assert "acme-testdom 1.0.0" in message and ">= 1.1.0" in message


def test_database_ahead_of_an_older_package_is_a_noop(domain_on_path, make_database):
    _, url = fresh(domain_on_path, make_database, {"a.py": EXPAND_1, "b.py": EXPAND_2}, version="1.1.0")
    run(url)
    fresh(domain_on_path, make_database, {"a.py": EXPAND_1}, version="1.0.0")
    results = {r.domain: r for r in run(url)}
    assert results["testdom"].applied == [] and results["testdom"].after == ("sk0002",)
