"""The HTTP kit's models: the bases every service's request and response models derive from, the UTC
datetime clients see, and the problem+json document with `problems(...)` for OpenAPI responses.

One definition for every service, so "strict" and "UTC" mean the same thing on every endpoint:
- requests (bodies) are strict (no "5" for 5, no true for 1) and refuse unknown fields, so a typo in a
  field name is a 422 naming it rather than a silently ignored value;
- queries refuse unknown parameters but are not strict: a query string is text by nature;
- responses read attributes (a domain's dataclass converts with `model_validate`).
Business rules stay in the domains; these only bound the shape and size of input.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A JSON request body: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Query-string parameters: unknown ones refused, values coerced from text."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """A response document, built from a domain object's attributes."""

    model_config = ConfigDict(from_attributes=True)


def _as_utc(value: datetime) -> datetime:
    # Postgres returns timestamptz in the session time zone; clients always get UTC ("...Z").
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class Problem(BaseModel):
    """application/problem+json (RFC 9457) as every error leaves (acme_platform.web.problems).
    Extra members name what was wrong (field, sku, ...) and vary by code."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    field: str | None = None


def problems(*statuses: int) -> dict[str, Any]:
    """spectree Response(...) keyword arguments documenting these error statuses with the Problem model
    (OpenAPI only: the error handlers write the documents)."""
    return {f"HTTP_{status}": Problem for status in statuses}
