"""Least privilege in the shared database, checked with each service's own login (issue: ownership).

Every database here is set up as `make up` sets one up: `acmectl roles apply` from each service's venv as
the administrator, `acmectl migrate` as the migrator. Then each service's DATABASE_URL is used the way an
attacker holding it would use it.
"""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from conftest import MIGRATOR, database_login

SERVICES = ("storefront", "backoffice", "fulfillment")
# What each service's lock installs (fulfillment has no identity) and what it may only read.
NOT_INSTALLED = {"storefront": (), "backoffice": (), "fulfillment": ("identity",)}
READ_ONLY = {"storefront": (), "backoffice": ("orders",), "fulfillment": ()}


def _venv(name: str) -> Path:
    return Path(os.environ["ACME_TEST_SERVICE_VENVS"]) / name


def _acmectl(name: str, *args: str, admin_url: str | None = None, database_url: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) and k != "PYTHONPATH"}
    env.pop("DATABASE_URL", None)
    env.pop("ACME_ADMIN_DATABASE_URL", None)
    if admin_url:
        env["ACME_ADMIN_DATABASE_URL"] = admin_url
    if database_url:
        env["DATABASE_URL"] = database_url
    env["VIRTUAL_ENV"] = str(_venv(name))
    return subprocess.run([str(_venv(name) / "bin" / "acmectl"), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def _setup(admin_url: str) -> dict[str, str]:
    logins = {name: database_login(_venv(name), admin_url, name) for name in SERVICES}
    logins[MIGRATOR] = database_login(_venv("backoffice"), admin_url, MIGRATOR)
    res = _acmectl("backoffice", "migrate", database_url=logins[MIGRATOR])
    assert res.returncode == 0, res.stdout + res.stderr
    return logins


@pytest.fixture(scope="module")
def db(make_database) -> tuple[str, dict[str, str]]:
    admin = make_database()
    return admin, _setup(admin)


def _refused(url: str, sql: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege) as refused:
            conn.execute(sql)
    return str(refused.value)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_login_is_not_a_superuser_and_cannot_do_ddl_shell_or_read_hashes(db, service):
    admin, logins = db
    url = logins[service]
    with psycopg.connect(url, autocommit=True) as conn:
        role = conn.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication, "
                            "rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone()
        assert role[0].endswith(f"_svc_{service}")
        assert role[1:6] == (False, False, False, False, False), role
        assert role[6] > 0, "a service role has a connection limit"
        assert conn.execute("SELECT count(*) FROM catalog.products").fetchone() == (0,)   # what it may do, it can
    assert "permission denied" in _refused(url, "SELECT password_hash FROM identity.accounts")
    assert "permission denied" in _refused(url, "CREATE TABLE catalog.planted (i int)")
    assert "permission denied" in _refused(url, "CREATE TABLE public.planted (i int)")
    assert "permission denied" in _refused(url, "CREATE SCHEMA planted")
    assert "permission denied" in _refused(url, "CREATE TEMP TABLE planted (i int)")
    assert "pg_execute_server_program" in _refused(url, "COPY (SELECT 1) TO PROGRAM 'id'")
    _refused(url, "SELECT pg_read_file('/etc/passwd')")
    for schema in NOT_INSTALLED[service]:
        assert f"permission denied for schema {schema}" in _refused(url, f"SELECT 1 FROM {schema}.tokens LIMIT 1")
    for schema in READ_ONLY[service]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"SELECT count(*) FROM {schema}.orders").fetchone()      # reading is fine
        assert "permission denied" in _refused(url, f"UPDATE {schema}.orders SET status = status")
        assert "permission denied" in _refused(url, f"DELETE FROM {schema}.order_lines")


def test_every_object_is_owned_by_its_schema_owner_role(db):
    admin, _ = db
    with psycopg.connect(admin, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        rows = conn.execute(
            "SELECT n.nspname, c.relname, r.rolname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE n.nspname IN ('identity', 'catalog', 'billing', 'orders', 'acme_platform')").fetchall()
    assert len(rows) > 20
    wrong = [(s, t, owner) for s, t, owner in rows if owner != f"{database}_{s}_owner"]
    assert wrong == []


def test_plan_is_empty_after_migrate_and_shows_then_revokes_a_grant_added_by_hand(db):
    admin, logins = db
    res = _acmectl("storefront", "roles", "plan", admin_url=admin)
    assert res.returncode == 0 and res.stdout.strip() == "roles: nothing to do", res.stdout + res.stderr
    with psycopg.connect(logins["storefront"]) as conn:
        role = conn.execute("SELECT current_user").fetchone()[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'GRANT ALL ON SCHEMA billing TO "{role}"')
        conn.execute(f'GRANT pg_execute_server_program TO "{role}"')
    res = _acmectl("storefront", "roles", "plan", admin_url=admin)
    assert f'REVOKE CREATE, USAGE ON SCHEMA "billing" FROM "{role}"' in res.stdout, res.stdout
    assert f'REVOKE "pg_execute_server_program" FROM "{role}"' in res.stdout, res.stdout
    # Operators see the same drift in `acmectl status` (with the migrator's login: no administrator needed).
    status = _acmectl("backoffice", "status", database_url=logins[MIGRATOR])
    assert "DRIFT" in status.stdout and f'FROM "{role}"' in status.stdout, status.stdout + status.stderr
    applied = _acmectl("storefront", "roles", "apply", admin_url=admin)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _acmectl("storefront", "roles", "plan", admin_url=admin).stdout.strip() == "roles: nothing to do"
    assert "permission denied" in _refused(logins["storefront"], "CREATE TABLE billing.planted (i int)")
    assert "in sync" in _acmectl("backoffice", "status", database_url=logins[MIGRATOR]).stdout


def test_roles_apply_needs_the_administrator_and_says_so_in_one_line(db):
    admin, logins = db
    res = _acmectl("storefront", "roles", "apply")
    assert res.returncode != 0 and "ACME_ADMIN_DATABASE_URL" in res.stderr and "Traceback" not in res.stderr
    # A service's own login cannot change roles: with drift to fix, the transaction fails and changes nothing.
    with psycopg.connect(admin, autocommit=True) as conn:
        role = f"{conn.execute('SELECT current_database()').fetchone()[0]}_svc_storefront"
        conn.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT 99')
        conn.execute(f'GRANT CREATE ON SCHEMA catalog TO "{role}"')
    res = _acmectl("storefront", "roles", "apply", admin_url=logins["storefront"])
    assert res.returncode != 0 and "nothing changed" in res.stderr and "Traceback" not in res.stderr, res.stderr
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (99,)
    assert _acmectl("storefront", "roles", "apply", admin_url=admin).returncode == 0
    assert _acmectl("storefront", "roles", "plan", admin_url=admin).stdout.strip() == "roles: nothing to do"


def test_two_services_applying_roles_at_once_on_a_new_database_both_succeed(make_database):
    admin = make_database()
    results: dict[str, subprocess.CompletedProcess] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, _acmectl(n, "roles", "apply",
                                                                                   admin_url=admin)))
               for n in ("storefront", "fulfillment")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, res in results.items():
        assert res.returncode == 0, f"{name}: {res.stdout}{res.stderr}"
    assert _acmectl("storefront", "roles", "plan", admin_url=admin).stdout.strip() == "roles: nothing to do"
    assert _acmectl("fulfillment", "roles", "plan", admin_url=admin).stdout.strip() == "roles: nothing to do"
