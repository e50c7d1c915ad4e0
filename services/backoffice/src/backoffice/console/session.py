"""Browser sessions for staff: a session IS an identity staff token, carried in a cookie.

Log-in goes through acme_identity.log_in with kind "staff" (customers are refused exactly as at
POST /v1/tokens), so the login throttle and the per-worker password-check slots apply unchanged. The
cookie holds the token itself; identity keeps only its digest, so revoking the token (log-out here,
DELETE /v1/tokens/current, or any other revocation) ends the session everywhere at once.

CSRF, without a dependency: every form carries HMAC-SHA256(session token, purpose). Only the holder of
the session cookie can compute it, the cookie is HttpOnly and SameSite=Strict, and nothing needs a
shared server secret (Flask-WTF's CSRFProtect would need a SECRET_KEY distributed to every instance and a
second, Flask-signed session cookie). The log-in form, before any session exists, uses a double-submit
cookie: a random value in a SameSite=Strict cookie that the form must repeat.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from flask import Response, request

from acme_platform.web import request_is_https

COOKIE = "acme_console"
LOGIN_CSRF_COOKIE = "acme_console_login"
CSRF_FIELD = "csrf_token"
_PURPOSE = b"acme-console-csrf-v1"


def session_token() -> str | None:
    token = request.cookies.get(COOKIE, "").strip()
    return token or None


def csrf_token_for(token: str) -> str:
    return hmac.new(token.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def csrf_ok(token: str) -> bool:
    sent = request.form.get(CSRF_FIELD, "")
    return bool(sent) and hmac.compare_digest(sent, csrf_token_for(token))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def login_csrf_ok() -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    return bool(cookie) and bool(sent) and hmac.compare_digest(cookie, sent)


def _cookie_args() -> dict:
    return {"httponly": True, "samesite": "Strict", "secure": request_is_https(), "path": "/"}


def set_login_csrf(response: Response, value: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, value, max_age=3600, **_cookie_args())


def start(response: Response, token: str, expires_at: datetime) -> None:
    max_age = max(0, int((expires_at - datetime.now(timezone.utc)).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, **_cookie_args())
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request_is_https())
