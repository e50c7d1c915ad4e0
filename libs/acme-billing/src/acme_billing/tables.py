"""The billing schema as SQLAlchemy Core tables.

The migrations are the source of truth for DDL; these objects mirror them (a test compares the two)
so Alembic autogenerate stays quiet and simple queries can be written in Core.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from acme_platform.events.outbox import outbox_table

SCHEMA = "billing"

metadata = sa.MetaData(schema=SCHEMA)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    # NULL for system accounts: their balance is derived from entries (see the migration for why).
    sa.Column("balance_cents", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("kind", "owner_id", name="accounts_kind_owner_key"),
    sa.CheckConstraint("kind IN ('customer', 'system')", name="accounts_kind_check"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="accounts_currency_check"),
    sa.CheckConstraint(
        "(kind = 'customer' AND balance_cents IS NOT NULL AND balance_cents >= 0)"
        " OR (kind = 'system' AND balance_cents IS NULL)",
        name="accounts_balance_check",
    ),
)

postings = sa.Table(
    "postings",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("granted_by", sa.Text, nullable=True),
    sa.Column("balance_after_cents", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('credit', 'charge', 'refund')", name="postings_kind_check"),
    sa.CheckConstraint("amount_cents > 0", name="postings_amount_check"),
    sa.Index("postings_owner_reference", "owner_id", "reference"),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("posting_id", UUID(as_uuid=False),
              sa.ForeignKey("billing.postings.id", name="entries_posting_id_fkey"), primary_key=True),
    # Deliberately no foreign key to accounts: see the migration bil0001.
    sa.Column("account_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount_cents <> 0", name="entries_amount_check"),
)

credit_keys = sa.Table(
    "credit_keys",
    metadata,
    sa.Column("owner_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("posting_id", UUID(as_uuid=False), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.ForeignKeyConstraint(["posting_id"], [postings.c.id], deferrable=True, initially="DEFERRED",
                            name="credit_keys_posting_fkey"),
    sa.CheckConstraint("char_length(key) BETWEEN 1 AND 200", name="credit_keys_key_length"),
)

outbox = outbox_table(SCHEMA, metadata)
sa.Index("outbox_txid_id", outbox.c.txid, outbox.c.id)  # created by create_outbox_table
