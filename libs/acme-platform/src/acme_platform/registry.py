"""Live instance registry: which service processes run which library versions against this database.

Every service process registers at start and heartbeats; a clean shutdown deregisters. A row whose
heartbeat is older than the stale window is not live (the process died without saying so, e.g.
kill -9). The migration gate and `acmectl status` read this table: it is how the platform knows
which versions of a library are live before it applies a contract migration.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .db import Database
from .domains import DomainSpec

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 2.0
DEFAULT_STALE_AFTER_SECONDS = 10.0


def heartbeat_interval() -> float:
    return float(os.environ.get("ACME_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_SECONDS))


def stale_after() -> float:
    return float(os.environ.get("ACME_INSTANCE_STALE_AFTER", DEFAULT_STALE_AFTER_SECONDS))


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
    exists = connection.exec_driver_sql("SELECT to_regclass('acme_platform.instances') IS NOT NULL").scalar()
    if not exists:
        return []
    rows = connection.exec_driver_sql(
        "SELECT instance_id::text, service, service_version, host, pid, started_at, heartbeat_at, packages, heads, git_sha "
        "FROM acme_platform.instances WHERE heartbeat_at > now() - make_interval(secs => stale_after_seconds) "
        "ORDER BY service, host, pid",
    ).all()
    return [LiveInstance(*row) for row in rows]


class InstanceRegistration:
    def __init__(self, database: Database, *, service: str, service_version: str, domains: list[DomainSpec]):
        from .migrations.runner import script_heads

        self.database = database
        self.instance_id = str(uuid.uuid4())
        self.service = service
        self.service_version = service_version
        self.packages = {spec.package: spec.version for spec in domains}
        self.heads = {spec.name: list(script_heads(spec)) for spec in domains}
        self.git_sha = os.environ.get("ACME_GIT_SHA") or None
        self.stale_after = max(stale_after(), 2 * heartbeat_interval())
        self._stop = threading.Event()
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
            with self.database.unit_of_work() as uow:
                updated = uow.connection.exec_driver_sql(
                    "UPDATE acme_platform.instances SET heartbeat_at = now() WHERE instance_id = %(id)s",
                    {"id": self.instance_id},
                ).rowcount
                if not updated:
                    uow.connection.exec_driver_sql(
                        "INSERT INTO acme_platform.instances (instance_id, service, service_version, host, pid, "
                        "stale_after_seconds, packages, heads, git_sha) VALUES (%(id)s, %(svc)s, %(ver)s, %(host)s, "
                        "%(pid)s, %(stale)s, %(pk)s::jsonb, %(hd)s::jsonb, %(sha)s)",
                        {"id": self.instance_id, "svc": self.service, "ver": self.service_version,
                         "host": socket.gethostname(), "pid": os.getpid(), "stale": self.stale_after,
                         "pk": json.dumps(self.packages), "hd": json.dumps(self.heads), "sha": self.git_sha},
                    )
            return True
        except Exception as exc:
            log.warning("instance registration/heartbeat failed: %s", str(exc).splitlines()[0])
            return False

    def _beat(self) -> None:
        interval = heartbeat_interval()
        while not self._stop.wait(interval):
            self._upsert()

    def deregister(self) -> None:
        if self._stop.is_set():
            return  # already done (worker_exit, then atexit)
        self._stop.set()
        try:
            with self.database.unit_of_work() as uow:
                uow.connection.exec_driver_sql("DELETE FROM acme_platform.instances WHERE instance_id = %(id)s",
                                               {"id": self.instance_id})
        except Exception as exc:
            # At interpreter exit the database may be gone already; the row goes stale on its own.
            log.info("could not deregister instance: %s", str(exc).splitlines()[0])
