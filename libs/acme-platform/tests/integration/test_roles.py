"""acme_platform.roles against a real Postgres: apply converges, plan shows drift, a failure changes nothing."""
import psycopg
import pytest
import sqlalchemy as sa

from acme_platform.domains import PLATFORM_DOMAIN
from acme_platform.migrations.runner import MigrationRunner
from acme_platform.roles import DeclarationError, ServiceAccess
from acme_platform.roles import apply as roles_apply

SVC = ServiceAccess(service="svc", connection_limit=7)


def _apply(url, services=(SVC,), tmp_path=None):
    with roles_apply.connect(url) as conn:
        return roles_apply.apply(conn, specs=[PLATFORM_DOMAIN], services=list(services), secrets_dir=tmp_path,
                                 admin_url=url)


def _plan(url):
    with roles_apply.connect(url) as conn:
        return [s.sql for s in roles_apply.plan(conn, specs=[PLATFORM_DOMAIN], services=[SVC])]


def test_apply_then_migrate_converges_and_the_service_login_works(make_database, tmp_path):
    url = make_database()
    done = _apply(url, tmp_path=tmp_path)
    assert done.steps and set(done.secrets) == {"migrator", "svc"}
    assert oct(done.secrets["svc"].stat().st_mode & 0o777) == "0o600"
    migrator = roles_apply.read_secret(done.secrets["migrator"])["DATABASE_URL"]
    MigrationRunner(migrator, domains=[], progress=lambda m: None).run()
    assert _plan(url) == []                                  # the runner granted the new tables
    assert _apply(url).steps == []                           # idempotent
    svc = roles_apply.read_secret(done.secrets["svc"])["DATABASE_URL"]
    with psycopg.connect(svc, autocommit=True) as conn:
        assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone() == (7,)
        conn.execute("SELECT count(*) FROM acme_platform.instances").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE acme_platform.instances")


def test_plan_names_each_drift_and_apply_removes_it(make_database, tmp_path):
    url = make_database()
    _apply(url, tmp_path=tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'ALTER ROLE "{db}_svc_svc" CREATEDB CONNECTION LIMIT 99')
        conn.execute(f'GRANT CREATE ON SCHEMA acme_platform TO "{db}_svc_svc"')
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    plan = _plan(url)
    assert any(s.startswith(f'ALTER ROLE "{db}_svc_svc"') and "NOCREATEDB" in s and "LIMIT 7" in s for s in plan)
    assert f'REVOKE CREATE ON SCHEMA "acme_platform" FROM "{db}_svc_svc"' in plan
    assert 'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC' in plan
    _apply(url)
    assert _plan(url) == []


def test_a_failing_apply_changes_nothing(make_database):
    url = make_database()
    with pytest.raises(DeclarationError):
        _apply(url, services=[ServiceAccess(service="svc", connection_limit=5, read_only=("nowhere",))])
    with psycopg.connect(url) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)",
                            (db + "_",)).fetchone() == (0,)


def test_migrations_refuse_a_roles_database_whose_schema_is_missing(make_database, tmp_path):
    url = make_database()
    done = _apply(url, tmp_path=tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA acme_platform")
    migrator = roles_apply.read_secret(done.secrets["migrator"])["DATABASE_URL"]
    with pytest.raises(Exception, match="run `acmectl roles apply`"):
        MigrationRunner(migrator, domains=[], progress=lambda m: None).run()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regnamespace('acme_platform')").scalar() is None
    engine.dispose()


AUDITOR = ServiceAccess(service="auditor", connection_limit=3, capabilities=("platform.audit",))


def test_a_capability_reaches_only_the_service_that_declares_it(make_database, tmp_path):
    """platform.audit (acme_platform.audit_log): INSERT/SELECT for the declaring service, nothing for the
    others; never UPDATE/DELETE (append-only); a membership granted by hand to another service is drift."""
    url = make_database()
    done = _apply(url, services=(SVC, AUDITOR), tmp_path=tmp_path)
    migrator = roles_apply.read_secret(done.secrets["migrator"])["DATABASE_URL"]
    MigrationRunner(migrator, domains=[], progress=lambda m: None).run()
    with roles_apply.connect(url) as conn:   # the runner granted the new table to the capability's role
        assert roles_apply.plan(conn, specs=[PLATFORM_DOMAIN], services=[SVC, AUDITOR]) == []
    auditor = roles_apply.read_secret(done.secrets["auditor"])["DATABASE_URL"]
    with psycopg.connect(auditor, autocommit=True) as conn:
        conn.execute("INSERT INTO acme_platform.audit_log (actor_id, actor, service, action, target) "
                     "VALUES ('a', 'a@example.com', 'auditor', 'test.action', 'x')")
        assert conn.execute("SELECT count(*) FROM acme_platform.audit_log").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM acme_platform.audit_log")
    svc = roles_apply.read_secret(done.secrets["svc"])["DATABASE_URL"]
    with psycopg.connect(svc, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM acme_platform.audit_log")
    with psycopg.connect(url, autocommit=True) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'GRANT "{db}_acme_platform_audit" TO "{db}_svc_svc"')
    with roles_apply.connect(url) as conn:
        plan = [s.sql for s in roles_apply.plan(conn, specs=[PLATFORM_DOMAIN], services=[SVC, AUDITOR])]
    assert plan == [f'REVOKE "{db}_acme_platform_audit" FROM "{db}_svc_svc"']


def test_an_unknown_capability_is_a_declaration_error(make_database, tmp_path):
    url = make_database()
    typo = ServiceAccess(service="typo", connection_limit=3, capabilities=("platform.audti",))
    with pytest.raises(DeclarationError, match="platform.audti"):
        _apply(url, services=(typo,), tmp_path=tmp_path)
