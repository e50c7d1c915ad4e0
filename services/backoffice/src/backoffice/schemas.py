"""Request and response models: what spectree validates and what /openapi.json documents.

Built on the platform's HTTP kit (acme_platform.web): request bodies are strict ("100" or 1.5 is not
a price, true is not a quantity) and refuse unknown fields; queries refuse unknown parameters; times
leave as UTC. Requests only check *shape*; the domains own the business rules (sku format, price
range, ...) and name the offending field themselves, so a rule is written once.
"""
from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from acme_platform.web import QueryModel, RequestModel, ResponseModel, StorableStr, UtcDatetime
from pydantic import BaseModel, ConfigDict, Field, model_validator

Text = Annotated[StorableStr, Field(max_length=10_000)]


# -- tokens --------------------------------------------------------------------------------------

class TokenIn(RequestModel):
    email: Text
    password: Text


class TokenOut(ResponseModel):
    token: str
    expires_at: UtcDatetime


# -- products ------------------------------------------------------------------------------------

class ProductIn(RequestModel):
    sku: Text
    name: Text
    description: Text = ""
    price_cents: int
    currency: Text
    stock: int = 0


class ProductPatch(RequestModel):
    # Defaults are None but an explicit null is rejected (the annotations are not Optional): "leave
    # it alone" is expressed by omitting the field, and null would be ambiguous for description.
    name: Text = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    price_cents: int = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something_to_change(self) -> "ProductPatch":
        if not self.model_fields_set:
            raise ValueError("send at least one of name, description, price_cents, active")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ProductQuery(QueryModel):
    limit: int = Field(20, ge=1, le=100)
    after: Text | None = None
    include_inactive: bool = False


class ProductOut(ResponseModel):
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    active: bool
    on_hand: int
    reserved: int
    available: int
    version: int
    updated_at: UtcDatetime

    @classmethod
    def of(cls, p) -> "ProductOut":
        return cls(sku=p.sku, name=p.name, description=p.description, price_cents=p.price_cents,
                   currency=p.currency, active=p.active, on_hand=p.on_hand, reserved=p.reserved,
                   available=p.available, version=p.version, updated_at=p.updated_at)


class ProductPage(ResponseModel):
    items: list[ProductOut]
    next: str | None


class StockIn(RequestModel):
    delta: int


class StockOut(ResponseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int


# -- customers -----------------------------------------------------------------------------------

class CreditIn(RequestModel):
    amount_cents: int


class IdempotencyHeaders(BaseModel):
    # Every request header is offered to this model; only the one named here matters.
    model_config = ConfigDict(extra="ignore")
    idempotency_key: str | None = Field(
        default=None, alias="Idempotency-Key", min_length=1, max_length=200,
        description="Retrying a grant with the same key and body returns the first posting instead of crediting "
                    "again; the same key with another body is 409.",
    )


class CreditOut(ResponseModel):
    customer_id: str
    balance_cents: int
    currency: str
    posting_id: str
    reference: str


# -- orders --------------------------------------------------------------------------------------

class OrderQuery(QueryModel):
    status: Text | None = None
    customer_id: UUID | None = None
    limit: int = Field(20, ge=1, le=100)
    after: Text | None = None


class OrderLineOut(ResponseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderOut(ResponseModel):
    id: str
    customer_id: str
    status: str
    total_cents: int
    currency: str
    items: list[OrderLineOut]
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def of(cls, o) -> "OrderOut":
        return cls(id=o.id, customer_id=o.customer_id, status=o.status, total_cents=o.total_cents,
                   currency=o.currency,
                   items=[OrderLineOut(sku=i.sku, quantity=i.quantity, unit_price_cents=i.unit_price_cents)
                          for i in o.items],
                   created_at=o.created_at, updated_at=o.updated_at)


class OrderPage(ResponseModel):
    items: list[OrderOut]
    next: str | None


# -- ledger --------------------------------------------------------------------------------------

class LedgerOut(ResponseModel):
    balanced: bool
    postings_checked: int
    problems: list[str]
