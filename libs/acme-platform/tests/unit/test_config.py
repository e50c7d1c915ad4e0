import pytest

from acme_platform import ConfigError, load_settings
from acme_platform.config import to_sqlalchemy_url


def test_requires_database_url():
    with pytest.raises(ConfigError) as err:
        load_settings({})
    assert err.value.variable == "DATABASE_URL"
    assert "DATABASE_URL" in str(err.value)


def test_rejects_non_postgres_url():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"DATABASE_URL": "mysql://x@y/z"})


@pytest.mark.parametrize("name,value", [
    ("ACME_DB_POOL_SIZE", "lots"),
    ("ACME_DB_POOL_SIZE", "0"),
    ("ACME_DB_POOL_TIMEOUT", "-1"),
    ("ACME_DB_STATEMENT_TIMEOUT_MS", "1.5"),
    ("ACME_SERVICE_NAME", "bad name!"),
    ("ACME_DB_PRE_PING", "sometimes"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        load_settings({"DATABASE_URL": "postgresql://u@h/db", name: value})
    assert err.value.variable == name


def test_defaults_and_application_name():
    s = load_settings({"DATABASE_URL": "postgres://u:p@h:1/db", "ACME_DB_POOL_SIZE": "7"},
                      service_name="storefront", service_version="1.2.3")
    assert s.pool_size == 7
    assert s.application_name == "storefront/1.2.3"
    assert s.sqlalchemy_url == "postgresql+psycopg://u:p@h:1/db"


@pytest.mark.parametrize("raw,expected", [(None, False), ("1", True), ("True", True), ("off", False)])
def test_pre_ping_is_off_unless_asked_for(raw, expected):
    env = {"DATABASE_URL": "postgresql://u@h/db"}
    if raw is not None:
        env["ACME_DB_PRE_PING"] = raw
    assert load_settings(env).pool_pre_ping is expected


def test_password_not_echoed_in_errors():
    with pytest.raises(ConfigError) as err:
        to_sqlalchemy_url("mysql://user:secret@h/db")
    assert "secret" not in str(err.value)


@pytest.mark.parametrize("url, expected", [
    # libpq's multi-host form (a primary and its standby) moves into the query SQLAlchemy reads hosts from.
    ("postgresql://u:p%2F@10.0.0.1:5432,10.0.0.2:5433/acme?target_session_attrs=read-write",
     "postgresql+psycopg://u:p%2F@/acme?host=10.0.0.1:5432&host=10.0.0.2:5433&target_session_attrs=read-write"),
    ("postgres://u@a,b:6000/acme", "postgresql+psycopg://u@/acme?host=a&host=b:6000"),
    ("postgresql://u:p@a:1,b:2", "postgresql+psycopg://u:p@/?host=a:1&host=b:2"),
    # one host: unchanged
    ("postgresql://u:p@h:5544/acme?sslmode=disable", "postgresql+psycopg://u:p@h:5544/acme?sslmode=disable"),
])
def test_a_multi_host_url_becomes_the_form_sqlalchemy_parses(url, expected):
    assert to_sqlalchemy_url(url) == expected


def test_a_multi_host_url_reaches_libpq_as_comma_lists():
    import sqlalchemy as sa

    engine = sa.create_engine(to_sqlalchemy_url(
        "postgresql://u:p@10.0.0.1:5432,10.0.0.2:5433/acme?target_session_attrs=read-write"))
    _, params = engine.dialect.create_connect_args(engine.url)
    assert (params["host"], params["port"], params["dbname"], params["target_session_attrs"]) == \
        ("10.0.0.1,10.0.0.2", "5432,5433", "acme", "read-write")
