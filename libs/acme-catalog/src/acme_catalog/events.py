"""Events the catalog publishes. Payloads carry the sku, the product's new version and what changed,
never the row: a reader that needs the product reads it through the catalog API."""
from __future__ import annotations

from typing import Any

PRODUCT_CHANGED = "catalog.product_changed"

# Vocabulary of `changes`: which aspects of the product moved.
CREATED = "created"
STOCK = "stock"          # on_hand and/or reserved


def product_changed(sku: str, version: int, changes: list[str]) -> dict[str, Any]:
    return {"sku": sku, "version": version, "changes": changes}
