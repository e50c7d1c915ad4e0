"""Bearer authentication with scopes: the one way a service learns who is calling.

Reading the credential is the platform's job (`bearer_token`); verifying it is the identity domain's
(a `TokenVerifier` such as acme_identity.Authenticator, which the service names). `BearerAuth` joins
the two and is applied one way everywhere: `@auth.required(scope)` above `@spec.validate`, so an
anonymous caller is refused (401; 403 for a token without the scope) before anything else runs and
learns nothing about the API from its 422s; a view with a `principal` parameter receives the caller.

The verifier is built once per process on first use (Platform.per_process): it may hold a listener
thread (revocations), which a gunicorn master must not create for its forked workers.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable, Protocol

from flask import request
from spectree import SecurityScheme, SecuritySchemeData

from ..errors import Unauthenticated
from ..principal import Principal
from ..uow import UnitOfWork
from .app import Platform, platform
from .request_uow import current_uow

CUSTOMER = "customer"  # a customer's token (storefront)
STAFF = "staff"        # a staff member's token (backoffice)


class TokenVerifier(Protocol):
    def authenticate(self, uow: UnitOfWork, token: str, *, required_scope: str | None = None) -> Principal:
        """The principal of `token`; raises Unauthenticated (401) or Forbidden (403, scope missing)."""
        ...


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    return token.strip()


class BearerAuth:
    """`Authorization: Bearer <token>` checked by a verifier, with the OpenAPI scheme that documents it.

    `scheme` goes to make_spec(security_schemes=[...]); `security` to each protected route's
    spec.validate(security=...).
    """

    NAME = "bearer"

    def __init__(self, verifier: Callable[[Platform], TokenVerifier], *, description: str):
        self._verifier = verifier
        self._key = f"acme.web.auth.{id(self)}"
        self.scheme = SecurityScheme(name=self.NAME, data=SecuritySchemeData(type="http", scheme="bearer",
                                                                            description=description))
        self.security: dict[str, list[str]] = {self.NAME: []}

    def verifier(self) -> TokenVerifier:
        """This process's verifier: also for a token that arrives another way (the backoffice console's
        session cookie), so revocation and caching stay one mechanism."""
        return platform().per_process(self._key, self._verifier)

    def authenticate(self, scope: str) -> Principal:
        """The caller of this request, who must hold `scope`."""
        return self.verifier().authenticate(current_uow(), bearer_token(), required_scope=scope)

    def required(self, scope: str) -> Callable[[Callable], Callable]:
        """Decorator: authenticate first, then call the view, with `principal=` if it has that parameter.
        Put it above @spec.validate."""

        def decorate(view: Callable) -> Callable:
            wants_principal = "principal" in inspect.signature(view).parameters

            @functools.wraps(view)
            def wrapper(*args, **kwargs):
                principal = self.authenticate(scope)
                return view(*args, principal=principal, **kwargs) if wants_principal else view(*args, **kwargs)

            return wrapper

        return decorate
