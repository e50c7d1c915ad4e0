"""Who is calling: a customer, by the bearer token identity issued (the platform's BearerAuth).

identity's Authenticator caches verified tokens in memory and drops one as soon as identity publishes
its revocation (through the process's ChangeListener); BearerAuth builds it once per process.
"""
from __future__ import annotations

from acme_identity import Authenticator
from acme_platform.web import CUSTOMER, BearerAuth

AUTH = BearerAuth(lambda platform: Authenticator(platform.listener),
                  description="A customer token from POST /v1/tokens.")
# OpenAPI: the security requirement of 🔒 routes, and the scheme it names (see app.py).
BEARER = AUTH.security
BEARER_SCHEME = AUTH.scheme
# Above @spec.validate: an anonymous caller learns nothing about request validation; the view gets `principal`.
customer_required = AUTH.required(CUSTOMER)
