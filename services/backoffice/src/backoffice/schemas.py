"""Request and response models: what spectree validates and what /openapi.json documents.

Requests only check *shape* (types, required fields, no unknown fields); the domains own the
business rules (sku format, price range, ...) and name the offending field themselves, so a rule
is written once. Strict types: "100" or 1.5 is not a price, true is not a quantity.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from uuid import UUID

from acme_platform.web import storable
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator


Text = Annotated[str, Field(strict=True, max_length=10_000), AfterValidator(storable)]
# Postgres hands back timestamps in the session's time zone; the API always speaks UTC.
Utc = Annotated[datetime, AfterValidator(lambda value: value.astimezone(timezone.utc))]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """application/problem+json (RFC 9457) as every error leaves; context members vary by code."""
    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    field: str | None = None


def problems(*statuses: int) -> dict[str, Any]:
    """Response(...) keyword arguments documenting these error statuses (OpenAPI only)."""
    return {f"HTTP_{status}": Problem for status in statuses}


# -- tokens --------------------------------------------------------------------------------------

class TokenIn(Request):
    email: Text
    password: Text


class TokenOut(BaseModel):
    token: str
    expires_at: Utc


# -- products ------------------------------------------------------------------------------------

class ProductIn(Request):
    sku: Text
    name: Text
    description: Text = ""
    price_cents: StrictInt
    currency: Text
    stock: StrictInt = 0


class ProductPatch(Request):
    # Defaults are None but an explicit null is rejected (the annotations are not Optional): "leave
    # it alone" is expressed by omitting the field, and null would be ambiguous for description.
    name: Text = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    price_cents: StrictInt = None  # type: ignore[assignment]
    active: StrictBool = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something_to_change(self) -> "ProductPatch":
        if not self.model_fields_set:
            raise ValueError("send at least one of name, description, price_cents, active")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ProductQuery(Request):
    limit: int = Field(20, ge=1, le=100)
    after: Text | None = None
    include_inactive: bool = False


class ProductOut(BaseModel):
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
    updated_at: Utc

    @classmethod
    def of(cls, p) -> "ProductOut":
        return cls(sku=p.sku, name=p.name, description=p.description, price_cents=p.price_cents,
                   currency=p.currency, active=p.active, on_hand=p.on_hand, reserved=p.reserved,
                   available=p.available, version=p.version, updated_at=p.updated_at)


class ProductPage(BaseModel):
    items: list[ProductOut]
    next: str | None


class StockIn(Request):
    delta: StrictInt


class StockOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int


# -- customers -----------------------------------------------------------------------------------

class CreditIn(Request):
    amount_cents: StrictInt


class IdempotencyHeaders(BaseModel):
    # Every request header is offered to this model; only the one named here matters.
    model_config = ConfigDict(extra="ignore")
    idempotency_key: str | None = Field(
        default=None, alias="Idempotency-Key", min_length=1, max_length=200,
        description="Retrying a grant with the same key and body returns the first posting instead of crediting "
                    "again; the same key with another body is 409.",
    )


class CreditOut(BaseModel):
    customer_id: str
    balance_cents: int
    currency: str
    posting_id: str
    reference: str


# -- orders --------------------------------------------------------------------------------------

class OrderQuery(Request):
    status: Text | None = None
    customer_id: UUID | None = None
    limit: int = Field(20, ge=1, le=100)
    after: Text | None = None


class OrderLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: str
    total_cents: int
    currency: str
    items: list[OrderLineOut]
    created_at: Utc
    updated_at: Utc

    @classmethod
    def of(cls, o) -> "OrderOut":
        return cls(id=o.id, customer_id=o.customer_id, status=o.status, total_cents=o.total_cents,
                   currency=o.currency,
                   items=[OrderLineOut(sku=i.sku, quantity=i.quantity, unit_price_cents=i.unit_price_cents)
                          for i in o.items],
                   created_at=o.created_at, updated_at=o.updated_at)


class OrderPage(BaseModel):
    items: list[OrderOut]
    next: str | None


# -- ledger --------------------------------------------------------------------------------------

class LedgerOut(BaseModel):
    balanced: bool
    postings_checked: int
    problems: list[str]
