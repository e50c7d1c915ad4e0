"""Migration helpers for platform-owned structures that live inside a domain's schema."""
from __future__ import annotations


def create_outbox_table(schema: str) -> None:
    """Create `<schema>.outbox`, the domain's transactional outbox (see acme_platform.events)."""
    from alembic import op

    op.execute(
        f"""
        CREATE TABLE "{schema}".outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            txid bigint NOT NULL,
            topic text NOT NULL,
            key text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(f'CREATE INDEX outbox_txid_id ON "{schema}".outbox (txid, id)')
