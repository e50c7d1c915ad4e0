"""Who is calling: the bearer token, checked by identity's Authenticator.

The Authenticator caches verified tokens in memory and drops one as soon as identity publishes its
revocation (through the process's ChangeListener), so it must be one per process: built lazily by
platform().per_process, never in a gunicorn master whose listener thread the workers would not have.
"""
from __future__ import annotations

import functools
from typing import Callable

from acme_identity import Authenticator
from acme_platform import Principal
from acme_platform.web import bearer_token, current_uow, platform
from spectree import SecurityScheme, SecuritySchemeData

CUSTOMER_SCOPE = "customer"
# OpenAPI: the security requirement of 🔒 routes, and the scheme it names (see app.py).
BEARER = {"bearer": []}
BEARER_SCHEME = SecurityScheme(
    name="bearer",
    data=SecuritySchemeData(type="http", scheme="bearer", description="A customer token from POST /v1/tokens."),
)


def authenticator() -> Authenticator:
    return platform().per_process("storefront.authenticator", lambda p: Authenticator(p.listener))


def authenticate_customer() -> Principal:
    """The calling customer; 401 for a missing or bad token, 403 for a token without the customer scope."""
    return authenticator().authenticate(current_uow(), bearer_token(), required_scope=CUSTOMER_SCOPE)


def customer_required(view: Callable) -> Callable:
    """Authenticate before anything else (an anonymous caller learns nothing about request validation)
    and hand the view its `principal`. Put it above @spec.validate."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, principal=authenticate_customer(), **kwargs)

    return wrapper
