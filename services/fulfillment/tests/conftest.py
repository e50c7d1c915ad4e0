"""Fulfillment against real Postgres databases (acme_platform.testing's fixtures).

Consumer tests get a freshly migrated database each: a consumer group reads a domain's whole
outbox, so orders left by other tests would otherwise be handled too and blur what is asserted.
"""
from __future__ import annotations

import pytest
from acme_platform import Database, Settings
from acme_platform.migrations import MigrationRunner
from acme_platform.testing import TEST_ACCESS, apply_roles

from fulfillment.access import ACCESS


@pytest.fixture
def fresh_logins(make_database) -> dict[str, str]:
    """A new database set up as production is: roles applied, migrated by the migrator."""
    logins = apply_roles(make_database(), [TEST_ACCESS, ACCESS])
    MigrationRunner(logins["migrator"], progress=lambda m: None).run()
    return logins


@pytest.fixture
def fresh_url(fresh_logins) -> str:
    """The fulfillment service's own login: what the service under test connects with."""
    return fresh_logins[ACCESS.service]


@pytest.fixture
def db(fresh_logins):
    """Sets up orders through the domains' APIs (the `tests` role writes every domain)."""
    database = Database(Settings(database_url=fresh_logins[TEST_ACCESS.service], service_name="fulfillment-tests",
                                 pool_size=10))
    yield database
    database.dispose()
