"""Who is calling: a staff principal from the bearer token, or a 401/403 problem.

Verification is identity's job (acme_identity.Authenticator: cached, and revocation-aware through
the process's ChangeListener). The authenticator holds a listener thread, so it is a per-process
singleton built on first use in the worker, never in a gunicorn master.
"""
from __future__ import annotations

from acme_identity import Authenticator
from acme_platform import Principal
from acme_platform.web import bearer_token, current_uow, platform
from flask import g
from spectree import SecurityScheme, SecuritySchemeData

STAFF_SCOPE = "staff"
# OpenAPI: the security requirement of protected routes and the scheme it names (see app.py).
BEARER = {"bearer": []}
BEARER_SCHEME = SecurityScheme(
    name="bearer",
    data=SecuritySchemeData(type="http", scheme="bearer", description="A staff token from POST /v1/tokens."),
)


def _authenticator() -> Authenticator:
    return platform().per_process("backoffice.authenticator", lambda p: Authenticator(p.listener))


def require_staff() -> None:
    """before_request hook of every protected blueprint: runs before body validation, so an
    anonymous caller learns nothing about the API from its 422s. No token -> 401 (Unauthenticated),
    a customer token -> 403 (MissingScope)."""
    g.principal = _authenticator().authenticate(current_uow(), bearer_token(), required_scope=STAFF_SCOPE)


def current_principal() -> Principal:
    return g.principal
