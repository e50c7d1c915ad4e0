"""Helpers for billing's integration tests (real Postgres, via acme_platform.testing's fixtures)."""
from __future__ import annotations

import time
import uuid
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa

import acme_billing as billing
from acme_platform import Database, Settings
from acme_platform.migrations import MigrationRunner


@pytest.fixture
def owner() -> Callable[[], str]:
    """Unique owner ids, so tests never see each other's accounts."""
    return lambda: f"cust-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def funded(database, owner) -> Callable[..., str]:
    """An account with `cents` granted to it; returns the owner id."""

    def make(cents: int, currency: str = "USD") -> str:
        owner_id = owner()
        with database.unit_of_work() as uow:
            billing.open_account(uow, owner_id, currency)
            if cents:
                billing.credit(uow, owner_id, cents, reference="seed", granted_by="tests")
        return owner_id

    return make


@pytest.fixture(scope="session")
def _corruptible_database(make_database) -> Iterator[Database]:
    url = make_database()
    MigrationRunner(url, progress=lambda m: None).run()
    db = Database(Settings(database_url=url, service_name="billing-tests", pool_size=2, max_overflow=2))
    yield db
    db.dispose()


@pytest.fixture
def fresh_database(_corruptible_database) -> Database:
    """An empty billing ledger in a database of its own (migrated by the platform's runner), for tests
    that corrupt the ledger on purpose. One database emptied per test: dropping a database forces a
    checkpoint, which is slow on a busy server."""
    with _corruptible_database.unit_of_work() as uow:
        uow.connection.exec_driver_sql(
            "TRUNCATE billing.credit_keys, billing.entries, billing.postings, billing.accounts, billing.outbox")
    return _corruptible_database


TABLES = ("accounts", "postings", "entries", "credit_keys", "outbox")


@pytest.fixture
def row_counts(database) -> Callable[[], dict[str, int]]:
    """Rows in every billing table: equal before and after means an operation wrote nothing."""

    def count() -> dict[str, int]:
        with database.engine.connect() as conn:
            return {t: conn.exec_driver_sql(f"SELECT count(*) FROM billing.{t}").scalar_one() for t in TABLES}

    return count


@pytest.fixture
def balance_of(database) -> Callable[[str], int]:
    def read(owner_id: str) -> int:
        with database.unit_of_work() as uow:
            return billing.get_balance(uow, owner_id).balance_cents

    return read


@pytest.fixture
def wait_for_lock_waiter(database) -> Callable[[], None]:
    """Block until some session of the test database waits on a lock: proof that a second transaction
    really queued behind the first (rather than simply running after it)."""

    def wait(timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            while time.monotonic() < deadline:
                waiting = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )).scalar_one()
                if waiting:
                    return
                time.sleep(0.01)
        pytest.fail("the second transaction never waited on a lock")

    return wait
