"""Behind a transaction-mode pooler (DATABASE_DIRECT_URL set apart from DATABASE_URL) the request engine
leaves no session state on its server connection: no prepared statements, no session-level timeouts
(they go with each transaction as SET LOCAL), and what needs a session uses the direct URL.

A real Postgres stands in for PgBouncer here (the URL only has to differ for the engine to behave as
pooled); tests/test_e2e_* run the whole system through a real PgBouncer (suite tests:e2e-pgbouncer)."""
import pytest

from acme_platform import Database, load_settings
from acme_platform.db import create_engine
from acme_platform.errors import ConfigError


def _pooled(url: str, **env) -> Database:
    # A different spelling of the same server: the settings see "a pooler URL and a direct URL".
    direct = url.replace("postgresql://", "postgres://", 1) if url.startswith("postgresql://") else \
        url.replace("postgres://", "postgresql://", 1)
    return Database(load_settings({"DATABASE_URL": url, "DATABASE_DIRECT_URL": direct, "ACME_DB_POOL_SIZE": "1",
                                   "ACME_DB_MAX_OVERFLOW": "0", "ACME_DB_STATEMENT_TIMEOUT_MS": "1234",
                                   "ACME_DB_LOCK_TIMEOUT_MS": "567", **env}))


@pytest.fixture
def url(make_database):
    return make_database()


def test_a_pooled_engine_prepares_nothing_however_often_a_statement_runs(url):
    db = _pooled(url)
    try:
        assert db.settings.pooled
        for _ in range(12):      # psycopg prepares from the 5th execution unless told not to
            with db.unit_of_work() as uow:
                uow.connection.exec_driver_sql("SELECT count(*) FROM pg_class WHERE relname = %(n)s", {"n": "x"})
        with db.unit_of_work() as uow:
            prepared = uow.connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
        assert prepared == 0
    finally:
        db.dispose()


def test_a_direct_engine_still_prepares(url):
    """The control for the test above: without a pooler psycopg's prepared statements stay on."""
    db = Database(load_settings({"DATABASE_URL": url, "ACME_DB_POOL_SIZE": "1", "ACME_DB_MAX_OVERFLOW": "0"}))
    try:
        assert not db.settings.pooled
        for _ in range(12):
            with db.unit_of_work() as uow:
                uow.connection.exec_driver_sql("SELECT count(*) FROM pg_class WHERE relname = %(n)s", {"n": "x"})
        with db.unit_of_work() as uow:
            assert uow.connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar() > 0
    finally:
        db.dispose()


def test_pooled_timeouts_hold_in_the_transaction_and_end_with_it(url):
    db = _pooled(url)
    try:
        with db.unit_of_work() as uow:
            conn = uow.connection
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1234ms"
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "567ms"
            raw = conn.connection.dbapi_connection
        # Back in the pool: the same server session, outside a transaction, has the server's defaults,
        # which is what the next PgBouncer client would get.
        with raw.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()[0] == "0"
        raw.rollback()
        with db.unit_of_work() as uow:   # and the next transaction has them again
            assert uow.connection.exec_driver_sql("SHOW statement_timeout").scalar() == "1234ms"
    finally:
        db.dispose()


def test_a_pooled_statement_over_its_timeout_is_cancelled(url):
    db = _pooled(url, ACME_DB_STATEMENT_TIMEOUT_MS="200")
    try:
        with pytest.raises(Exception, match="statement timeout"):
            with db.unit_of_work() as uow:
                uow.connection.exec_driver_sql("SELECT pg_sleep(2)")
    finally:
        db.dispose()


def test_the_direct_engine_uses_the_direct_url_with_session_timeouts(url):
    settings = _pooled(url).settings
    engine = create_engine(settings, pool_size=1, max_overflow=0, direct=True)
    try:
        assert engine.url.render_as_string(hide_password=False).split("://", 1)[1] == \
            settings.direct_url.split("://", 1)[1]
        with engine.connect() as conn:
            # From the startup options: a session of its own, as LISTEN and the heartbeat need.
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1234ms"
    finally:
        engine.dispose()


def test_a_bad_direct_url_names_its_variable():
    with pytest.raises(ConfigError, match="DATABASE_DIRECT_URL"):
        load_settings({"DATABASE_URL": "postgresql://u:p@127.0.0.1/acme", "DATABASE_DIRECT_URL": "mysql://x"})


def test_without_a_direct_url_nothing_is_pooled():
    settings = load_settings({"DATABASE_URL": "postgresql://u:p@127.0.0.1/acme"})
    assert not settings.pooled and settings.direct_url == settings.database_url
    same = load_settings({"DATABASE_URL": "postgresql://u:p@127.0.0.1/acme",
                          "DATABASE_DIRECT_URL": "postgresql://u:p@127.0.0.1/acme"})
    assert not same.pooled
