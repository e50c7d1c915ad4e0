"""Run only in the suite tests:e2e-pgbouncer (deploy/acme_stack/pooled_suite.py): proof that the services'
request traffic really goes through PgBouncer, in one pool per service role, and that their sessions for
LISTEN and the heartbeat do not (they stay on DATABASE_DIRECT_URL).

Read from PgBouncer's console (SHOW POOLS / SHOW STATS, as its stats login) and from pg_stat_activity."""
from __future__ import annotations

import psycopg
import pytest

pytest.register_assert_rewrite("e2e_support")

import pooler_support  # noqa: E402
from e2e_support import call, create_product, funded_customer, place_order, poll  # noqa: E402

pytest_plugins = ["e2e_support"]


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


def _xacts(database: str) -> int:
    rows = [r for r in pooler_support.console("SHOW STATS") if r["database"] == database]
    return sum(int(r["total_xact_count"]) for r in rows)


def test_the_run_is_behind_pgbouncer():
    assert pooler_support.enabled(), "this file belongs to tests:e2e-pgbouncer (ACME_TEST_POOLER=pgbouncer)"


def test_every_service_role_has_its_own_pool_and_an_order_goes_through_them(stack):
    database = _database(stack.database_url)
    before = _xacts(database)
    product = create_product(stack, price_cents=300, stock=5)
    customer = funded_customer(stack, 1000)
    r = place_order(stack, customer, [(product["sku"], 2)])
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    poll(lambda: call("GET", f"{stack.sf}/v1/orders/{order_id}", headers=customer.auth).json()["status"]
         == "fulfilled", within=5, what="the order fulfilled behind PgBouncer")
    assert _xacts(database) > before + 3
    pools = {r["user"] for r in pooler_support.console("SHOW POOLS") if r["database"] == database}
    assert {f"{database}_svc_{s}" for s in ("storefront", "backoffice", "fulfillment")} <= pools, pools


def test_sessions_that_need_a_session_are_not_pgbouncer_s(stack, admin_database_url):
    """The listeners and heartbeats connect straight: none of their backends is one of PgBouncer's server
    connections (SHOW SERVERS' remote_pid), while the services' request backends are."""
    database = _database(stack.database_url)
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        sessions = conn.execute(
            "SELECT application_name, pid FROM pg_stat_activity WHERE datname = %s "
            "AND (application_name LIKE '%%/listener' OR application_name LIKE '%%/heartbeat')", (database,)).fetchall()
    assert {name.split("/")[0] for name, _ in sessions} >= {"storefront", "backoffice", "fulfillment"}, sessions
    servers = [r for r in pooler_support.console("SHOW SERVERS") if r["database"] == database]
    pooled_backends = {int(r["remote_pid"]) for r in servers}
    assert pooled_backends, "PgBouncer holds no server connection to the stack's database"
    assert not pooled_backends & {pid for _, pid in sessions}, (servers, sessions)
