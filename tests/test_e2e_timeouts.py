"""Timeouts against real gunicorn and Postgres: a request whose statement outlasts the statement timeout, or
whose statements outlast the request deadline, answers 503 problem+json with Retry-After and leaves the
database as it was; the same request retried once the database is free succeeds, once."""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import assert_problem, balance, call, sign_up  # noqa: E402

pytest_plugins = ["e2e_support"]


def rows(database_url: str, owner_id: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        postings = conn.execute("SELECT count(*) FROM billing.postings WHERE owner_id = %s", (owner_id,)).fetchone()[0]
        keys = conn.execute("SELECT count(*) FROM billing.credit_keys WHERE owner_id = %s", (owner_id,)).fetchone()[0]
    return postings, keys


class PostingsLocked:
    """Holds billing.postings against writers (readers go on), like a long maintenance statement would."""

    def __init__(self, database_url: str):
        self.conn = psycopg.connect(database_url)

    def __enter__(self):
        self.conn.execute("LOCK TABLE billing.postings IN EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


@pytest.mark.parametrize("limit", [
    {"ACME_DB_STATEMENT_TIMEOUT_MS": "700", "ACME_DB_LOCK_TIMEOUT_MS": "0"},
    {"ACME_REQUEST_DEADLINE_MS": "900", "ACME_DB_LOCK_TIMEOUT_MS": "0"},   # statement timeout stays 5 s
], ids=["statement_timeout", "request_deadline"])
def test_a_request_over_its_time_limit_is_503_and_leaves_the_database_as_it_was(stack, launcher, limit):
    backoffice = launcher.spawn("backoffice", stack.database_url, env=limit)
    launcher.wait([backoffice], "/readyz")
    customer = sign_up(stack)
    url = f"{backoffice.url}/v1/customers/{customer.id}/credits"
    headers = {**stack.staff.auth, "Idempotency-Key": f"slow-{uuid.uuid4()}"}
    try:
        with PostingsLocked(stack.database_url):
            # The key is claimed (a write), then the posting waits on the lock until the limit cancels it.
            started = time.monotonic()
            slow = call("POST", url, json={"amount_cents": 500}, headers=headers)
            elapsed = time.monotonic() - started
        assert_problem(slow, 503, code="platform.timeout")
        assert slow.headers["Retry-After"] == "1"
        assert elapsed < 4, f"answered after {elapsed:.1f}s: the limit did not end the request"
        assert rows(stack.database_url, customer.id) == (0, 0), "the claimed key must be rolled back"
        # Retried with the same key once the database is free: one credit.
        retry = call("POST", url, json={"amount_cents": 500}, headers=headers)
        assert retry.status_code == 200, retry.text
        assert rows(stack.database_url, customer.id) == (1, 1)
        assert balance(stack, customer) == 500
    finally:
        launcher.stop([backoffice])
