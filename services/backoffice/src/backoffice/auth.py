"""Who is calling: a staff member, by the bearer token identity issued (the platform's BearerAuth).

identity's Authenticator caches verified tokens and drops one as soon as identity publishes its
revocation (through the process's ChangeListener); BearerAuth builds it once per process. No token
-> 401, a customer token -> 403.
"""
from __future__ import annotations

from acme_identity import Authenticator
from acme_platform.web import STAFF, BearerAuth

AUTH = BearerAuth(lambda platform: Authenticator(platform.listener),
                  description="A staff token from POST /v1/tokens.")
# OpenAPI: the security requirement of protected routes and the scheme it names (see app.py).
BEARER = AUTH.security
BEARER_SCHEME = AUTH.scheme
# On every staff route, above @spec.validate: an anonymous caller learns nothing about the API from its 422s.
staff_required = AUTH.required(STAFF)
