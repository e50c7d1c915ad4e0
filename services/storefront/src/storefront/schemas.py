"""Request and response models: they validate what clients send and are the source of /openapi.json.

Requests are strict (no "5" for 5, no true for 1) and refuse unknown fields, so a typo in a field
name is a 422 naming it rather than a silently ignored value. Business rules (email syntax, password
length, which SKUs exist) stay in the domains; these models only bound the shape and size of input.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from acme_platform.web import StorableStr

# Transport-level bounds: generous, only there so nobody can make us parse megabytes of a "name".
_TEXT_MAX = 1024
SKU_MAX = 64
MAX_LINES = 50
MAX_QUANTITY = 100
PAGE_MAX = 100
PAGE_DEFAULT = 20


def _as_utc(value: datetime) -> datetime:
    # Postgres returns timestamptz in the session time zone; clients always get UTC ("...Z").
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Query(BaseModel):
    # Query strings are text by nature, so not strict; unknown parameters are still refused.
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- requests ------------------------------------------------------------------------------------

class CustomerIn(_Request):
    email: StorableStr = Field(max_length=_TEXT_MAX, examples=["ada@example.com"])
    password: StorableStr = Field(max_length=_TEXT_MAX, description="At least 10 characters.")
    name: StorableStr = Field(max_length=_TEXT_MAX, examples=["Ada Lovelace"])


class TokenIn(_Request):
    email: StorableStr = Field(max_length=_TEXT_MAX)
    password: StorableStr = Field(max_length=_TEXT_MAX)


class OrderItemIn(_Request):
    sku: StorableStr = Field(min_length=1, max_length=SKU_MAX, examples=["MUG-001"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(_Request):
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_LINES)


class IdempotencyHeaders(BaseModel):
    # Every request header is offered to this model; only the one named here matters.
    model_config = ConfigDict(extra="ignore")
    idempotency_key: str | None = Field(
        default=None, alias="Idempotency-Key", min_length=1, max_length=200,
        description="Retrying with the same key and body returns the first order instead of placing another.",
    )


class ProductsQuery(_Query):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    after: str | None = Field(default=None, max_length=SKU_MAX, description="`next` of the previous page.")


class OrdersQuery(_Query):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    after: str | None = Field(default=None, max_length=200, description="`next` of the previous page.")


# -- responses -----------------------------------------------------------------------------------

class CustomerOut(_Response):
    id: str
    email: str
    name: str


class TokenOut(_Response):
    token: str
    expires_at: UtcDatetime


class ProductOut(_Response):
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    available: int


class ProductPage(_Response):
    items: list[ProductOut]
    next: str | None


class WalletOut(_Response):
    balance_cents: int
    currency: str


class OrderLineOut(_Response):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderOut(_Response):
    id: str
    status: str
    total_cents: int
    currency: str
    items: list[OrderLineOut]
    created_at: UtcDatetime


class OrderPage(_Response):
    items: list[OrderOut]
    next: str | None


class Problem(BaseModel):
    """application/problem+json (RFC 9457). Extra members name what was wrong (field, sku, ...)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    field: str | None = None
    sku: str | None = None


def problems(*statuses: int) -> dict[str, Any]:
    """Response(...) keyword arguments documenting these error statuses with the Problem model."""
    return {f"HTTP_{status}": Problem for status in statuses}
