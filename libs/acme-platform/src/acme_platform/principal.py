"""Who is calling. Lives in the platform so that every domain can accept it without depending on identity."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    subject_id: str               # the account id (customer or staff)
    kind: str                     # "customer" | "staff"
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None   # which credential authenticated this request
    email: str | None = None

    @property
    def is_staff(self) -> bool:
        return "staff" in self.scopes

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
