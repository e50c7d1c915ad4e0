"""Operators' side of dead letters (`acmectl events`): list, show, ask for a replay, discard.

A replay is not run here: acmectl has no handler. It marks the row `replay`; the consumer group's
next run (in the service that owns the handler) hands it over and records the outcome. The operator
may correct the payload on the way (`--payload`), which is how a malformed event is repaired.
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from .outbox import NOTIFY_CHANNEL

OPEN = ("dead", "replay")


class DeadLetterError(ValueError):
    """An operator's request that cannot be done; the message is one line."""


def parse_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise DeadLetterError(f"dead letter id must be a positive integer (got {raw!r})") from None
    if value < 1:
        raise DeadLetterError(f"dead letter id must be a positive integer (got {raw!r})")
    return value


def parse_payload(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise DeadLetterError(f"--payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DeadLetterError(f"--payload must be a JSON object (got {type(value).__name__})")
    return value


_COLUMNS = ("id, consumer_group, domain, event_id, txid, topic, key, payload, created_at, error, attempts, "
            "status, dead_at, updated_at")


def list_dead_letters(conn: sa.Connection, *, group: str | None = None, include_closed: bool = False) -> list[dict]:
    rows = conn.exec_driver_sql(
        f"SELECT {_COLUMNS} FROM acme_platform.dead_letters "
        "WHERE (%(g)s::text IS NULL OR consumer_group = %(g)s) AND (%(all)s OR status = ANY(%(open)s)) ORDER BY id",
        {"g": group, "all": include_closed, "open": list(OPEN)},
    ).mappings().all()
    return [dict(r) for r in rows]


def get_dead_letter(conn: sa.Connection, dead_letter_id: int) -> dict:
    row = conn.exec_driver_sql(f"SELECT {_COLUMNS} FROM acme_platform.dead_letters WHERE id = %(id)s",
                               {"id": dead_letter_id}).mappings().first()
    if row is None:
        raise DeadLetterError(f"no dead letter {dead_letter_id}")
    return dict(row)


def request_replay(conn: sa.Connection, dead_letter_id: int, payload: dict[str, Any] | None = None) -> dict:
    row = get_dead_letter(conn, dead_letter_id)
    if row["status"] != "dead":
        raise DeadLetterError(f"dead letter {dead_letter_id} is {row['status']}; only a dead one can be replayed")
    conn.exec_driver_sql(
        "UPDATE acme_platform.dead_letters SET status = 'replay', updated_at = now(), "
        "payload = COALESCE(%(p)s::jsonb, payload) WHERE id = %(id)s",
        {"id": dead_letter_id, "p": None if payload is None else json.dumps(payload)},
    )
    # Wake the group's consumers now rather than at their next poll.
    conn.exec_driver_sql("SELECT pg_notify(%(c)s, %(m)s)",
                         {"c": NOTIFY_CHANNEL, "m": json.dumps({"events": [[row["topic"], row["key"]]]})})
    return get_dead_letter(conn, dead_letter_id)


def discard(conn: sa.Connection, dead_letter_id: int) -> dict:
    row = get_dead_letter(conn, dead_letter_id)
    if row["status"] not in OPEN:
        raise DeadLetterError(f"dead letter {dead_letter_id} is {row['status']}; nothing to discard")
    conn.exec_driver_sql("UPDATE acme_platform.dead_letters SET status = 'discarded', updated_at = now() "
                         "WHERE id = %(id)s", {"id": dead_letter_id})
    return get_dead_letter(conn, dead_letter_id)
