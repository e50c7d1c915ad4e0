"""The cross-service e2e suite a second time, with every service's request traffic through PgBouncer.

`make test` runs tests/test_e2e_*.py twice, side by side with the other suites: as `tests:e2e` (services
straight on PostgreSQL) and as `tests:e2e-pgbouncer` (ACME_TEST_POOLER=pgbouncer: tests/pooler_support.py
starts one PgBouncer in transaction mode for the session and hands each service DATABASE_URL through it
and DATABASE_DIRECT_URL beside it). Kept out of testrun.py: all it adds is this suite's switch.
"""
from __future__ import annotations

from . import pooler
from .ui import StackError

ENV = {"ACME_TEST_POOLER": "pgbouncer"}
# tests/test_pgbouncer_*.py: checks that only mean something behind PgBouncer (traffic went through it).
ONLY_BEHIND_PGBOUNCER = "test_pgbouncer_"


def behind_pgbouncer(suite):
    suite.env = {**(suite.env or {}), **ENV}
    suite.select = [*(suite.select or []),
                    *sorted(p.name for p in suite.tests.glob(f"{ONLY_BEHIND_PGBOUNCER}*.py"))]
    return suite


def prepare(suite) -> None:
    """PgBouncer must be on the machine before the suite starts (installed from Debian if missing)."""
    if (suite.env or {}).get("ACME_TEST_POOLER") != "pgbouncer":
        return
    try:
        pooler.binary(install=True)
    except pooler.PoolerError as e:
        raise StackError(str(e)) from None
