"""Connection budget: what a service's deployment may open against PostgreSQL, checked before it starts.

Per service (its login role's CONNECTION LIMIT, declared in the service's access.py):
    instances × workers × (pool + overflow)          request pools (straight to PostgreSQL), or
    the pooler's server connections for the role      behind PgBouncer (ACME_DB_POOLER_CONNECTIONS)
  + instances × workers × 2                          direct: the LISTEN connection and the registry heartbeat
  + 1                                                 an operator's acmectl
  must be ≤ the role's limit. Across services the roles' limits together must fit
  max_connections − superuser_reserved_connections − a reserve (ACME_DB_RESERVE_CONNECTIONS, default 10:
  migrations, roles apply, a psql session), since each role may use all of its limit.

`acmectl budget` prints both and exits non-zero on an oversubscription; a gunicorn master refuses to start
with the numbers when its own deployment would not fit its role (acme_platform.gunicorn_conf); `make up`
runs `acmectl budget` before it starts a service.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from .config import Settings, _int
from .errors import ConfigError

DIRECT_PER_WORKER = 2      # the change listener's LISTEN connection and the registry heartbeat
OPERATOR_CONNECTIONS = 1   # one acmectl (status, events) at a time
DEFAULT_RESERVE = 10


class BudgetExceeded(Exception):
    """A deployment would open more connections than its role or the server allows (one line, with numbers)."""


@dataclass(frozen=True)
class ServiceDemand:
    service: str
    instances: int
    workers: int
    pool_size: int
    max_overflow: int
    connection_limit: int
    # Behind a transaction pooler: the server connections the pooler may open for this role.
    pooler_connections: int | None = None

    @property
    def request_connections(self) -> int:
        if self.pooler_connections is not None:
            return self.pooler_connections
        return self.instances * self.workers * (self.pool_size + self.max_overflow)

    @property
    def direct_connections(self) -> int:
        return self.instances * self.workers * DIRECT_PER_WORKER + OPERATOR_CONNECTIONS

    @property
    def total(self) -> int:
        return self.request_connections + self.direct_connections

    @property
    def fits(self) -> bool:
        return self.total <= self.connection_limit

    def describe(self) -> str:
        if self.pooler_connections is not None:
            requests = f"pgbouncer {self.pooler_connections}"
        else:
            requests = (f"{self.instances} instance(s) × {self.workers} worker(s) × "
                        f"(pool {self.pool_size} + overflow {self.max_overflow})")
        verdict = "fits" if self.fits else "EXCEEDS"
        return (f"{self.service}: {requests} + {self.instances}×{self.workers}×{DIRECT_PER_WORKER} direct "
                f"+ {OPERATOR_CONNECTIONS} acmectl = {self.total}, {verdict} its role's limit {self.connection_limit}")


@dataclass(frozen=True)
class ClusterBudget:
    max_connections: int
    superuser_reserved: int
    reserve: int
    role_limits: dict[str, int] = field(default_factory=dict)   # service login role -> CONNECTION LIMIT

    @property
    def available(self) -> int:
        return self.max_connections - self.superuser_reserved - self.reserve

    @property
    def total(self) -> int:
        return sum(self.role_limits.values())

    @property
    def fits(self) -> bool:
        return self.total <= self.available

    def describe(self) -> str:
        limits = " + ".join(f"{role} {limit}" for role, limit in sorted(self.role_limits.items())) or "no service roles"
        verdict = "fits" if self.fits else "EXCEEDS"
        return (f"server: {limits} = {self.total}, {verdict} max_connections {self.max_connections} − "
                f"{self.superuser_reserved} superuser-reserved − {self.reserve} reserve = {self.available}")


def service_demand(settings: Settings, connection_limit: int, environ: Mapping[str, str] | None = None) -> ServiceDemand:
    """This deployment's demand from its environment: ACME_INSTANCES (how many copies run against this
    database, default 1), ACME_WEB_WORKERS (gunicorn workers, default 2), the pool settings, and behind a
    pooler ACME_DB_POOLER_CONNECTIONS (the pooler's server connections for the role, required then)."""
    env = os.environ if environ is None else environ
    pooler = None
    if settings.pooled:
        if not env.get("ACME_DB_POOLER_CONNECTIONS"):
            raise ConfigError("ACME_DB_POOLER_CONNECTIONS", "is required behind a pooler (DATABASE_DIRECT_URL set): "
                              "the pooler's server connections for this service's role")
        pooler = _int(env, "ACME_DB_POOLER_CONNECTIONS", 0, 1, 10_000)
    return ServiceDemand(
        service=settings.service_name,
        instances=_int(env, "ACME_INSTANCES", 1, 1, 1000),
        workers=_int(env, "ACME_WEB_WORKERS", 2, 1, 1000),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        connection_limit=connection_limit,
        pooler_connections=pooler,
    )


def declared_limit(service: str) -> int | None:
    """The service's declared CONNECTION LIMIT (its access.py), if this environment installs its declaration."""
    from .roles.declare import installed_services

    access = installed_services().get(service)
    return access.connection_limit if access is not None else None


def cluster_budget(connection, environ: Mapping[str, str] | None = None) -> ClusterBudget:
    """The server's side, read from the database: max_connections and the limits of this database's service roles."""
    from .roles.names import RoleNames

    env = os.environ if environ is None else environ
    database = connection.exec_driver_sql("SELECT current_database()").scalar()
    names = RoleNames.for_database(database, env)
    prefix = names.service("")
    rows = connection.exec_driver_sql(
        "SELECT rolname, rolconnlimit FROM pg_roles WHERE starts_with(rolname, %(p)s) ORDER BY 1", {"p": prefix},
    ).all()
    return ClusterBudget(
        max_connections=int(connection.exec_driver_sql("SHOW max_connections").scalar()),
        superuser_reserved=int(connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar()),
        reserve=_int(env, "ACME_DB_RESERVE_CONNECTIONS", DEFAULT_RESERVE, 0, 10_000),
        role_limits={name: int(limit) for name, limit in rows},
    )


def refusal(demand: ServiceDemand | None, cluster: ClusterBudget | None) -> str | None:
    """One line naming what does not fit, with the numbers; None when everything fits."""
    problems = [b.describe() for b in (demand, cluster) if b is not None and not b.fits]
    return "connection budget exceeded: " + "; ".join(problems) if problems else None
