"""Timeouts against real gunicorn and Postgres: a request whose statement outlasts the statement timeout, or
whose statements outlast the request deadline, answers 503 problem+json with Retry-After and leaves the
database as it was; the same request retried once the database is free succeeds, once."""
from __future__ import annotations

import threading
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


def _parent_pid(pid: int) -> int:
    # The registry may still list an instance of an earlier test whose process has exited: no parent then.
    try:
        with open(f"/proc/{pid}/status") as fh:
            return int(next(line for line in fh if line.startswith("PPid:")).split()[1])
    except FileNotFoundError:
        return -1


def test_a_starved_pool_answers_503_and_leaves_the_instance_live_in_acmectl_status(stack, launcher):
    import json
    from concurrent.futures import ThreadPoolExecutor

    from e2e_support import MIGRATOR

    # One worker with ONE pooled connection, heartbeats every 0.5 s, stale after 2 s.
    backoffice = launcher.spawn("backoffice", stack.database_url, env={
        "ACME_WEB_WORKERS": "1", "ACME_DB_POOL_SIZE": "1", "ACME_DB_MAX_OVERFLOW": "0", "ACME_DB_POOL_TIMEOUT": "1",
        "ACME_DB_LOCK_TIMEOUT_MS": "0", "ACME_DB_STATEMENT_TIMEOUT_MS": "15000", "ACME_REQUEST_DEADLINE_MS": "0",
        "ACME_HEARTBEAT_INTERVAL": "0.5", "ACME_INSTANCE_STALE_AFTER": "2"})
    launcher.wait([backoffice], "/readyz")
    customer = sign_up(stack)
    url = f"{backoffice.url}/v1/customers/{customer.id}/credits"

    def status() -> list[dict]:
        res = launcher.acmectl("backoffice", stack.database_url, "status", "--json", login=MIGRATOR)
        assert res.returncode == 0, res.stderr
        return [i for i in json.loads(res.stdout)["instances"]
                if i["service"] == "backoffice" and _parent_pid(i["pid"]) == backoffice.process.pid]

    try:
        assert len(status()) == 1
        stop = threading.Event()

        def keep_starving(_):
            answers = []
            while not stop.is_set():
                answers.append(call("POST", url, json={"amount_cents": 1}, headers=stack.staff.auth))
            return answers

        with ThreadPoolExecutor(4) as pool:
            with PostingsLocked(stack.database_url):
                # The one connection waits on the lock; every other request waits for it, then gets 503.
                starving = [pool.submit(keep_starving, i) for i in range(4)]
                time.sleep(3)                        # longer than the stale window
                live = status()
                stop.set()
        answers = [r for f in starving for r in f.result()]
        assert live and live[0]["heartbeat_age_s"] < 2, f"the starved instance looked stale: {live}"
        unavailable = [r for r in answers if r.status_code == 503]
        assert unavailable, [r.status_code for r in answers]
        for r in unavailable:
            assert r.headers.get("Retry-After") == "1"
            assert r.json()["code"] in ("platform.unavailable", "platform.timeout")
        assert all(r.status_code in (200, 503) for r in answers), [r.status_code for r in answers]
    finally:
        launcher.stop([backoffice])
