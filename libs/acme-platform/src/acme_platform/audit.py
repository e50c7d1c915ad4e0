"""Who did what, when: operators' actions recorded in acme_platform.audit_log (revision p0004).

Written in the same transaction as the action itself, so an action that rolls back leaves no entry and
an entry never claims an action that did not happen. Read by the backoffice console's pages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: str
    actor: str
    service: str
    action: str
    target: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor_id": self.actor_id, "actor": self.actor,
                "service": self.service, "action": self.action, "target": self.target, "detail": self.detail}


def record(conn: sa.Connection, *, actor_id: str, actor: str, service: str, action: str, target: str,
           detail: dict[str, Any] | None = None) -> int:
    return conn.exec_driver_sql(
        "INSERT INTO acme_platform.audit_log (actor_id, actor, service, action, target, detail) "
        "VALUES (%(a)s, %(n)s, %(s)s, %(x)s, %(t)s, %(d)s::jsonb) RETURNING id",
        {"a": actor_id, "n": actor, "s": service, "x": action, "t": target, "d": json.dumps(detail or {})},
    ).scalar_one()


def recent(conn: sa.Connection, *, limit: int = 50, action_prefix: str | None = None) -> list[AuditEntry]:
    rows = conn.exec_driver_sql(
        "SELECT id, at, actor_id, actor, service, action, target, detail FROM acme_platform.audit_log "
        "WHERE (%(p)s::text IS NULL OR action LIKE %(p)s || '%%') ORDER BY id DESC LIMIT %(n)s",
        {"p": action_prefix, "n": int(limit)},
    ).all()
    return [AuditEntry(**row._mapping) for row in rows]
