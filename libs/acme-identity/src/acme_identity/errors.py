"""Typed identity errors. The platform category decides the HTTP status; `code` is the stable contract.

Messages never contain a password or a token secret.
"""
from __future__ import annotations

from acme_platform import (Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooManyRequests,
                           Unauthenticated)


class IdentityError(DomainError):
    code = "identity.error"
    title = "Identity request failed"


class EmailTaken(IdentityError, Conflict):
    code = "identity.email_taken"
    title = "Email already registered"


class InvalidEmail(IdentityError, InvalidInput):
    code = "identity.invalid_email"
    title = "Invalid email address"


class WeakPassword(IdentityError, InvalidInput):
    code = "identity.weak_password"
    title = "Password does not meet the rules"


class InvalidName(IdentityError, InvalidInput):
    code = "identity.invalid_name"
    title = "Invalid name"


class BadCredentials(IdentityError, Unauthenticated):
    # One message for "no such email", "wrong password" and "wrong kind of account": telling them
    # apart would let anyone probe which emails are registered.
    code = "identity.bad_credentials"
    title = "Email or password is incorrect"


class TokenInvalid(IdentityError, Unauthenticated):
    code = "identity.token_invalid"
    title = "Token is not valid"


class TokenExpired(IdentityError, Unauthenticated):
    code = "identity.token_expired"
    title = "Token has expired"


class TokenRevoked(IdentityError, Unauthenticated):
    code = "identity.token_revoked"
    title = "Token has been revoked"


class MissingScope(IdentityError, Forbidden):
    code = "identity.missing_scope"
    title = "Token lacks the required scope"


class AccountNotFound(IdentityError, NotFound):
    code = "identity.account_not_found"
    title = "Account not found"


class LoginThrottled(IdentityError, TooManyRequests):
    # Same answer whether the account or the address is over its limit, and whether the email exists.
    code = "identity.login_throttled"
    title = "Too many failed logins"


class LoginBusy(IdentityError, TooManyRequests):
    # This worker is already checking as many passwords as it has CPU for: refuse at once (no queue,
    # no pool connection taken) so a login flood cannot stall the worker's other requests.
    code = "identity.login_busy"
    title = "Too many logins in progress"
