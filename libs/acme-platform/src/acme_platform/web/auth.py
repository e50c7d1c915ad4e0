"""Reading credentials from a request. Verifying them is the identity domain's job."""
from __future__ import annotations

from flask import request

from ..errors import Unauthenticated


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    return token.strip()
