"""Request and response models: they validate what clients send and are the source of /openapi.json.

Built on the platform's HTTP kit (acme_platform.web): strict request bodies refusing unknown fields,
queries that refuse unknown parameters, UTC datetimes; errors are documented with its `problems(...)`.
Business rules (email syntax, password length, which SKUs exist) stay in the domains; these models only
bound the shape and size of input.
"""
from __future__ import annotations

from acme_platform.web import QueryModel, RequestModel, ResponseModel, StorableStr, UtcDatetime
from pydantic import BaseModel, ConfigDict, Field

# Transport-level bounds: generous, only there so nobody can make us parse megabytes of a "name".
_TEXT_MAX = 1024
SKU_MAX = 64
MAX_LINES = 50
MAX_QUANTITY = 100
PAGE_MAX = 100
PAGE_DEFAULT = 20


# -- requests ------------------------------------------------------------------------------------

class CustomerIn(RequestModel):
    email: StorableStr = Field(max_length=_TEXT_MAX, examples=["ada@example.com"])
    password: StorableStr = Field(max_length=_TEXT_MAX, description="At least 10 characters.")
    name: StorableStr = Field(max_length=_TEXT_MAX, examples=["Ada Lovelace"])


class TokenIn(RequestModel):
    email: StorableStr = Field(max_length=_TEXT_MAX)
    password: StorableStr = Field(max_length=_TEXT_MAX)


class OrderItemIn(RequestModel):
    sku: StorableStr = Field(min_length=1, max_length=SKU_MAX, examples=["MUG-001"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(RequestModel):
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_LINES)


class IdempotencyHeaders(BaseModel):
    # Every request header is offered to this model; only the one named here matters.
    model_config = ConfigDict(extra="ignore")
    idempotency_key: str | None = Field(
        default=None, alias="Idempotency-Key", min_length=1, max_length=200,
        description="Retrying with the same key and body returns the first order instead of placing another.",
    )


class ProductsQuery(QueryModel):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    after: str | None = Field(default=None, max_length=SKU_MAX, description="`next` of the previous page.")


class OrdersQuery(QueryModel):
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    after: str | None = Field(default=None, max_length=200, description="`next` of the previous page.")


# -- responses -----------------------------------------------------------------------------------

class CustomerOut(ResponseModel):
    id: str
    email: str
    name: str


class TokenOut(ResponseModel):
    token: str
    expires_at: UtcDatetime


class ProductOut(ResponseModel):
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    available: int


class ProductPage(ResponseModel):
    items: list[ProductOut]
    next: str | None


class WalletOut(ResponseModel):
    balance_cents: int
    currency: str


class OrderLineOut(ResponseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderOut(ResponseModel):
    id: str
    status: str
    total_cents: int
    currency: str
    items: list[OrderLineOut]
    created_at: UtcDatetime


class OrderPage(ResponseModel):
    items: list[OrderOut]
    next: str | None
