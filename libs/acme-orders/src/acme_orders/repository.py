"""Rows <-> Order values. Each function is one SQL round trip.

Why SQL text, fixed at import and sent with `exec_driver_sql`, rather than Core expressions: these are
the hot paths of placing and reading orders, and building a Core statement per call (then having
SQLAlchemy walk it to find its cached compiled form) cost about 3 ms of CPU per placed order on the
benchmark machine, the largest overhead the benchmark found (bench/README.md, item B). Where a filter
is optional each variant is its own text, so every text keeps one plan that suits its indexes. The
texts are the ones SQLAlchemy Core rendered from tables.py, casts included, so the switch left the
query plans as they were (tables.py stays the mirror of the migrations that autogenerate checks).
This is the data-access convention of every acme domain (README "Data access"); bench/floor.py imports
the very same texts.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy.engine import Connection

from .model import Order, OrderLine

# An order's lines as one JSON array next to its row, so reading orders never costs a second query.
# COLLATE "C" sorts by code point, exactly like Python's sorted(), so a freshly placed order and the
# same order read back have their lines in the same order.
# The column names are the attributes to_order reads.
_ORDER_COLUMNS = (
    "o.id, o.customer_id, o.status, o.total_cents, o.currency, o.created_at, o.updated_at, "
    "(SELECT coalesce(json_agg(json_build_array(l.sku, l.quantity, l.unit_price_cents) "
    "ORDER BY l.sku COLLATE \"C\"), '[]'::json) "
    "FROM orders.order_lines AS l WHERE l.order_id = o.id) AS lines"
)


def to_order(row: Any) -> Order:
    return Order(
        id=str(row.id),
        customer_id=row.customer_id,
        status=row.status,
        total_cents=int(row.total_cents),
        currency=row.currency,
        items=tuple(OrderLine(sku, int(qty), int(price)) for sku, qty, price in row.lines),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def utc(moment: datetime) -> datetime:
    # psycopg hands back timestamptz in the session's TimeZone; the domain promises UTC whatever the server says.
    return moment.astimezone(timezone.utc)


# -- idempotency -------------------------------------------------------------------------------

CLAIM_KEY = (
    "INSERT INTO orders.idempotency_keys (customer_id, key, request_hash, order_id) "
    "VALUES (%(customer_id)s::VARCHAR, %(key)s::VARCHAR, %(request_hash)s::VARCHAR, %(order_id)s::UUID) "
    "ON CONFLICT (customer_id, key) DO NOTHING "
    "RETURNING orders.idempotency_keys.order_id"
)

_KEYED_ORDER = (
    f"SELECT k.request_hash, {_ORDER_COLUMNS} "
    "FROM orders.idempotency_keys AS k JOIN orders.orders AS o ON o.id = k.order_id "
    "WHERE k.customer_id = %(customer_id)s::VARCHAR AND k.key = %(key)s::VARCHAR"
)


def claim_idempotency_key(conn: Connection, customer_id: str, key: str, fingerprint: str,
                          order_id: uuid.UUID) -> bool:
    """True if this transaction now owns the key. A concurrent owner makes this wait on the unique index
    until it commits (then False) or rolls back (then True): that wait is what serialises duplicates."""
    params = {"customer_id": customer_id, "key": key, "request_hash": fingerprint, "order_id": order_id}
    return conn.exec_driver_sql(CLAIM_KEY, params).first() is not None


def keyed_order(conn: Connection, customer_id: str, key: str) -> tuple[str, Order] | None:
    """(request hash, order) stored under the key, read in a fresh snapshot (a new statement)."""
    row = conn.exec_driver_sql(_KEYED_ORDER, {"customer_id": customer_id, "key": key}).first()
    return None if row is None else (row.request_hash, to_order(row))


# -- writing -----------------------------------------------------------------------------------

# The order row and its lines in one statement. unnest over three arrays: one SQL text whatever the
# number of lines (one cached plan).
INSERT_ORDER = (
    "WITH new_lines AS ("
    "INSERT INTO orders.order_lines (order_id, sku, quantity, unit_price_cents) "
    "SELECT %(order_id)s::UUID, line.sku, line.quantity, line.unit_price_cents "
    "FROM unnest(%(skus)s::TEXT[], %(quantities)s::INTEGER[], %(prices)s::BIGINT[]) "
    "AS line(sku, quantity, unit_price_cents)"
    "), new_order AS ("
    "INSERT INTO orders.orders (id, customer_id, status, total_cents, currency) "
    "VALUES (%(order_id)s::UUID, %(customer_id)s::VARCHAR, %(status)s::VARCHAR, %(total_cents)s::BIGINT, "
    "%(currency)s::VARCHAR) "
    "RETURNING orders.orders.created_at, orders.orders.updated_at"
    ") SELECT new_order.created_at, new_order.updated_at FROM new_order"
)


def insert_order(conn: Connection, *, order_id: uuid.UUID, customer_id: str, status: str, total_cents: int,
                 currency: str, lines: Sequence[OrderLine]) -> tuple[datetime, datetime]:
    """The order row and all its lines in one statement; returns (created_at, updated_at)."""
    row = conn.exec_driver_sql(INSERT_ORDER, {
        "order_id": order_id, "customer_id": customer_id, "status": status, "total_cents": total_cents,
        "currency": currency,
        "skus": [ln.sku for ln in lines],
        "quantities": [ln.quantity for ln in lines],
        "prices": [ln.unit_price_cents for ln in lines],
    }).one()
    return utc(row.created_at), utc(row.updated_at)


# `= ANY(array)` is what Postgres makes of an IN list anyway; the array keeps one text for any
# number of source statuses.
_TRANSITION = (
    "UPDATE orders.orders AS o SET status = %(target)s::VARCHAR, updated_at = now() "
    "WHERE o.id = %(order_id)s::UUID AND o.status = ANY(%(sources)s::VARCHAR[])"
)
_TRANSITION_ANY = f"{_TRANSITION} RETURNING {_ORDER_COLUMNS}"
_TRANSITION_OWNED = f"{_TRANSITION} AND o.customer_id = %(owner)s::VARCHAR RETURNING {_ORDER_COLUMNS}"


def transition(conn: Connection, order_id: uuid.UUID, *, target: str, sources: Sequence[str],
               owner: str | None) -> Order | None:
    """Move the order to `target` if it is in one of `sources` (and belongs to `owner`, when given).

    One guarded UPDATE: it row-locks the order, so a concurrent cancel/fulfil waits and then finds the
    status changed. None means nothing matched; the caller finds out why.
    """
    params = {"order_id": order_id, "target": target, "sources": list(sources)}
    if owner is None:
        row = conn.exec_driver_sql(_TRANSITION_ANY, params).first()
    else:
        params["owner"] = owner
        row = conn.exec_driver_sql(_TRANSITION_OWNED, params).first()
    return None if row is None else to_order(row)


# -- reading -----------------------------------------------------------------------------------

GET_ANY = f"SELECT {_ORDER_COLUMNS} FROM orders.orders AS o WHERE o.id = %(order_id)s::UUID"
GET_OWNED = f"{GET_ANY} AND o.customer_id = %(owner)s::VARCHAR"

_STATUS_ANY = "SELECT o.status FROM orders.orders AS o WHERE o.id = %(order_id)s::UUID"
_STATUS_OWNED = f"{_STATUS_ANY} AND o.customer_id = %(owner)s::VARCHAR"


def get(conn: Connection, order_id: uuid.UUID, *, owner: str | None) -> Order | None:
    if owner is None:
        row = conn.exec_driver_sql(GET_ANY, {"order_id": order_id}).first()
    else:
        row = conn.exec_driver_sql(GET_OWNED, {"order_id": order_id, "owner": owner}).first()
    return None if row is None else to_order(row)


def status_of(conn: Connection, order_id: uuid.UUID, *, owner: str | None) -> str | None:
    if owner is None:
        return conn.exec_driver_sql(_STATUS_ANY, {"order_id": order_id}).scalar()
    return conn.exec_driver_sql(_STATUS_OWNED, {"order_id": order_id, "owner": owner}).scalar()


def _page_sql(by_customer: bool, by_status: bool, after: bool) -> str:
    # Only the filters in use appear in the text, so the planner can pick the index that serves them
    # (orders_customer_created, orders_status_created or orders_created).
    conditions = [
        *(["o.customer_id = %(customer_id)s::VARCHAR"] if by_customer else []),
        *(["o.status = %(status)s::VARCHAR"] if by_status else []),
        *(["(o.created_at, o.id) < (%(after_at)s::TIMESTAMP WITH TIME ZONE, %(after_id)s::UUID)"] if after else []),
    ]
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return (f"SELECT {_ORDER_COLUMNS} FROM orders.orders AS o {where}"
            "ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s::INTEGER")


_PAGE = {(c, s, a): _page_sql(c, s, a) for c in (False, True) for s in (False, True) for a in (False, True)}


def page(conn: Connection, *, customer_id: str | None, status: str | None,
         after: tuple[datetime, uuid.UUID] | None, limit: int) -> tuple[list[Order], bool]:
    """Newest first; keyset on (created_at, id) so deep pages cost the same as the first.
    Returns (orders, more) where more says a further page exists."""
    params: dict[str, Any] = {"limit": limit + 1}
    if customer_id is not None:
        params["customer_id"] = customer_id
    if status is not None:
        params["status"] = status
    if after is not None:
        params["after_at"], params["after_id"] = after
    sql = _PAGE[customer_id is not None, status is not None, after is not None]
    found = [to_order(row) for row in conn.exec_driver_sql(sql, params)]
    return found[:limit], len(found) > limit
