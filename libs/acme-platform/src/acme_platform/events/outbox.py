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

    The row is written just before COMMIT (or at `flush_events`), together with every other event of
    the transaction and the listeners' wake-up, in one statement: a unit of work that publishes pays
    one round trip for its events, however many domains and events it has. pg_notify is delivered by
    Postgres only at COMMIT, so nobody ever sees an event whose change was rolled back.

    Inside a savepoint (`connection.begin_nested()`, e.g. a Consumer's handler) the row is written at
    once instead, so rolling back to the savepoint takes the event with it; such rows get their ids
    before rows still queued from outside the savepoint.
    """
    validate_topic(topic)
    _publish(uow, [(topic, str(key), _encode(payload))])


def publish_many(uow: UnitOfWork, topic: str, events: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Record several events of one topic (a reservation of many skus)."""
    if not events:
        return
    validate_topic(topic)
    _publish(uow, [(topic, str(key), _encode(payload)) for key, payload in events])


def flush_events(uow: UnitOfWork) -> None:
    """Write the unit of work's pending events now rather than just before COMMIT.

    Nothing needs this to be correct; it is for code that reads an outbox inside the transaction that
    wrote it (tests asserting on the events a call produced).
    """
    pending = uow.state.pop(_STATE_KEY, None)
    if pending is not None and (pending.rows or pending.wake_up):
        _write(uow.connection, pending.rows, _wake_up_message(pending.wake_up))


class _Pending:
    __slots__ = ("rows", "wake_up")

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []        # (topic, key, payload) not yet written
        self.wake_up: list[tuple[str, str]] = []           # (topic, key) of every event, for the NOTIFY


def _publish(uow: UnitOfWork, rows: list[tuple[str, str, str]]) -> None:
    pending = uow.state.get(_STATE_KEY)
    if pending is None:
        pending = uow.state[_STATE_KEY] = _Pending()
        # Registered again after a flush: a before-commit hook that publishes is still written.
        uow.before_commit(lambda: flush_events(uow))
    connection = uow._connection            # not uow.connection: publishing alone checks nothing out
    if connection is not None and connection.in_nested_transaction():
        _write(connection, rows, None)
    else:
        pending.rows.extend(rows)
    pending.wake_up.extend((topic, key) for topic, key, _ in rows)


def _encode(payload: dict[str, Any] | None) -> str:
    return json.dumps(payload or {}, separators=(",", ":"), default=str)


def _write(connection, rows: list[tuple[str, str, str]], wake_up: str | None) -> None:
    """One statement: an INSERT per domain schema as data-modifying CTEs (Postgres runs them whether
    or not the outer query reads them), then the pg_notify. Ids follow publish order within a schema."""
    schemas = list(dict.fromkeys(topic.split(".", 1)[0] for topic, _, _ in rows))
    params: dict[str, Any] = {}
    inserts = []
    for i, schema in enumerate(schemas):
        mine = [row for row in rows if row[0].split(".", 1)[0] == schema]
        params[f"topics{i}"] = [topic for topic, _, _ in mine]
        params[f"keys{i}"] = [key for _, key, _ in mine]
        params[f"payloads{i}"] = [body for _, _, body in mine]
        inserts.append(
            f'{schema}_events AS (INSERT INTO "{schema}".outbox (txid, topic, key, payload) '
            "SELECT pg_current_xact_id()::text::bigint, e.topic, e.key, e.payload::jsonb "
            f"FROM unnest(%(topics{i})s::text[], %(keys{i})s::text[], %(payloads{i})s::text[]) "
            "WITH ORDINALITY AS e(topic, key, payload, n) ORDER BY e.n)"
        )
    if wake_up is not None:
        params["channel"], params["message"] = NOTIFY_CHANNEL, wake_up
        tail = "SELECT pg_notify(%(channel)s, %(message)s)"
    else:
        tail = "SELECT 1"
    connection.exec_driver_sql(("WITH " + ", ".join(inserts) + " " if inserts else "") + tail, params)


def _wake_up_message(wake_up: list[tuple[str, str]]) -> str | None:
    if not wake_up:
        return None
    message = json.dumps({"events": wake_up}, separators=(",", ":"))
    if len(message.encode()) > _MAX_NOTIFY_BYTES:
        # Too many keys to list: name only the topics; caches flush those topics wholesale.
        message = json.dumps({"topics": sorted({topic for topic, _ in wake_up}), "truncated": True})
    return message
