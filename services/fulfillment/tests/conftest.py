"""Fulfillment against real Postgres databases (acme_platform.testing's fixtures).

Consumer tests get a freshly migrated database each: a consumer group reads a domain's whole
outbox, so orders left by other tests would otherwise be handled too and blur what is asserted.
"""
from __future__ import annotations

import pytest
from acme_platform import Database, Settings
from acme_platform.migrations import MigrationRunner


@pytest.fixture
def fresh_url(make_database) -> str:
    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    return url


@pytest.fixture
def db(fresh_url):
    database = Database(Settings(database_url=fresh_url, service_name="fulfillment-tests", pool_size=10))
    yield database
    database.dispose()
