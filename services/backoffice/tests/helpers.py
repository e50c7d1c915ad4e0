"""Small helpers shared by the backoffice tests."""
from __future__ import annotations

import uuid

from acme_platform import Principal

PASSWORD = "correct horse battery"


def unique_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}@example.com"


def new_sku() -> str:
    return f"T-{uuid.uuid4().hex[:10].upper()}"


def principal_of(account) -> Principal:
    return Principal(subject_id=account.id, kind=account.kind, scopes=frozenset({account.kind}))


def assert_problem(resp, status: int, field: str | None = None, code: str | None = None) -> dict:
    """A problem+json response with the RFC 9457 members, the status, and (if given) the field/code."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.json
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    if code is not None:
        assert body.get("code") == code, body
    return body
