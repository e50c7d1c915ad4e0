"""acme-skewdemo 2.0.0: items with a title. Public API: the names in __all__."""
from .errors import InvalidTitle
from .service import Item, add_item, list_items

__all__ = ["Item", "InvalidTitle", "add_item", "list_items"]
