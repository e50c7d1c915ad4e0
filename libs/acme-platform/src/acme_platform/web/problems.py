"""Every error leaves as application/problem+json (RFC 9457); domain categories map to HTTP here, once."""
from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy.exc
from flask import Flask, Response, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from .. import errors
from ..db import connection_lost
from .deadline import RequestDeadlineExceeded

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"
_RESERVED = frozenset({"type", "title", "status", "detail", "code", "instance", "request_id"})

STATUS_BY_CATEGORY: list[tuple[type[errors.DomainError], int]] = [
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.PaymentRequired, 402),
    (errors.Unavailable, 503),
    (errors.TooManyRequests, 429),
]


# statement_timeout (the per-statement one or what is left of the request's deadline) cancels with this.
_QUERY_CANCELED = "57014"


def _timed_out() -> Response:
    # Raised inside the request's unit of work, so it rolls back: nothing the request did is kept.
    return problem(503, "Request timed out", "the request took longer than its time limit; nothing was saved; "
                   "retry", code="platform.timeout", headers={"Retry-After": "1"})


def _unavailable() -> Response:
    # Nothing was committed (the unit of work rolls back on any error): the client retries as it is.
    return problem(503, "Service unavailable", "the database could not complete the request; retry",
                   code="platform.unavailable", headers={"Retry-After": "1"})


def status_for(error: errors.DomainError) -> int:
    for category, status in STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 400


def problem(http_status: int, title: str, detail: str | None = None, *, code: str | None = None,
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None, **fields: Any) -> Response:
    """A problem+json response. Context goes in `fields`/`extra`; a domain's context may carry any
    name (even `status`), so it never collides with this function's own parameters."""
    status = http_status
    extra = {**(extra or {}), **fields}
    body: dict[str, Any] = {
        "type": f"urn:acme:problem:{code}" if code else "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if code:
        body["code"] = code
    for key, value in extra.items():
        if value is None:
            continue
        if key in _RESERVED:
            # A domain's context field must never overwrite a problem member: orders' `status=` (the
            # order's state) would otherwise replace the HTTP status and break the response.
            key = f"{(code or 'error').split('.', 1)[0]}_{key}"
        body[key] = value
    rid = getattr(request, "request_id", None) if request else None
    if rid:
        body["request_id"] = rid
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="acme"')
    return response


class ProblemException(Exception):
    """Raise from anywhere in a request to answer with a prepared problem response."""

    def __init__(self, response: Response):
        self.response = response
        super().__init__(response.status)


def field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_problem(exc: ValidationError, *, where: str = "body") -> Response:
    details = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        name = field_name(tuple(err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        details.append({"field": name, "message": message})
    first = details[0] if details else {"field": where, "message": "invalid"}
    return problem(
        422, "Invalid request", f"{first['field']}: {first['message']}",
        code="request.invalid", field=first["field"], errors=details,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProblemException)
    def _problem(exc: ProblemException):
        return exc.response

    @app.errorhandler(errors.DomainError)
    def _domain(exc: errors.DomainError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return problem(status_for(exc), exc.title, exc.detail, code=exc.code, headers=headers, extra=exc.extra)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        return validation_problem(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None and exc.response.mimetype == PROBLEM_MIMETYPE:
            return exc.response
        headers = {}
        if exc.code == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        return problem(exc.code or 500, exc.name, exc.description, headers=headers)

    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def _pool_timeout(exc):
        log.warning("database pool exhausted: %s", exc)
        return problem(503, "Service unavailable", "the database is busy; retry shortly",
                       code="platform.unavailable", headers={"Retry-After": "1"})

    @app.errorhandler(RequestDeadlineExceeded)
    def _deadline(exc: RequestDeadlineExceeded):
        log.warning("request deadline exceeded: %s", exc)
        return _timed_out()

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    def _operational(exc):
        # Lock/statement timeouts, serialization failures, a restarting database: transient.
        log.warning("database operational error: %s", str(exc).splitlines()[0])
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == _QUERY_CANCELED:
            return _timed_out()
        return _unavailable()

    @app.errorhandler(sqlalchemy.exc.DBAPIError)
    def _lost_database(exc: sqlalchemy.exc.DBAPIError):
        # The other driver errors: a connection that died under the request (psycopg's InterfaceError
        # "the connection is lost"), or a server that is no longer the primary (a transaction on a node
        # that became a standby is read-only). Both pass with the failover; anything else is a bug.
        if not (connection_lost(exc) or isinstance(exc.orig, psycopg.InterfaceError)):
            return _unexpected(exc)
        log.warning("database connection lost: %s", str(exc).splitlines()[0])
        return _unavailable()

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(psycopg.InterfaceError)
    def _lost_database_raw(exc: psycopg.Error):
        # Raised by psycopg itself where SQLAlchemy does not wrap it (a LISTEN or a raw connection).
        log.warning("database connection lost: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return _unavailable()

    @app.errorhandler(sqlalchemy.exc.ProgrammingError)
    def _refused(exc: sqlalchemy.exc.ProgrammingError):
        from flask import current_app

        from .refusals import refused_domains

        if getattr(getattr(exc, "orig", None), "sqlstate", None) != "42501":   # insufficient_privilege
            return _unexpected(exc)
        message = str(getattr(exc, "orig", exc)).splitlines()[0]
        service = current_app.extensions["acme"].settings.service_name
        domains = refused_domains(service, message)
        log.warning("database refused this service's role: %s (read-only domains involved: %s)", message,
                    ", ".join(domains) or "none")
        if domains:
            return problem(403, "Read-only domain", f"{service} may only read domain {' or '.join(domains)}: the "
                           "database refused this change and nothing was saved", code="platform.domain_read_only",
                           domain=domains[0] if len(domains) == 1 else domains)
        return problem(403, "Refused by the database", "the database refused this operation to the service's role; "
                       "nothing was saved", code="platform.permission_denied")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ARG001 - Flask passes the exception
        log.exception("unhandled error")
        return problem(500, "Internal server error", "an unexpected error occurred; it has been logged",
                       code="platform.internal")
