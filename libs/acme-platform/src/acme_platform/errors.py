"""Error categories shared by every domain.

A domain raises its own subclass with a stable machine-readable `code` ("catalog.insufficient_stock");
the web layer maps the *category* to an HTTP status in one table (acme_platform.web.problems), so a
domain never thinks about HTTP.
"""
from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """A setting is missing or invalid; names the environment variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable} {problem}")


class DomainError(Exception):
    """Base of every expected business failure. `extra` carries machine-readable context (sku=, field=)."""

    code = "platform.error"
    title = "Request failed"

    def __init__(self, detail: str | None = None, **extra: Any):
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class NotFound(DomainError):
    code = "platform.not_found"
    title = "Not found"


class Conflict(DomainError):
    code = "platform.conflict"
    title = "Conflict"


class InvalidInput(DomainError):
    code = "platform.invalid_input"
    title = "Invalid input"


class Unauthenticated(DomainError):
    code = "platform.unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    code = "platform.forbidden"
    title = "Forbidden"


class PaymentRequired(DomainError):
    code = "platform.payment_required"
    title = "Payment required"


class Unavailable(DomainError):
    """A dependency (the database, a lock) is temporarily unavailable; retrying may succeed."""

    code = "platform.unavailable"
    title = "Service unavailable"


class TooManyRequests(DomainError):
    """The caller must slow down (a throttle, a full worker). `retry_after` (whole seconds) becomes the
    Retry-After header, so a well-behaved client knows when trying again can succeed."""

    code = "platform.too_many_requests"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any):
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, retry_after=self.retry_after, **extra)
