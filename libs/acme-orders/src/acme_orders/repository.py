"""Rows <-> Order values with SQLAlchemy Core. Each function is one SQL round trip."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection

from .model import Order, OrderLine
from .tables import idempotency_keys, order_lines, orders

_o, _l, _k = orders, order_lines, idempotency_keys

# An order's lines as one JSON array next to its row, so reading orders never costs a second query.
# COLLATE "C" sorts by code point, exactly like Python's sorted(), so a freshly placed order and the
# same order read back have their lines in the same order.
_lines_json = (
    sa.select(
        sa.func.coalesce(
            sa.func.json_agg(
                pg.aggregate_order_by(
                    sa.func.json_build_array(_l.c.sku, _l.c.quantity, _l.c.unit_price_cents),
                    _l.c.sku.collate("C"),
                )
            ),
            sa.literal_column("'[]'::json"),
        )
    )
    .where(_l.c.order_id == _o.c.id)
    .scalar_subquery()
    .label("lines")
)

_order_columns = (_o.c.id, _o.c.customer_id, _o.c.status, _o.c.total_cents, _o.c.currency,
                  _o.c.created_at, _o.c.updated_at, _lines_json)


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

def claim_idempotency_key(conn: Connection, customer_id: str, key: str, fingerprint: str,
                          order_id: uuid.UUID) -> bool:
    """True if this transaction now owns the key. A concurrent owner makes this wait on the unique index
    until it commits (then False) or rolls back (then True): that wait is what serialises duplicates."""
    stmt = (
        pg.insert(_k)
        .values(customer_id=customer_id, key=key, request_hash=fingerprint, order_id=order_id)
        .on_conflict_do_nothing(index_elements=[_k.c.customer_id, _k.c.key])
        .returning(_k.c.order_id)
    )
    return conn.execute(stmt).first() is not None


def keyed_order(conn: Connection, customer_id: str, key: str) -> tuple[str, Order] | None:
    """(request hash, order) stored under the key, read in a fresh snapshot (a new statement)."""
    stmt = (
        sa.select(_k.c.request_hash, *_order_columns)
        .select_from(_k.join(_o, _o.c.id == _k.c.order_id))
        .where(_k.c.customer_id == customer_id, _k.c.key == key)
    )
    row = conn.execute(stmt).first()
    return None if row is None else (row.request_hash, to_order(row))


# -- writing -----------------------------------------------------------------------------------

def insert_order(conn: Connection, *, order_id: uuid.UUID, customer_id: str, status: str, total_cents: int,
                 currency: str, lines: Sequence[OrderLine]) -> tuple[datetime, datetime]:
    """The order row and all its lines in one statement; returns (created_at, updated_at)."""
    new_order = (
        sa.insert(_o)
        .values(id=order_id, customer_id=customer_id, status=status, total_cents=total_cents, currency=currency)
        .returning(_o.c.created_at, _o.c.updated_at)
        .cte("new_order")
    )
    # unnest over three arrays: one SQL text whatever the number of lines (one cached plan).
    rows = sa.func.unnest(
        sa.bindparam("skus", [ln.sku for ln in lines], type_=pg.ARRAY(sa.Text)),
        sa.bindparam("quantities", [ln.quantity for ln in lines], type_=pg.ARRAY(sa.Integer)),
        sa.bindparam("prices", [ln.unit_price_cents for ln in lines], type_=pg.ARRAY(sa.BigInteger)),
    ).table_valued("sku", "quantity", "unit_price_cents").render_derived(name="line")
    new_lines = (
        sa.insert(_l)
        .from_select(
            ["order_id", "sku", "quantity", "unit_price_cents"],
            sa.select(sa.literal(order_id, pg.UUID(as_uuid=True)), rows.c.sku, rows.c.quantity,
                      rows.c.unit_price_cents),
        )
        .cte("new_lines")
    )
    stmt = sa.select(new_order.c.created_at, new_order.c.updated_at).add_cte(new_lines)
    row = conn.execute(stmt).one()
    return utc(row.created_at), utc(row.updated_at)


def transition(conn: Connection, order_id: uuid.UUID, *, target: str, sources: Sequence[str],
               owner: str | None) -> Order | None:
    """Move the order to `target` if it is in one of `sources` (and belongs to `owner`, when given).

    One guarded UPDATE: it row-locks the order, so a concurrent cancel/fulfil waits and then finds the
    status changed. None means nothing matched; the caller finds out why.
    """
    conditions = [_o.c.id == order_id, _o.c.status.in_(list(sources))]
    if owner is not None:
        conditions.append(_o.c.customer_id == owner)
    stmt = (
        sa.update(_o)
        .where(*conditions)
        .values(status=target, updated_at=sa.func.now())
        .returning(*_order_columns)
    )
    row = conn.execute(stmt).first()
    return None if row is None else to_order(row)


# -- reading -----------------------------------------------------------------------------------

def get(conn: Connection, order_id: uuid.UUID, *, owner: str | None) -> Order | None:
    stmt = sa.select(*_order_columns).where(_o.c.id == order_id)
    if owner is not None:
        stmt = stmt.where(_o.c.customer_id == owner)
    row = conn.execute(stmt).first()
    return None if row is None else to_order(row)


def status_of(conn: Connection, order_id: uuid.UUID, *, owner: str | None) -> str | None:
    stmt = sa.select(_o.c.status).where(_o.c.id == order_id)
    if owner is not None:
        stmt = stmt.where(_o.c.customer_id == owner)
    return conn.execute(stmt).scalar()


def page(conn: Connection, *, customer_id: str | None, status: str | None,
         after: tuple[datetime, uuid.UUID] | None, limit: int) -> tuple[list[Order], bool]:
    """Newest first; keyset on (created_at, id) so deep pages cost the same as the first.
    Returns (orders, more) where more says a further page exists."""
    stmt = sa.select(*_order_columns)
    if customer_id is not None:
        stmt = stmt.where(_o.c.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(_o.c.status == status)
    if after is not None:
        stmt = stmt.where(sa.tuple_(_o.c.created_at, _o.c.id) < sa.tuple_(
            sa.literal(after[0], sa.DateTime(timezone=True)), sa.literal(after[1], pg.UUID(as_uuid=True))))
    stmt = stmt.order_by(_o.c.created_at.desc(), _o.c.id.desc()).limit(limit + 1)
    found = [to_order(row) for row in conn.execute(stmt)]
    return found[:limit], len(found) > limit
