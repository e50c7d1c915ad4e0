"""Transactional outbox: an event is written in the same transaction as the change it describes.

Each domain owns `<schema>.outbox` (created by its first migration with `create_outbox_table`). Rows
carry the writing transaction's id (xid8). Consumers read in (txid, id) order and only below the
oldest transaction still running, so a row whose id was allocated early but committed late is never
skipped (see consumer.py).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..uow import UnitOfWork

NOTIFY_CHANNEL = "acme_events"
# pg_notify payloads are limited to 8000 bytes; stay well below and fall back to "something changed".
_MAX_NOTIFY_BYTES = 7000
_TOPIC = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_STATE_KEY = "acme_platform.outbox"


@dataclass(frozen=True)
class Event:
    id: int            # unique within its domain's outbox
    txid: int          # the transaction that wrote it
    topic: str         # "<domain>.<past_tense>"
    key: str           # the entity it is about (sku, order id, token id)
    payload: dict[str, Any]
    created_at: datetime

    @property
    def domain(self) -> str:
        return self.topic.split(".", 1)[0]

    @property
    def event_id(self) -> str:
        """Globally unique id a handler can use to be idempotent."""
        return f"{self.domain}:{self.id}"


def outbox_table(schema: str, metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata or sa.MetaData(),
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("txid", sa.BigInteger, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def validate_topic(topic: str) -> str:
    if not _TOPIC.match(topic):
        raise ValueError(f"event topic must look like '<domain>.<past_tense_event>', got {topic!r}")
    return topic


def publish(uow: UnitOfWork, topic: str, key: str, payload: dict[str, Any] | None = None) -> None:
    """Record an event in the producing domain's outbox, inside the caller's transaction.

    Listeners are woken by one pg_notify per transaction, delivered by Postgres only at COMMIT,
    so nobody ever sees an event whose change was rolled back.
    """
    validate_topic(topic)
    schema = topic.split(".", 1)[0]
    body = json.dumps(payload or {}, separators=(",", ":"), default=str)
    uow.connection.exec_driver_sql(
        f'INSERT INTO "{schema}".outbox (txid, topic, key, payload) '
        "VALUES (pg_current_xact_id()::text::bigint, %(topic)s, %(key)s, %(payload)s::jsonb)",
        {"topic": topic, "key": str(key), "payload": body},
    )
    pending = uow.state.get(_STATE_KEY)
    if pending is None:
        pending = uow.state[_STATE_KEY] = []
        uow.before_commit(lambda: _notify(uow, pending))
    pending.append((topic, str(key)))


def publish_many(uow: UnitOfWork, topic: str, events: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Record several events of one topic in ONE statement (hot paths: a reservation of many skus)."""
    if not events:
        return
    validate_topic(topic)
    schema = topic.split(".", 1)[0]
    keys = [str(key) for key, _ in events]
    bodies = [json.dumps(payload or {}, separators=(",", ":"), default=str) for _, payload in events]
    uow.connection.exec_driver_sql(
        f'INSERT INTO "{schema}".outbox (txid, topic, key, payload) '
        "SELECT pg_current_xact_id()::text::bigint, %(topic)s, k, p::jsonb "
        "FROM unnest(%(keys)s::text[], %(bodies)s::text[]) WITH ORDINALITY AS e(k, p, n) ORDER BY n",
        {"topic": topic, "keys": keys, "bodies": bodies},
    )
    pending = uow.state.get(_STATE_KEY)
    if pending is None:
        pending = uow.state[_STATE_KEY] = []
        uow.before_commit(lambda: _notify(uow, pending))
    pending.extend((topic, key) for key in keys)


def _notify(uow: UnitOfWork, pending: list[tuple[str, str]]) -> None:
    message = json.dumps({"events": pending}, separators=(",", ":"))
    if len(message.encode()) > _MAX_NOTIFY_BYTES:
        # Too many keys to list: name only the topics; caches flush those topics wholesale.
        message = json.dumps({"topics": sorted({t for t, _ in pending}), "truncated": True})
    uow.connection.exec_driver_sql("SELECT pg_notify(%(channel)s, %(message)s)",
                                   {"channel": NOTIFY_CHANNEL, "message": message})
