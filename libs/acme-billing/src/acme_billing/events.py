"""Topics billing publishes. Payloads carry ids only: a consumer reads the current state through the API."""
from __future__ import annotations

BALANCE_CHANGED = "billing.balance_changed"   # key: owner_id; payload: {"owner_id", "posting_id"}


def balance_changed(owner_id: str, posting_id: str) -> dict[str, str]:
    return {"owner_id": owner_id, "posting_id": posting_id}
