"""pytest fixtures for domain libraries and services, against a real Postgres.

Loaded automatically (entry point `pytest11`) wherever acme-platform is installed. Point
ACME_TEST_DATABASE_URL at a server where the user may CREATE DATABASE (`make test` does this);
each test session gets its own throwaway databases, dropped at the end.
"""
from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import psycopg
import pytest

from .config import Settings, to_libpq_url
from .db import Database


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


@pytest.fixture(scope="session")
def migrated_database_url(make_database) -> str:
    """A database with every installed domain migrated to head."""
    from .migrations.runner import MigrationRunner

    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    return url


@pytest.fixture(scope="session")
def database(migrated_database_url) -> Iterator[Database]:
    db = Database(Settings(database_url=migrated_database_url, service_name="tests", pool_size=20, max_overflow=20))
    yield db
    db.dispose()
