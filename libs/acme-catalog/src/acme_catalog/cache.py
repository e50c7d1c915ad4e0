"""A per-process product cache that another process's change empties within moments (no TTL).

Entries die on `catalog.product_changed` (delivered by the platform's ChangeListener at the
writer's COMMIT); while the listener is disconnected nothing is served or stored.
"""
from __future__ import annotations

from acme_platform import ChangeListener, InvalidatingCache, UnitOfWork

from . import model
from .events import PRODUCT_CHANGED
from .model import Product
from .service import get_product


class ProductCache:
    def __init__(self, listener: ChangeListener, max_entries: int = 10_000):
        self._cache: InvalidatingCache[str, Product] = InvalidatingCache(
            listener, [PRODUCT_CHANGED], max_entries=max_entries
        )

    def get(self, uow: UnitOfWork, sku: str) -> Product:
        """The product, from memory when possible; raises ProductNotFound like get_product."""
        key = model.existing_sku(sku)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._cache.generation(key)
        product = get_product(uow, key)
        # Stored only once the caller's transaction has committed: read inside a transaction, the
        # product may include that transaction's own uncommitted change, which a rollback would undo
        # without any event to evict it. The generation check drops the value if any invalidation
        # arrived since the read began.
        uow.after_commit(lambda: self._cache.put(key, product, loaded_at_generation=generation))
        return product

    def invalidate(self, sku: str) -> None:
        key = model.lookup_sku(sku)
        if key is not None:
            self._cache.invalidate(key)

    def clear(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)
