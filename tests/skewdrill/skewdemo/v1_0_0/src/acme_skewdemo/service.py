"""Use cases. 1.0.0 keeps an item's title in the column `name`."""
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
    item_id = uow.connection.execute(sa.insert(items).values(name=title).returning(items.c.id)).scalar_one()
    return Item(item_id, title)


def list_items(uow: UnitOfWork) -> list[Item]:
    rows = uow.connection.execute(sa.select(items.c.id, items.c.name).order_by(items.c.id)).all()
    return [Item(row.id, row.name) for row in rows]
