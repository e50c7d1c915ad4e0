"""Topics identity publishes. Payloads carry ids only; consumers read details through the public API."""
from __future__ import annotations

from typing import Any

TOKEN_REVOKED = "identity.token_revoked"            # key: token id; payload {token_id, account_id}
ACCOUNT_REGISTERED = "identity.account_registered"  # key: account id; payload {account_id, kind}


def account_registered(account_id: str, kind: str) -> dict[str, Any]:
    return {"account_id": account_id, "kind": kind}


def token_revoked(token_id: str, account_id: str) -> dict[str, Any]:
    return {"token_id": token_id, "account_id": account_id}
