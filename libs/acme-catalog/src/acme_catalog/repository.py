"""SQL for the catalog and row -> value mapping.

Stock changes are single guarded statements (`UPDATE ... WHERE <guard> RETURNING`): the row lock taken
by the UPDATE plus Postgres re-checking the guard against the newest row version (READ COMMITTED)
is what makes 100 concurrent reservations of 30 units succeed exactly 30 times. Every statement is
plain SQL in psycopg's `%(name)s` style, fixed at import and sent with `exec_driver_sql` (the
data-access convention of every acme domain: README "Data access"): the stock movements and product
reads are the hot path, the statement is the contract, and a statement built per call costs CPU on
every request. bench/floor.py imports the very same texts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Any, Sequence

import sqlalchemy as sa

from .model import Product

_COLUMNS = ("sku", "name", "description", "price_cents", "currency", "active",
            "on_hand", "reserved", "version", "updated_at")
_RETURNING = ", ".join(f"p.{name}" for name in _COLUMNS)


def to_product(row: Sequence[Any]) -> Product:
    """Map the first ten columns of a row (in _COLUMNS order) to a Product."""
    updated_at = row[9]
    if updated_at.tzinfo is not timezone.utc:
        updated_at = updated_at.astimezone(timezone.utc)
    return Product(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], updated_at)


# -- products ----------------------------------------------------------------------------------

_INSERT_PRODUCT = (
    "INSERT INTO catalog.products AS p (sku, name, description, price_cents, currency, on_hand, active) "
    "VALUES (%(sku)s, %(name)s, %(description)s, %(price_cents)s, %(currency)s, %(on_hand)s, %(active)s) "
    "ON CONFLICT (sku) DO NOTHING "
    f"RETURNING {_RETURNING}"
)


def insert_product(conn: sa.Connection, values: dict[str, Any]) -> Product | None:
    """None if the sku exists (the unique key decides, so concurrent creators cannot both win)."""
    row = conn.exec_driver_sql(_INSERT_PRODUCT, values).first()
    return to_product(row) if row is not None else None


# The fields update_product may change, in the order it names them; one text per combination.
UPDATABLE = ("name", "description", "price_cents", "active")


def _update_sql(names: tuple[str, ...]) -> str:
    # The self-join on a `FOR UPDATE` subquery exposes the old values in RETURNING (Postgres 15 has no
    # OLD in RETURNING), so knowing what changed costs no extra round trip. The IS DISTINCT FROM guard
    # makes an update that changes nothing touch no row (no new version, no event).
    assignments = ", ".join(f"{n} = %({n})s" for n in names)
    differs = " OR ".join(f"p.{n} IS DISTINCT FROM %({n})s" for n in names)
    olds = ", ".join(f"old.{n}" for n in names)
    return (
        f"UPDATE catalog.products AS p SET {assignments}, version = p.version + 1, updated_at = now() "
        f"FROM (SELECT sku, {', '.join(names)} FROM catalog.products WHERE sku = %(sku)s FOR UPDATE) AS old "
        f"WHERE p.sku = old.sku AND ({differs}) "
        f"RETURNING {_RETURNING}, {olds}"
    )


_UPDATE = {names: _update_sql(names)
           for names in (tuple(n for i, n in enumerate(UPDATABLE) if mask >> i & 1)
                         for mask in range(1, 2 ** len(UPDATABLE)))}


def update_fields(conn: sa.Connection, sku: str, changes: dict[str, Any]) -> tuple[Product, list[str]] | None:
    """Apply `changes` (fields of UPDATABLE) if at least one differs from the stored value. Returns the
    new product and the names of the fields that really changed, or None if the product is missing or
    nothing differs."""
    names = tuple(n for n in UPDATABLE if n in changes)
    if len(names) != len(changes):
        raise ValueError(f"only {', '.join(UPDATABLE)} can be updated, got {sorted(changes)}")
    row = conn.exec_driver_sql(_UPDATE[names], {**changes, "sku": sku}).first()
    if row is None:
        return None
    product = to_product(row)
    before = row[len(_COLUMNS):]
    changed = [n for n, was in zip(names, before, strict=True) if getattr(product, n) != was]
    return product, changed


# Reads are fixed texts too: building a Core select per call (and SQLAlchemy walking it for its cache
# key) was about half of a product read's CPU. Each combination of a listing's optional filters is its
# own text, so each keeps its own plan.
_SELECT = f"SELECT {_RETURNING} FROM catalog.products AS p"
# `COLLATE "C"` on the parameter, as SQLAlchemy rendered it for the column's type: the text itself
# says the comparison (and the keyset's `>`) uses the primary key's byte order.
SELECT_ONE = f'{_SELECT} WHERE p.sku = %(sku)s::VARCHAR COLLATE "C"'
# One array parameter (= ANY) rather than an IN list: one statement text whatever the count.
_SELECT_MANY = f"{_SELECT} WHERE p.sku = ANY(%(skus)s::TEXT[])"


def _page_sql(active_only: bool, after: bool) -> str:
    conditions = [
        *(["p.active"] if active_only else []),   # plain `active`: matches the partial index
        *(['p.sku > %(after)s::VARCHAR COLLATE "C"'] if after else []),
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{_SELECT}{where} ORDER BY p.sku LIMIT %(limit)s::INTEGER"


_PAGE = {(active_only, after): _page_sql(active_only, after)
         for active_only in (False, True) for after in (False, True)}


def select_product(conn: sa.Connection, sku: str) -> Product | None:
    row = conn.exec_driver_sql(SELECT_ONE, {"sku": sku}).first()
    return to_product(row) if row is not None else None


def select_products(conn: sa.Connection, skus: list[str]) -> list[Product]:
    return [to_product(row) for row in conn.exec_driver_sql(_SELECT_MANY, {"skus": list(skus)})]


def select_page(conn: sa.Connection, *, limit: int, after: str | None, include_inactive: bool) -> list[Product]:
    """Up to limit + 1 products in sku order after `after`: the extra row says whether a next page exists."""
    params: dict[str, Any] = {"limit": limit + 1}
    if after is not None:
        params["after"] = after
    rows = conn.exec_driver_sql(_PAGE[not include_inactive, after is not None], params)
    return [to_product(row) for row in rows]


# -- stock -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StockOp:
    """One kind of stock movement: what it sets and the guard that must hold for a line to apply.

    Templates use {t} for the row alias and {q} for the quantity expression.
    """
    name: str
    assignments: str
    guard: str


RESERVE = StockOp("reserve", "reserved = {t}.reserved + {q}", "{t}.active AND {t}.on_hand - {t}.reserved >= {q}")
RELEASE = StockOp("release", "reserved = {t}.reserved - {q}", "{t}.reserved >= {q}")
COMMIT = StockOp("commit", "on_hand = {t}.on_hand - {q}, reserved = {t}.reserved - {q}", "{t}.reserved >= {q}")


@dataclass(frozen=True)
class StockState:
    sku: str
    active: bool
    on_hand: int
    reserved: int


def _single_sql(op: StockOp) -> str:
    return (
        f"UPDATE catalog.products AS p SET {op.assignments.format(t='p', q='%(q)s')}, "
        "version = p.version + 1, updated_at = now() "
        f"WHERE p.sku = %(sku)s AND {op.guard.format(t='p', q='%(q)s')} "
        f"RETURNING {_RETURNING}"
    )


def _many_sql(op: StockOp) -> str:
    # - `locked` takes the row locks in sku order: two multi-line reservations touching the same
    #   products queue behind each other instead of deadlocking. FOR UPDATE returns the newest
    #   committed row version, and the lock keeps it so until we commit.
    # - `verdict` makes the statement all or nothing: unless every line passes its guard, no row is
    #   updated, so even a caller that swallows the error cannot commit a partial reservation.
    # - The final SELECT returns one row per requested sku: either the updated product or the locked
    #   state that explains why it failed, so a failure costs no second query.
    # - The UPDATE still carries the guard itself: the database, not this reasoning, has the last word.
    return f"""
        WITH req AS (
            SELECT r.sku, r.qty FROM unnest(%(skus)s::text[], %(qtys)s::integer[]) AS r(sku, qty)
        ),
        locked AS MATERIALIZED (
            SELECT p.sku, p.active, p.on_hand, p.reserved, req.qty
            FROM catalog.products AS p JOIN req ON req.sku = p.sku
            ORDER BY p.sku
            FOR UPDATE OF p
        ),
        verdict AS (
            SELECT count(*) FILTER (WHERE {op.guard.format(t='locked', q='locked.qty')}) = %(n)s AS ok
            FROM locked
        ),
        changed AS (
            UPDATE catalog.products AS p SET {op.assignments.format(t='p', q='l.qty')},
                version = p.version + 1, updated_at = now()
            FROM locked AS l
            WHERE p.sku = l.sku AND (SELECT ok FROM verdict) AND {op.guard.format(t='p', q='l.qty')}
            RETURNING {_RETURNING}
        )
        SELECT c.*, req.sku AS req_sku, l.active AS l_active, l.on_hand AS l_on_hand, l.reserved AS l_reserved
        FROM req
        LEFT JOIN locked AS l ON l.sku = req.sku
        LEFT JOIN changed AS c ON c.sku = req.sku
    """


_SINGLE = {op.name: _single_sql(op) for op in (RESERVE, RELEASE, COMMIT)}
_MANY = {op.name: _many_sql(op) for op in (RESERVE, RELEASE, COMMIT)}
RESERVE_MANY = _MANY[RESERVE.name]   # the reservation place_order sends (bench/floor.py runs this text)

_STATE_SQL = "SELECT sku, active, on_hand, reserved FROM catalog.products WHERE sku = %(sku)s"


def apply_one(conn: sa.Connection, op: StockOp, sku: str, quantity: int) -> Product | None:
    """The product after the movement, or None if the guard (or the sku) did not match."""
    row = conn.exec_driver_sql(_SINGLE[op.name], {"sku": sku, "q": quantity}).first()
    return to_product(row) if row is not None else None


def apply_many(
    conn: sa.Connection, op: StockOp, lines: list[tuple[str, int]]
) -> tuple[dict[str, Product], dict[str, StockState | None]]:
    """All lines or none. Returns (updated products by sku, {} ) on success, or ({}, the locked state of
    every requested sku, None for unknown ones) when at least one line failed its guard."""
    rows = conn.exec_driver_sql(
        _MANY[op.name],
        {"skus": [s for s, _ in lines], "qtys": [q for _, q in lines], "n": len(lines)},
    ).all()
    updated = {row[0]: to_product(row) for row in rows if row[0] is not None}
    if len(updated) == len(lines):
        return updated, {}
    states = {
        row.req_sku: (StockState(row.req_sku, row.l_active, row.l_on_hand, row.l_reserved)
                      if row.l_active is not None else None)
        for row in rows
    }
    return updated, states


def stock_state(conn: sa.Connection, sku: str) -> StockState | None:
    row = conn.exec_driver_sql(_STATE_SQL, {"sku": sku}).first()
    return StockState(*row) if row is not None else None


_ADJUST_SQL = (
    "UPDATE catalog.products AS p SET on_hand = p.on_hand + %(d)s, version = p.version + 1, updated_at = now() "
    "WHERE p.sku = %(sku)s AND p.on_hand + %(d)s >= p.reserved AND p.on_hand + %(d)s BETWEEN 0 AND %(max)s "
    "RETURNING p.sku, p.on_hand, p.reserved, p.version"
)


def adjust(conn: sa.Connection, sku: str, delta: int, maximum: int):
    """(sku, on_hand, reserved, version) after the adjustment, or None if the guard (or sku) failed."""
    return conn.exec_driver_sql(_ADJUST_SQL, {"sku": sku, "d": delta, "max": maximum}).first()
