"""Use cases. Since 1.1.0 an item's title lives in the column `title`; this code never touches `name`
(skd0002's trigger keeps it filled for 1.0.x instances until skd0003 drops it)."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from acme_platform import UnitOfWork

from .errors import InvalidTitle
from .tables import items


@dataclass(frozen=True)
class Item:
    id: int
    title: str


def _valid(title: object) -> str:
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
        raise InvalidTitle("title must be 1 to 200 characters", field="title")
    return title.strip()


def add_item(uow: UnitOfWork, title: str) -> Item:
    title = _valid(title)
    item_id = uow.connection.execute(sa.insert(items).values(title=title).returning(items.c.id)).scalar_one()
    return Item(item_id, title)


def list_items(uow: UnitOfWork) -> list[Item]:
    rows = uow.connection.execute(sa.select(items.c.id, items.c.title).order_by(items.c.id)).all()
    return [Item(row.id, row.title) for row in rows]
