"""Live instance registry: which service processes run which library versions against this database.

Every service process registers at start and heartbeats; a clean shutdown deregisters. A row whose
heartbeat is older than the stale window is not live (the process died without saying so, e.g.
kill -9). The migration gate and `acmectl status` read this table: it is how the platform knows
which versions of a library are live before it applies a contract migration.

Heartbeats use a connection of their own, never the request pool: a pool starved by slow requests
would otherwise let a live instance's heartbeat lapse, and the skew guard would apply a contract
migration under it.

Registering and a contract migration exclude each other (COMPATIBILITY_LOCK_KEY): an instance's first
registration checks, under the shared lock, that no applied contract migration requires a newer library,
and inserts its row in the same transaction; the runner holds the lock exclusively while it reads the
live instances and applies a contract. Whichever comes second sees the other: the migration finds the
instance live (blocked), or the instance finds the contract applied (it refuses to serve).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import uuid
from typing import Callable

import sqlalchemy as sa

from .db import Database, create_engine
from .domains import DomainSpec
# The registry's read side lives below the migration gate that reads it (instances.py); re-exported here.
from .instances import COMPATIBILITY_LOCK_KEY, LiveInstance, live_instances
from .migrations.runner import script_heads
from .migrations.skew import compatibility_problems

__all__ = ["COMPATIBILITY_LOCK_KEY", "LiveInstance", "live_instances", "InstanceRegistration",
           "heartbeat_interval", "instance_host", "stale_after"]

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 2.0
DEFAULT_STALE_AFTER_SECONDS = 10.0


def heartbeat_interval() -> float:
    return float(os.environ.get("ACME_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_SECONDS))


def stale_after() -> float:
    return float(os.environ.get("ACME_INSTANCE_STALE_AFTER", DEFAULT_STALE_AFTER_SECONDS))


def instance_host(environ: dict[str, str] | None = None) -> str:
    """Which host this instance runs on, as the registry (and `acmectl status`) shows it.

    `ACME_INSTANCE_HOST` when set; else the address the service binds to (`ACME_BIND_HOST`) when it names
    one host (not loopback, not a wildcard); else the hostname. The hostname alone is not enough: every
    network namespace, and often every container of one pod, shares it, while the bind address is what
    the load balancer and the operator know the instance by.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("ACME_INSTANCE_HOST", "").strip()
    if explicit:
        return explicit
    bind = env.get("ACME_BIND_HOST", "").strip()
    if bind and bind != "localhost":
        try:
            address = ipaddress.ip_address(bind.strip("[]"))
        except ValueError:
            return bind   # a host name the service binds to names that host
        if not (address.is_loopback or address.is_unspecified):
            return str(address)
    return socket.gethostname()


class InstanceRegistration:
    def __init__(self, database: Database, *, service: str, service_version: str, domains: list[DomainSpec],
                 on_incompatible: Callable[[list[str]], None] | None = None):
        self.database = database
        self.instance_id = str(uuid.uuid4())
        self.service = service
        self.service_version = service_version
        self.packages = {spec.package: spec.version for spec in domains}
        self.heads = {spec.name: list(script_heads(spec)) for spec in domains}
        self.git_sha = os.environ.get("ACME_GIT_SHA") or None
        self.host = instance_host()
        self.stale_after = max(stale_after(), 2 * heartbeat_interval())
        self.domains = list(domains)
        self.on_incompatible = on_incompatible
        self.incompatible: list[str] = []
        # Its own single connection (see the module docstring); created lazily, re-made after a failure.
        self._engine = create_engine(database.settings, pool_size=1, max_overflow=0, direct=True,
                                     application_name=f"{database.settings.application_name}/heartbeat")
        self._stop = threading.Event()
        self._deregistered = False
        self._thread: threading.Thread | None = None

    def start(self) -> "InstanceRegistration":
        """Register now if the database allows it, and keep heartbeating in the background.

        Registration is retried on every beat: a service may start before `acmectl migrate` has
        created the registry table, and must show up as soon as it exists.
        """
        self._upsert()
        self._thread = threading.Thread(target=self._beat, name="acme-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _upsert(self) -> bool:
        try:
            with self._engine.begin() as conn:
                updated = conn.exec_driver_sql(
                    "UPDATE acme_platform.instances SET heartbeat_at = now() WHERE instance_id = %(id)s",
                    {"id": self.instance_id},
                ).rowcount
                if not updated:
                    # First registration (or the first since the database came back): check compatibility
                    # and insert in one transaction, under the lock a contract migration takes exclusively.
                    self.incompatible = self._compatibility_problems(conn)
                    if self.incompatible:
                        self._refuse()
                        return False
                    conn.exec_driver_sql(
                        "INSERT INTO acme_platform.instances (instance_id, service, service_version, host, pid, "
                        "stale_after_seconds, packages, heads, git_sha) VALUES (%(id)s, %(svc)s, %(ver)s, %(host)s, "
                        "%(pid)s, %(stale)s, %(pk)s::jsonb, %(hd)s::jsonb, %(sha)s)",
                        {"id": self.instance_id, "svc": self.service, "ver": self.service_version,
                         "host": self.host, "pid": os.getpid(), "stale": self.stale_after,
                         "pk": json.dumps(self.packages), "hd": json.dumps(self.heads), "sha": self.git_sha},
                    )
            return True
        except Exception as exc:  # noqa: BLE001 - a failed heartbeat is logged, never fatal
            log.warning("instance registration/heartbeat failed: %s", str(exc).splitlines()[0])
            return False

    def _compatibility_problems(self, conn: sa.Connection) -> list[str]:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock_shared(%(k)s)", {"k": COMPATIBILITY_LOCK_KEY})
        return compatibility_problems(conn, self.domains, versions=self.packages)

    def _refuse(self) -> None:
        # Not registered, and no more heartbeats: this process must not serve against this schema.
        self._stop.set()
        log.error("%s refuses to serve: %s", self.service, "; ".join(self.incompatible))
        if self.on_incompatible is not None:
            self.on_incompatible(self.incompatible)

    def _beat(self) -> None:
        interval = heartbeat_interval()
        while not self._stop.wait(interval):
            self._upsert()

    def deregister(self) -> None:
        if self._deregistered:
            return  # already done (worker_exit, then atexit)
        self._deregistered = True
        self._stop.set()
        try:
            if not self.incompatible:   # an instance that refused to serve never registered
                with self._engine.begin() as conn:
                    conn.exec_driver_sql("DELETE FROM acme_platform.instances WHERE instance_id = %(id)s",
                                         {"id": self.instance_id})
        except Exception as exc:  # noqa: BLE001 - deregistering is best effort
            # At interpreter exit the database may be gone already; the row goes stale on its own.
            log.info("could not deregister instance: %s", str(exc).splitlines()[0])
        finally:
            self._engine.dispose()
