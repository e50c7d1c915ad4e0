"""acme-identity: customer and staff accounts, passwords, API tokens, and request authentication.

Public API: the names in __all__. Everything else may change without notice.
"""
from acme_platform import instrument_domain

from .authenticator import Authenticator
from .domain import DOMAIN
from .errors import (
    AccountNotFound,
    BadCredentials,
    EmailTaken,
    IdentityError,
    InvalidEmail,
    InvalidName,
    LoginBusy,
    LoginThrottled,
    MissingScope,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    WeakPassword,
)
from .events import ACCOUNT_REGISTERED, TOKEN_REVOKED
from .model import Account, IssuedToken
from .service import (
    authenticate,
    get_account,
    issue_token,
    log_in,
    register_customer,
    register_staff,
    revoke_token,
    revoke_token_secret,
)

__all__ = [
    "Account",
    "IssuedToken",
    "register_customer",
    "register_staff",
    "issue_token",
    "log_in",
    "authenticate",
    "revoke_token",
    "revoke_token_secret",
    "get_account",
    "Authenticator",
    "IdentityError",
    "EmailTaken",
    "InvalidEmail",
    "WeakPassword",
    "InvalidName",
    "BadCredentials",
    "LoginThrottled",
    "LoginBusy",
    "TokenInvalid",
    "TokenExpired",
    "TokenRevoked",
    "MissingScope",
    "AccountNotFound",
    "TOKEN_REVOKED",
    "ACCOUNT_REGISTERED",
    "DOMAIN",
]

# Last: every function in __all__ becomes an observed call (a span, metrics per function), so
# `from acme_identity import f` anywhere gets the observed one. Written by the platform, not by this domain.
instrument_domain(__name__)
