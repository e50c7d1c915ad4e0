"""pytest fixtures for domain libraries and services, against a real Postgres.

Loaded automatically (entry point `pytest11`) wherever acme-platform is installed. Point
ACME_TEST_DATABASE_URL at a server where the user may CREATE DATABASE and CREATE ROLE (`make test` does
this); each test session gets its own throwaway databases and roles, dropped at the end.

The migrated database is set up the way production is: `acmectl roles apply`'s roles, migrations run by
the migrator as each schema's owner, and code under test connecting as service roles that hold only what
the domains declare, so a domain that forgets to declare a privilege fails its own tests.
  migrated_database_url   the administrator's URL of it (for assertions and deliberate damage)
  database                a Database logged in as the role of `tests` (every installed domain writable),
                          for code under test and for setting up data through the domains' APIs
  service_database_url    the login of the service installed here (with its own narrowing), else `tests`
"""
from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import psycopg
import pytest

from .config import Settings, to_libpq_url
from .db import Database
from .roles import ServiceAccess, installed_services


def _admin_url() -> str:
    url = os.environ.get("ACME_TEST_DATABASE_URL")
    if not url:
        pytest.fail("ACME_TEST_DATABASE_URL is not set: point it at a Postgres superuser URL "
                    "(make test does this for you)", pytrace=False)
    return to_libpq_url(url)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def make_database() -> Iterator[Callable[[], str]]:
    """Factory: a new empty database per call; returns its URL. All are dropped at session end."""
    admin = _admin_url()
    created: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(admin, name)

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            drop_roles(conn, name)


def drop_roles(conn: psycopg.Connection, prefix: str) -> None:
    """Roles are cluster-wide: the ones `roles apply` made for a dropped database go with it."""
    for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1",
                                (prefix + "_",)).fetchall():
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


TEST_ACCESS = ServiceAccess(service="tests", connection_limit=200)

_logins: dict[str, dict[str, str]] = {}


def apply_roles(admin_url: str, services: list[ServiceAccess]) -> dict[str, str]:
    """`acmectl roles apply` for these services; returns {"migrator" | service name: DATABASE_URL}."""
    import tempfile
    from pathlib import Path

    from .roles import apply as roles_apply

    secrets_dir = Path(tempfile.mkdtemp(prefix="acme-roles-"))
    with roles_apply.connect(admin_url) as conn:
        done = roles_apply.apply(conn, services=services, secrets_dir=secrets_dir, admin_url=admin_url)
    return {logical: roles_apply.service_login_env(path) for logical, path in done.secrets.items()}


@pytest.fixture(scope="session")
def migrated_database_url(make_database) -> str:
    """A database with roles applied and every installed domain migrated to head by the migrator."""
    from .migrations.runner import MigrationRunner

    url = make_database()
    logins = apply_roles(url, [TEST_ACCESS, *installed_services().values()])
    MigrationRunner(logins["migrator"], progress=lambda m: None).run()
    _logins[url] = logins
    return url


@pytest.fixture(scope="session")
def service_database_url(migrated_database_url) -> str:
    logins = _logins[migrated_database_url]
    installed = sorted(installed_services())
    return logins[installed[0]] if len(installed) == 1 else logins[TEST_ACCESS.service]


@pytest.fixture(scope="session")
def database(migrated_database_url) -> Iterator[Database]:
    url = _logins[migrated_database_url][TEST_ACCESS.service]
    db = Database(Settings(database_url=url, service_name="tests", pool_size=20, max_overflow=20))
    yield db
    db.dispose()
