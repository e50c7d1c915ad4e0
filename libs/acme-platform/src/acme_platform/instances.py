"""The live-instance registry as its readers see it: which service processes are live, with which
library versions and migration heads (the table acme_platform.instances).

Read by the migration gate (migrations.skew, migrations.runner) and `acmectl status`; written by the
registration of a running process (registry.InstanceRegistration), which sits above the migration
gate because it checks compatibility before registering. Keeping the read side here, below both,
is what keeps registry -> migrations one-way.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

# Shared by registering instances, exclusive for a runner applying a contract revision (transaction-level).
COMPATIBILITY_LOCK_KEY = 0x6163_6D66


@dataclass(frozen=True)
class LiveInstance:
    instance_id: str
    service: str
    service_version: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    packages: dict[str, str]     # distribution name -> version
    heads: dict[str, list[str]]  # domain -> migration heads the installed package knows
    git_sha: str | None


def live_instances(connection: sa.Connection) -> list[LiveInstance]:
    """Instances whose last heartbeat is within *their own* stale window.

    The window is the one the instance declared when it registered (it knows its heartbeat interval);
    judging it by the reader's setting would let an `acmectl migrate` run with a small window treat
    live old instances as dead and apply a contract under them.
    """
    return _instances(connection, "heartbeat_at > now() - make_interval(secs => stale_after_seconds)",
                      "service, host, pid")


def stale_instances(connection: sa.Connection, limit: int = 20) -> list[LiveInstance]:
    """Registered instances whose last heartbeat is past their own window, newest heartbeat first: processes
    that died without deregistering (kill -9, a host that went away). Not live for anyone; `acmectl status`
    shows them so an operator sees which host stopped beating and when. At most `limit` of them."""
    return _instances(connection, "heartbeat_at <= now() - make_interval(secs => stale_after_seconds)",
                      "heartbeat_at DESC, service, host, pid LIMIT %(limit)s", {"limit": limit})


def _instances(connection: sa.Connection, where: str, order: str, params: dict | None = None) -> list[LiveInstance]:
    """The registry's rows matching `where` (a constant of this module, never input), as LiveInstance;
    [] before the platform schema exists."""
    exists = connection.exec_driver_sql("SELECT to_regclass('acme_platform.instances') IS NOT NULL").scalar()
    if not exists:
        return []
    rows = connection.exec_driver_sql(
        "SELECT instance_id::text, service, service_version, host, pid, started_at, heartbeat_at, packages, heads, git_sha "
        f"FROM acme_platform.instances WHERE {where} ORDER BY {order}",
        *([params] if params else []),
    ).all()
    return [LiveInstance(*row) for row in rows]
